// Issue 17 end to end with real processes: a real `fedbroker serve`, a real `fedbroker agent serve`
// enrolled with a node entry's token, and Workload API clients built from the published proto (in
// this process and as child processes of other uids): each RPC, openssl verify, {instance} per
// process, entry deletion reaching open streams, broker down (cache served), restart without token.
import { spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCli,
  eventually,
  freePort,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';
import { fedbrokerOk } from '../helpers/built-federation.js';
import {
  WORKLOAD_CLIENT_SCRIPT,
  openStream,
  unaryCall,
  workloadClient,
  type X509SvidResponseMsg,
} from '../helpers/workload-client.js';
import { startAgentServe } from '../helpers/workload-agent.js';

const TD = 'nodes.example';
const NODE_ID = `spiffe://${TD}/nodes/host-1`;
const UID = process.getuid?.() ?? 0;
const root = mkdtempSync(join(tmpdir(), 'fedbroker-agent-serve-'));
chmodSync(root, 0o755);
const config = join(root, 'broker', 'broker.yaml');
const socket = join(root, 'run', 'agent.sock');
const dataDir = join(root, 'node-data');
let broker: { child: ChildProcess } | undefined;
let agent: { child: ChildProcess; stderr: () => string } | undefined;
const clients: grpc.Client[] = [];

const fedbroker = fedbrokerOk;

async function json<T>(args: string[]): Promise<T> {
  return JSON.parse(await fedbroker([...args, '--config', config, '--json'])) as T;
}

/** `fedbroker entry create --spiffe-id <spiffeId> ...flags`; the new entry's id. */
async function createEntry(spiffeId: string, ...flags: string[]): Promise<string> {
  const { entry } = await json<{ entry: { id: string } }>([
    'entry',
    'create',
    '--spiffe-id',
    spiffeId,
    ...flags,
  ]);
  return entry.id;
}

const startAgent = (extra: string[]): ReturnType<typeof startAgentServe> =>
  startAgentServe(socket, dataDir, extra);

function client(): ReturnType<typeof workloadClient> {
  const c = workloadClient(socket);
  clients.push(c);
  return c;
}

function child(args: string[], uid?: number): { ids?: string[]; code?: number }[] {
  const result = spawnSync(process.execPath, [WORKLOAD_CLIENT_SCRIPT, socket, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { ids?: string[]; code?: number });
}

/** Waits until the (re)started agent has its node state: the first call that is not Unavailable. */
async function firstSvid(): Promise<X509SvidResponseMsg> {
  for (let i = 0; i < 100; i += 1) {
    const stream = openStream<X509SvidResponseMsg>(client(), 'FetchX509SVID');
    const result = await Promise.race([stream.next(), stream.ended]);
    stream.cancel();
    if (result !== null && 'svids' in (result as object)) return result as X509SvidResponseMsg;
    if ((result as grpc.ServiceError | null)?.code !== grpc.status.UNAVAILABLE)
      throw result as Error;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('no SVID');
}

/** The leaf's authority key identifier (lower-case hex), read by openssl from its DER. */
function issuerKeyId(chainDer: Buffer): string {
  const result = spawnSync(
    'openssl',
    ['x509', '-inform', 'DER', '-noout', '-ext', 'authorityKeyIdentifier'],
    { input: chainDer, encoding: 'utf8' },
  );
  expect(result.status, result.stderr).toBe(0);
  const lines = result.stdout.split('\n').slice(1).join('');
  return lines
    .replace(/keyid:/i, '')
    .replace(/[^0-9A-Fa-f]/g, '')
    .toLowerCase();
}

let token: { token: string; agentApiUrl: string; bundleDigest: string };

beforeAll(async () => {
  await buildCli();
  const adminPort = await freePort();
  // A fixed agent port: the broker comes back on the same address after the outage test.
  const agentPort = await freePort();
  const initArgs = loopbackInitArgs(TD, join(root, 'broker'), adminPort);
  initArgs[initArgs.indexOf('--agent-port') + 1] = String(agentPort);
  await fedbroker(initArgs);
  broker = await startServe(config);
  const entryId = await createEntry(NODE_ID, '--node');
  token = await json(['token', 'generate', '--entry', entryId, '--ttl', '10m']);
}, 240_000);

afterAll(async () => {
  for (const c of clients) c.close();
  if (agent !== undefined) await stopServe(agent.child);
  if (broker !== undefined) await stopServe(broker.child);
  rmSync(root, { recursive: true, force: true });
});

describe('fedbroker agent serve against a real broker (issue 17)', () => {
  let apiEntry: string;

  it('enrols with the node token and serves the workload entries parented to it; SVIDs verify with openssl', async () => {
    apiEntry = await createEntry(
      `spiffe://${TD}/api`,
      '--parent-id',
      NODE_ID,
      '--selector',
      `unix:uid:${UID}`,
    );
    agent = await startAgent([
      '--broker',
      token.agentApiUrl,
      '--join-token',
      token.token,
      '--bundle-digest',
      token.bundleDigest,
    ]);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'node-svid.json')).mode & 0o777).toBe(0o600);
    expect(statSync(socket).isSocket()).toBe(true);
    const message = await firstSvid();
    expect(message.svids.map((s) => s.spiffe_id)).toEqual([`spiffe://${TD}/api`]);
    const svid = message.svids[0]!;
    writeFileSync(join(root, 'leaf.pem'), new X509Certificate(svid.x509_svid).toString());
    writeFileSync(join(root, 'root.pem'), new X509Certificate(svid.bundle).toString());
    const verify = spawnSync(
      'openssl',
      ['verify', '-CAfile', join(root, 'root.pem'), join(root, 'leaf.pem')],
      { encoding: 'utf8' },
    );
    expect(verify.stdout).toContain('OK');

    const c = client();
    const jwt = await unaryCall<{ svids: { spiffe_id: string; svid: string }[] }>(
      c,
      'FetchJWTSVID',
      { audience: ['reports'] },
    );
    expect(jwt.svids.map((s) => s.spiffe_id)).toEqual([`spiffe://${TD}/api`]);
    const validated = await unaryCall<{ spiffe_id: string }>(c, 'ValidateJWTSVID', {
      audience: 'reports',
      svid: jwt.svids[0]!.svid,
    });
    expect(validated.spiffe_id).toBe(`spiffe://${TD}/api`);
    const bundles = openStream<{ bundles: Record<string, Buffer> }>(c, 'FetchJWTBundles');
    expect(Object.keys((await bundles.next()).bundles)).toEqual([`spiffe://${TD}`]);
    bundles.cancel();
    const missing = (await unaryCall(
      c,
      'FetchJWTSVID',
      { audience: ['x'] },
      new grpc.Metadata(),
    ).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(missing.code).toBe(grpc.status.INVALID_ARGUMENT);
    // The agent takes the audience values the broker signs (256 bytes) and refuses longer ones
    // itself: a broker refusal would come back as Unavailable, which clients retry for ever.
    const longest = await unaryCall<{ svids: unknown[] }>(c, 'FetchJWTSVID', {
      audience: ['a'.repeat(256)],
    });
    expect(longest.svids).toHaveLength(1);
    const tooLong = (await unaryCall(c, 'FetchJWTSVID', { audience: ['a'.repeat(257)] }).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(tooLong.code).toBe(grpc.status.INVALID_ARGUMENT);
    // Nor a control character the broker's API refuses (review 17 F3); tab and LF it takes.
    const control = (await unaryCall(c, 'FetchJWTSVID', { audience: ['aud\u0001x'] }).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(control.code).toBe(grpc.status.INVALID_ARGUMENT);
    const tabbed = await unaryCall<{ svids: unknown[] }>(c, 'FetchJWTSVID', {
      audience: ['aud\tx\ny'],
    });
    expect(tabbed.svids).toHaveLength(1);
  });

  it("activating a prepared X.509 authority re-signs the open stream's SVID with it at once (issue 17 activation gap)", async () => {
    const stream = openStream<X509SvidResponseMsg>(client(), 'FetchX509SVID');
    const first = await stream.next(45_000);
    const before = issuerKeyId(first.svids[0]!.x509_svid);
    const shown = await json<{ authorities: { id: string; state: string }[] }>([
      'localauthority',
      'x509',
      'show',
    ]);
    expect(shown.authorities.find((a) => a.state === 'active')?.id.toLowerCase()).toBe(before);
    const { authority } = await json<{ authority: { id: string } }>([
      'localauthority',
      'x509',
      'prepare',
    ]);
    // --force skips FED-50's lead time (5 refresh hints): the test's stand-in for waiting.
    await json(['localauthority', 'x509', 'activate', '--authority-id', authority.id, '--force']);
    // Before the fix the bundle did not change on activation, so the stream kept the old leaf
    // until its half-life; now the next messages carry a leaf from the new authority.
    let next = await stream.next(45_000);
    while (issuerKeyId(next.svids[0]!.x509_svid) === before) next = await stream.next(45_000);
    expect(issuerKeyId(next.svids[0]!.x509_svid)).toBe(authority.id.toLowerCase());
    expect(next.svids.map((s) => s.spiffe_id)).toEqual([`spiffe://${TD}/api`]);
    stream.cancel();
  });

  it('another uid is refused; a {instance} template gives two processes two IDs and one process one ID', async () => {
    expect(child(['x509'], 65534)).toEqual([{ code: grpc.status.PERMISSION_DENIED }]);
    await createEntry(
      `spiffe://${TD}/agents/{instance}`,
      '--parent-id',
      NODE_ID,
      '--selector',
      'unix:uid:65534',
    );
    let first: { ids?: string[]; code?: number }[] = [];
    for (let i = 0; i < 50; i += 1) {
      first = child(['x509', 'aud', '2'], 65534);
      if (first[0]?.ids !== undefined) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const second = child(['jwt', 'aud', '2'], 65534);
    expect(first[0]?.ids?.[0]).toMatch(new RegExp(`^spiffe://${TD}/agents/[A-Za-z0-9_-]{22}$`));
    expect(first[1]?.ids).toEqual(first[0]?.ids);
    expect(second[1]?.ids).toEqual(second[0]?.ids);
    expect(second[0]?.ids).not.toEqual(first[0]?.ids);
  });

  it('deleting the entry ends the open stream with PermissionDenied (WAPI-8)', async () => {
    const extra = await createEntry(
      `spiffe://${TD}/extra`,
      '--parent-id',
      NODE_ID,
      '--selector',
      `unix:uid:${UID}`,
      '--selector',
      `unix:path:${process.execPath}`,
    );
    const stream = openStream<X509SvidResponseMsg>(client(), 'FetchX509SVID');
    let message = await stream.next(45_000);
    while (message.svids.length < 2) message = await stream.next(45_000);
    expect(message.svids.map((s) => s.spiffe_id).sort()).toEqual([
      `spiffe://${TD}/api`,
      `spiffe://${TD}/extra`,
    ]);
    await fedbroker(['entry', 'delete', extra, '--config', config]);
    const after = await stream.next(45_000);
    expect(after.svids.map((s) => s.spiffe_id)).toEqual([`spiffe://${TD}/api`]);
    await fedbroker(['entry', 'delete', apiEntry, '--config', config]);
    expect((await stream.ended)?.code).toBe(grpc.status.PERMISSION_DENIED);
    apiEntry = await createEntry(
      `spiffe://${TD}/api`,
      '--parent-id',
      NODE_ID,
      '--selector',
      `unix:uid:${UID}`,
    );
    await firstSvid();
  });

  it('broker down: the cached SVID is still served; agent restart without a token resumes with its stored SVID', async () => {
    const before = await firstSvid();
    await stopServe(broker!.child);
    broker = undefined;
    const during = await firstSvid();
    expect(during.svids[0]?.x509_svid.equals(before.svids[0]!.x509_svid)).toBe(true);
    broker = await startServe(config);
    await stopServe(agent!.child);
    agent = undefined;
    expect(existsSync(socket)).toBe(false);
    agent = await startAgent(['--broker', token.agentApiUrl]);
    expect(agent.stderr()).toContain('resumed');
    expect((await firstSvid()).svids[0]?.spiffe_id).toBe(`spiffe://${TD}/api`);
    expect(readFileSync(join(dataDir, 'node-svid.json'), 'utf8')).not.toContain(token.token);
  });
});

describe('fedbroker agent serve refuses to start', () => {
  it.each([
    [
      'no token and no stored SVID',
      [
        '--broker',
        'https://127.0.0.1:9',
        '--socket',
        join(root, 'x.sock'),
        '--data-dir',
        join(root, 'empty'),
      ],
      'ERR_WORKLOAD_NODE_SVID_MISSING',
    ],
    ['no --socket', ['--broker', 'https://127.0.0.1:9', '--join-token', 't'], 'ERR_CLI_USAGE'],
    [
      'both --bundle and --bundle-digest',
      [
        '--broker',
        'https://127.0.0.1:9',
        '--socket',
        join(root, 'x.sock'),
        '--bundle',
        'f',
        '--bundle-digest',
        'd',
      ],
      'ERR_CLI_USAGE',
    ],
    [
      'a per-uid share above its pool (--max-arriving-per-uid 600, --max-arriving 512)',
      [
        '--broker',
        'https://127.0.0.1:9',
        '--socket',
        join(root, 'x.sock'),
        '--max-arriving-per-uid',
        '600',
      ],
      'ERR_CONFIG_INVALID',
    ],
  ])('%s', async (_name, args, code) => {
    const result = await runBuilt(['agent', 'serve', ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`error ${code}`);
  });
});

describe('short-lived SVIDs: the node renews its own SVID and streams get renewed workload SVIDs', () => {
  it('a 60 s node SVID and 60 s workload SVIDs are renewed at half-life while serving', async () => {
    const node2 = `spiffe://${TD}/nodes/host-2`;
    const socket2 = join(root, 'run', 'agent2.sock');
    const entryId = await createEntry(node2, '--node', '--ttl', '60s');
    const token2 = await json<{ token: string; agentApiUrl: string; bundleDigest: string }>([
      'token',
      'generate',
      '--entry',
      entryId,
      '--ttl',
      '10m',
    ]);
    await createEntry(
      `spiffe://${TD}/short`,
      '--parent-id',
      node2,
      '--selector',
      `unix:uid:${UID}`,
      '--ttl',
      '60s',
    );
    const second = await startAgentServe(socket2, join(root, 'node2-data'), [
      '--broker',
      token2.agentApiUrl,
      '--join-token',
      token2.token,
      '--bundle-digest',
      token2.bundleDigest,
    ]);
    try {
      const c = workloadClient(socket2);
      clients.push(c);
      let stream = openStream<X509SvidResponseMsg>(c, 'FetchX509SVID');
      let first: X509SvidResponseMsg | undefined;
      for (let i = 0; i < 50 && first === undefined; i += 1) {
        const result = await Promise.race([stream.next(), stream.ended]);
        if (result !== null && 'svids' in (result as object)) first = result as X509SvidResponseMsg;
        else {
          await new Promise((r) => setTimeout(r, 200));
          stream = openStream<X509SvidResponseMsg>(c, 'FetchX509SVID');
        }
      }
      expect(first?.svids[0]?.spiffe_id, second.stderr()).toBe(`spiffe://${TD}/short`);
      // Renewed at half-life: a new certificate arrives on the same stream, signed through the
      // node's own renewed SVID.
      let renewed = await stream.next(45_000);
      while (renewed.svids[0]!.x509_svid.equals(first!.svids[0]!.x509_svid))
        renewed = await stream.next(45_000);
      await eventually('node SVID renewed', 45_000, async () =>
        second.stderr().includes('node SVID renewed') ? true : undefined,
      );
      stream.cancel();
    } finally {
      await stopServe(second.child);
    }
  }, 120_000);
});
