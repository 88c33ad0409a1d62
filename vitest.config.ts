// Test runner configuration: two projects. `unit` = the tests beside the code plus the test/ files
// that start nothing (no process, server, socket or redis-server); `integration` = every other test/
// file (a new test/ file lands there unless listed below). `npm test` runs both.
import { configDefaults, defineConfig } from 'vitest/config';

/** test/ files that start nothing (not even openssl): in-process fixtures, app.request(), fuzz, differential. */
const UNIT_TEST_FILES = [
  'test/agent/files.test.ts',
  'test/api/admin-audit.test.ts',
  'test/api/admin-registration.test.ts',
  'test/api/openapi.test.ts',
  'test/ca/endpoint-trust.test.ts',
  'test/ca/restart.test.ts',
  'test/ca/shared-bundle.test.ts',
  'test/config/compose.test.ts',
  'test/config/examples.test.ts',
  'test/docs/readme.test.ts',
  'test/fuzz/bundle-fuzz.test.ts',
  'test/fuzz/jwt-fuzz.test.ts',
  'test/lint/layering.test.ts',
  'test/svid/csr-differential.test.ts',
  'test/svid/jwt-differential.test.ts',
  'test/svid/x509-differential.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest's default on this 2-core machine is one worker (cores - 1): the integration files
    // mostly wait on child processes and servers, and the unit files fill both cores.
    maxWorkers: 2,
    // The test processes of one run share one `fedbroker` build (test/helpers/built-cli.ts).
    env: { FEDBROKER_TEST_RUN: String(process.pid) },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', ...UNIT_TEST_FILES],
          // The unit files share one module graph per worker (imports were a third of the unit
          // time): they keep no state between files (no fake timers, env, mocks or spies left set).
          isolate: false,
          // A hang guard, not a speed bound: the type-aware lint's first file (it loads the TS
          // program) and the 2,000-case differentials are CPU-bound and take several times their
          // quiet-machine seconds when other work shares the two cores.
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          globalSetup: ['test/helpers/global-setup.ts'],
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT_TEST_FILES],
        },
      },
    ],
  },
});
