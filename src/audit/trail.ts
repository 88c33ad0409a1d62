// Writing the audit trail: every append either lands durably or fails with ERR_STORE_UNAVAILABLE
// (callers answer 503 and hand nothing out), and every trim past the cap is an `audit.trimmed` event.
import { StoreError, isBrokerError } from '../errors.js';
import type { AuditLog, AuditTrimBuilder } from '../store/index.js';
import { chainEvent, type AuditEvent, type AuditEventInput } from './event.js';
import { withAdminRequestId } from './request-scope.js';
import type { Clock } from '../clock.js';

/** The store's `audit.trimmed` builder: the trim facts, chained and hashed like any event. */
export const chainTrimmedEvent: AuditTrimBuilder = (previous, id, trim) => {
  const { id: _id, ...draft } = chainEvent(
    previous,
    {
      type: 'audit.trimmed',
      actor: 'system',
      details: {
        count: trim.count,
        fromId: trim.fromId,
        toId: trim.toId,
        lastTrimmedHash: trim.lastTrimmedHash,
      },
    },
    previous.time,
    id,
  );
  return draft;
};

/** Appends one event; resolves once it is durable, else rejects with ERR_STORE_UNAVAILABLE. */
export type AuditRecorder = (event: AuditEventInput) => Promise<AuditEvent>;

/**
 * The one way events are written; one written while an admin change runs carries its request id
 * (request-scope.ts). Fail closed: whatever stops the append (a stalled Redis, a full
 * disk, a lost race) reaches the caller as ERR_STORE_UNAVAILABLE, never a silent success.
 */
export function createAuditRecorder(deps: {
  readonly store: Pick<AuditLog, 'appendAudit'>;
  readonly now: Clock;
}): AuditRecorder {
  return async (input) => {
    // Written during an admin change: the id of its `admin.requested` event pairs them.
    const event = withAdminRequestId(input);
    try {
      return await deps.store.appendAudit((previous, id) => {
        const { id: _id, ...draft } = chainEvent(previous, event, deps.now(), id);
        return draft;
      });
    } catch (error) {
      if (isBrokerError(error) && error.code === 'ERR_STORE_UNAVAILABLE') throw error;
      throw new StoreError(
        'ERR_STORE_UNAVAILABLE',
        `audit record "${event.type}" not written, so the action is not acknowledged`,
        { cause: error },
      );
    }
  };
}
