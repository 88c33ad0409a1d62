// The Workload API server over a real Unix socket with a fake node-state source (a real CA signs):
// every RPC from a client built from the published proto, the security header, attestation by uid
// and binary, {instance} templates, stream updates, outages and bounds (WAPI-2..19).
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  appendFileSync,
  existsSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
  readFileSync,
} from 'node:fs';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createAttestor,
  createWorkloadApiServer,
  loadPeerCred,
  type Attestor,
  type WorkloadApiServer,
} from '../../src/workload/index.js';
import { createFakeNode, type FakeNode } from '../helpers/workload-node.js';
import {
  WORKLOAD_CLIENT_SCRIPT,
  openStream,
  unaryCall,
  workloadClient,
  type X509SvidResponseMsg,
} from '../helpers/workload-client.js';

const UID = process.getuid?.() ?? 0;
const NODE_SHA256 = createHash('sha256').update(readFileSync(process.execPath)).digest('hex');
const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

let dir: string;
let node: FakeNode;
let server: WorkloadApiServer;
let attestor: Attestor;
let socket: string;
const clients: grpc.Client[] = [];

function client(): ReturnType<typeof workloadClient> {
  const c = workloadClient(socket);
  clients.push(c);
  return c;
}

/** Runs the child client as `uid` (or with another node binary), one JSON line per call. */
function child(
  args: string[],
  options: { uid?: number; gid?: number; binary?: string } = {},
): Promise<{ ids?: string[]; code?: number }[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      options.binary ?? process.execPath,
      [WORKLOAD_CLIENT_SCRIPT, socket, ...args],
      {
        ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`client exited ${code}: ${err}`));
      else
        resolve(
          out
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as { ids?: string[]; code?: number }),
        );
    });
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wapi-test-'));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(now?: () => number, limits?: object): Promise<void> {
  node = await createFakeNode(now === undefined ? {} : { now });
  attestor = createAttestor();
  socket = join(dir, `agent-${Math.random().toString(36).slice(2)}.sock`);
  server = createWorkloadApiServer({
    socketPath: socket,
    source: node,
    peerCred: loadPeerCred(),
    attestor,
    bootId: BOOT_ID,
    ...(now === undefined ? {} : { now }),
    ...(limits === undefined ? {} : { limits }),
  });
  await server.listen();
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  await node?.close();
});

