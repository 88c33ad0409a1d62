// The issue-7 demo (`npm run demo`): three brokers as real `fedbroker serve` processes on 127.0.0.1,
// federated through the CLI only; SDK agents call each other with mTLS + JWT-SVIDs across trust
// domains, a partner still pending is refused, and logistics rotates its CA in the middle of it all.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  authorizeMemberOf,
  createAgent,
  createMtlsHttpsServer,
  createWorkloadApiSource,
  parseTrustDomain,
  peerIdOf,
  peerOf,
  tlsClientOptions,
  type Agent,
  type TrustDomain,
  type WorkloadApiSource,
  type X509Source,
} from '../src/agent/index.js';
// Ports below the ephemeral range, so nothing running beside the demo takes one before a broker binds it.
import { freePorts } from '../test/helpers/free-port.js';

const ROOT = resolve(import.meta.dirname, '..');
/** The built CLI; tests point this at their own build (`FEDBROKER_CLI=.test-output/dist/cli/main.js`). */
const CLI = resolve(ROOT, process.env['FEDBROKER_CLI'] ?? 'dist/cli/main.js');
/** Hard bound on the whole run; a normal run takes a fraction of it. */
const DEMO_TIMEOUT_MS = 120_000;
const CLI_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 30_000;
const WAIT_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_MS = 5_000;
const STOP_GRACE_MS = 3_000;

const LOGISTICS = 'logistics.example';
const SHIPPING = 'shipping.example';
const SAAS = 'saas.example';
/** What the planner asks its JWT-SVID for and the dispatch service insists on (JWT-5). */
const AUDIENCE = 'spiffe://shipping.example/dispatch-api';

// ---- output --------------------------------------------------------------------------------------

const startedAt = Date.now();
let currentStep = '0';
let checks = 0;

class Expectation extends Error {}

function pass(step: string, text: string): void {
  checks += 1;
  console.log(`✔ step ${step} ${text}`);
}

function fail(step: string, text: string): void {
  console.log(`✘ step ${step} ${text}`);
}

function detail(text: string): void {
  for (const line of text.replace(/\n+$/, '').split('\n')) console.log(`    │ ${line}`);
}

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Expectation(message);
}

const short = (hex: string | undefined): string =>
  hex === undefined ? '-' : `${hex.slice(0, 16)}…`;
const instanceOf = (id: string): string => id.split('/').at(-1) ?? '-';
const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

// ---- everything to clean up ----------------------------------------------------------------------

const children = new Set<ChildProcess>();
const agents: Agent[] = [];
const workloadSources: WorkloadApiSource[] = [];
const servers: https.Server[] = [];
const tempDir = mkdtempSync(join(tmpdir(), 'fedbroker-demo-'));

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([
      ...agents.map((agent) => within(agent.close(), STOP_GRACE_MS, 'agent close')),
      ...workloadSources.map((source) => within(source.close(), STOP_GRACE_MS, 'source close')),
    ]);
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    await Promise.allSettled([...children].map(stopChild));
    rmSync(tempDir, { recursive: true, force: true });
  })();
  return cleaning;
}

