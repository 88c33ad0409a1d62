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
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['src/**/*.test.ts', ...UNIT_TEST_FILES] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT_TEST_FILES],
        },
      },
    ],
  },
});
