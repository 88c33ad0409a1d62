// The bounded FetchJWTSVID request decoder (review 14 F1): audience values are counted on the wire,
// and a request over the limit is never decoded into as many strings.
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { countRepeatedField, withBoundedAudiences } from './proto.js';

/** A FetchJWTSVIDRequest on the wire: `n` audiences "ab" (field 1), then spiffe_id (field 2). */
function request(n: number, spiffeId = ''): Buffer {
  const audiences = Array.from({ length: n }, () => Buffer.from([0x0a, 0x02, 0x61, 0x62]));
  const id = Buffer.from(spiffeId);
  return Buffer.concat([...audiences, Buffer.from([0x12, id.length]), id]);
}

function definition(decoded: Buffer[]): grpc.ServiceDefinition {
  return {
    FetchJWTSVID: {
      path: '/SpiffeWorkloadAPI/FetchJWTSVID',
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: unknown) => value as Buffer,
      responseSerialize: (value: unknown) => value as Buffer,
      requestDeserialize: (bytes: Buffer) => {
        decoded.push(bytes);
        return { decoded: true };
      },
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  } as unknown as grpc.ServiceDefinition;
}

describe('countRepeatedField', () => {
  it('counts a field on the wire and stops past the limit', () => {
    expect(countRepeatedField(request(5, 'spiffe://x/y'), 1, 32)).toBe(5);
    expect(countRepeatedField(request(5000), 1, 32)).toBe(33);
    expect(countRepeatedField(request(0, 'spiffe://x/y'), 2, 32)).toBe(1);
  });

  it('is undefined for bytes that are not a message', () => {
    expect(countRepeatedField(Buffer.from([0x0a, 0x7f, 0x61]), 1, 32)).toBeUndefined();
    expect(countRepeatedField(Buffer.from([0x0b]), 1, 32)).toBeUndefined();
    expect(
      countRepeatedField(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff]), 1, 32),
    ).toBeUndefined();
  });
});

describe('withBoundedAudiences', () => {
  it('decodes a request within the limit, and one that is not a message (the decoder refuses it)', () => {
    const decoded: Buffer[] = [];
    const method = withBoundedAudiences(definition(decoded), 32)['FetchJWTSVID']!;
    expect(method.requestDeserialize(request(32))).toEqual({ decoded: true });
    expect(method.requestDeserialize(Buffer.from([0x0b]))).toEqual({ decoded: true });
    expect(decoded).toHaveLength(2);
  });

  it('never decodes a request over the limit: limit + 1 empty values, which the handler refuses', () => {
    const decoded: Buffer[] = [];
    const method = withBoundedAudiences(definition(decoded), 32)['FetchJWTSVID']!;
    expect(method.requestDeserialize(request(16_000))).toEqual({
      audience: new Array<string>(33).fill(''),
      spiffe_id: '',
    });
    expect(decoded).toHaveLength(0);
  });
});
