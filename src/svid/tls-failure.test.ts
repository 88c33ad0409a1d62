// The one TLS failure classifier, table-driven on node's error codes, with what each caller made of
// the code before the three regexes became this one function (same outcome per caller).
import { describe, expect, it } from 'vitest';
import { classifyTlsFailure, type TlsFailureKind } from './index.js';

/** [code, kind]: OpenSSL verdicts as node reports them, TLS alerts, and plain network errors. */
const CASES: readonly (readonly [string, TlsFailureKind | undefined])[] = [
  ['UNABLE_TO_GET_ISSUER_CERT', 'certificate'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'certificate'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'certificate'],
  ['UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'certificate'],
  ['CERT_SIGNATURE_FAILURE', 'certificate'],
  ['CERT_HAS_EXPIRED', 'certificate'],
  ['CERT_NOT_YET_VALID', 'certificate'],
  ['CERT_CHAIN_TOO_LONG', 'certificate'],
  ['CERT_UNTRUSTED', 'certificate'],
  ['CERT_REJECTED', 'certificate'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'certificate'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'certificate'],
  ['ERROR_IN_CERT_NOT_AFTER_FIELD', 'certificate'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'certificate'],
  ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'certificate'],
  ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'certificate'],
  ['ERR_SSL_WRONG_VERSION_NUMBER', 'protocol'],
  ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'protocol'],
  ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'protocol'],
  ['ERR_TLS_HANDSHAKE_TIMEOUT', 'protocol'],
  ['HOSTNAME_MISMATCH', 'protocol'],
  ['ECONNREFUSED', undefined],
  ['ECONNRESET', undefined],
  ['ETIMEDOUT', undefined],
  ['ENOTFOUND', undefined],
  ['EPROTO', undefined],
  ['ABORT_ERR', undefined],
];

describe('classifyTlsFailure', () => {
  it.each(CASES)('%s -> %s', (code, kind) => {
    expect(classifyTlsFailure(Object.assign(new Error('x'), { code }))).toBe(kind);
  });

  it.each([undefined, null, 'CERT_HAS_EXPIRED', new Error('no code'), { code: 42 }])(
    'no string code (%s) is no TLS failure',
    (value) => {
      expect(classifyTlsFailure(value)).toBeUndefined();
    },
  );

  // What the callers made of each code before (their regexes, written out as outcomes):
  // FED-27 fetch: any TLS failure -> ERR_FEDERATION_FETCH_TLS, else ERR_FEDERATION_FETCH_NETWORK;
  // agent client / admin CLI: a certificate verdict -> untrusted / unverified, else unreachable.
  it.each(CASES)('%s keeps its code in the fetch, the agent client and the admin CLI', (code) => {
    const kind = classifyTlsFailure({ code });
    const fetchTls = /CERT|SSL|TLS|SELF_SIGNED|HOSTNAME|ALTNAME|UNABLE_TO|ERR_TLS/.test(code);
    const agentUntrusted = /CERT|UNABLE_TO_|SELF_SIGNED|SIGNATURE|ERR_TLS_CERT_ALTNAME/.test(code);
    const adminUnverified = /CERT|UNABLE_TO_|SELF_SIGNED|SIGNATURE|ISSUER/.test(code);
    expect(kind !== undefined).toBe(fetchTls);
    expect(kind === 'certificate').toBe(agentUntrusted);
    expect(kind === 'certificate').toBe(adminUnverified);
  });

  it('CRL_SIGNATURE_FAILURE, the one code whose fetch outcome moved: now ERR_FEDERATION_FETCH_TLS (was NETWORK)', () => {
    // No CRLs are ever loaded here, so OpenSSL cannot report it; classified with its siblings.
    expect(classifyTlsFailure({ code: 'CRL_SIGNATURE_FAILURE' })).toBe('certificate');
  });
});
