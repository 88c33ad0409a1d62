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
