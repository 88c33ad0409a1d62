// Authority management, one change at a time: prepare, activate (after the FED-50 lead time),
// retire, taint, revoke (FED-53) and the planned rotation. Each change ends with the bundle rebuilt,
// the state written, dropped keys deleted, and the authority listeners told (FED-50..53).
import type { Bundle } from '../bundle/index.js';
import { CaError } from '../errors.js';
import type { Logger } from '../log.js';
import { isAuthorityKind, type AuthorityKind, type AuthorityMetadata } from './authority.js';
import { toMetadata, type AuthorityRecord } from './authority-record.js';
import {
  createJwtAuthority,
  createX509Authority,
  type AuthorityFactoryDeps,
  type NewAuthority,
} from './authority-factory.js';
import type { BundlePublisher } from './bundle-publisher.js';
import { notFound, type AuthorityJournal } from './journal.js';
import { keyName } from './persistence.js';
import {
  activationLeadMs,
  planRotation,
  type RotationAction,
  type RotationConfig,
  type RotationPlan,
  type RotationRecorder,
  type RotationStep,
} from './rotation.js';

export type AppliedRotation = RotationPlan & { readonly applied: readonly RotationStep[] };

export interface AuthorityManagerDeps extends AuthorityFactoryDeps {
  readonly journal: AuthorityJournal;
  readonly publisher: BundlePublisher;
  readonly rotationConfig: RotationConfig;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
}

export class AuthorityManager {
  closed = false;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly authorityListeners = new Set<() => void>();

  constructor(private readonly deps: AuthorityManagerDeps) {}

  /** One change at a time; none after close. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(() => {
      if (this.closed) throw new TypeError('the ca is closed');
      return fn();
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  onAuthorityChange(listener: () => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    this.authorityListeners.add(listener);
    return () => {
      this.authorityListeners.delete(listener);
    };
  }

  prepare(kind: AuthorityKind, t: () => number): Promise<AuthorityMetadata> {
    return this.exclusive(async () => {
      if (!isAuthorityKind(kind)) throw new TypeError('kind must be "x509" or "jwt"');
      refuseSecondPrepared(this.deps.journal, kind);
      const at = t();
      const record = this.addPrepared(await this.createAuthority(kind, at));
      await this.afterMutation(at);
      return toMetadata(record);
    });
  }

  activate(
    kind: AuthorityKind,
    id: string | undefined,
    force: boolean,
    t: () => number,
  ): Promise<AuthorityMetadata> {
    return this.exclusive(async () => {
      if (!isAuthorityKind(kind)) throw new TypeError('kind must be "x509" or "jwt"');
      const at = t();
      const { journal } = this.deps;
      const record = id === undefined ? journal.newestPrepared(kind) : journal.find(kind, id);
      if (record === undefined) throw notFound(kind, id);
      this.doActivate(record, at, force);
      await this.afterMutation(at);
      return toMetadata(record);
    });
  }

  taint(kind: AuthorityKind, id: string, t: () => number): Promise<AuthorityMetadata> {
    return this.exclusive(async () => {
      const record = this.deps.journal.find(kind, id);
      if (record.state === 'tainted' || record.state === 'revoked') {
        throw new CaError(
          'ERR_CA_AUTHORITY_STATE',
          `${kind} authority "${id}" is already ${record.state}`,
        );
      }
      const at = t();
      const wasActive = record.state === 'active';
      record.state = 'tainted';
      record.taintedAt = at;
      this.deps.journal.leaveActive(record);
      this.deps.logger.warn(`ca: tainted ${kind} authority; it signs nothing more`, {
        authorityId: id,
        wasActive,
      });
      await this.afterMutation(at);
      return toMetadata(record);
    });
  }

  revoke(kind: AuthorityKind, id: string, t: () => number): Promise<AuthorityMetadata> {
    return this.exclusive(async () => {
      const { journal, publisher, logger } = this.deps;
      const record = journal.find(kind, id);
      if (record.state === 'revoked') {
        throw new CaError('ERR_CA_AUTHORITY_STATE', `${kind} authority "${id}" is already revoked`);
      }
      refuseUpstreamRevoke(record);
      const at = t();
      const wasPublished = publishes(publisher.current(at), record);
      record.state = 'revoked';
      record.revokedAt = at;
      journal.leaveActive(record);
      // FED-53: removed from the bundle now (sequence + 1); the key is deleted.
      await this.afterMutation(at);
      const removed = wasPublished && !publishes(publisher.current(at), record);
      logger.warn(
        removed
          ? `ca: revoked ${kind} authority; removed from the bundle`
          : `ca: revoked ${kind} authority; it was not in the bundle`,
        { authorityId: id, sequence: journal.sequence.toString() },
      );
      return toMetadata(record);
    });
  }

  /**
   * Plans the rotation at `t` and applies the due actions. New authorities are made first, then
   * `record` (when given) must accept every step before any applies: a rejection applies none and
   * deletes the new keys. Planning, recording and applying share one exclusive turn, so the steps
   * applied are the steps recorded (no other change runs in between). As before the record hook,
   * an authority that cannot be made stops the rotation there: the steps before it still apply.
   */
  rotate(t: () => number, record?: RotationRecorder): Promise<AppliedRotation> {
    return this.exclusive(async () => {
      const at = t();
      const { journal, rotationConfig } = this.deps;
      const plan = planRotation(journal.authorities(), rotationConfig, new Date(at));
      const made = new Map<RotationStep, NewAuthority>();
      try {
        const { steps, failure } = await this.stepsOf(plan.actions, at, made);
        if (record !== undefined && steps.length > 0) await record(steps);
        const applied = await this.applySteps(steps, made, at);
        if (failure !== undefined) throw failure.error;
        return { ...plan, applied };
      } finally {
        await this.deleteUnusedKeys(made.values());
      }
    });
  }

