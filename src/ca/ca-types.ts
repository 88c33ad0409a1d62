// The CA's public shapes: what createCa needs, what it issues, and the Ca interface the API,
// the rotator and the broker's own SVIDs use.
import type { KeyObject } from 'node:crypto';
import type { Bundle } from '../bundle/index.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { SpiffeId, TrustDomain } from '../spiffeid/index.js';
import type { AuthorityKind, AuthorityMetadata } from './authority.js';
import type { EcdsaChecker } from './native-ecdsa.js';
import type { ResolvedCaOptions } from './options.js';
import type { CaPersistence } from './persistence.js';
import type { RotationConfig, RotationPlan, RotationRecorder, RotationStep } from './rotation.js';

/** Structured logger; fields never carry key material. */
export type CaLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface CaDeps {
  /** The clock (milliseconds since the epoch) the CA dates authorities and SVIDs by. */
  readonly now: Clock;
  readonly logger?: CaLogger;
  /** Defaults to the file persistence under `<dataDir>/ca/`. */
  readonly persistence?: CaPersistence;
  /**
   * EC CSR checks on the ecverify addon; undefined loads it when it is built, null keeps every
   * check on node:crypto (the fallback, and the reference the differential tests compare with).
   */
  readonly ecdsa?: EcdsaChecker | null;
  /**
   * How many requests the process is serving, the one asking for this SVID included (the broker
   * passes its listeners' count). Above one, a CSR check leaves the main thread even when this is
   * the only issuance in flight, so the other requests' work runs beside it.
   */
  readonly requestsInFlight?: () => number;
  /**
   * The record hook of the rotation createCa applies at start (RotateOptions.record): the steps due
   * then (a bootstrap, or an activation, retirement or removal that fell due while the CA was not
   * running) are made durable before any applies. When it rejects, createCa rejects with its error
   * and nothing is applied (the keys made for the steps are deleted). Later rotations take their
   * own hook (ca.rotate's options, the rotator's deps).
   */
  readonly record?: RotationRecorder;
}

/**
 * A CSR whose proof of possession this CA has checked (Ca.checkCsr), for issuance from it later
 * without checking its signature again. Opaque: only the CA that made it accepts it.
 */
export interface CheckedCsr {
  readonly __checkedCsr: unique symbol;
}

export interface X509SvidRequest {
  readonly spiffeId: SpiffeId | string;
  /**
   * DER PKCS#10 request: only its public key is used, after its signature is checked. Or what this
   * CA's checkCsr made of one: its signature is then not checked a second time.
   */
  readonly csr?: Uint8Array | CheckedCsr;
  /** Alternative to csr for trusted in-process callers. */
  readonly publicKey?: KeyObject;
  readonly ttlSeconds?: number;
  readonly dnsNames?: readonly string[];
}

export interface IssuedX509Svid {
  /** Leaf first, then intermediates up to (not including) the bundle's root (X509-7). */
  readonly chainDer: Buffer[];
  readonly spiffeId: SpiffeId;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialHex: string;
  readonly authorityId: string;
}

export interface JwtSvidRequest {
  readonly spiffeId: SpiffeId | string;
  /** One or more audiences (JWT-5); one value strongly recommended. */
  readonly audience: readonly string[];
  readonly ttlSeconds?: number;
  /** Private claims; registered claim names are refused (ERR_CA_CLAIMS). */
  readonly extraClaims?: Readonly<Record<string, unknown>>;
}

export interface IssuedJwtSvid {
  readonly token: string;
  readonly spiffeId: SpiffeId;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  readonly kid: string;
}

/** The broker's own X509-SVID (e.g. for the https_spiffe bundle endpoint); for in-process use only. */
export interface OwnSvid extends IssuedX509Svid {
  readonly privateKey: KeyObject;
  /** PEM of chainDer, leaf first. */
  readonly chainPem: string;
}

export interface ActivateOptions {
  /** Activate before the FED-50 lead time has passed (emergencies only). */
  readonly force?: boolean;
}

export interface RotateOptions {
  /**
   * Makes the due steps durable before any applies (the broker: their audit events); when it
   * rejects, nothing changes and rotate rejects with its error. Not called when nothing is due.
   */
  readonly record?: RotationRecorder;
}

export interface Ca {
  readonly trustDomain: TrustDomain;
  readonly options: ResolvedCaOptions;
  readonly rotationConfig: RotationConfig;
  issueX509Svid(request: X509SvidRequest): Promise<IssuedX509Svid>;
  /**
   * Proof of possession alone (the CSR parses and verifies with its own key), checked as issuance
   * checks it: off the main thread while the CA is busy. Throws ERR_CA_CSR_* like issueX509Svid.
   * For a check made before something is spent (a join token): give what it returns to
   * issueX509Svid as `csr`, and issuance uses the checked key without checking it again.
   */
  checkCsr(csr: Uint8Array): Promise<CheckedCsr>;
  issueJwtSvid(request: JwtSvidRequest): Promise<IssuedJwtSvid>;
  issueOwnSvid(spiffeId: SpiffeId | string, ttlSeconds?: number): Promise<OwnSvid>;
  /** Our bundle as published now: sequence bumped on every content change, never on no-op rebuilds. */
  localBundle(): Bundle;
  /** Called with the new bundle after each content change; returns the unsubscribe function. */
  onBundleChange(listener: (bundle: Bundle) => void): () => void;
  /**
   * Called (asynchronously) after each authority change (prepare, activate, taint, revoke, a
   * rotation step), even when the bundle's content stays the same (a taint keeps it published):
   * the broker's own SVIDs re-check their signer here. Returns the unsubscribe function.
   */
  onAuthorityChange(listener: () => void): () => void;
  /** Metadata of every authority (no private keys), by kind then creation time. */
  authorities(kind?: AuthorityKind): readonly AuthorityMetadata[];
  prepare(kind: AuthorityKind): Promise<AuthorityMetadata>;
  activate(kind: AuthorityKind, id?: string, options?: ActivateOptions): Promise<AuthorityMetadata>;
  taint(kind: AuthorityKind, id: string): Promise<AuthorityMetadata>;
  revoke(kind: AuthorityKind, id: string): Promise<AuthorityMetadata>;
  /** Plans the rotation at `atMs` (default: deps.now()) and applies the due actions. */
  rotate(
    atMs?: number,
    options?: RotateOptions,
  ): Promise<RotationPlan & { readonly applied: readonly RotationStep[] }>;
  /** Persists exact FED-51 expiries; the CA signs nothing afterwards. */
  close(): Promise<void>;
  toJSON(): unknown;
}
