// createWorkloadApiSource against a Workload API server that misbehaves on a real Unix socket: a
// message with more certificates than the SDK parses is discarded with a typed error (barrier
// pattern), an answer with too many JWT-SVIDs is a typed error, and streams that stop for good
// (InvalidArgument, WAPI-6) are surfaced through stopped() / onStopped and the log.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { AgentError } from '../../src/errors.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { createCa, type TestCert } from '../helpers/pki.js';
import { jwtBundlesResponse, x509Response } from '../helpers/workload-api-server.js';
import {
  TD,
  a,
  b,
  codeOf,
  jwk,
  jwtKey,
  mock,
  nextSvid,
  source,
  token,
  useWorkloadApiSourceWorld,
} from './workload-api-source-fixture.js';

useWorkloadApiSourceWorld();

function recordingLogger() {
  const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  return {
    warnings,
    logger: {
      info: () => undefined,
      warn: (message: string, fields?: Record<string, unknown>) =>
        warnings.push({ message, fields }),
    },
  };
}

describe('bounded cost of one Workload API message', () => {
  it('a FetchX509SVID message of more than 4096 certificates is discarded; the barrier SVID arrives', async () => {
    const small = await createCa({ trustDomain: 'x' });
    const federated: Record<string, TestCert[]> = {};
    for (let i = 0; i < 65; i++)
      federated[`spiffe://td${i}.example`] = Array<TestCert>(64).fill(small);
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    const { warnings, logger } = recordingLogger();
    const src = await source(server, { jwtBundles: false, logger });
    await nextSvid(src, () => {
      server.push('FetchX509SVID', x509Response([a], federated));
      server.push('FetchX509SVID', x509Response([b]));
    });
    expect(src.x509Svid().spiffeId.toString()).toBe(b.spiffeId);
    expect(src.bundles().get(parseTrustDomain('td0.example'))).toBeUndefined();
    const discarded = warnings.filter((w) => w.message === 'discarded a FetchX509SVID message');
    expect(discarded).toHaveLength(1);
    expect(discarded[0]?.fields?.['code']).toBe('ERR_AGENT_WORKLOAD_API_RESPONSE');
  });

  it('a FetchJWTSVID answer of more than 256 svids is ERR_AGENT_WORKLOAD_API_RESPONSE', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    const svid = { spiffe_id: a.spiffeId, svid: 'x.y.z', hint: '' };
    server.onJwtSvid(() => ({ svids: Array.from({ length: 257 }, () => svid) }));
    const src = await source(server, { jwtBundles: false });
    expect(await codeOf(src.jwtSvids('conformance'))).toBe('ERR_AGENT_WORKLOAD_API_RESPONSE');
    server.onJwtSvid(() => ({ svids: Array.from({ length: 256 }, () => svid) }));
    expect(await src.jwtSvids('conformance')).toHaveLength(256);
  });
});

describe('WAPI-6: a stream stopped for good is surfaced', () => {
  it('InvalidArgument on both streams after ready: stopped(), onStopped and a log line each; last values kept', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    server.push('FetchJWTBundles', jwtBundlesResponse({ [`spiffe://${TD}`]: [jwk(jwtKey)] }));
    const { warnings, logger } = recordingLogger();
    const src = await source(server, { logger });
    await src.validateJwtSvid(await token(jwtKey, a.spiffeId), 'conformance');
    expect(src.stopped()).toBeUndefined();
    const stops: AgentError[] = [];
    src.onStopped((error) => stops.push(error));
    server.endStreams({ code: grpc.status.INVALID_ARGUMENT, details: 'no' });
    await server.until(() => stops.length === 2, 'both streams stopped');
    expect(stops.map((error) => error.code)).toEqual([
      'ERR_AGENT_WORKLOAD_API',
      'ERR_AGENT_WORKLOAD_API',
    ]);
    expect(stops.map((error) => error.message).sort()).toEqual([
      'workload API refused FetchJWTBundles: INVALID_ARGUMENT: no',
      'workload API refused FetchX509SVID: INVALID_ARGUMENT: no',
    ]);
    expect(src.stopped()).toBe(stops[0]);
    const stopLines = warnings.filter((w) => w.message.startsWith('workload API stream stopped'));
    expect(stopLines).toHaveLength(2);
    // As go-spiffe: the last SVID and bundles are still served.
    expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
    expect(src.jwtBundles().get(parseTrustDomain(TD))?.jwtAuthorities.size).toBe(1);
  });
});
