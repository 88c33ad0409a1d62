// Partner invitations: the exchange of bundle endpoint parameters made safe. An invite carries our trust
// domain, endpoint URL, profile, endpoint SPIFFE ID, current bundle and its SHA-256 digest, and expires.
// It is a JWT-SVID of ours (signed by our current JWT authority), so the receiver checks it against the
// bundle it carries. That proves integrity, not who sent it: admins compare the digest out of band and
// still approve the pending relationship before anything is trusted.
import { isJsonObject, parseBundle, type JsonValue } from '../bundle/index.js';
import { sha256Hex } from '../encoding/index.js';
import { FederationError, isBrokerError } from '../errors.js';
import { parseSpiffeId, parseTrustDomain, type TrustDomain } from '../spiffeid/index.js';
import { validateJwtSvid } from '../svid/index.js';
import { checkEndpointUrl, type Profile, type RelationshipInput } from './relationship.js';

/** The audience every invite token carries, so no other JWT-SVID of ours can pass as an invite. */
export const INVITE_AUDIENCE = 'fedbroker-invite';
/** The private claim holding the invite; collision-resistant name (JWT-5). */
export const INVITE_CLAIM = 'fedbroker_invite';
export const INVITE_FORMAT = 'fedbroker-invite/v1';

export interface InviteParameters {
  readonly trustDomain: string;
  readonly bundleEndpointUrl: string;
  readonly profile: Profile;
  readonly endpointSpiffeId: string | null;
  /** Our bundle, SPIFFE JSON, exactly as published. */
  readonly bundle: string;
  /** Lowercase hex SHA-256 of `bundle`. */
  readonly bundleSha256: string;
}

/** The file handed to a partner. */
export interface InviteDocument {
  readonly format: typeof INVITE_FORMAT;
  readonly trustDomain: string;
  readonly bundleSha256: string;
  readonly expiresAt: string;
  readonly token: string;
}

export interface InviteSigner {
  /** Mints a JWT-SVID for `spiffeId` with `audience` and the extra claims; returns the token and expiry. */
  (request: {
    spiffeId: string;
    audience: string[];
    ttlSeconds: number;
    extraClaims: Record<string, unknown>;
  }): Promise<{
    token: string;
    expiresAt: Date;
  }>;
}

/** Builds and signs an invite for our broker. */
export async function createInvite(
  sign: InviteSigner,
  input: {
    trustDomain: TrustDomain;
    bundleEndpointUrl: string;
    profile: Profile;
    endpointSpiffeId: string | null;
    bundle: string;
    ttlSeconds: number;
  },
): Promise<InviteDocument> {
  checkEndpointUrl(input.bundleEndpointUrl);
  const parameters: InviteParameters = {
    trustDomain: input.trustDomain.name,
    bundleEndpointUrl: input.bundleEndpointUrl,
    profile: input.profile,
    endpointSpiffeId: input.endpointSpiffeId,
    bundle: input.bundle,
    bundleSha256: sha256Hex(input.bundle),
  };
  const signed = await sign({
    spiffeId: `${input.trustDomain.idString}/fedbroker/invite`,
    audience: [INVITE_AUDIENCE],
    ttlSeconds: input.ttlSeconds,
    extraClaims: { [INVITE_CLAIM]: parameters },
  });
  return {
    format: INVITE_FORMAT,
    trustDomain: parameters.trustDomain,
    bundleSha256: parameters.bundleSha256,
    expiresAt: signed.expiresAt.toISOString(),
    token: signed.token,
  };
}

function invalid(message: string, cause?: unknown): FederationError {
  return new FederationError(
    'ERR_FEDERATION_INVITE_INVALID',
    message,
    cause === undefined ? {} : { cause },
  );
}

function stringClaim(object: Readonly<Record<string, JsonValue>>, name: string): string {
  const value = object[name];
  if (typeof value !== 'string') throw invalid(`invite claim "${name}" must be a string`);
  return value;
}

/** Decodes the payload without trusting it yet (the signature is checked right after, against its bundle). */
function unverifiedPayload(token: string): Readonly<Record<string, JsonValue>> {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined || !/^[A-Za-z0-9_-]+$/.test(parts[1]))
    throw invalid('invite token is not a compact JWS');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch (cause) {
    throw invalid('invite token payload is not JSON', cause);
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    throw invalid('invite payload is not an object');
  return payload as Record<string, JsonValue>;
}

