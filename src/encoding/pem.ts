// PEM (RFC 7468) text for DER: the one encoder behind certificate, CSR and bundle exports (64-character
// base64 lines, LF endings), and the one block reader: strict for untrusted input, lenient for the
// operator's own certificate files.
import { EncodingError } from '../errors.js';

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

/** A PEM text the strict reader refuses; `line` is 1-based. Rooms map it to their own code. */
export class PemError extends EncodingError {
  readonly line: number | undefined;

  constructor(message: string, line?: number) {
    super('ERR_ENCODING_PEM', message, line === undefined ? {} : { context: { line } });
    this.line = line;
  }
}

/** One block of the expected label: its base64 body (lines joined) and the line of its BEGIN. */
export interface PemBlock {
  readonly base64: string;
  readonly line: number;
}

export interface ReadPemOptions {
  /** The only label accepted, e.g. PEM_LABEL.certificate. */
  readonly label: string;
  /** What a block is called in messages ("certificate"). */
  readonly noun: string;
  /**
   * Lenient (trusted operator files): text outside blocks and blocks of other labels are skipped,
   * whitespace anywhere in a body is ignored, an unterminated block is dropped. Default strict.
   */
  readonly lenient?: boolean;
}

/** RFC 7468 §3 label: printable ASCII except '-', single spaces or hyphens between. */
const BOUNDARY =
  /^-----(BEGIN|END) ((?:[\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*)?)-----$/;
const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;

/** Trims spaces and tabs by hand (a regex with `[ \t]+$` is quadratic on long runs of spaces). */
function trimSpaceTab(line: string): string {
  let start = 0;
  let end = line.length;
  while (start < end && (line.charCodeAt(start) === 0x20 || line.charCodeAt(start) === 0x09))
    start++;
  while (end > start && (line.charCodeAt(end - 1) === 0x20 || line.charCodeAt(end - 1) === 0x09))
    end--;
  return line.slice(start, end);
}

/**
 * The blocks of `options.label` in a PEM text, in order. Strict (the default): only whitespace
 * outside blocks, no other label, no encapsulated headers, base64 characters only in a body;
 * anything else throws PemError naming the line. Base64 canonicity is the caller's check.
 */
export function readPemBlocks(text: string, options: ReadPemOptions): PemBlock[] {
  return options.lenient === true
    ? readLenient(text, options.label)
    : [...pemBlocks(text, options)];
}

/**
 * The strict reader as a generator: each block is yielded when its END line is read, so a caller
 * that checks block contents as they come reports the first fault in file order.
 */
export function* pemBlocks(text: string, options: ReadPemOptions): Generator<PemBlock> {
  const { label, noun } = options;
  const lines = text.split(/\r\n|\n|\r/);
  let body: string[] | undefined;
  let beginLine = 0;
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    // Surrounding spaces and tabs are tolerated on every line (RFC 7468 §3, lax parsing).
    const line = trimSpaceTab(lines[index] ?? '');
    if (body === undefined) {
      if (line === '') continue;
      const match = BOUNDARY.exec(line);
      if (match === null || match[1] !== 'BEGIN') {
        throw new PemError(`text outside a pem block at line ${lineNumber}`, lineNumber);
      }
      if (match[2] !== label) {
        throw new PemError(
          `pem block at line ${lineNumber} is ${JSON.stringify(match[2])}, not a ${noun}`,
          lineNumber,
        );
      }
      body = [];
      beginLine = lineNumber;
      continue;
    }
    const match = BOUNDARY.exec(line);
    if (match !== null) {
      if (match[1] !== 'END' || match[2] !== label) {
        throw new PemError(`unterminated ${noun} block at line ${beginLine}`, beginLine);
      }
      yield { base64: body.join(''), line: beginLine };
      body = undefined;
      continue;
    }
    if (!BASE64_LINE.test(line)) {
      throw new PemError(`invalid base64 line ${lineNumber} in ${noun} block`, lineNumber);
    }
    body.push(line);
  }
  if (body !== undefined) {
    throw new PemError(`unterminated ${noun} block at line ${beginLine}`, beginLine);
  }
}

function readLenient(text: string, label: string): PemBlock[] {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const blocks: PemBlock[] = [];
  let from = 0;
  for (;;) {
    const start = text.indexOf(begin, from);
    if (start < 0) return blocks;
    const stop = text.indexOf(end, start + begin.length);
    if (stop < 0) return blocks;
    const line = text.slice(0, start).split(/\r\n|\n|\r/).length;
    blocks.push({ base64: text.slice(start + begin.length, stop).replace(/\s+/g, ''), line });
    from = stop + end.length;
  }
}

/**
 * The DER of each `CERTIFICATE` block of a PEM file, in file order, ignoring any text around the
 * blocks (openssl's `Bag Attributes` or `-text` output). Lenient on purpose: for trusted operator
 * files; untrusted input goes through the bundle room's strict parsePemCertificates.
 */
export function certificatesFromPem(pem: string): Buffer[] {
  return readPemBlocks(pem, {
    label: PEM_LABEL.certificate,
    noun: 'certificate',
    lenient: true,
  }).map((block) => Buffer.from(block.base64, 'base64'));
}
