// Keeps docker-compose.yml and the Dockerfile in step with config/ (no Docker engine on CI):
// mounted configs exist and load, listeners are published (admin on host loopback only), Redis
// persists, health checks exist, and the brokers reach each other's bundle endpoint by name; each
// organisation's node agent (`agent serve`, issue 17) shares its socket only with its workloads.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(resolve(ROOT, file), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  pid?: string;
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: (string | { source?: string; target: string; read_only?: boolean })[];
  ports?: (string | number | { host_ip?: string; published?: string | number; target: number })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  networks?: string[] | Record<string, { aliases?: string[] } | null>;
  healthcheck?: { test?: string | string[] };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
}

// `merge: true`: the file shares settings through `<<: *anchor` (YAML 1.1 merge keys, as compose).
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as ComposeFile;
const services = compose.services;

function environment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => [entry.split('=')[0] ?? '', entry.split('=').slice(1).join('=')]),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v ?? '')]));
}

function mounts(service: ComposeService): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') {
      return {
        source: volume.source ?? '',
        target: volume.target,
        readOnly: volume.read_only === true,
      };
    }
    const [source = '', target = '', mode = ''] = volume.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

function ports(service: ComposeService): { hostIp: string; published: string; target: number }[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return {
        hostIp: port.host_ip ?? '',
        published: String(port.published ?? ''),
        target: port.target,
      };
    }
    const parts = String(port).split(':');
    const target = Number(parts.pop());
    const published = parts.pop() ?? '';
    return { hostIp: parts.join(':'), published, target };
  });
}

function networks(service: ComposeService): Map<string, string[]> {
  const value = service.networks ?? ['default'];
  if (Array.isArray(value)) return new Map(value.map((name) => [name, []]));
  return new Map(Object.entries(value).map(([name, n]) => [name, n?.aliases ?? []]));
}

function dependsOn(service: ComposeService): Record<string, string | undefined> {
  const value = service.depends_on ?? [];
  if (Array.isArray(value)) return Object.fromEntries(value.map((name) => [name, undefined]));
  return Object.fromEntries(Object.entries(value).map(([name, d]) => [name, d.condition]));
}

function healthTest(service: ComposeService): string[] {
  const test = service.healthcheck?.test ?? [];
  return Array.isArray(test) ? test : ['CMD-SHELL', test];
}

const portOf = (listen: string): number => Number(listen.slice(listen.lastIndexOf(':') + 1));
const hostOf = (listen: string): string => listen.slice(0, listen.lastIndexOf(':'));

/** The Dockerfile's stages, each as its lines (without continuation breaks). */
const dockerfile = read('Dockerfile').replace(/\\\n\s*/g, ' ');
const stages = dockerfile.split(/^(?=FROM )/m).filter((stage) => stage.startsWith('FROM '));
const runtime = stages.at(-1) ?? '';
const runtimeCmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)?.[1] ?? '[]') as string[];
const CONFIG_PATH = runtimeCmd[runtimeCmd.indexOf('--config') + 1] ?? '';

const brokerNames = Object.keys(services).filter((name) => name.endsWith('-broker'));

