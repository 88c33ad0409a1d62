// The admin changes shared by the admin API's routes and the web console (issue 19 item 4): one
// function per change holds the service call and the audit event, so both doors check and record alike.
import type { AuthorityKind, AuthorityMetadata, Ca } from '../ca/index.js';
import { entryView, type Registration } from '../registration/index.js';

/** The audit sink, narrowed to the event types a group of changes writes. */
export type AuditFn<T extends string = string> = (event: {
  type: T;
  actor: string;
  details?: Record<string, unknown>;
}) => Promise<void>;

export type AuthorityAction = 'activate' | 'taint' | 'revoke';

const AUTHORITY_AUDIT = {
  activate: 'authority.activated',
  taint: 'authority.tainted',
  revoke: 'authority.revoked',
} as const;

/** POST /v1/admin/authorities/:kind/prepare and the console's Prepare button. */
export async function prepareAuthority(
  deps: { readonly ca: Pick<Ca, 'prepare'>; readonly audit: AuditFn<'authority.prepared'> },
  kind: AuthorityKind,
  actor: string,
): Promise<AuthorityMetadata> {
  const authority = await deps.ca.prepare(kind);
  await deps.audit({ type: 'authority.prepared', actor, details: { kind, id: authority.id } });
  return authority;
}

/** Activate (FED-50 lead time unless forced), taint or revoke; audited with the admin's name. */
export async function changeAuthority(
  deps: {
    readonly ca: Pick<Ca, 'activate' | 'taint' | 'revoke'>;
    readonly audit: AuditFn<(typeof AUTHORITY_AUDIT)[AuthorityAction]>;
  },
  change: { kind: AuthorityKind; id: string; action: AuthorityAction; force?: boolean },
  context: { actor: string; reason?: string },
): Promise<AuthorityMetadata> {
  const { kind, id, action } = change;
  const force = change.force === true;
  const authority =
    action === 'activate'
      ? await deps.ca.activate(kind, id, { force })
      : action === 'taint'
        ? await deps.ca.taint(kind, id)
        : await deps.ca.revoke(kind, id);
  await deps.audit({
    type: AUTHORITY_AUDIT[action],
    actor: context.actor,
    details: { kind, id, force, reason: context.reason ?? '' },
  });
  return authority;
}

type RegistrationDeps = {
  readonly registration: Registration;
  readonly audit: AuditFn<'entry.created' | 'entry.deleted' | 'token.created'>;
};

/** POST /v1/admin/entries and the console's Create entry (the body is validated by the caller). */
export async function createEntry(
  deps: RegistrationDeps,
  body: Parameters<Registration['createEntry']>[0],
  actor: string,
): Promise<Record<string, unknown>> {
  const entry = await deps.registration.createEntry(body, actor);
  const view = entryView(entry);
  await deps.audit({ type: 'entry.created', actor, details: { ...view } });
  return view;
}

/** DELETE /v1/admin/entries/:id and the console's Delete. */
export async function deleteEntry(
  deps: RegistrationDeps,
  id: string,
  actor: string,
): Promise<void> {
  const entry = await deps.registration.getEntry(id);
  await deps.registration.deleteEntry(id);
  await deps.audit({
    type: 'entry.deleted',
    actor,
    details: { id: entry.id, spiffeId: entryView(entry)['spiffeId'] },
  });
}

/** POST /v1/admin/tokens and the console's Join token: the secret is returned once, never audited. */
export async function createJoinToken(
  deps: RegistrationDeps,
  request: { entryId: string; ttlSeconds?: number | undefined },
  actor: string,
): Promise<{
  token: string;
  tokenId: string;
  entryId: string;
  expiresAtMs: number;
  spiffeId: string;
}> {
  const created = await deps.registration.createToken(request.entryId, {
    actor,
    ...(request.ttlSeconds === undefined ? {} : { ttlSeconds: request.ttlSeconds }),
  });
  const entry = await deps.registration.getEntry(request.entryId);
  await deps.audit({
    type: 'token.created',
    actor,
    details: {
      tokenId: created.tokenId,
      entryId: created.entryId,
      expiresAt: new Date(created.expiresAtMs).toISOString(),
    },
  });
  return {
    token: created.token,
    tokenId: created.tokenId,
    entryId: created.entryId,
    expiresAtMs: created.expiresAtMs,
    spiffeId: String(entryView(entry)['spiffeId']),
  };
}

/** DELETE /v1/admin/tokens/:tokenId and the console's Revoke. */
export async function revokeJoinToken(
  deps: Pick<RegistrationDeps, 'registration'> & { readonly audit: AuditFn<'token.revoked'> },
  tokenId: string,
  actor: string,
): Promise<void> {
  const { entryId } = await deps.registration.deleteToken(tokenId);
  await deps.audit({ type: 'token.revoked', actor, details: { tokenId, entryId } });
}
