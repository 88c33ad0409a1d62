// Starts real brokers in process on 127.0.0.1 with ephemeral ports, temp data dirs and an injectable clock;
// calls their admin API and sets up approved partners without a network fetch.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { marshalBundle, type Bundle } from '../../src/bundle/index.js';
import { parseConfig, type LoadedConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import type { WebPki } from './web-pki.js';
import type { Clock } from '../../src/clock.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestBrokerOptions {
  readonly trustDomain: string;
  readonly profile?: 'https_spiffe' | 'https_web';
  readonly webPki?: WebPki;
  /** The brokers' clock (milliseconds since the epoch), as startBroker takes it. */
  readonly now?: Clock;
  readonly extra?: Record<string, unknown>;
  readonly store?: Record<string, unknown>;
}

export function testConfig(options: TestBrokerOptions): LoadedConfig {
  const dir = mkdtempSync(join(tmpdir(), `fedbroker-${options.trustDomain}-`));
  const profile = options.profile ?? 'https_spiffe';
  const config = parseConfig({
    trustDomain: options.trustDomain,
    dataDir: join(dir, 'state'),
    ...(options.store === undefined ? {} : { store: options.store }),
    bundleEndpoint: {
      listen: '127.0.0.1:0',
      profile,
      refreshHint: '30s',
      ...(profile === 'https_web' && options.webPki !== undefined
        ? { certFile: options.webPki.certFile, keyFile: options.webPki.keyFile }
        : {}),
    },
    agentApi: { listen: '127.0.0.1:0' },
    adminApi: { listen: '127.0.0.1:0' },
    ca: {
      caTtl: '2h',
      x509SvidTtl: '10m',
      maxX509SvidTtl: '1h',
      jwtSvidTtl: '5m',
      maxJwtSvidTtl: '1h',
    },
    ...options.extra,
  });
  return {
    config,
    path: join(dir, 'broker.yaml'),
    dataDir: join(dir, 'state'),
    adminTokenFromEnv: ADMIN_TOKEN,
  };
}

export async function startTestBroker(options: TestBrokerOptions): Promise<Broker> {
  return startBroker(testConfig(options), {
    logger: silentLogger,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
}

/** Calls a broker's admin API with the test token; returns status and parsed JSON. */
export async function admin<T = Record<string, unknown>>(
  broker: Broker,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = ADMIN_TOKEN,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${broker.adminUrl}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON (PEM, bundle text)
  }
  return { status: response.status, body: parsed as T };
}

/** A partner relationship on `broker`, approved, with `bundle` forced in (its URL is never fetched). */
export async function approvePartner(
  broker: Broker,
  trustDomain: string,
  bundle: Bundle,
): Promise<void> {
  await broker.federation.create(
    { trustDomain, url: 'https://127.0.0.1:9/bundle', profile: 'https_web' },
    { actor: 'test' },
  );
  await broker.federation.transition(trustDomain, 'approve', { actor: 'test' });
  await broker.federation.forceBundle(trustDomain, marshalBundle(bundle).toString('utf8'), {
    actor: 'test',
  });
}
