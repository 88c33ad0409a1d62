// Step 7 of the demo: each broker's audit trail (`fedbroker audit list`) and its hash chain checked
// by `fedbroker audit verify`.
import { fed, type BrokerProcess } from './processes.js';
import { detail, expect, pass, progress } from './report.js';

/** 7. Audit trails. */
export async function auditTrails(brokers: readonly BrokerProcess[]): Promise<void> {
  progress.step = '7';
  for (const b of brokers) {
    const table = await fed(b, ['audit', 'list']);
    const verified = await fed(b, ['audit', 'verify']);
    console.log(`\n  audit trail of ${b.td} (fedbroker audit list):`);
    detail(table);
    expect(/^audit chain intact: \d+ events/.test(verified), `${b.td}: ${verified.trim()}`);
    pass('7', `${b.td} audit verify: ${verified.trim()}`);
  }
}
