// Audit events as tests compare them: the `admin.requested` event before each admin change (its own
// tests are test/api/admin-requests.test.ts) set aside, so a test states the results it expects.
export function resultEvents<E extends { readonly type: string }>(events: readonly E[]): E[] {
  return events.filter((e) => e.type !== 'admin.requested');
}
