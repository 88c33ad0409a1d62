// Unit tests of the one peer-chain walk over node's PeerCertificate object graph (plain objects
// shaped like node's, with real certificate DER): order, where it stops, anchors left out, the cap.
import { describe, expect, it } from 'vitest';
import { authorityOf, bundleOf, createCa, createLeaf, sourceOf } from '../../test/helpers/pki.js';
import { SvidError } from '../errors.js';
import {
  MAX_PEER_CHAIN_WALK,
  MAX_PRESENTED_CERTIFICATES,
  chainFromPeerCertificate,
  verifyX509Svid,
} from './index.js';

interface Node {
  raw?: Buffer;
  issuerCertificate?: Node;
}

/** A linked list like node's detailed peer certificate, leaf first. */
function graph(ders: readonly Buffer[], selfIssuedLast = false): Node {
  const nodes: Node[] = ders.map((raw) => ({ raw }));
  nodes.forEach((node, i) => {
    const next = nodes[i + 1];
    if (next !== undefined) node.issuerCertificate = next;
  });
  const last = nodes[nodes.length - 1];
  if (selfIssuedLast && last !== undefined) last.issuerCertificate = last;
  return nodes[0] ?? {};
}

const root = await createCa({ trustDomain: 'walk.test' });
const intermediate = await createCa({ issuer: root, trustDomain: 'walk.test' });
const leaf = await createLeaf(intermediate);
const distinct = (n: number): Buffer[] =>
  Array.from({ length: n }, (_, i) => Buffer.from(`certificate ${i}`));

describe('chainFromPeerCertificate', () => {
  it.each([
    [
      'leaf, intermediate, self-issued root',
      graph([leaf.der, intermediate.der, root.der], true),
      3,
    ],
    ['a missing link ends the walk', graph([leaf.der, intermediate.der]), 2],
    ['a bare leaf', graph([leaf.der]), 1],
    ['no certificate (node answers {})', {}, 0],
    ['not an object', undefined, 0],
    ['raw is not a Buffer', { raw: 'MIIB...' }, 0],
  ])('X509-20 %s', (_name, detailed, length) => {
    expect(chainFromPeerCertificate(detailed)).toHaveLength(length);
  });

  it('X509-20 keeps the issuer order node linked, leaf first', () => {
    expect(chainFromPeerCertificate(graph([leaf.der, intermediate.der, root.der], true))).toEqual([
      leaf.der,
      intermediate.der,
      root.der,
    ]);
  });

  it('stops at a cycle of two objects and at a repeated DER', () => {
    const a: Node = { raw: leaf.der };
    const b: Node = { raw: intermediate.der, issuerCertificate: a };
    a.issuerCertificate = b;
    expect(chainFromPeerCertificate(a)).toEqual([leaf.der, intermediate.der]);
    expect(chainFromPeerCertificate(graph([leaf.der, intermediate.der, leaf.der]))).toEqual([
      leaf.der,
      intermediate.der,
    ]);
  });

  it('leaves out the anchors OpenSSL appended, never the leaf', () => {
    const anchors = [authorityOf(root)];
    expect(
      chainFromPeerCertificate(graph([leaf.der, intermediate.der, root.der], true), anchors),
    ).toEqual([leaf.der, intermediate.der]);
    expect(chainFromPeerCertificate(graph([root.der], true), anchors)).toEqual([root.der]);
  });

  it('X509-20 one cap: an over-long chain is walked to MAX_PEER_CHAIN_WALK and refused by verification', () => {
    expect(MAX_PEER_CHAIN_WALK).toBe(MAX_PRESENTED_CERTIFICATES + 1);
    const walked = chainFromPeerCertificate(graph(distinct(MAX_PEER_CHAIN_WALK + 20)));
    expect(walked).toHaveLength(MAX_PEER_CHAIN_WALK);
    let code: string | undefined;
    try {
      verifyX509Svid(walked, sourceOf(bundleOf('walk.test', [root])));
    } catch (error) {
      code = error instanceof SvidError ? error.code : String(error);
    }
    expect(code).toBe('ERR_SVID_CHAIN_TOO_LONG');
  });

  it('a chain of exactly MAX_PRESENTED_CERTIFICATES is walked whole', () => {
    expect(chainFromPeerCertificate(graph(distinct(MAX_PRESENTED_CERTIFICATES)))).toHaveLength(
      MAX_PRESENTED_CERTIFICATES,
    );
  });
});
