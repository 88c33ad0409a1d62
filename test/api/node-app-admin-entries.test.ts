// Registering node and workload entries through the admin API of a real broker (issue 17, contract17):
// entries show node, parentId and selectors; bad ones are refused with codes; a workload entry gets no
// join token; the OpenAPI document describes the fields.
import { describe, expect, it } from 'vitest';
import { admin } from '../helpers/broker.js';
import { SHA, TD, broker, dbEntryId, useNodeAppWorld, type EntryJson } from './node-app-fixture.js';

useNodeAppWorld();

describe('admin API: node and workload entries', () => {
  it('shows node, parentId and selectors; refuses bad ones with codes; no join token for a workload entry', async () => {
    const shown = await admin<{ entry: EntryJson }>(
      broker,
      'GET',
      `/v1/admin/entries/${dbEntryId}`,
    );
    expect(shown.body.entry).toMatchObject({
      node: false,
      parentId: `spiffe://${TD}/hosts/h1`,
      selectors: [`unix:sha256:${SHA}`, 'unix:uid:999', 'unix:user:postgres'],
    });
    const cases: [Record<string, unknown>, string][] = [
      [
        { spiffeId: `spiffe://${TD}/x1`, parentId: `spiffe://${TD}/hosts/h1` },
        'ERR_REGISTRATION_SELECTOR_INVALID',
      ],
      [
        {
          spiffeId: `spiffe://${TD}/x2`,
          parentId: 'spiffe://elsewhere/n',
          selectors: ['unix:uid:1'],
        },
        'ERR_REGISTRATION_PARENT_INVALID',
      ],
      [
        { spiffeId: `spiffe://${TD}/x3`, parentId: `spiffe://${TD}/h`, selectors: ['k8s:ns:a'] },
        'ERR_REGISTRATION_SELECTOR_INVALID',
      ],
      [
        { spiffeId: `spiffe://${TD}/x4`, node: true, parentId: `spiffe://${TD}/h` },
        'ERR_REGISTRATION_PARENT_INVALID',
      ],
      [{ spiffeId: `spiffe://${TD}/x5`, node: 'yes' }, 'ERR_API_VALIDATION'],
    ];
    for (const [body, code] of cases) {
      const response = await admin<{ error: { code: string } }>(
        broker,
        'POST',
        '/v1/admin/entries',
        body,
      );
      expect([JSON.stringify(body), response.body.error?.code]).toEqual([
        JSON.stringify(body),
        code,
      ]);
    }
    const token = await admin<{ error: { code: string } }>(broker, 'POST', '/v1/admin/tokens', {
      entryId: dbEntryId,
    });
    expect(token.status).toBe(400);
    expect(token.body.error.code).toBe('ERR_REGISTRATION_WORKLOAD_TOKEN');
  });
});

describe('OpenAPI', () => {
  it('documents node, parentId and selectors on entry create and in the entry schema', async () => {
    const doc = await admin<Record<string, unknown>>(broker, 'GET', '/v1/admin/openapi.json');
    expect(doc.status).toBe(200);
    const text = JSON.stringify(doc.body);
    const post = (doc.body as { paths: Record<string, Record<string, unknown>> }).paths[
      '/v1/admin/entries'
    ]?.['post'];
    const body = JSON.stringify(post);
    for (const field of ['"node"', '"parentId"', '"selectors"']) {
      expect(body).toContain(field);
      expect(text).toContain(field);
    }
  });
});