// ---- small tools ---------------------------------------------------------------------------------

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Expectation(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > WAIT_TIMEOUT_MS) throw new Expectation(`timed out waiting: ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
  return Date.now() - start;
}

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `fedbroker` as a child process with only the environment it needs. */
function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: tempDir,
        env: { PATH: process.env['PATH'] ?? '', ...env },
        timeout: CLI_TIMEOUT_MS,
        killSignal: 'SIGKILL',
      },
      (error, stdout, stderr) => {
        children.delete(child);
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        done({ code, stdout, stderr });
      },
    );
    children.add(child);
  });
}

// ---- brokers -------------------------------------------------------------------------------------

interface BrokerProcess {
  readonly td: string;
  readonly dir: string;
  readonly config: string;
  readonly token: string;
  readonly ports: { bundle: number; agent: number; admin: number };
  child?: ChildProcess;
  readonly log: string[];
}

function brokerOf(td: string, ports: number[]): BrokerProcess {
  const [bundle = 0, agent = 0, admin = 0] = ports;
  const dir = join(tempDir, td);
  return {
    td,
    dir,
    config: join(dir, 'broker.yaml'),
    token: `fbat_demo_${randomBytes(24).toString('base64url')}`,
    ports: { bundle, agent, admin },
    log: [],
  };
}

/** `fedbroker <args> --config <broker>` with the broker's admin token; throws on a non-zero exit. */
async function fed(broker: BrokerProcess, args: readonly string[]): Promise<string> {
  const result = await fedRaw(broker, args);
  expect(
    result.code === 0,
    `${broker.td}: fedbroker ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`,
  );
  return result.stdout;
}

function fedRaw(broker: BrokerProcess, args: readonly string[]): Promise<CliResult> {
  return runCli([...args, '--config', broker.config], { FEDBROKER_ADMIN_TOKEN: broker.token });
}

async function fedJson<T>(broker: BrokerProcess, args: readonly string[]): Promise<T> {
  return JSON.parse(await fed(broker, [...args, '--json'])) as T;
}

async function startBroker(broker: BrokerProcess): Promise<void> {
  const init = await runCli([
    'init',
    '--trust-domain',
    broker.td,
    '--dir',
    broker.dir,
    '--host',
    '127.0.0.1',
    '--bundle-port',
    String(broker.ports.bundle),
    '--agent-port',
    String(broker.ports.agent),
    '--admin-port',
    String(broker.ports.admin),
  ]);
  expect(init.code === 0, `${broker.td}: fedbroker init failed: ${init.stderr.trim()}`);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', broker.config], {
    cwd: tempDir,
    env: { PATH: process.env['PATH'] ?? '', FEDBROKER_ADMIN_TOKEN: broker.token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  broker.child = child;
  const keep = (chunk: Buffer): void => {
    broker.log.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    broker.log.splice(0, Math.max(0, broker.log.length - 40));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', () => children.delete(child));
  const readyz = `http://127.0.0.1:${broker.ports.admin}/readyz`;
  const start = Date.now();
  for (;;) {
    expect(child.exitCode === null, `${broker.td}: fedbroker serve exited (${child.exitCode})`);
    try {
      const response = await fetch(readyz, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    expect(
      Date.now() - start < READY_TIMEOUT_MS,
      `${broker.td}: ${readyz} not ready after ${READY_TIMEOUT_MS} ms`,
    );
    await new Promise((done) => setTimeout(done, 100));
  }
}

interface RelationshipJson {
  trustDomain: string;
  state: string;
  status: { lastSuccessAtMs: number | null; lastError: { code: string } | null };
}

async function relationships(broker: BrokerProcess): Promise<RelationshipJson[]> {
  return (await fedJson<{ relationships: RelationshipJson[] }>(broker, ['federation', 'list']))
    .relationships;
}

/** `from` invites, `to` accepts (digests compared as the partner would over the phone). */
async function inviteAndAccept(
  step: string,
  from: BrokerProcess,
  to: BrokerProcess,
): Promise<void> {
  const file = join(tempDir, `${from.td}-for-${to.td}.invite`);
  const invite = await fedJson<{ bundleSha256: string; expiresAt: string }>(from, [
    'federation',
    'invite',
    '--allow-local-url',
    '--out',
    file,
    '--ttl',
    '10m',
  ]);
  const accepted = await fedJson<{ relationship: { state: string }; bundleSha256: string }>(to, [
    'federation',
    'accept',
    file,
    '--reason',
    `demo: invitation from ${from.td}`,
  ]);
  expect(
    accepted.relationship.state === 'pending',
    `${to.td} accepted ${from.td}: state ${accepted.relationship.state}, expected pending`,
  );
  expect(
    accepted.bundleSha256 === invite.bundleSha256,
    `${to.td} saw bundle sha256 ${accepted.bundleSha256}, ${from.td} invited with ${invite.bundleSha256}`,
  );
  pass(
    step,
    `${from.td} invited ${to.td} (federation invite --out ${file.slice(tempDir.length + 1)}); ` +
      `${to.td} accepted it: pending, bundle sha256 ${short(invite.bundleSha256)} matches on both sides`,
  );
}

async function approve(step: string, broker: BrokerProcess, partner: string): Promise<void> {
  const result = await fedJson<{ relationship: { state: string } }>(broker, [
    'federation',
    'approve',
    partner,
    '--reason',
    'demo: digest compared out of band',
  ]);
  expect(
    result.relationship.state === 'active',
    `${broker.td} approve ${partner}: state ${result.relationship.state}`,
  );
  pass(step, `${broker.td} approved ${partner}: active`);
}

/** Waits until `broker` holds an active relationship with `partner` and fetched its bundle. */
async function fetchedOnce(broker: BrokerProcess, partner: string): Promise<void> {
  let refreshed = false;
  await waitUntil(async () => {
    const found = (await relationships(broker)).find((r) => r.trustDomain === partner);
    if (found?.state === 'active' && found.status.lastSuccessAtMs !== null) return true;
    if (!refreshed) {
      refreshed = true;
      await fedRaw(broker, ['federation', 'refresh', partner]);
    }
    return false;
  }, `${broker.td} to fetch the ${partner} bundle`);
}

// ---- agents --------------------------------------------------------------------------------------

interface TokenJson {
  token: string;
  tokenId: string;
  spiffeId: string;
  agentApiUrl: string;
  bundleDigest: string;
}

async function registerAgent(
  step: string,
  broker: BrokerProcess,
  template: string,
  federatesWith: readonly string[],
): Promise<TokenJson> {
  const { entry } = await fedJson<{ entry: { id: string; spiffeId: string } }>(broker, [
    'entry',
    'create',
    '--spiffe-id',
    template,
    ...federatesWith.flatMap((td) => ['--federates-with', td]),
    '--description',
    'issue-7 demo agent',
  ]);
  const token = await fedJson<TokenJson>(broker, [
    'token',
    'generate',
    '--entry',
    entry.id,
    '--ttl',
    '10m',
  ]);
  pass(
    step,
    `${broker.td} entry ${entry.id} for ${entry.spiffeId} (federates with ${federatesWith.join(', ')}); ` +
      `join token ${token.tokenId} (agent API ${token.agentApiUrl}, bundle sha256 ${short(token.bundleDigest)})`,
  );
  return token;
}

function describeAgent(agent: Agent): string {
  const id = agent.x509Svid().spiffeId.toString();
  return `${id} (instance ${agent.x509Svid().instanceId ?? '-'})`;
}

function bundleNames(agent: Agent): string {
  return [...agent.bundles()].map((b) => b.trustDomain.name).join(', ');
}

/** Fingerprint of the bundle authority that signed the agent's current X509-SVID. */
function issuingAuthority(agent: Agent): string | undefined {
  const leafDer = agent.x509Svid().chainDer[0];
  if (leafDer === undefined) return undefined;
  const leaf = new X509Certificate(leafDer);
  const own = agent.bundles().get(agent.trustDomain);
  return own?.x509Authorities.find(
    (a) => leaf.checkIssued(a.certificate) && leaf.verify(a.publicKey),
  )?.fingerprintSha256;
}

function kidOf(token: string): string {
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
  return String((header as { kid?: unknown }).kid);
}

// ---- the shipping dispatch service and the calls to it -------------------------------------------

interface DispatchAnswer {
  server: { spiffeId: string; instanceId: string | null };
  caller: { spiffeId: string; instanceId: string; x509Authority: string; jwtKid: string };
  pickup: string;
}

interface CallResult {
  readonly status: number;
  readonly body: string;
  /** The server's SPIFFE ID as authenticated by the client's mTLS helper. */
  readonly server: string | undefined;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The dispatch agent's request handler: mTLS identity, then the JWT-SVID, which must match it. */
function dispatchHandler(dispatch: Agent) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const peer = peerOf(request.socket);
        if (peer === undefined) return sendJson(response, 401, { error: 'no mtls peer' });
        const caller = peer.spiffeId.toString();
        const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
        if (bearer === undefined) return sendJson(response, 401, { error: 'no JWT-SVID' });
        let jwtSubject: string;
        let jwtKid: string;
        try {
          const validated = await dispatch.validateJwtSvid(bearer, AUDIENCE);
          jwtSubject = validated.spiffeId.toString();
          jwtKid = validated.authority.kid;
        } catch (error) {
          const code = (error as { code?: string }).code ?? 'unknown';
          detail(`dispatch refused a JWT-SVID from ${caller}: ${code}`);
          return sendJson(response, 401, { error: code });
        }
        if (jwtSubject !== caller) {
          return sendJson(response, 403, { error: `JWT-SVID is for ${jwtSubject}, not ${caller}` });
        }
        const order = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
          shipment?: string;
        };
        detail(
          `dispatch (${describeAgent(dispatch)})\n` +
            `  ← talking to ${caller} (instance ${instanceOf(caller)})\n` +
            `    mTLS X509-SVID signed by ${LOGISTICS} authority ${short(peer.svid.authority.fingerprintSha256)}, ` +
            `JWT-SVID sub matches, key ${jwtKid}`,
        );
        sendJson(response, 200, {
          server: {
            spiffeId: dispatch.spiffeId.toString(),
            instanceId: dispatch.x509Svid().instanceId,
          },
          caller: {
            spiffeId: caller,
            instanceId: instanceOf(caller),
            x509Authority: peer.svid.authority.fingerprintSha256,
            jwtKid,
          },
          pickup: `pickup booked for ${order.shipment ?? '?'}`,
        } satisfies DispatchAnswer);
      })().catch((error: unknown) => sendJson(response, 500, { error: messageOf(error) }));
    });
  };
}

