// Issue 6, CLI smoke: the real `fedbroker audit verify` on a broker's file store prints the intact chain
// (plain, --json, --anchor), and exits 1 naming the event after one was edited in the segments. Every
// kind of edit, both stores and the anchor limits are covered in process by test/store/audit-tamper.test.ts.
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import {
  buildCli,
  freePort,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';
import {
  editedData,
  only,
  readSegments,
  tamperSegments,
  writeSegments,
  type Segments,
} from '../helpers/audit-tamper.js';

interface Verified {
  readonly code: number;
  readonly stderr: string;
  readonly json: {
    ok: boolean;
    checked: number;
    brokenAt?: { id: number; reason: string };
    head?: { id: number; hash: string };
    anchor?: { id: number; hash: string };
  };
}

async function verify(config: string, anchor?: AuditEvent): Promise<Verified> {
  const result = await runBuilt([
    'audit',
    'verify',
    '--config',
    config,
    '--json',
    ...(anchor === undefined ? [] : ['--anchor', `${anchor.id}:${anchor.hash}`]),
  ]);
  return {
    code: result.code,
    stderr: result.stderr,
    json: JSON.parse(result.stdout) as Verified['json'],
  };
}

/** Writes a broker directory (fixed admin port) and returns its config file. */
async function initBroker(trustDomain: string, dir: string): Promise<string> {
  const result = await runBuilt(loopbackInitArgs(trustDomain, dir, await freePort()));
  expect(result.code, result.stderr).toBe(0);
  return join(dir, 'broker.yaml');
}

/** Admin actions that each append audit events (entries, tokens, an invite, SVIDs). */
async function produceEvents(config: string, trustDomain: string): Promise<void> {
  const steps: string[][] = [
    ['entry', 'create', '--spiffe-id', `spiffe://${trustDomain}/agents/a/{instance}`, '--json'],
    ['entry', 'create', '--spiffe-id', `spiffe://${trustDomain}/agents/b`, '--json'],
    ['federation', 'invite', '--allow-local-url', '--out', join(config, '..', 'invite.json')],
    ['jwt', 'mint', '--spiffe-id', `spiffe://${trustDomain}/agents/b`, '--audience', 'x'],
    ['localauthority', 'jwt', 'prepare'],
  ];
  for (const step of steps) {
    const result = await runBuilt([...step, '--config', config]);
    expect(result.code, `${step.join(' ')}: ${result.stderr}`).toBe(0);
  }
  const entries = JSON.parse(
    (await runBuilt(['entry', 'list', '--config', config, '--json'])).stdout,
  ) as { entries: { id: string }[] };
  for (const entry of entries.entries.slice(0, 1)) {
    const token = await runBuilt(['token', 'generate', '--entry', entry.id, '--config', config]);
    expect(token.code, token.stderr).toBe(0);
  }
}

async function listEvents(config: string): Promise<AuditEvent[]> {
  const result = await runBuilt([
    'audit',
    'list',
    '--limit',
    '10000',
    '--config',
    config,
    '--json',
  ]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { events: AuditEvent[] }).events;
}

function expectBroken(result: Verified, id: number, reason: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.json.ok).toBe(false);
  expect(result.json.brokenAt?.id).toBe(id);
  expect(result.json.brokenAt?.reason).toMatch(reason);
  expect(result.stderr).toBe(
    `error ERR_AUDIT_CHAIN_BROKEN: audit chain broken at event ${id}: ${result.json.brokenAt?.reason}\n`,
  );
}

// --- File store: the audit segments (helpers in test/helpers/audit-tamper.ts) ----------------------

