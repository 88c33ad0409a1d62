// The five SpiffeWorkloadAPI methods (WAPI-3, WAPI-9..16) over the attested caller: X.509 SVIDs
// and bundles as streams, JWT-SVIDs (audience mandatory and bounded) and JWT-SVID validation.
import * as grpc from '@grpc/grpc-js';
import { validateJwtSvid } from '../svid/index.js';
import { isBrokerError } from '../errors.js';
import {
  NO_IDENTITY,
  Refusal,
  checkHeader,
  statusOf,
  type Caller,
  type CallerOf,
} from './call-status.js';
import { jwtBundleJson, tdId, versionOf, x509BundleDer, x509SvidResponse } from './messages.js';
import { structOf } from './proto.js';
import type { StreamHub } from './streams.js';
import { expectedId, type CachedX509Svid, type SvidCache } from './svid-cache.js';
import type { Clock } from '../clock.js';

export interface RpcDeps {
  readonly cache: SvidCache;
  readonly hub: StreamHub;
  readonly callerOf: CallerOf;
  readonly now: Clock;
  readonly maxAudiences: number;
  readonly maxAudienceLength: number;
  readonly maxFetchAudienceLength: number;
  readonly logWarn?: (message: string, fields?: Record<string, unknown>) => void;
}

type Stream = grpc.ServerWritableStream<unknown, unknown>;
type Unary = grpc.ServerUnaryCall<unknown, unknown>;

/** Every SVID the caller may hold; entries the broker cannot sign now are left out. */
async function x509Svids(deps: RpcDeps, caller: Caller): Promise<CachedX509Svid[]> {
  const results = await Promise.allSettled(
    caller.matches.map((m) => deps.cache.x509(m.entry, m.instance, caller.workload)),
  );
  const svids = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (svids.length === 0) {
    const failure = results.find((r) => r.status === 'rejected');
    throw failure?.status === 'rejected' ? failure.reason : new Error('no SVID');
  }
  return svids;
}

/**
 * An audience value's length is counted in UTF-8 bytes, as the message cap is (review 14 F4): the
 * largest valid request then fits maxMessageBytes whatever characters it holds.
 */
function fitsAudience(value: string, maxBytes: number): boolean {
  return Buffer.byteLength(value, 'utf8') <= maxBytes;
}

/**
 * Control characters the broker's API refuses in any request string (all but tab, LF and CR:
 * src/api/validate.ts): an audience holding one is refused here, as InvalidArgument, rather than
 * by the broker, whose refusal would reach the caller as Unavailable and be retried (review 17 F3).
 */
// eslint-disable-next-line no-control-regex
const BROKER_REFUSED_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function checkAudience(deps: RpcDeps, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new Refusal(grpc.status.INVALID_ARGUMENT, 'audience must be specified');
  }
  if (value.length > deps.maxAudiences) {
    throw new Refusal(
      grpc.status.INVALID_ARGUMENT,
      `at most ${deps.maxAudiences} audience values are allowed`,
    );
  }
  for (const item of value) {
    if (typeof item !== 'string' || item === '') {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, 'audience values must be non-empty strings');
    }
    if (!fitsAudience(item, deps.maxFetchAudienceLength)) {
      throw new Refusal(
        grpc.status.INVALID_ARGUMENT,
        `audience values are at most ${deps.maxFetchAudienceLength} bytes (UTF-8)`,
      );
    }
    if (BROKER_REFUSED_CONTROL.test(item)) {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, 'audience values hold no control characters');
    }
  }
  return value as string[];
}

function unary(
  deps: RpcDeps,
  call: Unary,
  callback: grpc.sendUnaryData<unknown>,
  handle: (request: unknown, caller: Caller) => Promise<unknown>,
): void {
  const work = async (): Promise<unknown> => {
    checkHeader(call.metadata);
    return handle(call.request, await deps.callerOf(call.getPeer()));
  };
  work().then(
    (response) => callback(null, response),
    (error: unknown) => {
      const status = statusOf(error);
      if (status.code === grpc.status.UNAVAILABLE && !(error instanceof Refusal)) {
        deps.logWarn?.('workload API call failed', { error: (error as Error).message });
      }
      callback(Object.assign(new Error(status.details), status), null);
    },
  );
}

