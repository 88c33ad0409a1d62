// Unit tests of createPeerVerifier: its per-connection cache (a verified SVID and a refused chain are
// each checked once per connection while our bundle is unchanged; a refusal is kept for a minute),
// and which of the peer's certificates it asks node for (the leaf alone, unless intermediates are
// expected: node builds every certificate of a detailed read, however many a stranger sent).
import { describe, expect, it } from 'vitest';
import { bundleOf, createCa, createLeaf } from '../../test/helpers/pki.js';
import { createPeerVerifier } from './peer-svid.js';

const TD = 'peers.test';
const ours = await createCa({ trustDomain: TD });
const theirs = await createCa({ trustDomain: TD });
const good = await createLeaf(ours, { spiffeIds: [`spiffe://${TD}/agent`] });
const stranger = await createLeaf(theirs, { spiffeIds: [`spiffe://${TD}/agent`] });
// Upstream mode: our authority is an intermediate under the root our bundle publishes.
const intermediate = await createCa({ trustDomain: TD, issuer: ours });
const underIntermediate = await createLeaf(intermediate, { spiffeIds: [`spiffe://${TD}/agent`] });

interface FakeSocket {
  /** How often the peer certificate was read, and how many of those reads were detailed. */
  reads: number;
  detailedReads: number;
  getPeerCertificate(detailed?: boolean): object;
}

/**
 * A stand-in for a TLS socket presenting `chain` (leaf first): node's peer certificate, the leaf
 * alone or (detailed) linked to the rest, counting the reads.
 */
function socketPresenting(...chain: Buffer[]): FakeSocket {
  const socket: FakeSocket = {
    reads: 0,
    detailedReads: 0,
    getPeerCertificate(detailed = false): object {
      socket.reads += 1;
      if (!detailed) return { raw: chain[0] };
      socket.detailedReads += 1;
      const nodes = chain.map((raw) => ({
        raw,
        issuerCertificate: undefined as object | undefined,
      }));
      nodes.forEach((node, i) => (node.issuerCertificate = nodes[i + 1] ?? node));
      return nodes[0] as object;
    },
  };
  return socket;
}

describe('createPeerVerifier', () => {
  it('checks a refused chain once per connection, again after a minute or a new bundle', () => {
    let bundle = bundleOf(TD, [ours]);
    let nowMs = Date.now();
    const verify = createPeerVerifier(
      () => bundle,
      () => nowMs,
    );
    const socket = socketPresenting(stranger.der);
    const first = verify(socket);
    expect(first.kind).toBe('refused');
    for (let i = 0; i < 5; i++) expect(verify(socket)).toBe(first);
    expect(socket.reads).toBe(1);
    nowMs += 60_000;
    expect(verify(socket).kind).toBe('refused');
    expect(socket.reads).toBe(2);
    // Our bundle now trusts the other CA too: the same connection is checked again, and verifies.
    bundle = bundleOf(TD, [ours, theirs]);
    expect(verify(socket).kind).toBe('verified');
    expect(socket.reads).toBe(3);
  });

  it('keeps a verified SVID per connection until it expires; another connection is checked on its own', () => {
    const bundle = bundleOf(TD, [ours]);
    let nowMs = Date.now();
    const verify = createPeerVerifier(
      () => bundle,
      () => nowMs,
    );
    const socket = socketPresenting(good.der);
    const first = verify(socket);
    expect(first.kind).toBe('verified');
    expect(verify(socket)).toEqual(first);
    expect(socket.reads).toBe(1);
    const other = socketPresenting(good.der);
    expect(verify(other).kind).toBe('verified');
    expect(other.reads).toBe(1);
    if (first.kind !== 'verified') throw new Error('unreachable');
    nowMs = first.expiresAt.getTime() + 3_600_000;
    expect(verify(socket).kind).toBe('refused');
    expect(socket.reads).toBe(2);
  });

  it('reads only the leaf of a refused chain, however long, unless intermediates are expected', () => {
    const bundle = bundleOf(TD, [ours]);
    const verify = createPeerVerifier(
      () => bundle,
      () => Date.now(),
    );
    const long = socketPresenting(stranger.der, ...Array.from({ length: 20 }, () => theirs.der));
    expect(verify(long).kind).toBe('refused');
    expect(long.detailedReads).toBe(0);
    // Extra certificates behind our own leaf change nothing: it verifies on its own.
    const padded = socketPresenting(good.der, theirs.der, stranger.der);
    expect(verify(padded).kind).toBe('verified');
    expect(padded.detailedReads).toBe(0);
    // Without intermediates expected, a leaf under an intermediate is refused, the chain unread.
    const underUpstream = socketPresenting(underIntermediate.der, intermediate.der);
    expect(verify(underUpstream).kind).toBe('refused');
    expect(underUpstream.detailedReads).toBe(0);
  });

  it('with an upstream CA reads the whole chain once, only when the leaf alone does not verify', () => {
    const bundle = bundleOf(TD, [ours]);
    const refusals: string[] = [];
    const verify = createPeerVerifier(
      () => bundle,
      () => Date.now(),
      { intermediates: true, onRefused: (_socket, code) => refusals.push(code) },
    );
    const agent = socketPresenting(underIntermediate.der, intermediate.der);
    expect(verify(agent).kind).toBe('verified');
    expect(verify(agent).kind).toBe('verified');
    expect(agent.detailedReads).toBe(1);
    const direct = socketPresenting(good.der);
    expect(verify(direct).kind).toBe('verified');
    expect(direct.detailedReads).toBe(0);
    expect(refusals).toEqual([]);
    // A refusal is told once per connection, with its code.
    const strange = socketPresenting(stranger.der, theirs.der);
    expect(verify(strange).kind).toBe('refused');
    expect(verify(strange).kind).toBe('refused');
    expect(strange.detailedReads).toBe(1);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(/^ERR_/);
  });
});
