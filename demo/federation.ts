// Federation through the CLI: one broker invites, its partner accepts and approves (digests
// compared as two organisations would over the phone), then the demo waits for the first fetch.
import { join } from 'node:path';
import { fedJson, fedRaw, tempDir, type BrokerProcess } from './processes.js';
import { expect, pass, short } from './report.js';
import { waitUntil } from './wait.js';

export interface RelationshipJson {
  trustDomain: string;
  state: string;
  status: { lastSuccessAtMs: number | null; lastError: { code: string } | null };
}

export async function relationships(broker: BrokerProcess): Promise<RelationshipJson[]> {
  return (await fedJson<{ relationships: RelationshipJson[] }>(broker, ['federation', 'list']))
    .relationships;
}

/** `from` invites, `to` accepts (digests compared as the partner would over the phone). */
export async function inviteAndAccept(
  step: string,
  from: BrokerProcess,
  to: BrokerProcess,
): Promise<void> {
  const file = join(tempDir, `${from.td}-for-${to.td}.invite`);
  const invite = await fedJson<{ bundleSha256: string; expiresAt: string }>(from, [
    'federation',
    'invite',
    '--allow-local-url',
    '--out',
    file,
    '--ttl',
    '10m',
  ]);
  const accepted = await fedJson<{ relationship: { state: string }; bundleSha256: string }>(to, [
    'federation',
    'accept',
    file,
    '--reason',
    `demo: invitation from ${from.td}`,
  ]);
  expect(
    accepted.relationship.state === 'pending',
    `${to.td} accepted ${from.td}: state ${accepted.relationship.state}, expected pending`,
  );
  expect(
    accepted.bundleSha256 === invite.bundleSha256,
    `${to.td} saw bundle sha256 ${accepted.bundleSha256}, ${from.td} invited with ${invite.bundleSha256}`,
  );
  pass(
    step,
    `${from.td} invited ${to.td} (federation invite --out ${file.slice(tempDir.length + 1)}); ` +
      `${to.td} accepted it: pending, bundle sha256 ${short(invite.bundleSha256)} matches on both sides`,
  );
}

export async function approve(step: string, broker: BrokerProcess, partner: string): Promise<void> {
  const result = await fedJson<{ relationship: { state: string } }>(broker, [
    'federation',
    'approve',
    partner,
    '--reason',
    'demo: digest compared out of band',
  ]);
  expect(
    result.relationship.state === 'active',
    `${broker.td} approve ${partner}: state ${result.relationship.state}`,
  );
  pass(step, `${broker.td} approved ${partner}: active`);
}

/** Waits until `broker` holds an active relationship with `partner` and fetched its bundle. */
export async function fetchedOnce(broker: BrokerProcess, partner: string): Promise<void> {
  let refreshed = false;
  await waitUntil(async () => {
    const found = (await relationships(broker)).find((r) => r.trustDomain === partner);
    if (found?.state === 'active' && found.status.lastSuccessAtMs !== null) return true;
    if (!refreshed) {
      refreshed = true;
      await fedRaw(broker, ['federation', 'refresh', partner]);
    }
    return false;
  }, `${broker.td} to fetch the ${partner} bundle`);
}
