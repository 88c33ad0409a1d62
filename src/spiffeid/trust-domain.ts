// The TrustDomain value and its parsers: a bare name from configuration (ID-13) or a TD ID string.
import { SpiffeIdError } from '../errors.js';
import { MAX_TRUST_DOMAIN_BYTES, SCHEME_PREFIX, TRUST_DOMAIN_CHARS } from './charset.js';

/** A validated trust domain name. Two trust domains are equal iff their names are identical (ID-10). */
export class TrustDomain {
  readonly name: string;

  /** Use parseTrustDomain; this constructor trusts its input. */
  constructor(validatedName: string) {
    this.name = validatedName;
  }

  /** The trust domain's own SPIFFE ID string, `spiffe://<td>` (ID-11). */
  get idString(): string {
    return SCHEME_PREFIX + this.name;
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }

  toJSON(): string {
    return this.name;
  }
}

/**
 * Checks the trust domain part of `input` between `start` and `end` (ID-3, ID-4, ID-5, ID-6).
 * No DNS rules and no normalisation: `acme.example.` is a different name (ID-5).
 */
export function checkTrustDomainChars(input: string, start: number, end: number): void {
  if (end === start) {
    throw new SpiffeIdError('ERR_SPIFFEID_TRUST_DOMAIN_EMPTY', 'trust domain is empty');
  }
  for (let i = start; i < end; i++) {
    const c = input.charCodeAt(i);
    if (c >= 128 || TRUST_DOMAIN_CHARS[c] === 0) {
      throw new SpiffeIdError(
        'ERR_SPIFFEID_TRUST_DOMAIN_CHAR',
        `trust domain contains a forbidden character ${JSON.stringify(input[i])}; only a-z 0-9 . - _ are allowed`,
        { context: { position: i } },
      );
    }
  }
  if (end - start > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError(
      'ERR_SPIFFEID_TRUST_DOMAIN_TOO_LONG',
      `trust domain is ${end - start} bytes long; the limit is ${MAX_TRUST_DOMAIN_BYTES}`,
    );
  }
}

/** Parses a bare trust domain name such as `partner.example` (ID-13). A `spiffe://` form is refused. */
export function parseTrustDomain(input: string): TrustDomain {
  if (typeof input !== 'string') {
    throw new TypeError('trust domain must be a string');
  }
  checkTrustDomainChars(input, 0, input.length);
  return new TrustDomain(input);
}

/** Parses a trust domain ID `spiffe://<td>`; a path is refused, never dropped (ID-13, unlike GS-2). */
export function parseTrustDomainId(input: string): TrustDomain {
  if (typeof input !== 'string') {
    throw new TypeError('trust domain id must be a string');
  }
  if (!input.startsWith(SCHEME_PREFIX)) {
    throw new SpiffeIdError(
      'ERR_SPIFFEID_SCHEME',
      'trust domain id must start with the lowercase scheme "spiffe://"',
    );
  }
  const slash = input.indexOf('/', SCHEME_PREFIX.length);
  if (slash !== -1) {
    throw new SpiffeIdError(
      'ERR_SPIFFEID_NOT_TRUST_DOMAIN_ID',
      `"${input.slice(0, 300)}" has a path; a trust domain id is spiffe://<trust-domain> only`,
    );
  }
  checkTrustDomainChars(input, SCHEME_PREFIX.length, input.length);
  return new TrustDomain(input.slice(SCHEME_PREFIX.length));
}
