// The demo's fixed settings: where the built CLI is, how long each wait may take, the three
// organisations' trust domains and the audience of the dispatch service.
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
/** The built CLI; tests point this at their own build (`FEDBROKER_CLI=.test-output/dist/cli/main.js`). */
export const CLI = resolve(ROOT, process.env['FEDBROKER_CLI'] ?? 'dist/cli/main.js');
/** Hard bound on the whole run; a normal run takes a fraction of it. */
export const DEMO_TIMEOUT_MS = 120_000;
export const CLI_TIMEOUT_MS = 30_000;
export const READY_TIMEOUT_MS = 30_000;
export const WAIT_TIMEOUT_MS = 10_000;
export const CALL_TIMEOUT_MS = 5_000;
export const STOP_GRACE_MS = 3_000;

export const LOGISTICS = 'logistics.example';
export const SHIPPING = 'shipping.example';
export const SAAS = 'saas.example';
/** What the planner asks its JWT-SVID for and the dispatch service insists on (JWT-5). */
export const AUDIENCE = 'spiffe://shipping.example/dispatch-api';