describe('docker-compose.yml', () => {
  it('runs one broker per organisation', () => {
    expect(brokerNames.sort()).toEqual(['logistics-broker', 'shipping-broker']);
  });

  describe.each(brokerNames)('%s', (name) => {
    const broker = services[name] ?? {};
    const env = environment(broker);
    const configMount = mounts(broker).find((m) => m.target === CONFIG_PATH);
    const configFile = resolve(ROOT, configMount?.source ?? 'missing');
    const loaded = loadConfig(configFile, { FEDBROKER_REDIS_URL: env['FEDBROKER_REDIS_URL'] });
    const { config } = loaded;
    const redisName = new URL(env['FEDBROKER_REDIS_URL'] ?? 'redis://missing').hostname;
    const redis = services[redisName];

    it('mounts an example config from config/ read-only where the image CMD reads it', () => {
      expect(CONFIG_PATH).toBe('/etc/fedbroker/broker.yaml');
      expect(configMount?.source).toMatch(/^\.\/config\/[a-z-]+\.example\.yaml$/);
      expect(configMount?.readOnly).toBe(true);
      expect(existsSync(configFile)).toBe(true);
      expect(name).toBe(`${config.trustDomain.split('.')[0] ?? ''}-broker`);
    });

    it('keeps the data directory (CA keys) on a named volume', () => {
      const data = mounts(broker).find((m) => m.target === loaded.dataDir);
      expect(data).toBeDefined();
      expect(Object.keys(compose.volumes ?? {})).toContain(data?.source);
      expect(dockerfile).toMatch(new RegExp(`^VOLUME .*"${loaded.dataDir}"`, 'm'));
    });

    it('takes secrets from the environment, never literals', () => {
      expect(env['FEDBROKER_ADMIN_TOKEN']).toMatch(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/);
      const redisUrl = new URL(env['FEDBROKER_REDIS_URL'] ?? '');
      expect(redisUrl.password).toBe('');
      expect(loaded.config.store.kind).toBe('redis');
    });

    it('publishes the bundle endpoint and agent API, and the admin API on host loopback only', () => {
      const published = ports(broker);
      const bundlePort = portOf(config.bundleEndpoint.listen);
      const agentPort = portOf(config.agentApi.listen);
      const adminPort = portOf(config.adminApi.listen);
      expect(published.map((p) => p.target).sort()).toEqual(
        [bundlePort, agentPort, adminPort].sort(),
      );
      for (const port of published.filter((p) => p.target === adminPort)) {
        expect(port.hostIp).toBe('127.0.0.1');
      }
      // A listener bound to loopback inside the container is unreachable through a port mapping.
      for (const listen of [
        config.bundleEndpoint.listen,
        config.agentApi.listen,
        config.adminApi.listen,
      ]) {
        expect(hostOf(listen)).toBe('0.0.0.0');
      }
    });

    it('checks health through the admin /healthz with node', () => {
      const test = healthTest(broker);
      expect(test[0]).toBe('CMD');
      expect(test[1]).toBe('node');
      expect(test.join(' ')).toContain(
        `http://127.0.0.1:${portOf(config.adminApi.listen)}/healthz`,
      );
    });

    it('has its own Redis with AOF persistence on a named volume, healthy before the broker', () => {
      expect(redis).toBeDefined();
      const command = ([] as string[]).concat(redis?.command ?? []).join(' ');
      expect(command).toMatch(/--appendonly yes\b/);
      const data = mounts(redis ?? {}).find((m) => m.target === '/data');
      expect(Object.keys(compose.volumes ?? {})).toContain(data?.source);
      expect(healthTest(redis ?? {}).join(' ')).toMatch(/redis-cli ping/);
      expect(dependsOn(broker)[redisName]).toBe('service_healthy');
    });

    it("shares a network with its Redis, and none with a partner's Redis", () => {
      const own = networks(broker);
      expect([...networks(redis ?? {}).keys()].some((n) => own.has(n))).toBe(true);
      for (const other of brokerNames.filter((b) => b !== name)) {
        const partnerRedis = new URL(
          environment(services[other] ?? {})['FEDBROKER_REDIS_URL'] ?? 'redis://missing',
        ).hostname;
        expect(
          [...networks(services[partnerRedis] ?? {}).keys()].filter((n) => own.has(n)),
        ).toEqual([]);
      }
    });

    it('is reachable by every partner broker at its advertised bundle endpoint URL', () => {
      const url = new URL(config.bundleEndpoint.url ?? '');
      expect(Number(url.port || 443)).toBe(portOf(config.bundleEndpoint.listen));
      for (const other of brokerNames.filter((b) => b !== name)) {
        const partnerNetworks = networks(services[other] ?? {});
        const reachable = [...networks(broker)].some(
          ([network, aliases]) =>
            partnerNetworks.has(network) &&
            (url.hostname === name || aliases.includes(url.hostname)),
        );
        expect(reachable).toBe(true);
      }
    });
  });

  it('declares every named volume and network it uses', () => {
    for (const service of Object.values(services)) {
      for (const mount of mounts(service)) {
        if (!mount.source.startsWith('.') && !mount.source.startsWith('/')) {
          expect(Object.keys(compose.volumes ?? {})).toContain(mount.source);
        }
      }
      for (const network of networks(service).keys()) {
        if (network !== 'default') expect(Object.keys(compose.networks ?? {})).toContain(network);
      }
    }
  });

  it('mounts only files that exist', () => {
    for (const service of Object.values(services)) {
      for (const mount of mounts(service).filter((m) => m.source.startsWith('./'))) {
        expect(existsSync(resolve(ROOT, mount.source))).toBe(true);
      }
    }
  });
});