function fetchX509Svid(deps: RpcDeps, call: Stream): void {
  deps.hub.serve(call, async (caller) => {
    const svids = await x509Svids(deps, caller);
    const message = x509SvidResponse(svids, caller.own, caller.federated);
    const at = deps.now();
    return {
      message,
      version: versionOf([
        ...svids.flatMap((s) => [s.spiffeId, ...s.chainDer]),
        message.svids[0]?.bundle ?? '',
        ...Object.entries(message.federated_bundles).flat(),
      ]),
      // Renew at half-life; during an outage, come back at expiry to drop the SVID.
      nextMs: Math.min(...svids.map((s) => (s.refreshAtMs > at ? s.refreshAtMs : s.expiresAtMs))),
    };
  });
}

function fetchBundles(deps: RpcDeps, call: Stream, kind: 'x509' | 'jwt'): void {
  deps.hub.serve(call, async (caller) => {
    const bundles: Record<string, Buffer> = {};
    for (const bundle of [caller.own, ...caller.federated]) {
      bundles[tdId(bundle)] = kind === 'x509' ? x509BundleDer(bundle) : jwtBundleJson(bundle);
    }
    const message = kind === 'x509' ? { crl: [], bundles } : { bundles };
    return { message, version: versionOf(Object.entries(bundles).flat()) };
  });
}

function fetchJwtSvid(deps: RpcDeps, call: Unary, callback: grpc.sendUnaryData<unknown>): void {
  unary(deps, call, callback, async (request, caller) => {
    const audience = checkAudience(deps, (request as { audience?: unknown }).audience);
    const wanted = String((request as { spiffe_id?: unknown }).spiffe_id ?? '');
    const matches = caller.matches.filter(
      (m) => wanted === '' || expectedId(m.entry, m.instance) === wanted,
    );
    // WAPI-15: an ID the caller may not hold is refused like no identity at all.
    if (matches.length === 0) throw new Refusal(grpc.status.PERMISSION_DENIED, NO_IDENTITY);
    const svids = await Promise.all(
      matches.map((m) => deps.cache.jwt(m.entry, m.instance, audience, caller.workload)),
    );
    return { svids: svids.map((s) => ({ spiffe_id: s.spiffeId, svid: s.token, hint: '' })) };
  });
}

function validateJwt(deps: RpcDeps, call: Unary, callback: grpc.sendUnaryData<unknown>): void {
  unary(deps, call, callback, async (request, caller) => {
    const { audience, svid } = request as { audience?: unknown; svid?: unknown };
    if (typeof audience !== 'string' || audience === '') {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, 'audience must be specified');
    }
    if (!fitsAudience(audience, deps.maxAudienceLength)) {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, 'the audience is too long');
    }
    if (typeof svid !== 'string' || svid === '') {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, 'svid must be specified');
    }
    try {
      // WAPI-16: the bundles this caller would get: ours and its entries' partners.
      const result = validateJwtSvid(svid, caller.bundles, {
        audience,
        now: new Date(deps.now()),
      });
      return { spiffe_id: result.spiffeId.toString(), claims: structOf(result.claims as never) };
    } catch (error) {
      const code = isBrokerError(error) ? error.code : 'ERR_SVID_JWT_MALFORMED';
      throw new Refusal(grpc.status.INVALID_ARGUMENT, `invalid JWT-SVID: ${code}`);
    }
  });
}

export function workloadApiHandlers(deps: RpcDeps): grpc.UntypedServiceImplementation {
  return {
    FetchX509SVID: (call: Stream) => fetchX509Svid(deps, call),
    FetchX509Bundles: (call: Stream) => fetchBundles(deps, call, 'x509'),
    FetchJWTBundles: (call: Stream) => fetchBundles(deps, call, 'jwt'),
    FetchJWTSVID: (call: Unary, callback: grpc.sendUnaryData<unknown>) =>
      fetchJwtSvid(deps, call, callback),
    ValidateJWTSVID: (call: Unary, callback: grpc.sendUnaryData<unknown>) =>
      validateJwt(deps, call, callback),
  };
}
