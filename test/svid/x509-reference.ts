// The reference for test/svid/x509-differential.test.ts: node:crypto X509Certificate and
// @peculiar/x509 reading each certificate, with the SPIFFE leaf rules (X509-21..25) and an RFC 5280
// path search (X509-26) written on top, independent of src/svid.
import { X509Certificate } from 'node:crypto';
import '../helpers/reflect-shim.js';
import * as x509 from '@peculiar/x509';
import type { Bundle } from '../../src/bundle/index.js';
import { KU } from '../helpers/pki.js';

export type Verdict = { ok: true } | { ok: false; code: string };

export interface RefCert {
  readonly node: X509Certificate;
  readonly ext: x509.X509Certificate;
}

const refCache = new Map<string, RefCert | Error>();

/** Both libraries' views of one certificate; throws when either cannot read it (extensions included). */
export function refCert(der: Uint8Array): RefCert {
  const key = Buffer.from(der).toString('base64');
  let cert = refCache.get(key);
  if (cert === undefined) {
    try {
      const ext = new x509.X509Certificate(der);
      void ext.extensions; // @peculiar decodes extensions lazily
      cert = { node: new X509Certificate(der), ext };
    } catch (error) {
      cert = error as Error;
    }
    refCache.set(key, cert);
  }
  if (cert instanceof Error) throw cert;
  return cert;
}

const issuedCache = new Map<string, boolean>();

/** node:crypto: issuer name match (checkIssued) and the signature under the issuer's key. */
function issuedBy(child: RefCert, issuer: RefCert): boolean {
  const key = `${child.node.fingerprint256}>${issuer.node.fingerprint256}`;
  let ok = issuedCache.get(key);
  if (ok === undefined) {
    ok = child.node.checkIssued(issuer.node) && child.node.verify(issuer.node.publicKey);
    issuedCache.set(key, ok);
  }
  return ok;
}

/** The cA flag as written (node's `ca` is OpenSSL's X509_check_ca, which also weighs key usage). */
function isCa(cert: RefCert): boolean {
  return cert.ext.getExtension(x509.BasicConstraintsExtension)?.ca === true;
}

const KNOWN_EXTENSIONS = new Set([
  '2.5.29.19', // basicConstraints
  '2.5.29.15', // keyUsage
  '2.5.29.37', // extKeyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.30', // nameConstraints
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.35', // authorityKeyIdentifier
]);

function keyUsageOf(cert: RefCert): number | undefined {
  return cert.ext.getExtension(x509.KeyUsagesExtension)?.usages;
}

function isWorkloadSpiffeId(value: string): boolean {
  const m = /^spiffe:\/\/([a-z0-9._-]{1,255})((?:\/[A-Za-z0-9._-]+)+)$/.exec(value);
  return m !== null && (m[2] as string).split('/').every((s) => s !== '.' && s !== '..');
}

/** RFC 5280 checks on leaf..anchor, in the order X509-26 lists them (validity, critical, CA, pathLen). */
function pathError(path: readonly RefCert[], now: Date): string | undefined {
  for (const c of path) {
    if (now < new Date(c.node.validFrom) || now > new Date(c.node.validTo)) return 'validity';
  }
  for (const c of path) {
    if (c.ext.extensions.some((e) => e.critical && !KNOWN_EXTENSIONS.has(e.type))) {
      return 'critical';
    }
  }
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as RefCert;
    const ku = keyUsageOf(c);
    if (!isCa(c) || (ku !== undefined && (ku & KU.keyCertSign) === 0)) return 'not-ca';
    const pathLen = c.ext.getExtension(x509.BasicConstraintsExtension)?.pathLength;
    const below = path.slice(1, i).filter((p) => p.node.subject !== p.node.issuer).length;
    if (pathLen !== undefined && below > pathLen) return 'path-len';
  }
  return undefined;
}

function buildPath(
  path: RefCert[],
  pool: readonly RefCert[],
  anchors: readonly RefCert[],
  now: Date,
): boolean {
  const child = path[path.length - 1] as RefCert;
  for (const anchor of anchors) {
    if (issuedBy(child, anchor)) {
      if (pathError([...path, anchor], now) === undefined) return true;
    }
  }
  if (path.length + 2 > 8) return false;
  for (const candidate of pool) {
    if (path.includes(candidate)) continue;
    if (!issuedBy(child, candidate)) continue;
    path.push(candidate);
    if (buildPath(path, pool, anchors, now)) return true;
    path.pop();
  }
  return false;
}

/** The libraries' verdict on `chain` with the SPIFFE leaf rules (X509-20..26) on top. */
export function reference(
  chain: readonly Buffer[],
  bundles: readonly Bundle[],
  now: Date,
): Verdict {
  let certs: RefCert[];
  try {
    certs = chain.map(refCert);
  } catch {
    return { ok: false, code: 'X509-20' };
  }
  const leaf = certs[0] as RefCert;
  // X509-21 / X509-22: exactly one URI SAN, a SPIFFE ID with a path.
  const uris = (leaf.ext.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [])
    .filter((n) => n.type === 'url')
    .map((n) => n.value);
  if (uris.length !== 1 || !isWorkloadSpiffeId(uris[0] as string)) {
    return { ok: false, code: 'X509-21/22' };
  }
  // X509-23 / X509-24: not a CA, digitalSignature, neither keyCertSign nor cRLSign.
  const ku = keyUsageOf(leaf);
  if (
    isCa(leaf) ||
    ku === undefined ||
    (ku & KU.digitalSignature) === 0 ||
    (ku & (KU.keyCertSign | KU.cRLSign)) !== 0
  ) {
    return { ok: false, code: 'X509-23/24' };
  }
  // X509-25: anchors from the bundle of the leaf's trust domain only.
  const td = (uris[0] as string).slice('spiffe://'.length).split('/')[0];
  const bundle = bundles.find((b) => b.trustDomain.name === td);
  const anchors = [...(bundle?.x509Authorities ?? [])].map((a) => refCert(a.der));
  if (anchors.length === 0) return { ok: false, code: 'X509-25' };
  // X509-26: a path through the presented intermediates to an anchor.
  return buildPath([leaf], certs.slice(1), anchors, now)
    ? { ok: true }
    : { ok: false, code: 'X509-26' };
}