const nodeAgentNames = Object.keys(services).filter((name) => name.endsWith('-node-agent'));
const flagOf = (args: string[], flag: string): string | undefined =>
  args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined;

describe('docker-compose.yml: node agents and workloads (issue 17)', () => {
  it('runs one node agent and one example workload per organisation', () => {
    expect(nodeAgentNames.sort()).toEqual(['logistics-node-agent', 'shipping-node-agent']);
    expect(
      Object.keys(services)
        .filter((n) => n.endsWith('-workload'))
        .sort(),
    ).toEqual(['logistics-workload', 'shipping-workload']);
  });

  describe.each(nodeAgentNames)('%s', (name) => {
    const org = name.replace(/-node-agent$/, '');
    const agent = services[name] ?? {};
    const args = ([] as string[]).concat(agent.command ?? []);
    const broker = services[`${org}-broker`] ?? {};
    const brokerEnv = environment(broker);
    const { config } = loadConfig(
      resolve(ROOT, mounts(broker).find((m) => m.target === CONFIG_PATH)?.source ?? 'missing'),
      { FEDBROKER_REDIS_URL: brokerEnv['FEDBROKER_REDIS_URL'] },
    );
    const socketPath = flagOf(args, '--socket') ?? '';
    const socketMount = mounts(agent).find((m) => socketPath.startsWith(`${m.target}/`));
    const workload = services[`${org}-workload`] ?? {};

    it("runs `agent serve` against its own broker's agent API, reachable by name", () => {
      expect(args.slice(0, 2)).toEqual(['agent', 'serve']);
      const url = new URL(flagOf(args, '--broker') ?? 'missing:');
      expect(url.protocol).toBe('https:');
      expect(Number(url.port)).toBe(portOf(config.agentApi.listen));
      const brokerNetworks = networks(broker);
      expect(
        [...networks(agent).keys()].some(
          (n) =>
            brokerNetworks.get(n)?.includes(url.hostname) === true ||
            (brokerNetworks.has(n) && url.hostname === `${org}-broker`),
        ),
      ).toBe(true);
      expect(url.hostname).toContain(org);
      expect(dependsOn(agent)[`${org}-broker`]).toBe('service_healthy');
    });

    it('takes the join token and bundle digest from the environment, never literals', () => {
      // `:-`: the brokers' walkthrough runs without them; the agent refuses to start unenrolled.
      expect(environment(agent)['FEDBROKER_JOIN_TOKEN']).toMatch(/^\$\{[A-Z0-9_]+:-\}$/);
      expect(args).not.toContain('--join-token');
      expect(flagOf(args, '--bundle-digest')).toMatch(/^\$\{[A-Z0-9_]+:-\}$/);
      expect(agent.profiles).toEqual(['workload-api']);
      expect(workload.profiles).toEqual(['workload-api']);
    });

    it('keeps its socket and its data directory (node key and SVID) on named volumes', () => {
      expect(socketPath).toMatch(/^\/run\/spiffe\/[a-z-]+\.sock$/);
      expect(socketMount?.readOnly).toBe(false);
      expect(Object.keys(compose.volumes ?? {})).toContain(socketMount?.source);
      const dataDir = flagOf(args, '--data-dir') ?? '';
      const dataMount = mounts(agent).find((m) => dataDir.startsWith(`${m.target}/`));
      expect(Object.keys(compose.volumes ?? {})).toContain(dataMount?.source);
      expect(dataMount?.source).not.toBe(socketMount?.source);
      // The image creates both directories for its non-root user (a fresh volume copies them).
      expect(runtime).toMatch(/^RUN mkdir -p \/run\/spiffe && chown node:node \/run\/spiffe/m);
    });

    it('shares the socket (read-only) and its PID namespace with its own example workload only', () => {
      const shared = mounts(workload).find((m) => m.source === socketMount?.source);
      expect(shared?.readOnly).toBe(true);
      expect(environment(workload)['SPIFFE_ENDPOINT_SOCKET']).toBe(
        `unix://${shared?.target ?? ''}${socketPath.slice(socketMount?.target.length ?? 0)}`,
      );
      // SO_PEERCRED gives pids in the agent's namespace: the workload must live in it.
      expect(workload.pid).toBe(`service:${name}`);
      expect(dependsOn(workload)[name]).toBe('service_healthy');
      expect(([] as string[]).concat(workload.entrypoint ?? []).join(' ')).toContain(
        'createWorkloadApiSource',
      );
      for (const [other, service] of Object.entries(services)) {
        if (other === name || other === `${org}-workload`) continue;
        expect(mounts(service).map((m) => m.source)).not.toContain(socketMount?.source);
      }
    });
  });
});