describe('audit verify catches an edited file store (audit segments edited while the broker is stopped)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedbroker-audit-file-'));
  let config: string;
  let journal: string;
  let segmentDir: string;
  let pristineJournal: string;
  let pristine: Segments;
  let events: AuditEvent[];
  let target: number;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    await buildCli();
    config = await initBroker('audit.test', dir);
    child = (await startServe(config)).child;
    await produceEvents(config, 'audit.test');
    events = await listEvents(config);
    expect(await stopServe(child)).toBe(0);
    child = undefined;
    const store = join(dir, 'state', 'store');
    // Audit events live in the segments only: never in the journal, nor in a snapshot.
    expect(existsSync(join(store, 'snapshot.json'))).toBe(false);
    journal = join(store, 'journal.log');
    expect(readFileSync(journal, 'utf8')).not.toContain('"op":"audit"');
    pristineJournal = `${journal}.pristine`;
    copyFileSync(journal, pristineJournal);
    segmentDir = join(store, 'audit');
    pristine = readSegments(segmentDir);
    expect([...pristine.keys()]).toEqual(['00000000000000000001.log']);
  }, 240_000);

  afterAll(async () => {
    if (child !== undefined) await stopServe(child);
  });

  /** Restores journal and segments, applies `edit`, runs verify on a broker started on them, stops it. */
  async function verifyEdited<T = Verified>(
    edit: (segments: Segments) => Segments,
    run: () => Promise<T> = () => verify(config) as Promise<T>,
  ): Promise<T> {
    copyFileSync(pristineJournal, journal);
    writeSegments(segmentDir, edit(pristine));
    child = (await startServe(config)).child;
    try {
      return await run();
    } finally {
      expect(await stopServe(child)).toBe(0);
      child = undefined;
    }
  }

  it('has a chain long enough to edit in the middle, and the untouched chain verifies', async () => {
    expect(events.length).toBeGreaterThanOrEqual(6);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    const types = events.map((e) => e.type);
    for (const type of [
      'entry.created',
      'invite.created',
      'svid.issued',
      'authority.prepared',
      'token.created',
    ]) {
      expect(types, type).toContain(type);
    }
    target = Math.floor(events.length / 2);
    expect(target).toBeGreaterThanOrEqual(2);
    expect(target).toBeLessThan(events.length - 1);
    const middle = events[target] as AuditEvent;
    const { result, plain, anchored, anchoredPlain, badAnchor } = await verifyEdited(
      (segments) => segments,
      async () => ({
        result: await verify(config),
        plain: await runBuilt(['audit', 'verify', '--config', config]),
        anchored: await verify(config, middle),
        anchoredPlain: await runBuilt([
          'audit',
          'verify',
          '--config',
          config,
          '--anchor',
          `${middle.id}:${middle.hash}`,
        ]),
        badAnchor: await runBuilt([
          'audit',
          'verify',
          '--config',
          config,
          '--anchor',
          `#${middle.id} ${middle.hash}`,
        ]),
      }),
    );
    expect(result.code, result.stderr).toBe(0);
    const last = events.at(-1) as AuditEvent;
    expect(result.json).toEqual({
      ok: true,
      checked: events.length,
      head: { id: last.id, hash: last.hash },
    });
    expect(plain).toEqual({
      code: 0,
      stdout: `audit chain intact: ${events.length} events, head ${last.id}:${last.hash}\n`,
      stderr: '',
    });
    // An anchor that still holds is echoed back; a malformed one is refused by the admin API.
    expect(anchored.code, anchored.stderr).toBe(0);
    expect(anchored.json).toEqual({
      ok: true,
      checked: events.length,
      head: { id: last.id, hash: last.hash },
      anchor: { id: middle.id, hash: middle.hash },
    });
    expect(anchoredPlain.stdout).toBe(
      `audit chain intact: ${events.length} events, head ${last.id}:${last.hash}, anchor ${middle.id} matches\n`,
    );
    expect(badAnchor.code).not.toBe(0);
    expect(badAnchor.stderr).toMatch(/^error ERR_API_VALIDATION: .*anchor must be ID:HASH/);
  });

  it('a data field of the middle event edited (checksum fixed up): verify exits 1 naming it', async () => {
    const result = await verifyEdited((segments) =>
      tamperSegments(
        segments,
        only(target, (e) => ({ ...e, data: editedData(e.data) })),
      ),
    );
    expectBroken(result, (events[target] as AuditEvent).id, /hash does not match the content/);
  });

  it('an edit that leaves the line checksum stale makes the store refuse to open (ERR_STORE_CORRUPT)', async () => {
    copyFileSync(pristineJournal, journal);
    writeSegments(
      segmentDir,
      tamperSegments(
        pristine,
        only(target, (e) => ({ ...e, data: editedData(e.data) })),
        true,
      ),
    );
    await expect(startServe(config)).rejects.toThrow(/ERR_STORE_CORRUPT/);
    writeSegments(segmentDir, pristine);
  });
});