  /** The plan's steps, each prepare with the authority made for it (kept in `made`), in order. */
  private async stepsOf(
    actions: readonly RotationAction[],
    at: number,
    made: Map<RotationStep, NewAuthority>,
  ): Promise<{ steps: RotationStep[]; failure?: { error: unknown } }> {
    const steps: RotationStep[] = [];
    for (const action of actions) {
      if (action.type !== 'prepare') {
        steps.push(action);
        continue;
      }
      let created: NewAuthority;
      try {
        created = await this.createAuthority(action.kind, at);
      } catch (error) {
        return { steps, failure: { error } };
      }
      const step = {
        ...action,
        id: created.record.id,
        notAfter: new Date(created.record.notAfter),
      };
      made.set(step, created);
      steps.push(step);
    }
    return { steps };
  }

  /** Keys of authorities made for steps that did not apply (never published, never signed). */
  private async deleteUnusedKeys(made: Iterable<NewAuthority>): Promise<void> {
    const { journal, persistence, logger } = this.deps;
    for (const { record } of made) {
      if (journal.get(record.kind, record.id) === record) continue;
      try {
        await persistence.deleteKey(keyName(record.kind, record.id));
      } catch (error) {
        // Left for the next start, which deletes key files no authority refers to.
        logger.warn('ca: could not delete the key of an authority never added', {
          authorityId: record.id,
          error: String(error),
        });
      }
    }
  }

  /** Applies the steps in order; the bundle and state are written even if one fails. */
  private async applySteps(
    steps: readonly RotationStep[],
    made: Map<RotationStep, NewAuthority>,
    at: number,
  ): Promise<RotationStep[]> {
    const applied: RotationStep[] = [];
    try {
      for (const step of steps) {
        this.applyStep(step, made.get(step), at);
        applied.push(step);
      }
    } finally {
      await this.afterMutation(at);
    }
    return applied;
  }

  /** Persists exact FED-51 expiries; nothing changes afterwards. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.deps.journal.exactExpiries();
      await this.deps.journal.persist();
      this.closed = true;
    });
  }

  /** A new authority of `kind` (its key on disk), not yet in the journal: nothing publishes it. */
  private createAuthority(kind: AuthorityKind, t: number): Promise<NewAuthority> {
    const { journal } = this.deps;
    return kind === 'x509'
      ? createX509Authority(this.deps, t)
      : createJwtAuthority(this.deps, t, (kid) => journal.has('jwt', kid));
  }

  /** Adds a new authority to the journal: published with the next bundle build. */
  private addPrepared({ record, secret }: NewAuthority): AuthorityRecord {
    const { journal, logger } = this.deps;
    refuseSecondPrepared(journal, record.kind);
    journal.add(record, secret);
    if (record.kind === 'x509') {
      logger.info('ca: prepared x509 authority (published)', {
        authorityId: record.id,
        upstream: !!this.deps.upstream,
      });
    } else {
      logger.info('ca: prepared jwt signing key (published)', { kid: record.id });
    }
    return record;
  }

