// Offline commands (no broker needed) for debugging a partner's material: bundle inspect, svid verify, jwt validate.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  BundleSet,
  JsonNumber,
  parseBundleOrPem,
  parsePemCertificates,
  type Bundle,
} from '../../bundle/index.js';
import { CliError } from '../../errors.js';
import { parseTrustDomain } from '../../spiffeid/index.js';
import { validateJwtSvid, verifyX509Svid } from '../../svid/index.js';
import {
  flag,
  optionalString,
  parseCommandArgs,
  requirePositional,
  requireString,
  stringList,
} from '../args.js';
import type { CliIo, CommandSpec } from '../io.js';
import { printFields, printJson, printTable } from '../output.js';

function readInput(io: CliIo, file: string): Buffer {
  try {
    return readFileSync(resolve(io.cwd, file));
  } catch (cause) {
    throw new CliError('ERR_CLI_FILE', `cannot read "${file}"`, { cause });
  }
}

/** `--bundle TD=FILE` options → one BundleSet (one bundle per trust domain, never pooled). */
function bundleSetFromOptions(io: CliIo, specs: readonly string[]): BundleSet {
  if (specs.length === 0)
    throw new CliError('ERR_CLI_USAGE', 'at least one --bundle TD=FILE is required');
  const bundles: Bundle[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new CliError('ERR_CLI_USAGE', `--bundle expects TD=FILE, got "${spec}"`);
    const td = parseTrustDomain(spec.slice(0, eq));
    if (bundles.some((b) => b.trustDomain.equals(td))) {
      throw new CliError('ERR_CLI_USAGE', `two --bundle options for "${td.name}"`);
    }
    bundles.push(parseBundleOrPem(readInput(io, spec.slice(eq + 1)), td));
  }
  return new BundleSet(bundles);
}

/** Lossless JSON numbers back to plain numbers when exact (claims such as exp, iat), else their digits. */
function plainJson(value: unknown): unknown {
  if (value instanceof JsonNumber) {
    const n = value.toNumber();
    return Number.isSafeInteger(n) || !value.isIntegerLiteral ? n : value.raw;
  }
  if (Array.isArray(value)) return value.map(plainJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainJson(v)]));
  }
  return value;
}

function describeBundle(bundle: Bundle): Record<string, unknown> {
  return {
    trustDomain: bundle.trustDomain.name,
    sequence: bundle.sequence?.toString() ?? null,
    refreshHintSeconds: bundle.refreshHintSeconds ?? null,
    x509Authorities: bundle.x509Authorities.map((a) => ({
      subject: a.certificate.subject.replace(/\n/g, ', '),
      fingerprintSha256: a.fingerprintSha256,
      notAfter: a.notAfter.toISOString(),
      keyType: a.publicKey.asymmetricKeyType ?? 'unknown',
    })),
    jwtAuthorities: [...bundle.jwtAuthorities.values()].map((a) => ({
      kid: a.kid,
      keyType: a.jwk.kty === 'EC' ? `EC ${a.jwk.crv ?? ''}` : (a.jwk.kty ?? 'unknown'),
    })),
    skipped: bundle.skipped.map((s) => ({ index: s.index, reason: s.reason, detail: s.detail })),
    notes: bundle.notes.map((n) => ({ index: n.index, reason: n.reason, detail: n.detail })),
  };
}

