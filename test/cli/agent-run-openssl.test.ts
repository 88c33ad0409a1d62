// Issue 7 interop with the real tools: two `fedbroker serve` processes (logistics.example and
// shipping.example) federated through the CLI (invite / accept / approve), files written by the built
// `fedbroker agent run --once`, and openssl on the other end. (a) an SDK server authenticates
// `openssl s_client` using those files; (b) an SDK client (tlsClientOptions) talks to
// `openssl s_server -Verify`; (c) the SDK side refuses clients it does not trust or authorise.
// Everything listens on 127.0.0.1; child processes are async, bounded and stopped in finally.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeId,
  createAgent,
  guardServer,
  parseSpiffeId,
  peerIdOf,
  tlsClientOptions,
  tlsServerOptions,
  type Agent,
  type Authorizer,
} from '../../src/agent/index.js';
import { AgentError } from '../../src/errors.js';
import { closeServer, listenLoopback, within } from '../helpers/agent.js';
import {
  buildCli,
  freePort,
  eventually,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';
import { federateBuilt, fedbrokerOk } from '../helpers/built-federation.js';
import { hasOpenssl, runOpenssl, stopOpenssl, waitUntil } from '../helpers/openssl.js';

const WAIT_MS = 20_000;
const LOGISTICS = 'logistics.example';
const SHIPPING = 'shipping.example';
const API_ID = `spiffe://${LOGISTICS}/api`;
const LONELY_ID = `spiffe://${LOGISTICS}/lonely`;
const DISPATCHER_ID = `spiffe://${SHIPPING}/dispatcher`;
const INTRUDER_ID = `spiffe://${SHIPPING}/intruder`;

const root = mkdtempSync(join(tmpdir(), 'fedbroker-agent-run-openssl-'));
/** The broker directory of a trust domain, and its config file. */
const dirOf = (td: string): string => join(root, td);
const configOf = (td: string): string => join(dirOf(td), 'broker.yaml');
const children: ChildProcess[] = [];
const agents: Agent[] = [];

const fedbroker = fedbrokerOk;

async function json<T>(args: string[]): Promise<T> {
  return JSON.parse(await fedbroker([...args, '--json'])) as T;
}

/** `to` accepts and approves an invitation from `from`; resolves once `to` holds its bundle. */
const federate = (from: string, to: string): Promise<void> =>
  federateBuilt(from, to, {
    configOf,
    dir: root,
    reason: 'issue 7 openssl interop',
    waitMs: WAIT_MS,
  });

interface Token {
  token: string;
  agentApiUrl: string;
  bundleDigest: string;
}

/** An entry for `spiffeId` (federating with `federatesWith`) and a join token for it. */
async function enrolment(td: string, spiffeId: string, federatesWith: string[]): Promise<Token> {
  const config = configOf(td);
  const { entry } = await json<{ entry: { id: string } }>([
    'entry',
    'create',
    '--config',
    config,
    '--spiffe-id',
    spiffeId,
    ...federatesWith.flatMap((partner) => ['--federates-with', partner]),
  ]);
  return json<Token>([
    'token',
    'generate',
    '--config',
    config,
    '--entry',
    entry.id,
    '--ttl',
    '10m',
  ]);
}

/** `fedbroker agent run --once` with `--bundle FILE`: the files a non-Node workload reads. */
async function agentRun(td: string, spiffeId: string, federatesWith: string[]): Promise<string> {
  const token = await enrolment(td, spiffeId, federatesWith);
  const bundleFile = join(root, `${td}-bundle.json`);
  writeFileSync(bundleFile, await fedbroker(['bundle', 'show', '--config', configOf(td)]));
  const out = join(root, `files-${spiffeId.replace(/\W+/g, '_')}`);
  const result = await runBuilt([
    'agent',
    'run',
    '--broker',
    token.agentApiUrl,
    '--join-token',
    token.token,
    '--bundle',
    bundleFile,
    '--write',
    out,
    '--once',
  ]);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toBe(`${spiffeId}\n`);
  return out;
}

/** An in-process SDK agent enrolled with the broker of `td` (token digest as the bootstrap). */
async function sdkAgent(td: string, spiffeId: string, federatesWith: string[]): Promise<Agent> {
  const token = await enrolment(td, spiffeId, federatesWith);
  const agent = await createAgent({
    brokerUrl: token.agentApiUrl,
    joinToken: token.token,
    brokerBundleDigest: token.bundleDigest,
  });
  agents.push(agent);
  expect(agent.spiffeId.toString()).toBe(spiffeId);
  return agent;
}

interface EchoServer {
  readonly port: number;
  /** SPIFFE IDs of the clients the application saw. */
  readonly handled: string[];
  /** Errors of refused handshakes (AgentError from the guard, or TLS errors). */
  readonly refused: Error[];
  close(): Promise<void>;
}

/** A guarded SDK mTLS server on 127.0.0.1 that echoes `echo:<line>` to authenticated clients. */
async function sdkEchoServer(agent: Agent, authorize: Authorizer): Promise<EchoServer> {
  const handled: string[] = [];
  const refused: Error[] = [];
  const options = tlsServerOptions(agent, authorize);
  const server = guardServer(
    tls.createServer(options, (socket) => {
      handled.push(peerIdOf(socket)?.toString() ?? 'nobody');
      socket.on('data', (chunk: Buffer) => socket.write(`echo:${chunk.toString().trim()}\n`));
      socket.on('error', () => undefined);
    }),
    options,
  );
  server.on('tlsClientError', (error: Error) => refused.push(error));
  const port = await listenLoopback(server);
  return { port, handled, refused, close: () => closeServer(server) };
}

/**
 * openssl s_server with an `agent run` directory, asking for a client certificate that must chain
 * to federated/<clientTd>.pem only; `mode` is `-WWW` (serve files from `cwd`) or `-rev`.
 */
function sServer(
  files: string,
  port: number,
  clientTd: string,
  mode: '-WWW' | '-rev',
  cwd?: string,
): ReturnType<typeof runOpenssl> {
  return runOpenssl(
    [
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      join(files, 'svid.pem'),
      '-key',
      join(files, 'svid_key.pem'),
      '-CAfile',
      join(files, 'federated', `${clientTd}.pem`),
      '-Verify',
      '1',
      '-verify_return_error',
      mode,
    ],
    cwd === undefined ? {} : { cwd },
  );
}

/**
 * Sends a line from `client` and waits for `server` to refuse the connection: nothing was echoed,
 * the application handled nothing, and the refusal is an AgentError (returned for its code).
 */
async function refusalOf(
  server: EchoServer,
  client: ReturnType<typeof runOpenssl>,
): Promise<AgentError> {
  client.child.stdin?.write('ping\n');
  await waitUntil(() => server.refused.length > 0, 'refusal', WAIT_MS);
  await within(client.exited, WAIT_MS, 's_client exit');
  expect(client.stdout).not.toContain('echo:');
  expect(server.handled).toEqual([]);
  const error = server.refused[0] as AgentError;
  expect(error).toBeInstanceOf(AgentError);
  return error;
}

/** openssl s_client with an `agent run` directory, trusting only federated/<serverTd>.pem. */
function sClient(files: string, port: number, serverTd: string): ReturnType<typeof runOpenssl> {
  return runOpenssl([
    's_client',
    '-connect',
    `127.0.0.1:${port}`,
    '-cert',
    join(files, 'svid.pem'),
    '-cert_chain',
    join(files, 'svid.pem'),
    '-key',
    join(files, 'svid_key.pem'),
    '-CAfile',
    join(files, 'federated', `${serverTd}.pem`),
    '-verify_return_error',
    '-quiet',
  ]);
}

describe.skipIf(!hasOpenssl)(
  'openssl interop with files from `fedbroker agent run` (issue 7)',
  () => {
    let dispatcherFiles: string;
    let intruderFiles: string;
    let api: Agent;

    beforeAll(async () => {
      await buildCli();
      for (const td of [LOGISTICS, SHIPPING]) {
        const init = await runBuilt(loopbackInitArgs(td, dirOf(td), await freePort()));
        expect(init.code, init.stderr).toBe(0);
        children.push((await startServe(configOf(td))).child);
      }
      await federate(SHIPPING, LOGISTICS);
      await federate(LOGISTICS, SHIPPING);
      dispatcherFiles = await agentRun(SHIPPING, DISPATCHER_ID, [LOGISTICS]);
      intruderFiles = await agentRun(SHIPPING, INTRUDER_ID, [LOGISTICS]);
      api = await sdkAgent(LOGISTICS, API_ID, [SHIPPING]);
    }, 300_000);

    afterAll(async () => {
      for (const agent of agents)
        await within(agent.close(), 10_000, 'agent close').catch(() => undefined);
      for (const child of children) await stopServe(child);
    });

    it('agent run wrote svid.pem, svid_key.pem (0600), bundle.pem and federated/logistics.example.pem', () => {
      for (const name of ['svid.pem', 'svid_key.pem', 'bundle.pem', `federated/${LOGISTICS}.pem`]) {
        expect(existsSync(join(dispatcherFiles, name)), name).toBe(true);
      }
      expect(statSync(join(dispatcherFiles, 'svid_key.pem')).mode & 0o777).toBe(0o600);
      const federated = readFileSync(
        join(dispatcherFiles, 'federated', `${LOGISTICS}.pem`),
        'utf8',
      );
      expect(federated).toContain('-----BEGIN CERTIFICATE-----');
      // The partner's file holds the partner's authorities, not ours.
      expect(federated).not.toBe(readFileSync(join(dispatcherFiles, 'bundle.pem'), 'utf8'));
    });

    it('(a) an SDK server authenticates openssl s_client using the agent run files; data flows both ways', async () => {
      const server = await sdkEchoServer(api, authorizeId(parseSpiffeId(DISPATCHER_ID)));
      const client = sClient(dispatcherFiles, server.port, LOGISTICS);
      try {
        client.child.stdin?.write('ping\n');
        await waitUntil(() => client.stdout.includes('echo:ping'), 's_client echo', WAIT_MS);
        expect(server.handled).toEqual([DISPATCHER_ID]);
        expect(server.refused).toEqual([]);
      } finally {
        await stopOpenssl(client);
        await server.close();
      }
    });

    it('(b) an SDK client (tlsClientOptions) talks to openssl s_server -Verify using the agent run files', async () => {
      const port = await freePort();
      const www = mkdtempSync(join(root, 'www-'));
      writeFileSync(join(www, 'hello.txt'), 'hello from s_server\n');
      const server = sServer(dispatcherFiles, port, LOGISTICS, '-WWW', www);
      try {
        await waitUntil(() => server.stdout.includes('ACCEPT'), 's_server ready', WAIT_MS);
        const answer = await within(
          new Promise<{ status: number; body: string; peer: string | undefined }>(
            (resolve, reject) => {
              const req = request(
                {
                  host: '127.0.0.1',
                  port,
                  path: '/hello.txt',
                  ...tlsClientOptions(api, authorizeId(parseSpiffeId(DISPATCHER_ID))),
                },
                (res) => {
                  let body = '';
                  res.on('data', (chunk: Buffer) => (body += chunk.toString()));
                  res.on('error', reject);
                  res.on('end', () =>
                    resolve({
                      status: res.statusCode ?? 0,
                      body,
                      peer: peerIdOf(res.socket)?.toString(),
                    }),
                  );
                },
              );
              req.on('error', reject);
              req.end();
            },
          ),
          WAIT_MS,
          'https request to s_server',
        );
        expect(answer).toEqual({ status: 200, body: 'hello from s_server\n', peer: DISPATCHER_ID });
        // s_server verified our logistics SVID against federated/logistics.example.pem.
        expect(server.stdout + server.stderr).not.toMatch(/verify error/i);
      } finally {
        await stopOpenssl(server);
      }
    });

    it('(b) s_server trusting only federated/logistics.example.pem refuses a client without a certificate', async () => {
      const port = await freePort();
      const server = sServer(dispatcherFiles, port, LOGISTICS, '-rev');
      try {
        await waitUntil(() => server.stdout.includes('ACCEPT'), 's_server ready', WAIT_MS);
        // A plain TLS client that checks nothing itself and presents no SVID.
        const outcome = await within(
          new Promise<string>((resolve) => {
            const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
            let reply = '';
            socket.on('secureConnect', () => socket.write('ping\n'));
            socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
            socket.on('error', (error) => resolve(`error:${error.message}`));
            socket.on('close', () => resolve(`closed:${reply}`));
          }),
          WAIT_MS,
          'anonymous client outcome',
        );
        expect(outcome).not.toContain('gnip');
      } finally {
        await stopOpenssl(server);
      }
    });

    it('(c) a shipping client the SDK server does not authorise (another SPIFFE ID) is refused', async () => {
      const server = await sdkEchoServer(api, authorizeId(parseSpiffeId(DISPATCHER_ID)));
      const client = sClient(intruderFiles, server.port, LOGISTICS);
      try {
        const error = await refusalOf(server, client);
        expect(error.code).toBe('ERR_AGENT_PEER_UNAUTHORIZED');
      } finally {
        await stopOpenssl(client);
        await server.close();
      }
    });

    it('(c) an SDK server whose entry does not federate with shipping.example refuses the shipping client', async () => {
      const lonely = await sdkAgent(LOGISTICS, LONELY_ID, []);
      expect([...lonely.bundles()].map((b) => b.trustDomain.name)).toEqual([LOGISTICS]);
      // The authoriser would allow the dispatcher: the refusal comes from the missing bundle (FED-30).
      const server = await sdkEchoServer(lonely, authorizeId(parseSpiffeId(DISPATCHER_ID)));
      const client = sClient(dispatcherFiles, server.port, LOGISTICS);
      try {
        const error = await refusalOf(server, client);
        expect(error.code).toBe('ERR_AGENT_PEER_UNVERIFIED');
        expect(error.context?.svidCode).toBe('ERR_SVID_NO_BUNDLE');
      } finally {
        await stopOpenssl(client);
        await server.close();
      }
    });

    it('(c) once logistics suspends the relationship, the same s_client is refused by the SDK server', async () => {
      await fedbroker([
        'federation',
        'suspend',
        SHIPPING,
        '--config',
        configOf(LOGISTICS),
        '--reason',
        'issue 7 negative',
      ]);
      // The agent's bundle set follows the broker (watch stream), dropping shipping.example.
      await eventually('shipping.example gone from the agent bundles', WAIT_MS, async () =>
        [...api.bundles()].some((b) => b.trustDomain.name === SHIPPING) ? undefined : true,
      );
      const server = await sdkEchoServer(api, authorizeId(parseSpiffeId(DISPATCHER_ID)));
      const client = sClient(dispatcherFiles, server.port, LOGISTICS);
      try {
        expect((await refusalOf(server, client)).context?.svidCode).toBe('ERR_SVID_NO_BUNDLE');
      } finally {
        await stopOpenssl(client);
        await server.close();
      }
    });
  },
);
