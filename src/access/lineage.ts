// Who added whom among admins (two-person rule, issue 19): two admins are related when one added the
// other, directly or through admins they added; `root` added everyone it added. Used to refuse an
// approval beside an identity the approver made (or that made the approver).
import type { AccessStore } from '../store/index.js';
import { adminFromValue } from './admin.js';

/** Longest added-by chain followed; a longer one (or a loop) is cut there. */
const MAX_CHAIN = 64;

/** The admin name an audit actor stands for: `admin:<name>`, or a bare mTLS SPIFFE ID as is. */
export function adminNameOfActor(actor: string): string {
  return actor.startsWith('admin:') ? actor.slice('admin:'.length) : actor;
}

/**
 * The admins above `name` in the added-by chain, nearest first. `root` and mTLS admins from
 * `adminIds` are not stored, so none are above them; an admin stored before `addedBy` was
 * recorded is placed by its `createdBy` (the actor that added it), a record with neither by none.
 */
async function addersOf(store: Pick<AccessStore, 'getAccess'>, name: string): Promise<string[]> {
  const chain: string[] = [];
  let current = name;
  while (chain.length < MAX_CHAIN) {
    const found = await store.getAccess('admin', current);
    const record = found === undefined ? undefined : adminFromValue(found.value);
    // Records stored before addedBy was kept name their creator in createdBy (the same actor).
    const createdBy = record?.createdBy ?? '';
    const adder = record?.addedBy ?? (createdBy === '' ? null : adminNameOfActor(createdBy));
    if (adder === null || adder === name || chain.includes(adder)) break;
    chain.push(adder);
    current = adder;
  }
  return chain;
}

/** Whether the admins behind two audit actors are the same or one added the other (at any depth). */
export async function areAdminsRelated(
  store: Pick<AccessStore, 'getAccess'>,
  actorA: string,
  actorB: string,
): Promise<boolean> {
  const a = adminNameOfActor(actorA);
  const b = adminNameOfActor(actorB);
  if (a === b) return true;
  const [aboveA, aboveB] = await Promise.all([addersOf(store, a), addersOf(store, b)]);
  return aboveA.includes(b) || aboveB.includes(a);
}
