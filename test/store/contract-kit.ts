// Shared by the store contract's modules and other store tests: the fixture a backend provides, the
// context each contract module registers its tests with, and small helpers (bundle input, audit chain).
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { AuditRecord, AuditTrimBuilder, BundleInput, Store } from '../../src/store/index.js';

/** Audit options a fixture passes to the store it opens (the audit contract's small caps). */
export interface AuditFixtureOptions {
  readonly auditMaxLength?: number;
  readonly auditTrimmed?: AuditTrimBuilder;
}

export interface StoreFixture {
  /** Opens a store on the data of `scope`; a second open of the same scope sees the same data. */
  open(scope: string, audit?: AuditFixtureOptions): Promise<Store>;
}

export const TD = 'partner.example';

export function bundleInput(sequence: string | null, keys = 'k1', td = TD): BundleInput {
  const keySet = JSON.stringify([{ kty: 'EC', use: 'x509-svid', note: keys }]);
  // The sequence goes in as written: JSON numbers above 2^53 must not be rounded here.
  const raw =
    sequence === null ? `{"keys":${keySet}}` : `{"keys":${keySet},"spiffe_sequence":${sequence}}`;
  return {
    trustDomain: td,
    raw,
    sequence,
    fetchedAt: 1_700_000_000_000,
    sourceUrl: `https://${td}/bundle`,
    refreshHintSeconds: 300,
  };
}

/** Resolves with the error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: unknown };
  }
  throw new Error('expected a rejection');
}

/** The audit room's chain, reduced: hash = sha256(previous hash + the event). */
export function chained(
  type: string,
  extra: { actor?: string; trustDomain?: string | null; time?: number } = {},
) {
  return (previous: AuditRecord | undefined, id: number) => {
    const previousHash = previous?.hash ?? null;
    const body = {
      time: extra.time ?? 1_000 + id,
      type,
      actor: extra.actor ?? 'admin',
      trustDomain: extra.trustDomain ?? null,
      data: { n: id },
    };
    const hash = createHash('sha256')
      .update(`${previousHash ?? ''}|${id}|${JSON.stringify(body)}`)
      .digest('hex');
    return { ...body, previousHash, hash };
  };
}

export function checkChain(records: readonly AuditRecord[]): void {
  records.forEach((record, i) => {
    const previous = records[i - 1];
    if (previous !== undefined) {
      expect(record.id).toBe(previous.id + 1);
      expect(record.previousHash).toBe(previous.hash);
    }
    const { id, previousHash, hash, ...body } = record;
    expect(hash).toBe(
      createHash('sha256')
        .update(`${previousHash ?? ''}|${id}|${JSON.stringify(body)}`)
        .digest('hex'),
    );
  });
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** What a contract module's tests open stores with; `describeStoreContract` makes one per backend. */
export interface ContractContext {
  /** Stores opened by the current test; each is closed after it (a test that closes one removes it). */
  readonly opened: Store[];
  /** Opens another store on the scope `fresh` last made, as a restart would. */
  open(): Promise<Store>;
  /** Opens a store on a new, empty scope. */
  fresh(): Promise<Store>;
}
