// Unit tests of createPeerVerifier's per-connection cache: a verified SVID and a refused chain are
// each checked once per connection while our bundle is unchanged; a refusal is kept for a minute.
import { describe, expect, it } from 'vitest';
import { bundleOf, createCa, createLeaf } from '../../test/helpers/pki.js';
import { createPeerVerifier } from './peer-svid.js';

const TD = 'peers.test';
const ours = await createCa({ trustDomain: TD });
const theirs = await createCa({ trustDomain: TD });
const good = await createLeaf(ours, { spiffeIds: [`spiffe://${TD}/agent`] });
const stranger = await createLeaf(theirs, { spiffeIds: [`spiffe://${TD}/agent`] });

/** A stand-in for a TLS socket: node's detailed peer certificate, counting how often it is read. */
function socketPresenting(der: Buffer): { reads: number; getPeerCertificate(): object } {
  const socket = {
    reads: 0,
    getPeerCertificate(): object {
      socket.reads += 1;
      const node: { raw: Buffer; issuerCertificate?: object } = { raw: der };
      node.issuerCertificate = node;
      return node;
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
});
