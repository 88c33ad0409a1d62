// The Workload API over a real Unix socket, RPC by RPC: every call from a client built from the
// published proto, the security header, and attestation of other processes by uid and binary with
// {instance} templates (WAPI-2..16, WAPI-7). The world is test/workload/workload-api-fixture.ts.
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { openStream, unaryCall, type X509SvidResponseMsg } from '../helpers/workload-client.js';
import {
  NODE_SHA256,
  UID,
  attestor,
  child,
  client,
  dir,
  node,
  start,
  useWorkloadApiWorld,
} from './workload-api-fixture.js';

useWorkloadApiWorld();

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
    expect(await codeOf({ audience: Array.from({ length: 33 }, (_, i) => `a${i}`) })).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    expect(await codeOf({ audience: ['x'.repeat(1025)] })).toBe(grpc.status.INVALID_ARGUMENT);
    // Larger than the largest valid request (maxMessageBytes): refused before it is parsed.
    expect(await codeOf({ audience: Array.from({ length: 10_000 }, (_, i) => `a${i}`) })).toBe(
      grpc.status.RESOURCE_EXHAUSTED,
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
