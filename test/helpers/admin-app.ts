// Builds the admin app in process (real CA and file store in a temp dir, counting wrappers as in
// main.ts) for tests that go through app.request(); no listener is started.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import {
  areAdminsRelated,
  createAdminDirectory,
  createSessions,
  type AdminDirectory,
  type Sessions,
} from '../../src/access/index.js';
import { createAdminApp } from '../../src/api/admin-app.js';
import { createFailedAuthLimiter } from '../../src/api/auth-limit.js';
import {
  createBrokerMetrics,
  instrumentCa,
  countBundleFetches,
  instrumentStore,
  type BrokerMetrics,
} from '../../src/api/metrics.js';
import type { AdminEnv } from '../../src/api/routes.js';
import {
  createAuditRecorder,
  createFailedLoginAggregator,
  type AuditEventInput,
} from '../../src/audit/index.js';
import { createCa, type Ca } from '../../src/ca/index.js';
import { StoreError } from '../../src/errors.js';
import { createFederation, type Federation } from '../../src/federation/index.js';
import { silentLogger } from '../../src/log.js';
import { createRegistration, type Registration } from '../../src/registration/index.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import { createStore, type Store } from '../../src/store/index.js';
import { ADMIN_TOKEN } from './broker.js';

export interface TestAdminApp {
  readonly app: Hono<AdminEnv>;
  readonly ca: Ca;
  readonly store: Store;
  readonly federation: Federation;
  readonly registration: Registration;
  readonly metrics: BrokerMetrics;
  readonly access: { readonly admins: AdminDirectory; readonly sessions: Sessions };
  /** The temp directory holding the store and the CA's keys and state. */
  readonly dir: string;
  /** While on, every audit append fails as with a stalled store (ERR_STORE_UNAVAILABLE). */
  failAuditAppends(on: boolean): void;
  /** app.request() with the admin token (or `token`, or none with null); JSON bodies parsed. */
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; headers: Headers; text: string; body: T }>;
  close(): Promise<void>;
}

export async function createTestAdminApp(
  options: {
    trustDomain?: string;
    now?: () => Date;
    requiredApprovals?: number;
    sessionIdleMs?: number;
  } = {},
): Promise<TestAdminApp> {
  const now = options.now ?? (() => new Date());
  const nowMs = (): number => now().getTime();
  const trustDomain = parseTrustDomain(options.trustDomain ?? 'admin.test');
  const dir = mkdtempSync(join(tmpdir(), 'fedbroker-admin-app-'));
  const metrics = createBrokerMetrics();
  const store = instrumentStore(
    await createStore(
      { kind: 'file', dir: join(dir, 'store') },
      { logger: silentLogger, now: nowMs },
    ),
    metrics,
  );
  const ca = instrumentCa(
    await createCa(
      { now: nowMs, logger: silentLogger },
      {
        trustDomain,
        dataDir: dir,
        caTtlSeconds: 7200,
        x509SvidTtlSeconds: 600,
        maxX509SvidTtlSeconds: 3600,
        jwtSvidTtlSeconds: 300,
        maxJwtSvidTtlSeconds: 3600,
        refreshHintSeconds: 30,
      },
    ),
    metrics,
  );
  let auditFails = false;
  // The broker's own recorder (src/main.ts), over the store or, when told, over an unwritable log.
  const record = createAuditRecorder({
    store: {
      appendAudit: (build) =>
        auditFails
          ? Promise.reject(new StoreError('ERR_STORE_UNAVAILABLE', 'audit log not writable'))
          : store.appendAudit(build),
    },
    now: nowMs,
  });
  const audit = async (event: {
    type: string;
    actor: string;
    trustDomain?: string;
    details?: Record<string, unknown>;
  }): Promise<void> => {
    await record(event as AuditEventInput);
  };
  const federation = createFederation({
    store,
    ownTrustDomain: trustDomain,
    now: nowMs,
    audit,
    logger: silentLogger,
    fetchOptions: { connectTimeoutMs: 2000, totalTimeoutMs: 3000 },
    onRefreshed: countBundleFetches(metrics),
    ...(options.requiredApprovals === undefined
      ? {}
      : { requiredApprovals: options.requiredApprovals }),
    areRelated: (a, b) => areAdminsRelated(store, a, b),
  });
  const sessions = createSessions({
    store,
    now: nowMs,
    rootToken: () => ADMIN_TOKEN,
    ...(options.sessionIdleMs === undefined ? {} : { idleMs: options.sessionIdleMs }),
  });
  const access = {
    sessions,
    admins: createAdminDirectory({ store, now: nowMs, endSessions: (n) => sessions.endFor(n) }),
  };
  const registration = createRegistration({
    store,
    ownTrustDomain: trustDomain,
    reserved: [parseSpiffeId(`spiffe://${trustDomain.name}/spiffe/bundle-endpoint`)],
    now: nowMs,
    randomBytes,
    logger: silentLogger,
    replicaId: 'test',
  });
  const app = createAdminApp({
    ca,
    federation,
    registration: { registration, agentApiUrl: () => 'https://127.0.0.1:8444' },
    access,
    store,
    audit,
    token: () => ADMIN_TOKEN,
    logger: silentLogger,
    now: nowMs,
    metrics,
    // In process there is no source address: route tests make many refused calls, so the
    // per-address limit (test/api/failed-login-audit.test.ts) is out of their way here.
    failedLogins: {
      limiter: createFailedAuthLimiter({ now: nowMs, limit: Number.MAX_SAFE_INTEGER }),
      aggregator: createFailedLoginAggregator(
        {
          record: (event) =>
            audit({ type: event.type, actor: event.actor, details: { ...event.details } }),
          now: nowMs,
        },
        { listener: 'admin' },
      ),
    },
    endpoint: () => ({
      url: 'https://127.0.0.1:8443',
      profile: 'https_spiffe',
      spiffeId: `spiffe://${trustDomain.name}/spiffe/bundle-endpoint`,
    }),
  });
  return {
    app,
    ca,
    store,
    federation,
    registration,
    metrics,
    access,
    dir,
    failAuditAppends(on) {
      auditFails = on;
    },
    async call(method, path, body, token = ADMIN_TOKEN) {
      const response = await app.request(path, {
        method,
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined
          ? {}
          : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON (metrics, PEM)
      }
      return { status: response.status, headers: response.headers, text, body: parsed as never };
    },
    async close() {
      await ca.close();
      await store.close();
    },
  };
}
