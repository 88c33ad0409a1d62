// CSRs in request bodies: PEM (`-----BEGIN CERTIFICATE REQUEST-----`) or base64 DER.
import { validationError } from './http-errors.js';

/** Largest CSR text accepted in a body (a 4096-bit RSA CSR is about 1.7 KiB of PEM). */
export const MAX_CSR_TEXT = 16 * 1024;

const PEM_RE =
  /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----/;

export function csrDer(text: string): Buffer {
  const pem = PEM_RE.exec(text);
  const body = (pem?.[1] ?? text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw validationError('csr must be PEM or base64 DER');
  return Buffer.from(body, 'base64');
}