describe('Dockerfile', () => {
  it('builds the native addons (SO_PEERCRED, ecverify) in the build stage and ships them in the runtime image', () => {
    const build = stages[0] ?? '';
    expect(build).toMatch(/^RUN apt-get update && apt-get install [^\n]*\bg\+\+ make python3\b/m);
    // binding.gyp and native/ are in place before `npm ci` runs the install script.
    const npmCi = build.indexOf('RUN npm ci');
    expect(build.indexOf('binding.gyp')).toBeGreaterThan(-1);
    expect(build.indexOf('binding.gyp')).toBeLessThan(npmCi);
    expect(build.indexOf('COPY native ./native')).toBeLessThan(npmCi);
    expect(build).toMatch(/^RUN npm ci .*test -f build\/Release\/peercred\.node/m);
    expect(build).toMatch(/^RUN npm ci .*test -f build\/Release\/ecverify\.node/m);
    expect(runtime).toMatch(
      /^COPY --from=build \/app\/build\/Release\/peercred\.node \/app\/build\/Release\/ecverify\.node \.\/build\/Release\/$/m,
    );
    expect(runtime).toMatch(/^COPY src\/workload\/proto /m);
  });

  it('builds in one stage and runs on a current even-numbered (LTS) Node in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const major = Number(/^FROM node:(\d+)/.exec(runtime)?.[1]);
    expect(major).toBeGreaterThanOrEqual(22);
    expect(major % 2).toBe(0);
  });

  it('installs production dependencies only in the runtime stage', () => {
    expect(runtime).toMatch(/^RUN npm ci [^\n]*--omit=dev/m);
    expect(runtime).toMatch(/^COPY --from=\S+ \/app\/dist /m);
  });

  it('runs as a non-root user with a health check', () => {
    const user = [...runtime.matchAll(/^USER (\S+)/gm)].at(-1)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(runtime).toMatch(/^HEALTHCHECK .*\/healthz/m);
  });

  it('keeps .env files out of the build context', () => {
    expect(read('.dockerignore').split('\n')).toContain('.env');
  });
});
