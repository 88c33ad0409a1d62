// Issue 15 #10: `audit verify` reads what is stored, not the store's memory. A segment of a running
// broker's file store edited on disk (line checksum fixed up, as an attacker would) is named by the
// admin API and by the `fedbroker audit verify` command at once, without a restart.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { ADMIN_TOKEN, admin, testConfig } from '../helpers/broker.js';
import { lineChecksum } from '../helpers/audit-tamper.js';
import { cli } from '../helpers/cli.js';

interface Verified {
  ok: boolean;
  checked: number;
  brokenAt?: { id: number; reason: string };
}

let broker: Broker;
let segmentDir = '';
let configFile = '';

beforeAll(async () => {
  const loaded = testConfig({ trustDomain: 'logistics.test' });
  broker = await startBroker(loaded, { logger: silentLogger });
  segmentDir = join(loaded.dataDir, 'store', 'audit');
  configFile = join(loaded.dataDir, '..', 'cli.yaml');
  const adminPort = new URL(broker.adminUrl).port;
  writeFileSync(
    configFile,
    `trustDomain: logistics.test\ndataDir: ${loaded.dataDir}\nadminApi:\n  listen: 127.0.0.1:${adminPort}\n`,
  );
  for (const name of ['billing', 'payroll', 'audit']) {
    const created = await admin(broker, 'POST', '/v1/admin/entries', {
      spiffeId: `spiffe://logistics.test/agents/${name}`,
    });
    expect(created.status).toBe(201);
  }
});

afterAll(async () => {
  await broker?.stop();
});

/** Rewrites event `id` in its segment file with `change`; `fixChecksum` as an attacker would. */
function editOnDisk(
  id: number,
  change: (e: AuditEvent) => AuditEvent,
  fixChecksum: boolean,
): () => void {
  for (const name of readdirSync(segmentDir)) {
    const path = join(segmentDir, name);
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    const index = lines.findIndex(
      (line) => line !== '' && (JSON.parse(line.slice(17)) as AuditEvent).id === id,
    );
    if (index < 0) continue;
    const line = lines[index] as string;
    const body = JSON.stringify(change(JSON.parse(line.slice(17)) as AuditEvent));
    lines[index] = `${fixChecksum ? lineChecksum(body) : line.slice(0, 16)} ${body}`;
    writeFileSync(path, lines.join('\n'));
    return () => writeFileSync(path, text);
  }
  throw new Error(`event ${id} not found on disk`);
}

async function verifyBoth(): Promise<{
  api: Verified;
  command: { code: number; stdout: string; stderr: string };
}> {
  const api = (await admin<Verified>(broker, 'GET', '/v1/admin/audit/verify')).body;
  const command = await cli(['audit', 'verify', '--config', configFile], {
    env: { FEDBROKER_ADMIN_TOKEN: ADMIN_TOKEN },
  });
  return { api, command };
}

describe('audit verify reads the stored segments (issue 15 #10)', () => {
  it('the untouched log verifies through the API and the command', async () => {
    const { api, command } = await verifyBoth();
    // The bootstrap of each kind at the first start (authority.prepared and authority.activated,
    // actor broker), then the three entries, each an admin.requested and its entry.created.
    expect(api).toMatchObject({ ok: true, checked: 10 });
    expect(command.code, command.stderr).toBe(0);
    expect(command.stdout).toMatch(/^audit chain intact: 10 events, head 10:[0-9a-f]{64}\n$/);
  });

  it.each([
    ['an edited actor with the line checksum fixed up', true, /hash does not match the content/],
    ['an edited actor with a stale line checksum', false, /unreadable .*: edited or damaged/],
  ])('%s is named while the broker runs', async (_name, fixChecksum, reason) => {
    const restore = editOnDisk(2, (e) => ({ ...e, actor: 'admin:mallory' }), fixChecksum);
    try {
      const { api, command } = await verifyBoth();
      expect(api.ok).toBe(false);
      expect(api.brokenAt?.id).toBe(2);
      expect(api.brokenAt?.reason).toMatch(reason);
      expect(command.code).toBe(1);
      expect(command.stderr).toMatch(
        /^error ERR_AUDIT_CHAIN_BROKEN: audit chain broken at event 2: /,
      );
      // The broker's memory still holds the original event: verify did not read it.
      const listed = (await admin<{ events: AuditEvent[] }>(broker, 'GET', '/v1/admin/audit')).body
        .events;
      expect(listed.find((e) => e.id === 2)?.actor).not.toBe('admin:mallory');
    } finally {
      restore();
    }
    expect((await verifyBoth()).api.ok).toBe(true);
  });
});