export const bundleInspectCommand: CommandSpec = {
  words: ['bundle', 'inspect'],
  usage: 'fedbroker bundle inspect FILE --trust-domain TD [--json]',
  summary:
    'parse a SPIFFE bundle (or PEM CA file) strictly and show its authorities and skipped entries',
  flags: {
    'trust-domain': 'the trust domain the bundle belongs to',
  },
  example: 'fedbroker bundle inspect shipping-bundle.json --trust-domain shipping.example',
  async run(argv, io) {
    const args = parseCommandArgs(
      argv,
      { 'trust-domain': { type: 'string' }, json: { type: 'boolean' } },
      1,
    );
    const file = requirePositional(args, 0, 'FILE');
    const bundle = parseBundleOrPem(
      readInput(io, file),
      parseTrustDomain(requireString(args, 'trust-domain')),
    );
    const view = describeBundle(bundle);
    if (flag(args, 'json')) {
      printJson(io, view);
      return 0;
    }
    printFields(io, [
      ['trust domain', bundle.trustDomain.name],
      ['sequence', bundle.sequence?.toString() ?? '(none)'],
      [
        'refresh hint',
        bundle.refreshHintSeconds === undefined ? '(none)' : `${bundle.refreshHintSeconds}s`,
      ],
    ]);
    io.stdout('\n');
    printTable(
      io,
      ['use', 'type', 'kid or subject', 'sha-256 / not-after'],
      [
        ...bundle.x509Authorities.map((a) => [
          'x509-svid',
          a.publicKey.asymmetricKeyType ?? '?',
          a.certificate.subject.replace(/\n/g, ', '),
          `${a.fingerprintSha256.slice(0, 16)}… ${a.notAfter.toISOString()}`,
        ]),
        ...[...bundle.jwtAuthorities.values()].map((a) => [
          'jwt-svid',
          String(a.jwk.kty),
          a.kid,
          '',
        ]),
      ],
    );
    if (bundle.skipped.length > 0) {
      io.stdout('\nskipped entries:\n');
      printTable(
        io,
        ['index', 'reason', 'detail'],
        bundle.skipped.map((s) => [String(s.index), s.reason, s.detail]),
      );
    }
    return 0;
  },
};

export const svidVerifyCommand: CommandSpec = {
  words: ['svid', 'verify'],
  usage: 'fedbroker svid verify --cert FILE --bundle TD=FILE [--bundle TD=FILE ...] [--json]',
  summary: "verify a PEM chain (leaf first) against the bundle of the leaf's own trust domain",
  flags: {
    cert: 'the PEM chain to verify, leaf first',
    bundle: 'TD=FILE: the bundle of a trust domain (repeat for more)',
  },
  example: 'fedbroker svid verify --cert svid/svid.pem --bundle logistics.example=svid/bundle.pem',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      cert: { type: 'string' },
      bundle: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    });
    const chain = parsePemCertificates(readInput(io, requireString(args, 'cert')));
    const verified = verifyX509Svid(chain, bundleSetFromOptions(io, stringList(args, 'bundle')), {
      now: new Date(),
    });
    if (flag(args, 'json')) {
      printJson(io, {
        spiffeId: verified.spiffeId.toString(),
        expiresAt: verified.expiresAt.toISOString(),
      });
    } else {
      io.stdout(`${verified.spiffeId.toString()}\n`);
    }
    return 0;
  },
};

export const jwtValidateCommand: CommandSpec = {
  words: ['jwt', 'validate'],
  usage:
    'fedbroker jwt validate (--token TOKEN | --token-file FILE) --audience AUD --bundle TD=FILE [...]',
  summary:
    "validate a JWT-SVID against the bundle of its sub's trust domain; prints sub and claims as JSON",
  flags: {
    token: 'the JWT-SVID',
    'token-file': 'a file holding the JWT-SVID',
    audience: 'an audience we accept (JWT-5)',
    bundle: 'TD=FILE: the bundle of a trust domain (repeat for more)',
  },
  example:
    'fedbroker jwt validate --token-file token.jwt --audience shipping --bundle logistics.example=bundle.json',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      token: { type: 'string' },
      'token-file': { type: 'string' },
      audience: { type: 'string', multiple: true },
      bundle: { type: 'string', multiple: true },
    });
    const inline = optionalString(args, 'token');
    const file = optionalString(args, 'token-file');
    if ((inline === undefined) === (file === undefined)) {
      throw new CliError('ERR_CLI_USAGE', 'give exactly one of --token or --token-file');
    }
    const token =
      inline ??
      readInput(io, file as string)
        .toString('utf8')
        .trim();
    const audience = stringList(args, 'audience');
    if (audience.length === 0)
      throw new CliError('ERR_CLI_USAGE', '--audience is required (JWT-19)');
    const validated = validateJwtSvid(token, bundleSetFromOptions(io, stringList(args, 'bundle')), {
      audience,
      now: new Date(),
    });
    printJson(io, { sub: validated.spiffeId.toString(), claims: plainJson(validated.claims) });
    return 0;
  },
};
