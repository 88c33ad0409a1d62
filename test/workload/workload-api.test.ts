// The Workload API server over a real Unix socket with a fake node-state source (a real CA signs):
// every RPC from a client built from the published proto, the security header, attestation by uid
// and binary, {instance} templates, stream updates, outages and bounds (WAPI-2..19).
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  appendFileSync,
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
  socket = join(dir, `agent-${Math.random().toString(36).slice(2)}.sock`);
  server = createWorkloadApiServer({
    socketPath: socket,
    source: node,
    peerCred: loadPeerCred(),
    attestor: createAttestor(),
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
    expect(node.issued[0]).toMatchObject({
      kind: 'x509',
      pid: process.pid,
      uid: UID,
      sha256: NODE_SHA256,
    });
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