/**
 * Checks an invite received from a partner (untrusted input): format, bundle digest, trust domain
 * binding, signature against the carried bundle, audience and expiry. Returns the relationship
 * parameters for a *pending* relationship; the bootstrap bundle is the one in the invite (FED-1).
 */
export function acceptInvite(
  text: string,
  options: { ownTrustDomain: TrustDomain; now: Date },
): {
  readonly input: RelationshipInput;
  readonly parameters: InviteParameters;
} {
  if (typeof text !== 'string' || text.length > 2 * 1024 * 1024)
    throw invalid('invite must be a JSON document under 2 MiB');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw invalid('invite is not JSON', cause);
  }
  if (
    document === null ||
    typeof document !== 'object' ||
    (document as { format?: unknown }).format !== INVITE_FORMAT
  ) {
    throw invalid(`not a ${INVITE_FORMAT} document`);
  }
  const token = (document as { token?: unknown }).token;
  if (typeof token !== 'string') throw invalid('invite has no token');
  const claim = unverifiedPayload(token)[INVITE_CLAIM];
  if (claim === undefined || claim === null || typeof claim !== 'object' || Array.isArray(claim)) {
    throw invalid(`invite token has no ${INVITE_CLAIM} claim`);
  }
  const unverified = claim as Readonly<Record<string, JsonValue>>;
  const trustDomain = parseTrustDomain(stringClaim(unverified, 'trustDomain'));
  const bundleText = stringClaim(unverified, 'bundle');
  if (sha256Hex(bundleText) !== stringClaim(unverified, 'bundleSha256'))
    throw invalid('bundle digest does not match the bundle');
  const bundle = parseBundle(bundleText, trustDomain);
  let validated;
  try {
    validated = validateJwtSvid(token, bundle, { audience: INVITE_AUDIENCE, now: options.now });
  } catch (cause) {
    if (
      isBrokerError(cause) &&
      (cause.code === 'ERR_SVID_JWT_EXPIRED' || cause.code === 'ERR_SVID_JWT_NOT_YET_VALID')
    ) {
      throw new FederationError(
        'ERR_FEDERATION_INVITE_EXPIRED',
        'invite has expired; ask the partner for a new one',
        { cause },
      );
    }
    throw invalid(
      `invite signature or claims rejected (${isBrokerError(cause) ? cause.code : 'unknown'})`,
      cause,
    );
  }
  if (!validated.spiffeId.isMemberOf(trustDomain))
    throw invalid('invite was signed for another trust domain');
  // Re-read the claim from the verified payload: only signed content is used from here on.
  const verifiedClaim = validated.claims[INVITE_CLAIM];
  if (!isJsonObject(verifiedClaim as JsonValue))
    throw invalid(`invite token has no ${INVITE_CLAIM} claim`);
  const verified = verifiedClaim as Readonly<Record<string, JsonValue>>;
  const profile = stringClaim(verified, 'profile');
  if (profile !== 'https_web' && profile !== 'https_spiffe')
    throw invalid(`unknown profile "${profile}"`);
  const endpointIdValue = verified['endpointSpiffeId'];
  if (
    endpointIdValue !== null &&
    endpointIdValue !== undefined &&
    typeof endpointIdValue !== 'string'
  ) {
    throw invalid('invite claim "endpointSpiffeId" must be a string or null');
  }
  const endpointSpiffeId =
    typeof endpointIdValue === 'string' ? parseSpiffeId(endpointIdValue).toString() : null;
  if (trustDomain.equals(options.ownTrustDomain)) {
    throw new FederationError(
      'ERR_FEDERATION_OWN_TRUST_DOMAIN',
      'this invite is from our own trust domain (ID-15)',
    );
  }
  const parameters: InviteParameters = {
    trustDomain: trustDomain.name,
    bundleEndpointUrl: stringClaim(verified, 'bundleEndpointUrl'),
    profile,
    endpointSpiffeId,
    bundle: stringClaim(verified, 'bundle'),
    bundleSha256: stringClaim(verified, 'bundleSha256'),
  };
  const input: RelationshipInput =
    profile === 'https_spiffe'
      ? {
          trustDomain: parameters.trustDomain,
          url: parameters.bundleEndpointUrl,
          profile,
          endpointSpiffeId: endpointSpiffeId ?? undefined,
          bootstrapBundle: parameters.bundle,
        }
      : { trustDomain: parameters.trustDomain, url: parameters.bundleEndpointUrl, profile };
  return { input, parameters };
}
