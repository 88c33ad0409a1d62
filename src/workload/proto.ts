// Loads the vendored workload.proto (WAPI-2..4) with @grpc/proto-loader, and converts claims to
// google.protobuf.Struct for ValidateJWTSVID (WAPI-16).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { JsonNumber, type JsonValue } from '../bundle/index.js';
import { findUp } from '../native.js';

/** The proto beside this file in src/, or the package's src/workload/proto from dist/. */
export function workloadProtoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'proto', 'workload.proto');
  if (existsSync(beside)) return beside;
  return findUp(join('src', 'workload', 'proto', 'workload.proto')) ?? beside;
}

/** The SpiffeWorkloadAPI service definition (method paths `/SpiffeWorkloadAPI/<Method>`). */
export function workloadServiceDefinition(): grpc.ServiceDefinition {
  const definition = loadSync(workloadProtoPath(), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    SpiffeWorkloadAPI: { service: grpc.ServiceDefinition };
  };
  return loaded.SpiffeWorkloadAPI.service;
}

export interface StructValue {
  nullValue?: 'NULL_VALUE';
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: { fields: Record<string, StructValue> };
  listValue?: { values: StructValue[] };
}

/** A JSON value as google.protobuf.Value (numbers become doubles, as Struct only has those). */
export function structValueOf(value: JsonValue): StructValue {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (value instanceof JsonNumber) return { numberValue: Number(value.raw) };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(structValueOf) } };
  return { structValue: structOf(value as Record<string, JsonValue>) };
}

export function structOf(object: Record<string, JsonValue>): {
  fields: Record<string, StructValue>;
} {
  const fields: Record<string, StructValue> = {};
  for (const [name, value] of Object.entries(object)) fields[name] = structValueOf(value);
  return { fields };
}

/**
 * Top-level occurrences of field `field` (length-delimited) in a protobuf message, counted on the
 * wire without decoding; stops counting past `stopAt`. Undefined when the bytes are not a well
 * formed message (the real decoder then refuses them).
 */
export function countRepeatedField(
  bytes: Uint8Array,
  field: number,
  stopAt: number,
): number | undefined {
  let pos = 0;
  let count = 0;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = bytes[pos++];
      if (byte === undefined) return undefined;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    return undefined;
  };
  while (pos < bytes.length) {
    const tag = varint();
    if (tag === undefined) return undefined;
    const wireType = tag % 8;
    if (wireType === 0) {
      if (varint() === undefined) return undefined;
    } else if (wireType === 2) {
      const length = varint();
      if (length === undefined || pos + length > bytes.length) return undefined;
      pos += length;
      if (Math.floor(tag / 8) === field && ++count > stopAt) return count;
    } else if (wireType === 1 || wireType === 5) {
      pos += wireType === 1 ? 8 : 4;
    } else {
      return undefined;
    }
  }
  return count;
}

/**
 * The service definition with FetchJWTSVID's request decoder bounded: a request carrying more than
 * `maxAudiences` audience values (66 KiB fit about 16,000 short ones) is not decoded into as many
 * strings, held while the call waits; it decodes to `maxAudiences + 1` empty values, which the
 * handler refuses (InvalidArgument) as it refuses any request over the limit.
 */
export function withBoundedAudiences(
  definition: grpc.ServiceDefinition,
  maxAudiences: number,
): grpc.ServiceDefinition {
  const method = definition['FetchJWTSVID'];
  if (method === undefined) return definition;
  const decode = method.requestDeserialize;
  return {
    ...definition,
    FetchJWTSVID: {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        const count = countRepeatedField(bytes, 1, maxAudiences);
        if (count !== undefined && count > maxAudiences) {
          return { audience: new Array<string>(maxAudiences + 1).fill(''), spiffe_id: '' };
        }
        return decode(bytes);
      },
    },
  };
}
