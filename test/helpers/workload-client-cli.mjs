// Child-process Workload API client for tests (another uid, another binary, several processes):
// `node workload-client-cli.mjs SOCKET x509|jwt [AUDIENCE] [repeat]`; prints one JSON line per call.
import { createRequire } from 'node:module';
import { URL } from 'node:url';
const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const { loadSync } = require('@grpc/proto-loader');
const [socket, method, audience = 'aud', repeat = '1'] = process.argv.slice(2);
const proto = new URL('../../src/workload/proto/workload.proto', import.meta.url).pathname;
const definition = loadSync(proto, { keepCase: true, longs: String, defaults: true, oneofs: true });
const { SpiffeWorkloadAPI } = grpc.loadPackageDefinition(definition);
const client = new SpiffeWorkloadAPI(`unix://${socket}`, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
metadata.set('workload.spiffe.io', 'true');
function once() {
  return new Promise((resolve) => {
    if (method === 'jwt') {
      client.FetchJWTSVID({ audience: [audience] }, metadata, (error, value) =>
        resolve(error ? { code: error.code } : { ids: value.svids.map((s) => s.spiffe_id) }),
      );
      return;
    }
    const call = client.FetchX509SVID({}, metadata);
    call.on('data', (value) => {
      resolve({ ids: value.svids.map((s) => s.spiffe_id) });
      call.cancel();
    });
    call.on('error', (error) => resolve({ code: error.code }));
  });
}
for (let i = 0; i < Number(repeat); i += 1)
  process.stdout.write(`${JSON.stringify(await once())}\n`);
client.close();
