// The one classifier of failed TLS connections by node's error `code`: OpenSSL refused the peer's
// certificate (its chain or name verdict), the handshake failed otherwise, or it was no TLS failure.
// Callers map the kind to their own room's code (federation fetch, agent client, admin CLI).

/** `certificate`: OpenSSL's verdict on the peer's certificate; `protocol`: any other TLS failure. */
export type TlsFailureKind = 'certificate' | 'protocol';

/**
 * OpenSSL's X509_V_ERR names as node reports them (CERT_HAS_EXPIRED, UNABLE_TO_GET_ISSUER_CERT,
 * SELF_SIGNED_CERT_IN_CHAIN, CERT_SIGNATURE_FAILURE, ...), node's ERR_TLS_CERT_ALTNAME_INVALID and
 * the TLS alerts about certificates (ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE, ...).
 */
const CERTIFICATE_VERDICT = /CERT|UNABLE_TO_|SELF_SIGNED|SIGNATURE|ISSUER/;
/** Every other TLS failure: ERR_SSL_* (alerts, wrong version), ERR_TLS_*, HOSTNAME_MISMATCH. */
const TLS_PROTOCOL = /SSL|TLS|HOSTNAME|ALTNAME/;

/** The kind of TLS failure `error` is, or undefined when it is not one (a network error, ...). */
export function classifyTlsFailure(error: unknown): TlsFailureKind | undefined {
  const code =
    typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code !== 'string') return undefined;
  if (CERTIFICATE_VERDICT.test(code)) return 'certificate';
  if (TLS_PROTOCOL.test(code)) return 'protocol';
  return undefined;
}