  private doActivate(record: AuthorityRecord, t: number, force: boolean): void {
    const { journal, rotationConfig, logger } = this.deps;
    if (record.state !== 'prepared') {
      throw new CaError(
        'ERR_CA_AUTHORITY_STATE',
        `${record.kind} authority "${record.id}" is ${record.state}; only a prepared one can be activated`,
      );
    }
    if (t >= record.notAfter) {
      throw new CaError(
        'ERR_CA_AUTHORITY_STATE',
        `${record.kind} authority "${record.id}" expired`,
      );
    }
    const earliest = record.publishedAt + activationLeadMs(rotationConfig);
    if (!force && t < earliest) {
      throw new CaError(
        'ERR_CA_ACTIVATION_TOO_EARLY',
        `${record.kind} authority "${record.id}" was published ${Math.floor((t - record.publishedAt) / 1000)} s ago; FED-50 needs ${activationLeadMs(rotationConfig) / 1000} s (5 × refresh hint)`,
        { context: { earliestActivation: new Date(earliest).toISOString() } },
      );
    }
    const previous = journal.active[record.kind];
    if (previous !== undefined) {
      previous.state = 'retired';
      previous.retiredAt = t;
      journal.leaveActive(previous);
    }
    record.state = 'active';
    record.activatedAt = t;
    journal.active[record.kind] = record;
    journal.dirty = true;
    logger.info(`ca: activated ${record.kind} authority`, {
      authorityId: record.id,
      previous: previous?.id,
      forced: force && t < earliest,
    });
  }

  private applyStep(action: RotationStep, created: NewAuthority | undefined, t: number): void {
    const { journal, logger } = this.deps;
    switch (action.type) {
      case 'prepare': {
        if (created === undefined) throw new Error('no authority was made for this prepare step');
        const record = this.addPrepared(created);
        if (action.activate) this.doActivate(record, t, true);
        return;
      }
      case 'activate':
        this.doActivate(journal.find(action.kind, action.id), t, false);
        return;
      case 'retire': {
        const record = journal.find(action.kind, action.id);
        record.state = 'retired';
        record.retiredAt = t;
        journal.leaveActive(record);
        journal.dirty = true;
        return;
      }
      case 'remove': {
        const record = journal.get(action.kind, action.id);
        if (record !== undefined) {
          journal.remove(record);
          logger.info(`ca: removed ${record.kind} authority`, { authorityId: record.id });
        }
        return;
      }
    }
  }

  /** Rebuilds the bundle, writes the state, then deletes the keys no authority needs any more. */
  private async afterMutation(t: number): Promise<void> {
    const { journal, publisher, logger } = this.deps;
    journal.dirty = true;
    publisher.current(t);
    await journal.persist();
    await journal.deleteDroppedKeys();
    // Outside the exclusive section: a listener may issue (issueOwnSvid) at once.
    setImmediate(() => {
      for (const listener of this.authorityListeners) {
        try {
          listener();
        } catch (error) {
          logger.error('ca: authority listener failed', { error: String(error) });
        }
      }
    });
  }
}

/**
 * FED-53 in upstream mode (as SPIRE refuses it): every upstream-signed authority publishes the same
 * anchor, the upstream root, so revoking one here would leave the bundle unchanged and the SVIDs it
 * signed valid everywhere. The upstream CA must revoke it (or be replaced).
 */
function refuseUpstreamRevoke(record: AuthorityRecord): void {
  if (record.kind !== 'x509' || !record.upstream) return;
  throw new CaError(
    'ERR_CA_REVOKE_UPSTREAM',
    `x509 authority "${record.id}" is signed by the upstream ca, whose root is what our bundle publishes: revoking it here cannot remove it from the bundle; revoke it at the upstream ca (taint it here to stop it signing)`,
  );
}

/** Whether `bundle` publishes the anchor or JWT key of `record`. */
function publishes(bundle: Bundle, record: AuthorityRecord): boolean {
  const fingerprint = record.anchor?.fingerprintSha256;
  if (fingerprint !== undefined) {
    return bundle.x509Authorities.some((a) => a.fingerprintSha256 === fingerprint);
  }
  const kid = record.jwtAuthority?.kid;
  return kid !== undefined && bundle.jwtAuthorities.has(kid);
}

/** One prepared authority per kind at a time. */
function refuseSecondPrepared(journal: AuthorityJournal, kind: AuthorityKind): void {
  if (journal.newestPrepared(kind) !== undefined) {
    throw new CaError('ERR_CA_AUTHORITY_STATE', `a ${kind} authority is already prepared`);
  }
}
