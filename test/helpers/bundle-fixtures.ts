// Shared fixtures of the parseBundle rule tests (src/bundle/parse-bundle-*.test.ts): the SPIFFE-RULES
// §4.8 example bundle, entry builders, the helpers that parse and read outcomes, and real CAs and JWKs.
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { createCa, createJwtKey, createLeaf, type TestCert } from './pki.js';
import { parseBundle, type Bundle } from '../../src/bundle/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';

export { codeOf } from './bundle-code.js';

/** The §4.8 example, copied verbatim from SPIFFE-RULES.md. */
export const EXAMPLE_TEXT = readFileSync(
  new URL('../../src/bundle/spec-example-bundle.json', import.meta.url),
  'utf8',
);
export const ACME = parseTrustDomain('acme.example');
export const EXAMPLE_JWT_KID = 'OaeHp488GZFo4XJU';

export type Entry = Record<string, unknown>;
export interface Doc extends Record<string, unknown> {
  keys?: unknown;
}

export function example(): Doc & { keys: Entry[] } {
  return JSON.parse(EXAMPLE_TEXT) as Doc & { keys: Entry[] };
}
export function exampleX509(): Entry {
  return example().keys[0] as Entry;
}
export function exampleJwt(): Entry {
  return example().keys[1] as Entry;
}
export function parse(doc: Doc | string | Uint8Array): Bundle {
  return parseBundle(
    typeof doc === 'string' || doc instanceof Uint8Array ? doc : JSON.stringify(doc),
    ACME,
  );
}
export function withKeys(...keys: unknown[]): Doc {
  return { keys };
}
export function reasons(bundle: Bundle): string[] {
  return bundle.skipped.map((s) => s.reason);
}
export function noteReasons(bundle: Bundle): string[] {
  return bundle.notes.map((n) => n.reason);
}
/** The only entry of a one-entry document is skipped with this reason. */
export function skipReasonOf(entry: Entry): string {
  const bundle = parse(withKeys(entry));
  expect(bundle.isEmpty).toBe(true);
  expect(bundle.skipped).toHaveLength(1);
  return bundle.skipped[0]?.reason ?? 'not skipped';
}

export function publicJwk(cert: TestCert): JsonWebKey {
  return cert.nodePublicKey().export({ format: 'jwk' });
}
export function x509EntryOf(cert: TestCert, extra: Entry = {}): Entry {
  return { use: 'x509-svid', ...publicJwk(cert), x5c: [cert.der.toString('base64')], ...extra };
}
export function jwtEntryOf(kid: string, jwk: Entry | JsonWebKey, extra: Entry = {}): Entry {
  return { kid, use: 'jwt-svid', ...jwk, ...extra };
}
export function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

export const [caP256, caP384, caP521, caRsa, caEd25519, caNoBasicConstraints, caNotCa] =
  await Promise.all([
    createCa({ keyAlg: 'ec-p256', trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'ec-p384', trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'ec-p521', trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'rsa-2048', trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'ed25519', trustDomain: 'acme.example' }),
    createCa({ basicConstraints: false, trustDomain: 'acme.example' }),
    createCa({ notCa: true, trustDomain: 'acme.example' }),
  ]);
export const leaf = await createLeaf(caP256);
const jwtKeyPairs = await Promise.all([
  createJwtKey('ES256'),
  createJwtKey('ES384'),
  createJwtKey('ES512'),
  createJwtKey('RS256'),
]);
export const jwtKeys: Record<'ES256' | 'ES384' | 'ES512' | 'RS256', JsonWebKey> = {
  ES256: jwtKeyPairs[0].jwk,
  ES384: jwtKeyPairs[1].jwk,
  ES512: jwtKeyPairs[2].jwk,
  RS256: jwtKeyPairs[3].jwk,
};
export const ed25519Jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
export const rsa1024Jwk = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
  format: 'jwk',
});
