// RFC 5280 §4.2.1.10 name constraint matching for URI, DNS and IP names (X509-26).
// Other constraint forms are not supported: a critical extension using them makes the chain fail.
import type { GeneralName, NameConstraints } from './cert-extensions.js';

const TAG_DNS = 2;
const TAG_URI = 6;
const TAG_IP = 7;

/** Constraint forms this module can enforce. */
export function isSupportedConstraintForm(tag: number): boolean {
  return tag === TAG_DNS || tag === TAG_URI || tag === TAG_IP;
}

/** True when every subtree of the constraints uses a supported form and no distance fields. */
export function isFullySupported(nc: NameConstraints): boolean {
  if (nc.hasDistanceFields) return false;
  for (const n of nc.permitted) if (!isSupportedConstraintForm(n.tag)) return false;
  for (const n of nc.excluded) if (!isSupportedConstraintForm(n.tag)) return false;
  return true;
}

function lower(s: string): string {
  return s.toLowerCase();
}

/** Host of a URI (RFC 3986 authority without userinfo and port), or undefined when it has none. */
export function uriHost(uri: string): string | undefined {
  const colon = uri.indexOf(':');
  if (colon <= 0 || uri.charCodeAt(colon + 1) !== 0x2f || uri.charCodeAt(colon + 2) !== 0x2f) {
    return undefined;
  }
  let end = uri.length;
  for (let i = colon + 3; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c === 0x2f || c === 0x3f || c === 0x23) {
      end = i;
      break;
    }
  }
  let authority = uri.slice(colon + 3, end);
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  if (authority.startsWith('[')) return undefined; // IP literal: cannot match a host constraint
  const port = authority.lastIndexOf(':');
  if (port >= 0) authority = authority.slice(0, port);
  return authority === '' ? undefined : authority;
}

/** URI constraint: `.example.com` matches any proper subdomain host; otherwise the host exactly. */
function matchUri(uri: string, constraint: string): boolean {
  const h = lower(uriHost(uri) ?? '');
  const c = lower(constraint);
  if (c.startsWith('.')) return h.length > c.length && h.endsWith(c);
  return h === c;
}

/** DNS constraint: the name itself or any name with labels added on the left (as OpenSSL). */
function matchDns(name: string, constraint: string): boolean {
  if (constraint === '') return true;
  const n = lower(name);
  const c = lower(constraint);
  if (n.length < c.length || !n.endsWith(c)) return false;
  if (n.length === c.length) return true;
  return c.startsWith('.') || n.charCodeAt(n.length - c.length - 1) === 0x2e;
}

/** IP constraint: address and mask of the same family. */
function matchIp(ip: Buffer, constraint: Buffer): boolean {
  if (constraint.length !== ip.length * 2) return false;
  for (let i = 0; i < ip.length; i++) {
    const mask = constraint[ip.length + i] as number;
    if (((ip[i] as number) & mask) !== ((constraint[i] as number) & mask)) return false;
  }
  return true;
}

function hasHost(name: GeneralName): boolean {
  const host = uriHost(name.value.toString('latin1'));
  return host !== undefined && !/^[0-9.]+$/.test(host);
}

function matches(name: GeneralName, constraint: GeneralName): boolean {
  switch (name.tag) {
    case TAG_URI:
      return matchUri(name.value.toString('latin1'), constraint.value.toString('latin1'));
    case TAG_DNS:
      return matchDns(name.value.toString('latin1'), constraint.value.toString('latin1'));
    case TAG_IP:
      return matchIp(name.value, constraint.value);
    default:
      return false;
  }
}

/**
 * Checks `names` against the supported forms of `nc`. Returns the first violating name as text
 * (safe to quote: it comes from a certificate), or undefined when all names are allowed.
 */
export function findNameConstraintViolation(
  names: readonly GeneralName[],
  nc: NameConstraints,
): string | undefined {
  for (const name of names) {
    if (!isSupportedConstraintForm(name.tag)) continue;
    // A URI without a usable host cannot be judged under URI constraints: refuse it (as OpenSSL).
    if (name.tag === TAG_URI && !hasHost(name)) {
      if (
        nc.permitted.some((c) => c.tag === TAG_URI) ||
        nc.excluded.some((c) => c.tag === TAG_URI)
      ) {
        return describe(name);
      }
      continue;
    }
    for (const ex of nc.excluded) {
      if (ex.tag === name.tag && matches(name, ex)) return describe(name);
    }
    let hasPermittedOfType = false;
    let permitted = false;
    for (const p of nc.permitted) {
      if (p.tag !== name.tag) continue;
      hasPermittedOfType = true;
      if (matches(name, p)) {
        permitted = true;
        break;
      }
    }
    if (hasPermittedOfType && !permitted) return describe(name);
  }
  return undefined;
}

function describe(name: GeneralName): string {
  if (name.tag === TAG_IP) {
    return name.value.length === 4
      ? [...name.value].join('.')
      : (name.value.toString('hex').match(/.{4}/g) ?? []).join(':');
  }
  return name.value.toString('latin1');
}