/** POSTs to the dispatch service over mTLS (server must be in shipping.example) with a JWT-SVID. */
async function callDispatch(
  agent: X509Source & { jwtSvid(audience: string): Promise<{ token: string }> },
  port: number,
  shipping: TrustDomain,
  audience = AUDIENCE,
): Promise<CallResult> {
  const jwt = await agent.jwtSvid(audience);
  const body = JSON.stringify({ shipment: 'SHP-2026-1142' });
  return within(
    new Promise<CallResult>((done, reject) => {
      const request = https.request(
        {
          ...tlsClientOptions(agent, authorizeMemberOf(shipping), { timeoutMs: CALL_TIMEOUT_MS }),
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/pickups',
          headers: {
            authorization: `Bearer ${jwt.token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            done({
              status: response.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              server: peerIdOf(response.socket)?.toString(),
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    }),
    CALL_TIMEOUT_MS * 2,
    'call to dispatch',
  );
}

/** Calls dispatch as the planner and checks both sides named each other correctly. */
async function plannerCalls(
  step: string,
  planner: Agent,
  dispatch: Agent,
  port: number,
  shipping: TrustDomain,
): Promise<DispatchAnswer> {
  const result = await callDispatch(planner, port, shipping);
  expect(result.status === 200, `dispatch answered HTTP ${result.status}: ${result.body}`);
  const answer = JSON.parse(result.body) as DispatchAnswer;
  const plannerSvid = planner.x509Svid();
  expect(
    result.server === dispatch.spiffeId.toString(),
    `planner authenticated the server as ${result.server ?? 'nobody'}`,
  );
  expect(
    answer.caller.spiffeId === plannerSvid.spiffeId.toString() &&
      answer.caller.instanceId === plannerSvid.instanceId,
    `dispatch saw caller ${answer.caller.spiffeId}`,
  );
  detail(
    `planner (${describeAgent(planner)})\n` +
      `  → talking to ${result.server} (instance ${instanceOf(result.server ?? '')})\n` +
      `    answer: "${answer.pickup}" for caller ${answer.caller.spiffeId} (instance ${answer.caller.instanceId})`,
  );
  pass(
    step,
    `planner ${plannerSvid.spiffeId.toString()} (instance ${plannerSvid.instanceId}) → dispatch ` +
      `${answer.server.spiffeId} (instance ${answer.server.instanceId}): mTLS both ways + JWT-SVID, HTTP 200`,
  );
  return answer;
}

// ---- the demo ------------------------------------------------------------------------------------

// ---- a workload that gets its identity from `fedbroker agent serve` (issue 17) -------------------

/**
 * Starts a node agent at logistics (a node entry and its join token), registers a workload entry
 * under it selected by this process's uid, and returns the SDK's Workload API source for it.
 * Started during step 3 (its CLI calls overlap the others'), awaited in step 4.
 */
async function workloadFromAgentServe(
  logistics: BrokerProcess,
): Promise<{ source: WorkloadApiSource; summary: string }> {
  const nodeId = `spiffe://${LOGISTICS}/nodes/demo-host`;
  const uid = process.getuid?.() ?? 0;
  // The node entry and the workload entry under it are independent: created side by side.
  const [{ entry: node }] = await Promise.all([
    fedJson<{ entry: { id: string } }>(logistics, [
      'entry',
      'create',
      '--spiffe-id',
      nodeId,
      '--node',
    ]),
    fedJson(logistics, [
      'entry',
      'create',
      '--spiffe-id',
      `spiffe://${LOGISTICS}/agents/tracker`,
      '--parent-id',
      nodeId,
      '--selector',
      `unix:uid:${uid}`,
      '--federates-with',
      SHIPPING,
    ]),
  ]);
  const token = await fedJson<TokenJson>(logistics, ['token', 'generate', '--entry', node.id]);
  const socket = join(tempDir, 'workload-api.sock');
  const child = spawn(
    process.execPath,
    [
      CLI,
      'agent',
      'serve',
      '--broker',
      token.agentApiUrl,
      '--bundle-digest',
      token.bundleDigest,
      '--socket',
      socket,
      '--data-dir',
      join(tempDir, 'node-agent'),
    ],
    {
      env: { PATH: process.env['PATH'] ?? '', FEDBROKER_JOIN_TOKEN: token.token },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  try {
    await within(
      waitUntil(() => existsSync(socket) || child.exitCode !== null, 'the Workload API socket'),
      READY_TIMEOUT_MS,
      'agent serve',
    );
    expect(child.exitCode === null, `agent serve exited ${child.exitCode}: ${stderr.trim()}`);
    const source = await within(
      createWorkloadApiSource({ socket, requestTimeoutMs: CALL_TIMEOUT_MS }),
      WAIT_TIMEOUT_MS,
      'the first X509-SVID from the Workload API',
    );
    workloadSources.push(source);
    const summary =
      `node agent ${nodeId} (fedbroker agent serve, node entry ${node.id}) serves the SPIFFE ` +
      `Workload API on unix://${socket}; workload entry selects unix:uid:${uid}`;
    return { source, summary };
  } catch (error) {
    if (stderr !== '') detail(`agent serve stderr:\n${stderr.trim()}`);
    throw error;
  }
}

async function main(): Promise<void> {
  currentStep = '0';
  expect(existsSync(CLI), `no built CLI at ${CLI}: run npm run build first`);
  console.log(`fedbroker demo: 3 brokers on 127.0.0.1, working directory ${tempDir}\n`);

  // 1. Brokers -------------------------------------------------------------------------------------
  currentStep = '1';
  const ports = await freePorts(9);
  const logistics = brokerOf(LOGISTICS, ports.slice(0, 3));
  const shipping = brokerOf(SHIPPING, ports.slice(3, 6));
  const saas = brokerOf(SAAS, ports.slice(6, 9));
  const brokers = [logistics, shipping, saas];
  failureLogs = brokers;
  await Promise.all(brokers.map(startBroker));
  for (const b of brokers) {
    pass(
      '1',
      `${b.td} broker ready: fedbroker serve pid ${b.child?.pid}, CA + file store in ${b.dir.slice(tempDir.length + 1)}/state, ` +
        `bundle endpoint https://127.0.0.1:${b.ports.bundle}, agent API :${b.ports.agent}, admin :${b.ports.admin} (/readyz 200)`,
    );
  }

  // 2. Federation through the CLI -----------------------------------------------------------------
  currentStep = '2';
  await inviteAndAccept('2.1', logistics, shipping);
  await approve('2.1', shipping, LOGISTICS);
  await inviteAndAccept('2.2', shipping, logistics);
  await approve('2.2', logistics, SHIPPING);
  // saas trusts shipping (so its agent can authenticate shipping's server) ...
  await inviteAndAccept('2.3', shipping, saas);
  await approve('2.3', saas, SHIPPING);
  // ... but shipping never approves saas: that relationship stays pending.
  await inviteAndAccept('2.3', saas, shipping);
  await Promise.all([
    fetchedOnce(shipping, LOGISTICS),
    fetchedOnce(logistics, SHIPPING),
    fetchedOnce(saas, SHIPPING),
  ]);
  for (const [broker, partner] of [
    [logistics, SHIPPING],
    [shipping, LOGISTICS],
  ] as const) {
    const found = (await relationships(broker)).find((r) => r.trustDomain === partner);
    expect(
      found?.state === 'active' && found.status.lastSuccessAtMs !== null,
      `${broker.td}: ${partner} is not active with a successful fetch`,
    );
    pass(
      '2.4',
      `${broker.td} federation list: ${partner} active, last fetch ${new Date(found.status.lastSuccessAtMs).toISOString()}`,
    );
    detail(await fed(broker, ['federation', 'list']));
  }
  const pending = (await relationships(shipping)).find((r) => r.trustDomain === SAAS);
  expect(
    pending?.state === 'pending' && pending.status.lastSuccessAtMs === null,
    `shipping's saas.example relationship is ${pending?.state ?? 'missing'}, expected pending and never fetched`,
  );
  const shippingBundles = await fedJson<{ bundles: { trustDomain: string; trusted?: boolean }[] }>(
    shipping,
    ['bundle', 'list'],
  );
  expect(
    !shippingBundles.bundles.some((b) => b.trustDomain === SAAS && b.trusted === true),
    'shipping trusts a saas.example bundle',
  );
  pass(
    '2.5',
    `shipping.example: ${SAAS} pending (never approved, never fetched, no bundle trusted)`,
  );

  // 3. Entries and join tokens through the CLI ----------------------------------------------------
  currentStep = '3';
  // Issue 17's workload (step 4.5) is set up meanwhile; a failure surfaces where it is awaited.
  const trackerSetup = workloadFromAgentServe(logistics);
  trackerSetup.catch(() => undefined);
  const plannerToken = await registerAgent(
    '3',
    logistics,
    'spiffe://logistics.example/agents/planner/instance/{instance}',
    [SHIPPING],
  );
  // Dispatch would federate with saas too: only the pending approval keeps saas out.
  const dispatchToken = await registerAgent(
    '3',
    shipping,
    'spiffe://shipping.example/agents/dispatch/instance/{instance}',
    [LOGISTICS, SAAS],
  );
  const saasToken = await registerAgent(
    '3',
    saas,
    'spiffe://saas.example/agents/assistant/instance/{instance}',
    [SHIPPING],
  );
  const saasBundle = await fed(saas, ['bundle', 'show']);

  // 4. Agents (SDK) and the mTLS + JWT call --------------------------------------------------------
  currentStep = '4';
  const logisticsTd = parseTrustDomain(LOGISTICS);
  const shippingTd = parseTrustDomain(SHIPPING);
  const saasTd = parseTrustDomain(SAAS);
  const enrol = async (token: TokenJson, how: 'digest' | 'bundle'): Promise<Agent> => {
    const agent = await within(
      createAgent({
        brokerUrl: token.agentApiUrl,
        joinToken: token.token,
        ...(how === 'digest'
          ? { brokerBundleDigest: token.bundleDigest }
          : { brokerBundle: saasBundle }),
        requestTimeoutMs: CALL_TIMEOUT_MS,
      }),
      WAIT_TIMEOUT_MS,
      `enrolment at ${token.agentApiUrl}`,
    );
    agents.push(agent);
    const id = agent.spiffeId.toString();
    expect(
      id.startsWith(token.spiffeId.replace('{instance}', '')) && agent.x509Svid().instanceId,
      `enrolled as ${id}, entry is ${token.spiffeId}`,
    );
    pass(
      '4.1',
      `agent enrolled (broker bundle by ${how === 'digest' ? 'sha256 digest from the token' : 'bundle show'}): ` +
        `${describeAgent(agent)}; bundles: ${bundleNames(agent)}`,
    );
    return agent;
  };
  const dispatch = await enrol(dispatchToken, 'digest');
  const planner = await enrol(plannerToken, 'digest');
  const assistant = await enrol(saasToken, 'bundle');
  expect(dispatch.bundles().has(logisticsTd), 'dispatch lacks the logistics.example bundle');
  expect(!dispatch.bundles().has(saasTd), 'dispatch holds a saas.example bundle');
  expect(planner.bundles().has(shippingTd), 'planner lacks the shipping.example bundle');
  expect(assistant.bundles().has(shippingTd), 'saas assistant lacks the shipping.example bundle');

  const refusals: { code: string; svidCode: string | undefined; message: string }[] = [];
  const server = createMtlsHttpsServer(
    dispatch,
    authorizeMemberOf(logisticsTd),
    dispatchHandler(dispatch),
  );
  servers.push(server);
  server.on('tlsClientError', (error: Error & { code?: string; context?: unknown }) => {
    const context = error.context as { svidCode?: string } | undefined;
    refusals.push({
      code: error.code ?? 'unknown',
      svidCode: context?.svidCode,
      message: error.message,
    });
  });
  const port = await new Promise<number>((done, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => done((server.address() as AddressInfo).port));
  });
  pass(
    '4.2',
    `dispatch ${describeAgent(dispatch)} serves https://127.0.0.1:${port}/v1/pickups ` +
      `(mTLS, authorizeMemberOf(${LOGISTICS}), JWT-SVID audience ${AUDIENCE})`,
  );
  const before = await plannerCalls('4.3', planner, dispatch, port, shippingTd);

  const wrongAudience = await callDispatch(planner, port, shippingTd, 'spiffe://elsewhere/api');
  expect(wrongAudience.status === 401, `JWT for another audience got HTTP ${wrongAudience.status}`);
  pass(
    '4.4',
    `a JWT-SVID for another audience is refused by dispatch even over valid mTLS: HTTP 401 ${JSON.parse(wrongAudience.body).error}`,
  );

  // A workload with no token of its own: its identity comes from the node agent's Workload API,
  // attested by its uid, and it calls dispatch over mTLS + JWT-SVID like the SDK agents.
  const { source: tracker, summary } = await trackerSetup;
  pass('4.5', summary);
  const trackerId = tracker.x509Svid().spiffeId.toString();
  expect(trackerId === `spiffe://${LOGISTICS}/agents/tracker`, `workload got ${trackerId}`);
  expect(tracker.bundles().has(shippingTd), 'the workload lacks the shipping.example bundle');
  const tracked = await callDispatch(tracker, port, shippingTd);
  expect(tracked.status === 200, `dispatch answered the workload HTTP ${tracked.status}`);
  const trackedAnswer = JSON.parse(tracked.body) as DispatchAnswer;
  expect(
    trackedAnswer.caller.spiffeId === trackerId && tracked.server === dispatch.spiffeId.toString(),
    `dispatch saw ${trackedAnswer.caller.spiffeId}, the workload saw ${tracked.server ?? 'nobody'}`,
  );
  pass(
    '4.6',
    `workload ${trackerId} (SVID from agent serve, no join token) → dispatch ` +
      `${trackedAnswer.server.spiffeId}: mTLS both ways + JWT-SVID, HTTP 200`,
  );

  // 5. saas.example is refused: shipping never approved it ----------------------------------------
  currentStep = '5';
  refusals.length = 0;
  let outcome: string;
  try {
    const result = await callDispatch(assistant, port, shippingTd);
    outcome = `HTTP ${result.status}`;
  } catch (error) {
    outcome = `refused (${(error as { code?: string }).code ?? messageOf(error)})`;
  }
  await waitUntil(() => refusals.length > 0, 'dispatch to report the refused handshake');
  const refusal = refusals[0];
  expect(outcome.startsWith('refused'), `the saas assistant's call got ${outcome}`);
  expect(
    refusal?.code === 'ERR_AGENT_PEER_UNVERIFIED' && refusal.svidCode === 'ERR_SVID_NO_BUNDLE',
    `dispatch refused with ${refusal?.code}/${refusal?.svidCode}: ${refusal?.message}`,
  );
  detail(
    `saas assistant (${describeAgent(assistant)})\n` +
      `  → talking to dispatch: ${outcome}\n` +
      `dispatch: handshake refused, ${refusal.code} (${refusal.svidCode}): no ${SAAS} bundle, relationship pending`,
  );
  pass(
    '5',
    `expected failure: ${assistant.spiffeId.toString()} (instance ${assistant.x509Svid().instanceId}) ` +
      `refused by dispatch at the mTLS handshake: ${refusal.svidCode} (shipping never approved ${SAAS})`,
  );

  // 6. CA rotation at logistics, mid-run ----------------------------------------------------------
  currentStep = '6';
  type AuthorityJson = { id: string; state: string };
  const activeOf = async (kind: 'x509' | 'jwt'): Promise<string | undefined> =>
    (
      await fedJson<{ authorities: AuthorityJson[] }>(logistics, ['localauthority', kind, 'show'])
    ).authorities.find((a) => a.state === 'active')?.id;
  const oldX509 = await activeOf('x509');
  const oldJwt = await activeOf('jwt');
  const oldFingerprint = issuingAuthority(planner);
  expect(
    oldFingerprint === before.caller.x509Authority,
    'dispatch saw a different authority than the planner holds',
  );
  const fingerprintsOf = (pem: string): string[] =>
    [...pem.matchAll(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)].map((m) =>
      createHash('sha256').update(new X509Certificate(m[0]).raw).digest('hex'),
    );
  const oldFingerprints = new Set(
    fingerprintsOf(await fed(logistics, ['bundle', 'show', '--format', 'pem'])),
  );
  const preparedX509 = (
    await fedJson<{ authority: AuthorityJson }>(logistics, ['localauthority', 'x509', 'prepare'])
  ).authority.id;
  const preparedJwt = (
    await fedJson<{ authority: AuthorityJson }>(logistics, ['localauthority', 'jwt', 'prepare'])
  ).authority.id;
  const newFingerprint = fingerprintsOf(
    await fed(logistics, ['bundle', 'show', '--format', 'pem']),
  ).find((fp) => !oldFingerprints.has(fp));
  expect(
    newFingerprint !== undefined,
    'the prepared x509 authority is not in the logistics bundle',
  );
  pass(
    '6.1',
    `${LOGISTICS} localauthority prepare: x509 ${short(preparedX509)} (sha256 ${short(newFingerprint)}) ` +
      `and jwt ${preparedJwt} published beside active x509 ${short(oldX509)} / jwt ${oldJwt}`,
  );
  const refresh = await fed(shipping, ['federation', 'refresh', LOGISTICS]);
  pass('6.2', `${SHIPPING} federation refresh ${LOGISTICS}: ${refresh.trim()}`);
  const holdsNew = (agent: Agent): boolean => {
    const bundle = agent.bundles().get(logisticsTd);
    return (
      bundle !== undefined &&
      bundle.x509Authorities.some((a) => a.fingerprintSha256 === newFingerprint) &&
      bundle.jwtAuthorities.has(preparedJwt)
    );
  };
  const waitedMs = await waitUntil(
    () => holdsNew(dispatch) && holdsNew(planner),
    'the agents to receive the new logistics authorities over the watch stream',
  );
  const dispatchView = dispatch.bundles().get(logisticsTd);
  pass(
    '6.3',
    `dispatch ${describeAgent(dispatch)} holds the new ${LOGISTICS} authorities (pushed over the watch stream; waited ${waitedMs} ms after the refresh): ` +
      `x509 ${dispatchView?.x509Authorities.map((a) => short(a.fingerprintSha256)).join(', ')}; ` +
      `jwt ${[...(dispatchView?.jwtAuthorities.keys() ?? [])].join(', ')}`,
  );
  const early = await fedRaw(logistics, ['localauthority', 'x509', 'activate']);
  expect(
    early.code !== 0 && early.stderr.startsWith('error ERR_CA_ACTIVATION_TOO_EARLY'),
    `activate without --force: exit ${early.code} ${early.stderr.trim()}`,
  );
  pass(
    '6.4',
    `activate without --force is refused (ERR_CA_ACTIVATION_TOO_EARLY: FED-50 waits 5 × refresh hint); ` +
      `the demo checked propagation itself, so it activates with --force`,
  );
  for (const kind of ['x509', 'jwt'] as const) {
    const activated = await fedJson<{ authority: AuthorityJson }>(logistics, [
      'localauthority',
      kind,
      'activate',
      '--force',
    ]);
    expect(
      activated.authority.state === 'active' &&
        activated.authority.id === (kind === 'x509' ? preparedX509 : preparedJwt),
      `${kind} activate: ${JSON.stringify(activated.authority)}`,
    );
  }
  pass(
    '6.5',
    `${LOGISTICS} localauthority activate --force: x509 ${short(preparedX509)} and jwt ${preparedJwt} active`,
  );
  await within(planner.renew(), WAIT_TIMEOUT_MS, 'planner renewal');
  const renewedFingerprint = issuingAuthority(planner);
  expect(
    renewedFingerprint === newFingerprint,
    `the renewed SVID is signed by ${short(renewedFingerprint)}, expected ${short(newFingerprint)}`,
  );
  pass(
    '6.6',
    `planner renewed: ${describeAgent(planner)}, X509-SVID now signed by ${short(renewedFingerprint)} ` +
      `(was ${short(oldFingerprint)})`,
  );
  const after = await plannerCalls('6.7', planner, dispatch, port, shippingTd);
  expect(
    after.caller.x509Authority === newFingerprint,
    `dispatch verified the planner against ${short(after.caller.x509Authority)}`,
  );
  expect(after.caller.jwtKid === preparedJwt, `dispatch saw JWT key ${after.caller.jwtKid}`);
  expect(
    kidOf((await planner.jwtSvid(AUDIENCE)).token) === preparedJwt,
    'the JWT-SVID was not signed by the new key',
  );
  pass(
    '6.8',
    `after the rotation dispatch verified the planner's X509-SVID against ${short(after.caller.x509Authority)} ` +
      `(new) and its JWT-SVID against key ${after.caller.jwtKid} (new); before: ${short(before.caller.x509Authority)} / ${before.caller.jwtKid}`,
  );

  // 7. Audit trails --------------------------------------------------------------------------------
  currentStep = '7';
  for (const b of brokers) {
    const table = await fed(b, ['audit', 'list']);
    const verified = await fed(b, ['audit', 'verify']);
    console.log(`\n  audit trail of ${b.td} (fedbroker audit list):`);
    detail(table);
    expect(/^audit chain intact: \d+ events/.test(verified), `${b.td}: ${verified.trim()}`);
    pass('7', `${b.td} audit verify: ${verified.trim()}`);
  }
}

let failureLogs: BrokerProcess[] = [];

async function run(): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Expectation(`the demo did not finish within ${DEMO_TIMEOUT_MS / 1000} s`)),
      DEMO_TIMEOUT_MS,
    );
  });
  let code = 0;
  try {
    await Promise.race([main(), deadline]);
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
    console.log(`\n✔ step 8 all ${checks} expectations held in ${seconds} s`);
  } catch (error) {
    code = 1;
    if (interrupted) return 130;
    fail(currentStep, `failed: ${messageOf(error)}`);
    if (!(error instanceof Expectation) && error instanceof Error && error.stack !== undefined) {
      detail(error.stack);
    }
    for (const b of failureLogs) {
      if (b.log.length === 0) continue;
      console.log(`\n  last log lines of ${b.td}:`);
      detail(b.log.slice(-15).join('\n'));
    }
    fail('8', `demo failed after ${checks} expectations held`);
  } finally {
    clearTimeout(timer);
    await within(cleanup(), 10_000, 'cleanup').catch((error: unknown) => {
      code = 1;
      console.log(`✘ cleanup: ${messageOf(error)}`);
    });
  }
  return code;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    fail(currentStep, `interrupted by ${signal}`);
    void cleanup().finally(() => process.exit(130));
  });
}

const exitCode = await run();
process.exitCode = exitCode;
// Anything still holding the event loop (a stuck socket) must not keep the demo alive.
setTimeout(() => process.exit(exitCode), 2_000).unref();
