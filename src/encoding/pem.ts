// PEM (RFC 7468) text for DER: the one encoder behind certificate, CSR and bundle exports (64-character
// base64 lines, LF endings), and the lenient block reader for operator certificate files.

/** RFC 7468 labels we write and read. */
export const PEM_LABEL = {
  certificate: 'CERTIFICATE',
  certificateRequest: 'CERTIFICATE REQUEST',
} as const;

/** One PEM block: `-----BEGIN <label>-----`, base64 in 64-character lines, `-----END <label>-----`. */
export function pemBlock(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < base64.length; i += 64) out += base64.slice(i, i + 64) + '\n';
  return out + `-----END ${label}-----\n`;
}

/** X.509 Certificate DER to a PEM `CERTIFICATE` block. */
export function certificatePem(der: Uint8Array): string {
  return pemBlock(PEM_LABEL.certificate, der);
}

/** PKCS#10 CertificationRequest DER to a PEM `CERTIFICATE REQUEST` block. */
export function csrPem(der: Uint8Array): string {
  return pemBlock(PEM_LABEL.certificateRequest, der);
}

/**
 * The DER of each `CERTIFICATE` block of a PEM file, in file order, ignoring any text around the
 * blocks (openssl's `Bag Attributes` or `-text` output). Lenient on purpose: for trusted operator
 * files; untrusted input goes through the bundle room's strict parsePemCertificates.
 */
export function certificatesFromPem(pem: string): Buffer[] {
  const out: Buffer[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (const match of pem.matchAll(re)) {
    out.push(Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64'));
  }
  return out;
}
