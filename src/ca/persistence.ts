// The CA's persistence port (owned here, the consumer) and the versioned state document it stores:
// authority metadata and the bundle `spiffe_sequence`, which must never go backwards (BUNDLE-31).
import { z } from 'zod';
import { CaError } from '../errors.js';
import { AUTHORITY_KINDS, AUTHORITY_STATES } from './authority.js';
import { KEY_TYPES } from './key-type.js';

/**
 * Durable storage for the CA, on the broker's own disk: private keys never go to the shared store.
 * Implementations must make `writeState` and `writeKey` atomic and durable before resolving.
 */
export interface CaPersistence {
  /** The state document, or undefined when none was ever written. */
  readState(): Promise<string | undefined>;
  writeState(document: string): Promise<void>;
  /** A PKCS#8 PEM private key by file-safe name, or undefined when absent. */
  readKey(name: string): Promise<string | undefined>;
  writeKey(name: string, pkcs8Pem: string): Promise<void>;
  /** Deleting an absent key is not an error. */
  deleteKey(name: string): Promise<void>;
  /** Names of all stored keys. */
  listKeys(): Promise<string[]>;
}

const isoDate = z.iso.datetime();
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

const persistedAuthority = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
    kind: z.enum(AUTHORITY_KINDS),
    keyType: z.enum(KEY_TYPES),
    state: z.enum(AUTHORITY_STATES),
    createdAt: isoDate,
    publishedAt: isoDate,
    activatedAt: isoDate.optional(),
    retiredAt: isoDate.optional(),
    taintedAt: isoDate.optional(),
    revokedAt: isoDate.optional(),
    notBefore: isoDate,
    notAfter: isoDate,
    signedUntil: isoDate.optional(),
    upstream: z.boolean(),
    certificate: base64.optional(),
    chain: z.array(base64).optional(),
    anchor: base64.optional(),
    jwk: z
      .object({
        kty: z.enum(['EC', 'RSA']),
        crv: z.string().optional(),
        x: z.string().optional(),
        y: z.string().optional(),
        n: z.string().optional(),
        e: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const persistedState = z
  .object({
    version: z.literal(1),
    trustDomain: z.string().min(1),
    /** Decimal string: lossless 64-bit (BUNDLE-4). */
    sequence: z.string().regex(/^(0|[1-9][0-9]{0,19})$/),
    /** SHA-256 of the published content the sequence belongs to. */
    bundleDigest: z.string().nullable(),
    authorities: z.array(persistedAuthority),
  })
  .strict();

export type PersistedAuthority = z.infer<typeof persistedAuthority>;
export type PersistedCaState = z.infer<typeof persistedState>;

export function encodeCaState(state: PersistedCaState): string {
  return JSON.stringify(state, null, 2) + '\n';
}

/** Parses the state document; any damage is ERR_CA_STATE (never silently reset: the sequence matters). */
export function decodeCaState(document: string): PersistedCaState {
  let json: unknown;
  try {
    json = JSON.parse(document);
  } catch (cause) {
    throw new CaError('ERR_CA_STATE', 'ca state file is not valid JSON', { cause });
  }
  const result = persistedState.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new CaError(
      'ERR_CA_STATE',
      `ca state file is invalid at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? ''}`,
    );
  }
  return result.data;
}

/** File-safe key name of an authority. */
export function keyName(kind: string, id: string): string {
  return `${kind}-${id}`;
}
