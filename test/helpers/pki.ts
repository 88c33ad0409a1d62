// Real certificates and keys for tests, built with @peculiar/x509 on Node's webcrypto (never used in src/svid).
// createCa() -> self-signed root (or an intermediate with `issuer`); createLeaf(ca) -> an X509-SVID-shaped leaf;
// authorityOf / bundleOf / sourceOf turn them into bundle values; createJwtKey() makes a JWT-SVID signing key.
import { KeyObject, webcrypto, type JsonWebKey } from 'node:crypto';
import './reflect-shim.js';
import * as x509 from '@peculiar/x509';
import {
  Bundle,
  jwtAuthorityFromJwk,
  x509AuthorityFromDer,
  type BundleSource,
  type JwtAuthority,
  type X509Authority,
} from '../../src/bundle/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;
type RsaPssParams = webcrypto.RsaPssParams;
type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
type EcKeyGenParams = webcrypto.EcKeyGenParams;

export type KeyAlg = 'ec-p256' | 'ec-p384' | 'ec-p521' | 'rsa-2048' | 'rsa-pss-2048' | 'ed25519';

/** Key usage bits (same values as @peculiar/x509's KeyUsageFlags). */
export const KU = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
} as const;

export const EKU = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;

/** An OID nobody implements, for "unknown critical extension" cases. */
export const UNKNOWN_EXTENSION_OID = '1.3.6.1.4.1.55555.1.1';

export interface TestCert {
  readonly der: Buffer;
  readonly pem: string;
  readonly certificate: x509.X509Certificate;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly keyAlg: KeyAlg;
  /** Trust domain name of the URI SAN (CA) or of the issuer (leaf), when known. */
  readonly trustDomain: string | undefined;
  nodePrivateKey(): KeyObject;
  nodePublicKey(): KeyObject;
}

/** One name-constraint subtree base. `dirCn` yields a directoryName base (a form verifiers may not support). */
export type NcName =
  | { uri: string }
  | { dns: string }
  | { ip: string; mask: string }
  | { email: string }
  | { dirCn: string };

export interface NameConstraintsOptions {
  readonly permitted?: readonly NcName[];
  readonly excluded?: readonly NcName[];
  /** Default true (RFC 5280 requires it). */
  readonly critical?: boolean;
}

interface CommonOptions {
  readonly keyAlg?: KeyAlg;
  /** Reuse the key pair of an existing cert (cross-signing); `keyAlg` must match it. */
  readonly reuseKeyOf?: TestCert;
  readonly subject?: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Key usage flags (see KU); `null` omits the extension. */
  readonly keyUsage?: number | null;
  readonly keyUsageCritical?: boolean;
  /** Adds a critical extension with UNKNOWN_EXTENSION_OID. */
  readonly unknownCriticalExtension?: boolean;
  readonly extensions?: readonly x509.Extension[];
  /** Signature algorithm override for the issuer's key (e.g. `{ name: 'ECDSA', hash: 'SHA-512' }`). */
  readonly signingAlgorithm?: Algorithm | EcdsaParams | RsaPssParams;
}

export interface CaOptions extends CommonOptions {
  /** Signs the new CA (an intermediate); self-signed root when absent. */
  readonly issuer?: TestCert;
  /** Adds the URI SAN `spiffe://<trustDomain>` (X509-13). */
  readonly trustDomain?: string;
  readonly pathLength?: number;
  /** `false` omits basicConstraints entirely. */
  readonly basicConstraints?: boolean;
  /** Sets cA false while keeping the extension (a "not a CA" issuer). */
  readonly notCa?: boolean;
  readonly nameConstraints?: NameConstraintsOptions;
}

export interface LeafOptions extends CommonOptions {
  /** URI SANs; any number (0, 1, 2...). Default: `spiffe://<issuer td>/workload`. `uris` is an alias. */
  readonly spiffeIds?: readonly string[];
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
  readonly emails?: readonly string[];
  readonly sanCritical?: boolean;
  /** basicConstraints cA; `undefined` keeps cA false; `null` omits the extension. */
  readonly ca?: boolean | null;
  /** EKU OIDs; `null` omits the extension. Default serverAuth + clientAuth (X509-6). */
  readonly extKeyUsage?: readonly string[] | null;
}

const DAY_MS = 86_400_000;
let counter = 0;

