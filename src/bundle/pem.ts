// PEM certificate files (RFC 7468) for operator-supplied bootstrap bundles (FED-1) and exports:
// parse to DER / X509Authority, marshal back, and parseBundleOrPem for "SPIFFE JSON or PEM" input.
import { X509Certificate } from 'node:crypto';
import { certificatePem, PEM_LABEL, pemBlocks, PemError } from '../encoding/index.js';
import { BundleError } from '../errors.js';
import { TrustDomain } from '../spiffeid/index.js';
import { Bundle, x509AuthorityFromDer, type X509Authority } from './bundle.js';
import { decodeStrictBase64, isSingleDerSequence } from './base64.js';
import { MAX_BUNDLE_BYTES, parseBundle } from './parse-bundle.js';

const CERTIFICATE_LABEL = PEM_LABEL.certificate;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function pemError(message: string, line?: number): BundleError {
  return new BundleError(
    'ERR_BUNDLE_PEM',
    message,
    line === undefined ? {} : { context: { line } },
  );
}

function toText(input: Uint8Array | string): string {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new TypeError('pem input must be a Uint8Array or a string');
  }
  // A string needs at least one UTF-8 byte per code unit, so its length is a lower bound.
  if (input.length > MAX_BUNDLE_BYTES) {
    throw new BundleError(
      'ERR_BUNDLE_TOO_LARGE',
      `pem input is larger than ${MAX_BUNDLE_BYTES} bytes`,
    );
  }
  if (typeof input === 'string') return input;
  try {
    return utf8Decoder.decode(input);
  } catch {
    throw pemError('pem input is not ascii text');
  }
}

/**
 * Parses a PEM file holding only `CERTIFICATE` blocks into their DER bytes, in file order.
 * Strict: only whitespace outside blocks, no encapsulated headers, canonical base64, each block
 * exactly one DER certificate. Throws ERR_BUNDLE_PEM on anything else or when there is no block;
 * any other label (a private key, a CSR) is refused without echoing its content.
 */
export function parsePemCertificates(input: Uint8Array | string): Buffer[] {
  const text = toText(input);
  const ders: Buffer[] = [];
  try {
    // Each block is decoded as it is read: the first fault in file order is the one reported.
    for (const block of pemBlocks(text, { label: CERTIFICATE_LABEL, noun: 'certificate' })) {
      ders.push(decodeBlock(block.base64, block.line));
    }
  } catch (cause) {
    if (cause instanceof PemError) throw pemError(cause.message, cause.line);
    throw cause;
  }
  if (ders.length === 0) throw pemError('pem input holds no certificate');
  return ders;
}

function decodeBlock(base64: string, line: number): Buffer {
  const der = decodeStrictBase64(base64);
  if (der === undefined || der.length === 0) {
    throw pemError(`certificate block at line ${line} is not valid base64`, line);
  }
  let ok = isSingleDerSequence(der);
  if (ok) {
    try {
      // The subject public key must decode too (x509AuthorityFromDer reads it).
      void new X509Certificate(der).publicKey;
    } catch {
      ok = false;
    }
  }
  if (!ok) throw pemError(`certificate block at line ${line} is not a der certificate`, line);
  return der;
}

/**
 * Parses a PEM file of CA certificates into X.509 authorities (deduplicated by DER, BUNDLE-23).
 * Every certificate must be a CA (`cA` true, as BUNDLE-21 asks of x509-svid entries).
 */
export function parsePemAuthorities(input: Uint8Array | string): X509Authority[] {
  const authorities: X509Authority[] = [];
  const seen = new Set<string>();
  parsePemCertificates(input).forEach((der, index) => {
    const authority = x509AuthorityFromDer(der);
    if (!authority.certificate.ca) {
      throw pemError(`certificate ${index + 1} of the pem input is not a ca certificate`);
    }
    if (seen.has(authority.fingerprintSha256)) return;
    seen.add(authority.fingerprintSha256);
    authorities.push(authority);
  });
  return authorities;
}

/** Encodes DER certificates as PEM `CERTIFICATE` blocks, 64 characters per line, LF endings. */
export function marshalPem(ders: readonly Uint8Array[]): string {
  let out = '';
  for (const der of ders) {
    if (!(der instanceof Uint8Array)) throw new TypeError('marshalPem expects Uint8Array items');
    out += certificatePem(der);
  }
  return out;
}

const PEM_PREFIX = '-----BEGIN';

/** True when the input starts, after optional whitespace, with `-----BEGIN`. */
export function isPem(input: Uint8Array | string): boolean {
  let i = 0;
  const at = (k: number): number =>
    typeof input === 'string' ? input.charCodeAt(k) : (input[k] ?? Number.NaN);
  for (;;) {
    const c = at(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
    else break;
  }
  for (let k = 0; k < PEM_PREFIX.length; k++) {
    if (at(i + k) !== PEM_PREFIX.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * Parses an operator-supplied bootstrap bundle (FED-1): SPIFFE bundle JSON, or PEM CA
 * certificates, which give a Bundle with X.509 authorities only and no sequence or hint.
 */
export function parseBundleOrPem(bytes: Uint8Array | string, trustDomain: TrustDomain): Bundle {
  if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array)) {
    throw new TypeError('bundle must be a Uint8Array or a string');
  }
  if (!(trustDomain instanceof TrustDomain)) {
    throw new TypeError('trustDomain must be a TrustDomain');
  }
  if (!isPem(bytes)) return parseBundle(bytes, trustDomain);
  return new Bundle({ trustDomain, x509Authorities: parsePemAuthorities(bytes) });
}
