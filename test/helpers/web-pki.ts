// A private Web PKI made with the openssl CLI: a root CA and a server certificate for 127.0.0.1 / localhost.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WebPki {
  readonly dir: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** Creates a root CA and a server certificate (SAN IP:127.0.0.1, DNS:localhost) valid for `days`. */
export function createWebPki(options: { days?: number; commonName?: string } = {}): WebPki {
  const dir = mkdtempSync(join(tmpdir(), 'fedbroker-webpki-'));
  const days = String(options.days ?? 2);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-days',
      days,
      '-subj',
      '/CN=Test Web Root',
      '-out',
      'ca.pem',
    ],
    dir,
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key'], dir);
  openssl(
    [
      'req',
      '-new',
      '-key',
      'server.key',
      '-subj',
      `/CN=${options.commonName ?? 'localhost'}`,
      '-out',
      'server.csr',
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'ext.cnf'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      days,
      '-extfile',
      'ext.cnf',
      '-out',
      'server.pem',
    ],
    dir,
  );
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  return {
    dir,
    caPem: read('ca.pem'),
    certPem: read('server.pem'),
    keyPem: read('server.key'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    caFile: join(dir, 'ca.pem'),
  };
}