function keyParams(alg: KeyAlg): {
  gen: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm;
  sign: Algorithm | EcdsaParams | RsaPssParams;
} {
  const rsa = { modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  switch (alg) {
    case 'ec-p256':
      return {
        gen: { name: 'ECDSA', namedCurve: 'P-256' },
        sign: { name: 'ECDSA', hash: 'SHA-256' },
      };
    case 'ec-p384':
      return {
        gen: { name: 'ECDSA', namedCurve: 'P-384' },
        sign: { name: 'ECDSA', hash: 'SHA-384' },
      };
    case 'ec-p521':
      return {
        gen: { name: 'ECDSA', namedCurve: 'P-521' },
        sign: { name: 'ECDSA', hash: 'SHA-512' },
      };
    case 'rsa-2048':
      return { gen: { name: 'RSASSA-PKCS1-v1_5', ...rsa }, sign: { name: 'RSASSA-PKCS1-v1_5' } };
    case 'rsa-pss-2048':
      return {
        gen: { name: 'RSA-PSS', ...rsa },
        sign: { name: 'RSA-PSS', saltLength: 32 } as RsaPssParams,
      };
    case 'ed25519':
      return { gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' } };
  }
}

export async function generateKeyPair(alg: KeyAlg): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyParams(alg).gen as EcKeyGenParams, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}

// Minimal DER writer for the name constraints extension (@peculiar/x509 has no builder for it).
function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

function ipBytes(ip: string): Buffer {
  if (ip.includes(':')) {
    const [head = '', tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = ip.includes('::') && tail ? tail.split(':') : [];
    const groups = ip.includes('::')
      ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
      : ip.split(':');
    return Buffer.concat(
      groups.map((g) => Buffer.from([parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff])),
    );
  }
  return Buffer.from(ip.split('.').map(Number));
}

function generalName(name: NcName): Buffer {
  if ('uri' in name) return tlv(0x86, Buffer.from(name.uri, 'ascii'));
  if ('dns' in name) return tlv(0x82, Buffer.from(name.dns, 'ascii'));
  if ('email' in name) return tlv(0x81, Buffer.from(name.email, 'ascii'));
  if ('ip' in name) return tlv(0x87, ipBytes(name.ip), ipBytes(name.mask));
  const cn = tlv(
    0x30,
    tlv(0x06, Buffer.from([0x55, 0x04, 0x03])),
    tlv(0x0c, Buffer.from(name.dirCn)),
  );
  return tlv(0xa4, tlv(0x30, tlv(0x31, cn)));
}

/** DER of a NameConstraints extension value. */
export function nameConstraintsValue(options: NameConstraintsOptions): Buffer {
  const parts: Buffer[] = [];
  const subtrees = (names: readonly NcName[]) => names.map((n) => tlv(0x30, generalName(n)));
  if (options.permitted?.length) parts.push(tlv(0xa0, ...subtrees(options.permitted)));
  if (options.excluded?.length) parts.push(tlv(0xa1, ...subtrees(options.excluded)));
  return tlv(0x30, ...parts);
}

function commonExtensions(options: CommonOptions, defaultKeyUsage: number): x509.Extension[] {
  const out: x509.Extension[] = [];
  if (options.keyUsage !== null) {
    out.push(
      new x509.KeyUsagesExtension(
        options.keyUsage ?? defaultKeyUsage,
        options.keyUsageCritical ?? true,
      ),
    );
  }
  if (options.unknownCriticalExtension) {
    out.push(new x509.Extension(UNKNOWN_EXTENSION_OID, true, tlv(0x05)));
  }
  out.push(...(options.extensions ?? []));
  return out;
}

async function issue(
  options: CommonOptions,
  issuer: TestCert | undefined,
  extensions: x509.Extension[],
  defaultSubject: string,
  defaultLifetimeMs: number,
  trustDomain: string | undefined,
): Promise<TestCert> {
  const keyAlg = options.keyAlg ?? 'ec-p256';
  const keys = options.reuseKeyOf
    ? { privateKey: options.reuseKeyOf.privateKey, publicKey: options.reuseKeyOf.publicKey }
    : await generateKeyPair(keyAlg);
  const subject = options.subject ?? defaultSubject;
  const now = Date.now();
  const notBefore = options.notBefore ?? new Date(now - 3_600_000);
  const notAfter = options.notAfter ?? new Date(now + defaultLifetimeMs);
  const signer = issuer ?? { privateKey: keys.privateKey, keyAlg, certificate: undefined };
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: issuer ? issuer.certificate.subject : subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: options.signingAlgorithm ?? keyParams(signer.keyAlg).sign,
    extensions,
  });
  const der = Buffer.from(cert.rawData);
  return {
    der,
    pem: cert.toString('pem') + '\n',
    certificate: cert,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    keyAlg,
    trustDomain,
    nodePrivateKey: () => KeyObject.from(keys.privateKey),
    nodePublicKey: () => KeyObject.from(keys.publicKey),
  };
}

