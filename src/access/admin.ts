// Named administrators: names, roles, personal tokens (`fba.<name>.<secret>`) and the principal an
// authenticated caller becomes. Tokens are kept only as sha256 of their secret; never listed or logged.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AccessError } from '../errors.js';

export const ADMIN_ROLES = ['admin', 'viewer'] as const;
/** `admin` does everything; `viewer` reads everything and changes nothing (403 ERR_API_FORBIDDEN). */
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** The break-glass administrator: the generated bootstrap token (never stored in the store). */
export const ROOT_ADMIN = 'root';

const NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
const TOKEN_PATTERN = /^fba\.([a-z][a-z0-9_-]{0,31})\.([A-Za-z0-9_-]{43})$/;

/** Who is calling, once authenticated: what audit events name and what the role allows. */
export interface Principal {
  /** The admin's name (`root` for the bootstrap token; the SPIFFE ID of an unnamed mTLS admin). */
  readonly name: string;
  readonly role: AdminRole;
  readonly via: 'root' | 'token' | 'mtls';
  /** The audit actor: `admin:<name>`, or the bare SPIFFE ID of an unnamed mTLS admin. */
  readonly actor: string;
  /** An mTLS admin's SPIFFE ID (its console session is re-checked against adminIds by it). */
  readonly spiffeId?: string;
}

/** An admin as stored (the token only as the hash of its secret). */
export interface AdminRecord {
  readonly name: string;
  readonly role: AdminRole;
  readonly tokenHash: string;
  readonly createdAtMs: number;
  readonly createdBy: string;
  /**
   * Two-person rule: the name of who added this admin (`root`, a named admin, or an mTLS admin's
   * name). Null for records stored before it was recorded: they count as related to no one.
   */
  readonly addedBy: string | null;
  readonly rotatedAtMs: number | null;
}

/** What lists and the API show: never the hash. */
export type AdminView = Omit<AdminRecord, 'tokenHash'>;

export function parseAdminName(text: string): string {
  if (typeof text !== 'string' || !NAME_PATTERN.test(text)) {
    throw new AccessError(
      'ERR_ACCESS_ADMIN_INVALID',
      `admin name ${JSON.stringify(String(text).slice(0, 40))} must be 1-32 characters of a-z 0-9 _ -, starting with a letter`,
    );
  }
  if (text === ROOT_ADMIN) {
    throw new AccessError(
      'ERR_ACCESS_ADMIN_INVALID',
      '"root" is the break-glass bootstrap token and cannot be added',
    );
  }
  return text;
}

export function parseAdminRole(text: string): AdminRole {
  if (!(ADMIN_ROLES as readonly string[]).includes(text)) {
    throw new AccessError(
      'ERR_ACCESS_ADMIN_INVALID',
      `role ${JSON.stringify(String(text).slice(0, 20))} is not admin or viewer`,
    );
  }
  return text as AdminRole;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A new personal token and the hash to store. */
export function newAdminToken(name: string): { token: string; tokenHash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { token: `fba.${name}.${secret}`, tokenHash: hashSecret(secret) };
}

/** The name a personal token claims, and its secret; undefined when it is not one. */
export function splitAdminToken(token: string): { name: string; secret: string } | undefined {
  const match = TOKEN_PATTERN.exec(token);
  if (match === null || match[1] === undefined || match[2] === undefined) return undefined;
  return { name: match[1], secret: match[2] };
}

/** Constant-time comparison of two lowercase hex hashes of equal length. */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

export function principalOf(
  name: string,
  role: AdminRole,
  via: Principal['via'],
  spiffeId?: string,
): Principal {
  const actor = name.startsWith('spiffe://') ? name : `admin:${name}`;
  return spiffeId === undefined ? { name, role, via, actor } : { name, role, via, actor, spiffeId };
}

/** Reads a stored admin value back; anything unexpected is treated as absent (fail closed). */
export function adminFromValue(value: Readonly<Record<string, unknown>>): AdminRecord | undefined {
  const { name, role, tokenHash, createdAtMs, createdBy, addedBy, rotatedAtMs } = value;
  if (typeof name !== 'string' || typeof tokenHash !== 'string') return undefined;
  if (role !== 'admin' && role !== 'viewer') return undefined;
  return {
    name,
    role,
    tokenHash,
    createdAtMs: typeof createdAtMs === 'number' ? createdAtMs : 0,
    createdBy: typeof createdBy === 'string' ? createdBy : '',
    addedBy: typeof addedBy === 'string' ? addedBy : null,
    rotatedAtMs: typeof rotatedAtMs === 'number' ? rotatedAtMs : null,
  };
}
