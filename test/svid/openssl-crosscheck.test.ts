// Cross-checks verifyX509Svid's path validation verdicts (X509-26) with the `openssl verify` CLI.
// Same PEMs, same fixed time (-attime); -partial_chain only where the anchor is not self-signed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SvidError } from '../../src/errors.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import { bundleOf, createCa, createLeaf, pemOf, type TestCert } from '../helpers/pki.js';

const NOW = new Date(Date.UTC(2030, 5, 1, 0, 0, 0));
const DAY = 86_400_000;
const TD = 'x.example';
const caValid = {
  notBefore: new Date(NOW.getTime() - 30 * DAY),
  notAfter: new Date(NOW.getTime() + 365 * DAY),
};
const leafValid = {
  notBefore: new Date(NOW.getTime() - DAY),
  notAfter: new Date(NOW.getTime() + DAY),
};
const expired = {
  notBefore: new Date(NOW.getTime() - 10 * DAY),
  notAfter: new Date(NOW.getTime() - DAY),
};

const dir = mkdtempSync(join(tmpdir(), 'svid-openssl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const hasOpenssl = openssl.status === 0;

interface Case {
  readonly name: string;
  readonly leaf: TestCert;
  readonly intermediates: readonly TestCert[];
  readonly anchors: readonly TestCert[];
  readonly partial?: boolean;
  readonly expectAccept: boolean;
}

const root = await createCa({ trustDomain: TD, ...caValid });
const otherRoot = await createCa({ trustDomain: TD, ...caValid });
const inter = await createCa({ issuer: root, trustDomain: TD, ...caValid });
const rootPathLen0 = await createCa({ trustDomain: TD, pathLength: 0, ...caValid });
const interBelowPathLen0 = await createCa({ issuer: rootPathLen0, ...caValid });
const notCa = await createCa({ issuer: root, notCa: true, ...caValid });
const expiredRoot = await createCa({ trustDomain: TD, ...expired });
const expiredInter = await createCa({ issuer: root, ...expired });
const ncRoot = await createCa({
  trustDomain: TD,
  ...caValid,
  nameConstraints: { permitted: [{ uri: 'other.example' }] },
});
const criticalInter = await createCa({ issuer: root, ...caValid, unknownCriticalExtension: true });
const rsaRoot = await createCa({ trustDomain: TD, keyAlg: 'rsa-2048', ...caValid });
const edRoot = await createCa({ trustDomain: TD, keyAlg: 'ed25519', ...caValid });

const cases: Case[] = [
  {
    name: 'valid leaf + root',
    leaf: await createLeaf(root, leafValid),
    intermediates: [],
    anchors: [root],
    expectAccept: true,
  },
  {
    name: 'leaf + intermediate + root',
    leaf: await createLeaf(inter, leafValid),
    intermediates: [inter],
    anchors: [root],
    expectAccept: true,
  },
  {
    name: 'RSA root',
    leaf: await createLeaf(rsaRoot, leafValid),
    intermediates: [],
    anchors: [rsaRoot],
    expectAccept: true,
  },
  {
    name: 'Ed25519 root',
    leaf: await createLeaf(edRoot, leafValid),
    intermediates: [],
    anchors: [edRoot],
    expectAccept: true,
  },
  {
    name: 'anchor is an intermediate (partial chain)',
    leaf: await createLeaf(inter, leafValid),
    intermediates: [],
    anchors: [inter],
    partial: true,
    expectAccept: true,
  },
  {
    name: 'expired leaf',
    leaf: await createLeaf(root, expired),
    intermediates: [],
    anchors: [root],
    expectAccept: false,
  },
  {
    name: 'expired intermediate',
    leaf: await createLeaf(expiredInter, leafValid),
    intermediates: [expiredInter],
    anchors: [root],
    expectAccept: false,
  },
  {
    name: 'expired root',
    leaf: await createLeaf(expiredRoot, leafValid),
    intermediates: [],
    anchors: [expiredRoot],
    expectAccept: false,
  },
  {
    name: 'wrong root',
    leaf: await createLeaf(root, leafValid),
    intermediates: [],
    anchors: [otherRoot],
    expectAccept: false,
  },
  {
    name: 'missing intermediate',
    leaf: await createLeaf(inter, leafValid),
    intermediates: [],
    anchors: [root],
    expectAccept: false,
  },
  {
    name: 'pathLen violated',
    leaf: await createLeaf(interBelowPathLen0, leafValid),
    intermediates: [interBelowPathLen0],
    anchors: [rootPathLen0],
    expectAccept: false,
  },
  {
    name: 'not-a-CA issuer',
    leaf: await createLeaf(notCa, leafValid),
    intermediates: [notCa],
    anchors: [root],
    expectAccept: false,
  },
  {
    name: 'URI name constraint violated',
    leaf: await createLeaf(ncRoot, leafValid),
    intermediates: [],
    anchors: [ncRoot],
    expectAccept: false,
  },
  {
    name: 'unknown critical extension on the intermediate',
    leaf: await createLeaf(criticalInter, leafValid),
    intermediates: [criticalInter],
    anchors: [root],
    expectAccept: false,
  },
];

function opensslAccepts(c: Case, index: number): { ok: boolean; output: string } {
  const base = join(dir, `case-${index}`);
  writeFileSync(`${base}-ca.pem`, pemOf(c.anchors));
  writeFileSync(`${base}-leaf.pem`, pemOf(c.leaf));
  const args = [
    'verify',
    '-CAfile',
    `${base}-ca.pem`,
    '-attime',
    String(Math.floor(NOW.getTime() / 1000)),
  ];
  if (c.intermediates.length > 0) {
    writeFileSync(`${base}-untrusted.pem`, pemOf(c.intermediates));
    args.push('-untrusted', `${base}-untrusted.pem`);
  }
  if (c.partial) args.push('-partial_chain');
  args.push(`${base}-leaf.pem`);
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

function oursAccepts(c: Case): boolean {
  try {
    verifyX509Svid([c.leaf.der, ...c.intermediates.map((i) => i.der)], bundleOf(TD, c.anchors), {
      now: NOW,
    });
    return true;
  } catch (error) {
    if (error instanceof SvidError) return false;
    throw error;
  }
}

describe.skipIf(!hasOpenssl)('X509-26: verdicts agree with openssl verify', () => {
  it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', (_name, c, index) => {
    const theirs = opensslAccepts(c, index);
    const ours = oursAccepts(c);
    expect({ ours, openssl: theirs.ok }, theirs.output).toEqual({
      ours: c.expectAccept,
      openssl: c.expectAccept,
    });
  });
});