/** A CA certificate: self-signed root, or an intermediate signed by `options.issuer`. */
export async function createCa(options: CaOptions = {}): Promise<TestCert> {
  const extensions: x509.Extension[] = [];
  if (options.basicConstraints !== false) {
    extensions.push(new x509.BasicConstraintsExtension(!options.notCa, options.pathLength, true));
  }
  if (options.trustDomain !== undefined) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        [{ type: 'url', value: `spiffe://${options.trustDomain}` }],
        false,
      ),
    );
  }
  if (options.nameConstraints) {
    extensions.push(
      new x509.Extension(
        '2.5.29.30',
        options.nameConstraints.critical ?? true,
        nameConstraintsValue(options.nameConstraints),
      ),
    );
  }
  extensions.push(...commonExtensions(options, KU.keyCertSign | KU.cRLSign));
  counter += 1;
  return issue(
    options,
    options.issuer,
    extensions,
    `CN=Test CA ${counter}, O=SPIFFE`,
    365 * DAY_MS,
    options.trustDomain ?? options.issuer?.trustDomain,
  );
}

/** A leaf certificate (X509-SVID shaped by default: one URI SAN, cA false, digitalSignature, EKU). */
export async function createLeaf(issuer: TestCert, options: LeafOptions = {}): Promise<TestCert> {
  const td = issuer.trustDomain ?? 'example.org';
  const uris = options.spiffeIds ?? options.uris ?? [`spiffe://${td}/workload`];
  const extensions: x509.Extension[] = [];
  if (options.ca !== null) {
    extensions.push(new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true));
  }
  const names: x509.JsonGeneralName[] = [
    ...uris.map((value) => ({ type: 'url' as const, value })),
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(options.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  if (names.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(names, options.sanCritical ?? false));
  }
  if (options.extKeyUsage !== null) {
    extensions.push(
      new x509.ExtendedKeyUsageExtension(
        [...(options.extKeyUsage ?? [EKU.serverAuth, EKU.clientAuth])],
        false,
      ),
    );
  }
  extensions.push(...commonExtensions(options, KU.digitalSignature));
  counter += 1;
  return issue(options, issuer, extensions, `CN=leaf ${counter}, O=SPIFFE`, DAY_MS, td);
}

/** PEM text of one or more certificates (DER bytes or TestCerts), concatenated. */
export function pemOf(certs: readonly (Uint8Array | TestCert)[] | Uint8Array | TestCert): string {
  const list = Array.isArray(certs) ? certs : [certs];
  return list
    .map((c: Uint8Array | TestCert) => {
      const der = c instanceof Uint8Array ? c : c.der;
      const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
      return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
    })
    .join('');
}

/** The X509Authority of a CA (through the bundle room's own constructor). */
export function authorityOf(cert: TestCert | Uint8Array): X509Authority {
  return x509AuthorityFromDer(cert instanceof Uint8Array ? cert : cert.der);
}

export interface TestJwtKey {
  readonly kid: string;
  readonly alg:
    'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly jwk: JsonWebKey;
}

/** A JWT-SVID signing key pair; `alg` picks the key type (RS and PS: RSA 2048; ES256/384/512: P-256/384/521). */
export async function createJwtKey(
  alg: TestJwtKey['alg'] = 'ES256',
  kid = `kid-${++counter}`,
): Promise<TestJwtKey> {
  const keyAlg: KeyAlg = alg.startsWith('ES')
    ? alg === 'ES256'
      ? 'ec-p256'
      : alg === 'ES384'
        ? 'ec-p384'
        : 'ec-p521'
    : 'rsa-2048';
  const keys = await generateKeyPair(keyAlg);
  const publicKey = KeyObject.from(keys.publicKey);
  return {
    kid,
    alg,
    privateKey: KeyObject.from(keys.privateKey),
    publicKey,
    jwk: publicKey.export({ format: 'jwk' }),
  };
}

/** A Bundle of `trustDomain` with the given CAs as X.509 authorities and JWT keys as jwt-svid authorities. */
export function bundleOf(
  trustDomain: string,
  cas: readonly (TestCert | X509Authority)[] = [],
  jwtKeys: readonly (TestJwtKey | JwtAuthority | { kid: string; jwk: JsonWebKey })[] = [],
): Bundle {
  return new Bundle({
    trustDomain: parseTrustDomain(trustDomain),
    x509Authorities: cas.map((c) => ('fingerprintSha256' in c ? c : authorityOf(c))),
    jwtAuthorities: jwtKeys.map((k) => jwtAuthorityFromJwk(k.kid, k.jwk)),
  });
}

/** A BundleSource over several bundles, each answering for its own trust domain only. */
export function sourceOf(...bundles: readonly Bundle[]): BundleSource {
  const byName = new Map(bundles.map((b) => [b.trustDomain.name, b]));
  return { getBundleForTrustDomain: (td) => byName.get(td.name) };
}
