// The audit events of the CA's own rotation steps, actor `broker`: those due at start (createCa) and
// the rotator's, recorded (durable) before any step of a rotation applies, beside admin-actions.ts's
// admin changes.
import type { RotationRecorder, RotationStep } from '../ca/index.js';
import type { AuditFn } from './admin-actions.js';

type RotationAuditType =
  'authority.prepared' | 'authority.activated' | 'authority.retired' | 'authority.removed';

type RotationAuditEvent = Parameters<AuditFn<RotationAuditType>>[0];

/** The broker itself, as opposed to `admin:<name>`: the actor of every event written here. */
export const BROKER_ACTOR = 'broker';

/** A step's events, in order; a bootstrap prepare (it signs at once) is prepared, then activated. */
export function rotationAuditEvents(step: RotationStep): RotationAuditEvent[] {
  const { kind, reason } = step;
  const event = (
    type: RotationAuditType,
    details: Record<string, unknown>,
  ): RotationAuditEvent => ({
    type,
    actor: BROKER_ACTOR,
    details: { kind, id: step.id, reason, ...details },
  });
  switch (step.type) {
    case 'prepare': {
      const prepared = event('authority.prepared', {
        notAfter: step.notAfter.toISOString(),
        activate: step.activate,
      });
      // No lead time: nothing of this kind was published that partners could rely on (FED-50).
      return step.activate ? [prepared, event('authority.activated', { force: true })] : [prepared];
    }
    case 'activate':
      return [event('authority.activated', { force: false })];
    case 'retire':
      return [event('authority.retired', {})];
    case 'remove':
      return [event('authority.removed', {})];
  }
}

/** createCa's and the rotator's record hook: each step's events, in order, before any applies. */
export function recordRotationSteps(audit: AuditFn<RotationAuditType>): RotationRecorder {
  return async (steps) => {
    for (const step of steps) {
      for (const event of rotationAuditEvents(step)) await audit(event);
    }
  };
}
