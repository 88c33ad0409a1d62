// The issue-7 demo (`npm run demo`): three brokers as real `fedbroker serve` processes on 127.0.0.1,
// federated through the CLI only; SDK agents call each other with mTLS + JWT-SVIDs across trust
// domains, a partner still pending is refused, and logistics rotates its CA in the middle of it all.
// This file is the entry point: the steps in order, the deadline, the failure report, the exit code.
import { existsSync } from 'node:fs';
import { allBrokers, cleanup, tempDir } from './processes.js';
import { Expectation, detail, expect, fail, messageOf, progress } from './report.js';
import { CLI, DEMO_TIMEOUT_MS } from './settings.js';
import { auditTrails } from './steps-audit.js';
import { callAcross, refusedPartner } from './steps-calls.js';
import { rotateLogistics } from './steps-rotation.js';
import { federate, registerAgents, startBrokers } from './steps-setup.js';
import { within } from './wait.js';

const startedAt = Date.now();

async function main(): Promise<void> {
  progress.step = '0';
  expect(existsSync(CLI), `no built CLI at ${CLI}: run npm run build first`);
  console.log(`fedbroker demo: 3 brokers on 127.0.0.1, working directory ${tempDir}\n`);
  const brokers = await startBrokers();
  await federate(brokers);
  const registered = await registerAgents(brokers);
  const calls = await callAcross(registered);
  await refusedPartner(calls);
  await rotateLogistics(brokers, calls);
  await auditTrails(brokers.all);
}

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
    console.log(`\n✔ step 8 all ${progress.checks} expectations held in ${seconds} s`);
  } catch (error) {
    code = 1;
    if (interrupted) return 130;
    fail(progress.step, `failed: ${messageOf(error)}`);
    if (!(error instanceof Expectation) && error instanceof Error && error.stack !== undefined) {
      detail(error.stack);
    }
    for (const b of allBrokers) {
      if (b.log.length === 0) continue;
      console.log(`\n  last log lines of ${b.td}:`);
      detail(b.log.slice(-15).join('\n'));
    }
    fail('8', `demo failed after ${progress.checks} expectations held`);
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
    fail(progress.step, `interrupted by ${signal}`);
    void cleanup().finally(() => process.exit(130));
  });
}

const exitCode = await run();
process.exitCode = exitCode;
// Anything still holding the event loop (a stuck socket) must not keep the demo alive.
setTimeout(() => process.exit(exitCode), 2_000).unref();
