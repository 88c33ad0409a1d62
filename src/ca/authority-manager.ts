// Authority management, one change at a time: prepare, activate (after the FED-50 lead time),
// retire, taint, revoke (FED-53) and the planned rotation. Each change ends with the bundle rebuilt,
// the state written, dropped keys deleted, and the authority listeners told (FED-50..53).
import { CaError } from '../errors.js';
import type { Logger } from '../log.js';
import { isAuthorityKind, type AuthorityKind, type AuthorityMetadata } from './authority.js';
import { toMetadata, type AuthorityRecord } from './authority-record.js';
import {
  createJwtAuthority,
  createX509Authority,
  type AuthorityFactoryDeps,
} from './authority-factory.js';
import type { BundlePublisher } from './bundle-publisher.js';
import { notFound, type AuthorityJournal } from './journal.js';
import {
  activationLeadMs,
  planRotation,
  type RotationAction,
  type RotationConfig,
  type RotationPlan,
} from './rotation.js';

export type AppliedRotation = RotationPlan & { readonly applied: readonly RotationAction[] };

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
      const at = t();
      const record = await this.doPrepare(kind, at);
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
      const record = this.deps.journal.find(kind, id);
      if (record.state === 'revoked') {
        throw new CaError('ERR_CA_AUTHORITY_STATE', `${kind} authority "${id}" is already revoked`);
      }
      const at = t();
      record.state = 'revoked';
      record.revokedAt = at;
      this.deps.journal.leaveActive(record);
      // FED-53: removed from the bundle now (sequence + 1); the key is deleted.
      await this.afterMutation(at);
      this.deps.logger.warn(`ca: revoked ${kind} authority; removed from the bundle`, {
        authorityId: id,
        sequence: this.deps.journal.sequence.toString(),
      });
      return toMetadata(record);
    });
  }

  /** Plans the rotation at `t` and applies the due actions. */
  rotate(t: () => number): Promise<AppliedRotation> {
    return this.exclusive(async () => {
      const at = t();
      const { journal, rotationConfig } = this.deps;
      const plan = planRotation(journal.authorities(), rotationConfig, new Date(at));
      const applied: RotationAction[] = [];
      try {
        for (const action of plan.actions) {
          await this.applyAction(action, at);
          applied.push(action);
        }
      } finally {
        await this.afterMutation(at);
      }
      return { ...plan, applied };
    });
  }

  /** Persists exact FED-51 expiries; nothing changes afterwards. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.deps.journal.exactExpiries();
      await this.deps.journal.persist();
      this.closed = true;
    });
  }

  private async doPrepare(kind: AuthorityKind, t: number): Promise<AuthorityRecord> {
    const { journal, logger } = this.deps;
    if (journal.newestPrepared(kind) !== undefined) {
      throw new CaError('ERR_CA_AUTHORITY_STATE', `a ${kind} authority is already prepared`);
    }
    if (kind === 'x509') {
      const { record, secret } = await createX509Authority(this.deps, t);
      journal.add(record, secret);
      logger.info('ca: prepared x509 authority (published)', {
        authorityId: record.id,
        upstream: !!this.deps.upstream,
      });
    } else {
      const { record, secret } = await createJwtAuthority(this.deps, t, (kid) =>
        journal.has('jwt', kid),
      );
      journal.add(record, secret);
      logger.info('ca: prepared jwt signing key (published)', { kid: record.id });
    }
    const record = journal.newestPrepared(kind);
    if (record === undefined) throw new Error('prepared authority vanished');
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

  private async applyAction(action: RotationAction, t: number): Promise<void> {
    const { journal, logger } = this.deps;
    switch (action.type) {
      case 'prepare': {
        const record = await this.doPrepare(action.kind, t);
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
