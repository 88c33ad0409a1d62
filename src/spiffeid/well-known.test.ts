// The broker's well-known service IDs: the exact spellings agents, the node agent and the admin CLI
// expect (a change here breaks every deployed agent).
import { describe, expect, it } from 'vitest';
import { adminApiIdOf, agentApiIdOf, bundleEndpointIdOf, parseTrustDomain } from './index.js';

describe('well-known IDs', () => {
  const td = parseTrustDomain('logistics.example');
  it.each([
    ['agent API', agentApiIdOf, 'spiffe://logistics.example/fedbroker/agent-api'],
    ['admin API', adminApiIdOf, 'spiffe://logistics.example/fedbroker/admin-api'],
    [
      'bundle endpoint (FED-23)',
      bundleEndpointIdOf,
      'spiffe://logistics.example/spiffe/bundle-endpoint',
    ],
  ])('%s', (_name, idOf, expected) => {
    const id = idOf(td);
    expect(id.toString()).toBe(expected);
    expect(id.isMemberOf(td)).toBe(true);
  });
});
