// Pairs result events with the admin request that caused them: while an admin or console change
// runs, every event the recorder appends (whichever room writes it) carries that request's id, as its
// `admin.requested` event does, without each room being handed the id.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditEventInput } from './event.js';

interface RequestScope {
  readonly requestId: string;
  /** False once the request has settled: work it left behind (a timer, a refresh) is not its. */
  open: boolean;
}

const scope = new AsyncLocalStorage<RequestScope>();
/** Admin requests running now: the scope is enabled only while one is. */
let running = 0;

/**
 * Runs `work` as the admin request `requestId`; events appended until it settles carry the id.
 * On Node 20 an enabled AsyncLocalStorage puts async hooks on every promise of the process, and
 * stays enabled: after one admin change, agent renewals ran 5-10% slower
 * (/work/scratch renewal rounds, 5.2-5.8k/s against 5.8-6.2k/s). So the scope is disabled again
 * when the last running admin request settles; work it left behind is not its anyway.
 */
export async function runAsAdminRequest<T>(requestId: string, work: () => Promise<T>): Promise<T> {
  const current: RequestScope = { requestId, open: true };
  running += 1;
  try {
    return await scope.run(current, work);
  } finally {
    current.open = false;
    running -= 1;
    if (running === 0) scope.disable();
  }
}

/** The id of the admin request running now; undefined outside one or once it has settled. */
export function currentAdminRequestId(): string | undefined {
  const current = scope.getStore();
  return current?.open === true ? current.requestId : undefined;
}

/** `event` with `details.requestId` of the running admin request, unless it names one already. */
export function withAdminRequestId(event: AuditEventInput): AuditEventInput {
  const requestId = currentAdminRequestId();
  if (requestId === undefined || event.details?.['requestId'] !== undefined) return event;
  return { ...event, details: { ...event.details, requestId } };
}
