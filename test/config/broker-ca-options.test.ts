// The broker hands `ca.csrCheckWorkers` to its CA: the configured value, or one fewer than the cores
// (at least 1) when the config leaves it out; a CA made on its own keeps one worker per core.
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultCsrCheckWorkers } from '../../src/config/index.js';
import type { Broker } from '../../src/main.js';
import { startTestBroker } from '../helpers/broker.js';
import { openCa, removeTempDirs, testClock } from '../ca/support.js';

let broker: Broker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
  removeTempDirs();
});

const CA = { caTtl: '2h', x509SvidTtl: '10m', maxX509SvidTtl: '1h' };

describe('ca.csrCheckWorkers', () => {
  it('defaults to cores - 1 (at least 1) in the broker', async () => {
    broker = await startTestBroker({ trustDomain: 'workers.example' });
    expect(broker.ca.options.csrCheckWorkers).toBe(defaultCsrCheckWorkers());
    expect(broker.ca.options.csrCheckWorkers).toBe(Math.max(1, availableParallelism() - 1));
  });

  it('takes the configured number', async () => {
    broker = await startTestBroker({
      trustDomain: 'workers.example',
      extra: { ca: { ...CA, csrCheckWorkers: 3 } },
    });
    expect(broker.ca.options.csrCheckWorkers).toBe(3);
  });

  it('is one per core for a CA made on its own (in-process callers)', async () => {
    const ca = await openCa(testClock());
    try {
      expect(ca.options.csrCheckWorkers).toBe(availableParallelism());
    } finally {
      await ca.close();
    }
  });
});