describe('Workload API over a real Unix socket', () => {
  it('FetchX509SVID: the caller gets its SVID, key and bundle; the chain verifies with openssl (WAPI-10)', async () => {
    await start();
    node.setEntries([{ spiffeId: 'spiffe://node.test/api', selectors: [`unix:uid:${UID}`] }]);
    const stream = openStream<X509SvidResponseMsg>(client(), 'FetchX509SVID');
    const message = await stream.next();
    stream.cancel();
    expect(message.svids).toHaveLength(1);
    const svid = message.svids[0]!;
    expect(svid.spiffe_id).toBe('spiffe://node.test/api');
    const leaf = new X509Certificate(svid.x509_svid);
    expect(leaf.subjectAltName).toContain('URI:spiffe://node.test/api');
    const key = createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' });
    expect(leaf.checkPrivateKey(key)).toBe(true);
    const root = new X509Certificate(svid.bundle);
    writeFileSync(join(dir, 'leaf.pem'), leaf.toString());
    writeFileSync(join(dir, 'root.pem'), root.toString());
    const verify = spawnSync(
      'openssl',
      ['verify', '-CAfile', join(dir, 'root.pem'), join(dir, 'leaf.pem')],
      { encoding: 'utf8' },
    );
    expect(verify.stdout).toContain('OK');
    expect(node.issued[0]).toMatchObject({ kind: 'x509', pid: process.pid, uid: UID });
  });

  it.each([
    ['FetchX509SVID', 'stream'],
    ['FetchX509Bundles', 'stream'],
    ['FetchJWTBundles', 'stream'],
    ['FetchJWTSVID', 'unary'],
    ['ValidateJWTSVID', 'unary'],
  ])('WAPI-5: %s without the security header is InvalidArgument', async (method, kind) => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    for (const metadata of [
      new grpc.Metadata(),
      (() => {
        const m = new grpc.Metadata();
        m.set('workload.spiffe.io', 'TRUE');
        return m;
      })(),
    ]) {
      if (kind === 'stream') {
        const error = await openStream(c, method, metadata).ended;
        expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      } else {
        const error = (await unaryCall(
          c,
          method,
          { audience: method === 'FetchJWTSVID' ? ['a'] : 'a', svid: 'x' },
          metadata,
        ).catch((e: unknown) => e)) as grpc.ServiceError;
        expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      }
    }
    expect(node.issued).toHaveLength(0);
  });

  it.each(['FetchX509SVID', 'FetchX509Bundles', 'FetchJWTBundles'])(
    'WAPI-6: %s for a caller no entry matches is PermissionDenied without identity detail',
    async (method) => {
      await start();
      node.setEntries([
        { spiffeId: 'spiffe://node.test/secret', selectors: [`unix:uid:${UID + 4242}`] },
      ]);
      const error = await openStream(client(), method).ended;
      expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(error?.details).not.toContain('secret');
    },
  );

  it('FetchJWTSVID: audience mandatory and bounded, spiffe_id filters, cached per ID and audience set (WAPI-9, WAPI-15)', async () => {
    await start();
    node.setEntries([
      { id: 'e_a', spiffeId: 'spiffe://node.test/a', selectors: [`unix:uid:${UID}`] },
      {
        id: 'e_b',
        spiffeId: 'spiffe://node.test/b',
        selectors: [`unix:uid:${UID}`, `unix:sha256:${NODE_SHA256}`],
      },
      {
        id: 'e_c',
        spiffeId: 'spiffe://node.test/c',
        selectors: [`unix:uid:${UID}`, 'unix:path:/nowhere/else'],
      },
    ]);
    const c = client();
    const codeOf = async (request: object): Promise<number> =>
      ((await unaryCall(c, 'FetchJWTSVID', request).catch((e: unknown) => e)) as grpc.ServiceError)
        .code;
    expect(await codeOf({ audience: [] })).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await codeOf({ audience: [''] })).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await codeOf({ audience: Array.from({ length: 10_000 }, (_, i) => `a${i}`) })).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    expect(await codeOf({ audience: ['x'], spiffe_id: 'spiffe://node.test/c' })).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    const all = await unaryCall<{ svids: { spiffe_id: string; svid: string }[] }>(
      c,
      'FetchJWTSVID',
      { audience: ['reports'] },
    );
    expect(all.svids.map((s) => s.spiffe_id)).toEqual([
      'spiffe://node.test/a',
      'spiffe://node.test/b',
    ]);
    const one = await unaryCall<{ svids: { spiffe_id: string; svid: string }[] }>(
      c,
      'FetchJWTSVID',
      { audience: ['reports'], spiffe_id: 'spiffe://node.test/b' },
    );
    expect(one.svids).toHaveLength(1);
    expect(one.svids[0]?.svid).toBe(all.svids[1]?.svid);
    expect(node.issued.filter((i) => i.kind === 'jwt')).toHaveLength(2);
    const validated = await unaryCall<{
      spiffe_id: string;
      claims: { fields: Record<string, { stringValue?: string }> };
    }>(c, 'ValidateJWTSVID', { audience: 'reports', svid: one.svids[0]?.svid });
    expect(validated.spiffe_id).toBe('spiffe://node.test/b');
    expect(validated.claims.fields['sub']?.stringValue).toBe('spiffe://node.test/b');
  });

  it.each([
    ['no audience', { audience: '', svid: 'a.b.c' }],
    ['no token', { audience: 'x', svid: '' }],
    ['malformed token', { audience: 'x', svid: 'not-a-jwt' }],
  ])('WAPI-16: ValidateJWTSVID with %s is InvalidArgument', async (_name, request) => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const error = (await unaryCall(client(), 'ValidateJWTSVID', request).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('WAPI-16: a token for another audience is InvalidArgument with the validation code', async () => {
    await start();
    node.setEntries([{ spiffeId: 'spiffe://node.test/a', selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    const token = (
      await unaryCall<{ svids: { svid: string }[] }>(c, 'FetchJWTSVID', { audience: ['one'] })
    ).svids[0]!.svid;
    const error = (await unaryCall(c, 'ValidateJWTSVID', { audience: 'two', svid: token }).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain('ERR_SVID_JWT_AUD');
  });
});

describe('Workload API: attestation of other processes (WAPI-7)', () => {
  it('a caller of another uid is refused; an entry for that uid serves it', async () => {
    await start();
    node.setEntries([{ spiffeId: 'spiffe://node.test/root-only', selectors: [`unix:uid:${UID}`] }]);
    expect(await child(['x509'], { uid: 65534 })).toEqual([
      { code: grpc.status.PERMISSION_DENIED },
    ]);
    expect(await child(['jwt'], { uid: 65534 })).toEqual([{ code: grpc.status.PERMISSION_DENIED }]);
    node.setEntries([
      { spiffeId: 'spiffe://node.test/root-only', selectors: [`unix:uid:${UID}`] },
      { spiffeId: 'spiffe://node.test/nobody', selectors: ['unix:uid:65534', 'unix:user:nobody'] },
    ]);
    expect(await child(['x509'], { uid: 65534 })).toEqual([{ ids: ['spiffe://node.test/nobody'] }]);
    expect(node.issued.at(-1)).toMatchObject({ uid: 65534, spiffeId: 'spiffe://node.test/nobody' });
  });

  it('a binary whose sha256 differs is refused (unix:sha256), the real one is served', async () => {
    await start();
    node.setEntries([
      {
        spiffeId: 'spiffe://node.test/pinned',
        selectors: [`unix:uid:${UID}`, `unix:sha256:${NODE_SHA256}`],
      },
    ]);
    const other = join(dir, 'node-copy');
    copyFileSync(process.execPath, other);
    appendFileSync(other, Buffer.from('tampered'));
    chmodSync(other, 0o755);
    expect(await child(['x509'], { binary: other })).toEqual([
      { code: grpc.status.PERMISSION_DENIED },
    ]);
    expect(await child(['x509'])).toEqual([{ ids: ['spiffe://node.test/pinned'] }]);
  });

  it('the binary is hashed only when an entry could match on its sha256 (its other selectors fit)', async () => {
    await start();
    node.setEntries([
      { spiffeId: 'spiffe://node.test/api', selectors: [`unix:uid:${UID}`] },
      {
        spiffeId: 'spiffe://node.test/other-user-pinned',
        selectors: [`unix:uid:${UID + 4242}`, `unix:sha256:${NODE_SHA256}`],
      },
    ]);
    const first = openStream<X509SvidResponseMsg>(client(), 'FetchX509SVID');
    expect((await first.next()).svids.map((s) => s.spiffe_id)).toEqual(['spiffe://node.test/api']);
    first.cancel();
    expect(attestor.hashStats().started).toBe(0);
    expect(node.issued.at(-1)).not.toHaveProperty('sha256');

    node.setEntries([
      {
        spiffeId: 'spiffe://node.test/pinned',
        selectors: [`unix:uid:${UID}`, `unix:sha256:${NODE_SHA256}`],
      },
    ]);
    const second = openStream<X509SvidResponseMsg>(client(), 'FetchX509SVID');
    expect((await second.next()).svids.map((s) => s.spiffe_id)).toEqual([
      'spiffe://node.test/pinned',
    ]);
    second.cancel();
    expect(attestor.hashStats().started).toBe(1);
    expect(node.issued.at(-1)).toMatchObject({ sha256: NODE_SHA256 });
  });

  it('{instance}: two processes get two IDs, one process calling twice keeps one ID', async () => {
    await start();
    node.setEntries([
      { spiffeId: 'spiffe://node.test/agents/{instance}', selectors: [`unix:uid:${UID}`] },
    ]);
    const [first, second] = await Promise.all([
      child(['x509', 'aud', '2']),
      child(['jwt', 'aud', '2']),
    ]);
    const firstIds = first!.map((r) => r.ids?.[0]);
    const secondIds = second!.map((r) => r.ids?.[0]);
    expect(firstIds[0]).toMatch(/^spiffe:\/\/node\.test\/agents\/[A-Za-z0-9_-]{22}$/);
    expect(firstIds[1]).toBe(firstIds[0]);
    expect(secondIds[1]).toBe(secondIds[0]);
    expect(secondIds[0]).not.toBe(firstIds[0]);
  });
});

describe('Workload API streams push complete state on change (WAPI-8)', () => {
  it('FetchX509SVID: entry added, partner bundle changed, CA rotated, entry deleted', async () => {
    await start();
    const partner = await createFakeNode({ trustDomain: 'partner.test' });
    try {
      node.setEntries([
        {
          id: 'e_a',
          spiffeId: 'spiffe://node.test/a',
          selectors: [`unix:uid:${UID}`],
          federatesWith: ['partner.test'],
        },
      ]);
      const stream = openStream<X509SvidResponseMsg>(client(), 'FetchX509SVID');
      const first = await stream.next();
      expect(first.svids.map((s) => s.spiffe_id)).toEqual(['spiffe://node.test/a']);
      expect(Object.keys(first.federated_bundles)).toEqual([]);

      node.setPartners([partner.ca.localBundle()]);
      const withPartner = await stream.next();
      expect(Object.keys(withPartner.federated_bundles)).toEqual(['spiffe://partner.test']);
      expect(withPartner.svids[0]?.x509_svid.equals(first.svids[0]!.x509_svid)).toBe(true);

      node.setEntries([
        {
          id: 'e_a',
          spiffeId: 'spiffe://node.test/a',
          selectors: [`unix:uid:${UID}`],
          federatesWith: ['partner.test'],
        },
        { id: 'e_b', spiffeId: 'spiffe://node.test/b', selectors: [`unix:uid:${UID}`] },
      ]);
      const two = await stream.next();
      expect(two.svids.map((s) => s.spiffe_id)).toEqual([
        'spiffe://node.test/a',
        'spiffe://node.test/b',
      ]);

      // CA rotation: a new authority enters our bundle; every SVID is re-signed and re-sent.
      await node.ca.prepare('x509');
      const rotated = await stream.next();
      expect(rotated.svids[0]?.bundle.length).toBeGreaterThan(two.svids[0]!.bundle.length);
      expect(rotated.svids.map((s) => s.spiffe_id)).toEqual([
        'spiffe://node.test/a',
        'spiffe://node.test/b',
      ]);
      expect(rotated.svids[0]?.x509_svid.equals(two.svids[0]!.x509_svid)).toBe(false);

      node.setEntries([
        { id: 'e_b', spiffeId: 'spiffe://node.test/b', selectors: [`unix:uid:${UID + 1}`] },
      ]);
      const error = await stream.ended;
      expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      await partner.close();
    }
  });

  it('FetchX509Bundles and FetchJWTBundles: own TD always, partners by federatesWith, JWKS without use (WAPI-11, WAPI-12)', async () => {
    await start();
    const partner = await createFakeNode({ trustDomain: 'partner.test' });
    try {
      node.setPartners([partner.ca.localBundle()]);
      node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
      const c = client();
      const x509 = openStream<{ bundles: Record<string, Buffer> }>(c, 'FetchX509Bundles');
      const jwt = openStream<{ bundles: Record<string, Buffer> }>(c, 'FetchJWTBundles');
      expect(Object.keys((await x509.next()).bundles)).toEqual(['spiffe://node.test']);
      const jwks = JSON.parse((await jwt.next()).bundles['spiffe://node.test']!.toString()) as {
        keys: Record<string, unknown>[];
      };
      expect(jwks.keys.length).toBeGreaterThan(0);
      for (const key of jwks.keys) {
        expect(key['kid']).toBeTypeOf('string');
        expect(key).not.toHaveProperty('use');
        expect(key).not.toHaveProperty('d');
      }
      node.setEntries([{ selectors: [`unix:uid:${UID}`], federatesWith: ['partner.test'] }]);
      expect(Object.keys((await x509.next()).bundles).sort()).toEqual([
        'spiffe://node.test',
        'spiffe://partner.test',
      ]);
      expect(Object.keys((await jwt.next()).bundles).sort()).toEqual([
        'spiffe://node.test',
        'spiffe://partner.test',
      ]);
    } finally {
      await partner.close();
    }
  });
});

describe('Workload API: outages and bounds', () => {
  it('broker down: cached SVIDs are served until they expire, never after (issue 17 item 5)', async () => {
    let clock = Date.now();
    await start(() => clock);
    node.setEntries([
      { spiffeId: 'spiffe://node.test/a', selectors: [`unix:uid:${UID}`], ttlSeconds: 120 },
    ]);
    const c = client();
    const first = await openStream<X509SvidResponseMsg>(c, 'FetchX509SVID').next();
    const jwt = await unaryCall<{ svids: { svid: string }[] }>(c, 'FetchJWTSVID', {
      audience: ['x'],
    });
    node.down = true;
    clock += 90_000; // past half-life: renewal fails, the cached SVID is still valid
    const during = openStream<X509SvidResponseMsg>(c, 'FetchX509SVID');
    expect((await during.next()).svids[0]?.x509_svid.equals(first.svids[0]!.x509_svid)).toBe(true);
    during.cancel();
    expect(
      (await unaryCall<{ svids: { svid: string }[] }>(c, 'FetchJWTSVID', { audience: ['x'] }))
        .svids[0]?.svid,
    ).toBe(jwt.svids[0]?.svid);
    clock += 60_000; // past notAfter
    const after = await openStream<X509SvidResponseMsg>(c, 'FetchX509SVID').ended;
    expect(after?.code).toBe(grpc.status.UNAVAILABLE);
    node.down = false;
    const back = await openStream<X509SvidResponseMsg>(c, 'FetchX509SVID').next();
    expect(back.svids[0]?.x509_svid.equals(first.svids[0]!.x509_svid)).toBe(false);
  });

  it('open streams are bounded: one more than the limit is ResourceExhausted', async () => {
    await start(undefined, { maxStreams: 20 });
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    const streams = Array.from({ length: 20 }, () =>
      openStream<X509SvidResponseMsg>(c, 'FetchX509Bundles'),
    );
    await Promise.all(streams.map((s) => s.next()));
    expect(server.openStreams).toBe(20);
    expect((await openStream(c, 'FetchX509Bundles').ended)?.code).toBe(
      grpc.status.RESOURCE_EXHAUSTED,
    );
    streams[0]!.cancel();
    await streams[0]!.ended;
    await new Promise((r) => setTimeout(r, 100));
    expect(server.openStreams).toBe(19);
  });

  it('oversized and malformed messages are refused; the server keeps serving', async () => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    const big = (await unaryCall(c, 'ValidateJWTSVID', {
      audience: 'x',
      svid: 'a'.repeat(512 * 1024),
    }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(big.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const raw = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
    const malformed = await new Promise<grpc.ServiceError>((resolve) => {
      raw.makeUnaryRequest(
        '/SpiffeWorkloadAPI/FetchJWTSVID',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff]),
        (() => {
          const m = new grpc.Metadata();
          m.set('workload.spiffe.io', 'true');
          return m;
        })(),
        (error) => resolve(error as grpc.ServiceError),
      );
    });
    raw.close();
    expect([grpc.status.INTERNAL, grpc.status.INVALID_ARGUMENT]).toContain(malformed.code);
    expect(
      (await unaryCall<{ svids: unknown[] }>(c, 'FetchJWTSVID', { audience: ['ok'] })).svids,
    ).toHaveLength(1);
  });

  it('a stale socket file is replaced; a live one is ERR_WORKLOAD_SOCKET_IN_USE; close removes it', async () => {
    await start();
    const second = createWorkloadApiServer({
      socketPath: socket,
      source: node,
      peerCred: loadPeerCred(),
      attestor: createAttestor(),
      bootId: BOOT_ID,
    });
    await expect(second.listen()).rejects.toMatchObject({ code: 'ERR_WORKLOAD_SOCKET_IN_USE' });
    const plain = join(dir, 'plain-file');
    writeFileSync(plain, 'x');
    const third = createWorkloadApiServer({
      socketPath: plain,
      source: node,
      peerCred: loadPeerCred(),
      attestor: createAttestor(),
      bootId: BOOT_ID,
    });
    await expect(third.listen()).rejects.toMatchObject({ code: 'ERR_WORKLOAD_SOCKET_IN_USE' });
    // A crashed agent leaves its socket file: a child process listens, then is killed.
    const stale = join(dir, 'stale.sock');
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(existsSync(stale)).toBe(true);
    const fourth = createWorkloadApiServer({
      socketPath: stale,
      source: node,
      peerCred: loadPeerCred(),
      attestor: createAttestor(),
      bootId: BOOT_ID,
    });
    await fourth.listen();
    await fourth.close();
    expect(existsSync(stale)).toBe(false);
  });

  it('a missing addon refuses with ERR_WORKLOAD_PEERCRED_UNAVAILABLE', () => {
    expect(() => loadPeerCred(join(dir, 'missing.node'))).toThrow(
      expect.objectContaining({ code: 'ERR_WORKLOAD_PEERCRED_UNAVAILABLE' }),
    );
  });
});

describe('Workload API: 1,000 concurrent streams', () => {
  it('serves 1,000 open streams on one connection and releases every one when they end', async () => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    const streams = Array.from({ length: 1000 }, () => openStream(c, 'FetchX509Bundles'));
    await Promise.all(streams.map((s) => s.next(60_000)));
    expect(server.openStreams).toBe(1000);
    node.setPartners([]); // a change reaches all of them; unchanged content is not re-sent
    for (const s of streams) s.cancel();
    await Promise.all(streams.map((s) => s.ended));
    for (let i = 0; i < 100 && server.openStreams > 0; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(server.openStreams).toBe(0);
    expect(streams.every((s) => s.messages.length === 1)).toBe(true);
  }, 120_000);
});
