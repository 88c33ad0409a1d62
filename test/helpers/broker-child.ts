// A test broker in its own process (run with `node --import tsx`), so that a test can give it its
// own limits (e.g. `prlimit --nofile`); prints its URLs as one JSON line and stops on SIGTERM.
import { silentLogger } from '../../src/log.js';
import { startBroker } from '../../src/main.js';
import { testConfig } from './broker.js';

const broker = await startBroker(testConfig({ trustDomain: process.argv[2] ?? 'child.test' }), {
  logger: silentLogger,
});
process.stdout.write(
  `${JSON.stringify({
    bundleEndpointUrl: broker.bundleEndpointUrl,
    agentApiUrl: broker.agentApiUrl,
    adminUrl: broker.adminUrl,
  })}\n`,
);
process.once('SIGTERM', () => {
  void broker.stop().then(() => process.exit(0));
});
