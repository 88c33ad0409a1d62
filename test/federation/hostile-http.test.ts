// Hostile partner endpoints that misbehave at the HTTP level, over real TLS on 127.0.0.1 (FED-21, FED-25):
// error statuses, a slow endless body and headers that never come (timeouts), redirects to http: and
// redirect loops. The last good bundle stays trusted and stored (FED-41) and a later good refresh succeeds.
import { expect } from 'vitest';
import { MAX_REDIRECTS } from '../../src/federation/index.js';
import { endlessSlowBody, neverAnswer, redirect, status } from './support.js';
import {
  BOTH,
  describeHostileCases,
  live,
  plain,
  server,
  useHostileWorld,
} from './hostile-fixture.js';
import type { HostileCase } from './hostile-fixture.js';

useHostileWorld();

const CASES: readonly HostileCase[] = [
  {
    name: 'FED-21: HTTP 500',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_STATUS',
    requests: 1,
    arrange() {
      server.handler = status(500);
    },
  },
  {
    name: 'FED-21: HTTP 404',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_STATUS',
    requests: 1,
    arrange() {
      server.handler = status(404);
    },
  },
  {
    name: 'FED-21: HTTP 204 (not 200) with no body',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_STATUS',
    requests: 1,
    arrange() {
      server.handler = status(204);
    },
  },
  {
    name: 'FED-21: endless slow body hits the total timeout',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_TIMEOUT',
    requests: 1,
    arrange(ctx) {
      ctx.fetchOptions.totalTimeoutMs = 300;
      server.handler = endlessSlowBody(live);
    },
  },
  {
    name: 'FED-21: response headers never come',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_TIMEOUT',
    requests: 1,
    arrange(ctx) {
      ctx.fetchOptions.totalTimeoutMs = 300;
      server.handler = neverAnswer(live);
    },
  },
  {
    name: 'FED-25: redirect to http: is never followed',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_REDIRECT',
    requests: 1,
    arrange() {
      server.handler = redirect(plain.url);
    },
    check() {
      expect(plain.requests).toBe(0);
    },
  },
  {
    name: `FED-25: redirect loop stops after ${MAX_REDIRECTS} hops`,
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_REDIRECT',
    requests: MAX_REDIRECTS + 1,
    arrange() {
      server.handler = redirect(`${server.origin}/bundle`);
    },
    check(_ctx, outcome) {
      expect(outcome.log?.redirects).toHaveLength(MAX_REDIRECTS);
    },
  },
];

describeHostileCases(CASES);
