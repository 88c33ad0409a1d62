// The gRPC client of the SPIFFE Workload API (WAPI-2..5) for the SDK: the official workload.proto
// (vendored at src/workload/proto/) loaded with @grpc/proto-loader, no TLS (WAPI-1), and the
// security header `workload.spiffe.io: true` on every call (WAPI-5).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** WAPI-5: sent on every request; servers refuse requests without it (InvalidArgument). */
export const SECURITY_HEADER = 'workload.spiffe.io';
/** Largest response accepted from the Workload API (a large federation fits well below). */
export const MAX_WORKLOAD_API_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The generated client's methods we use (method paths `/SpiffeWorkloadAPI/<Method>`, WAPI-2). */
export interface WorkloadApiGrpcClient extends grpc.Client {
  FetchX509SVID(request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<unknown>;
  FetchJWTBundles(request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<unknown>;
  FetchJWTSVID(
    request: { audience: readonly string[]; spiffe_id: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: unknown) => void,
  ): grpc.ClientUnaryCall;
}

/** The vendored proto, from src/agent/ or from dist/agent/ (the package ships src/workload/proto). */
export function workloadProtoFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, '..', 'workload', 'proto', 'workload.proto'),
    join(here, '..', '..', 'src', 'workload', 'proto', 'workload.proto'),
  ];
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) throw new Error('workload.proto not found beside the SDK');
  return found;
}

let constructorCache: grpc.ServiceClientConstructor | undefined;

function clientConstructor(): grpc.ServiceClientConstructor {
  if (constructorCache === undefined) {
    const definition = loadSync(workloadProtoFile(), {
      keepCase: true,
      longs: String,
      enums: String,
      // Absent fields read as their defaults, so "mandatory field left empty" is visible (WAPI-9).
      defaults: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      SpiffeWorkloadAPI: grpc.ServiceClientConstructor;
    };
    constructorCache = loaded.SpiffeWorkloadAPI;
  }
  return constructorCache;
}

/** A client for `target` (a @grpc/grpc-js target such as `unix:///run/spiffe/agent.sock`). */
export function createWorkloadApiGrpcClient(target: string): WorkloadApiGrpcClient {
  const Client = clientConstructor();
  return new Client(target, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX_WORKLOAD_API_MESSAGE_BYTES,
    // Retries are ours (WAPI-6, WAPI-19), not the channel's.
    'grpc.enable_retries': 0,
  }) as unknown as WorkloadApiGrpcClient;
}

/** Fresh metadata carrying the security header (WAPI-5). */
export function securityMetadata(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(SECURITY_HEADER, 'true');
  return metadata;
}

export { grpc };
