// The broker's one AbortSignal and what stop() undoes, in order: listeners close before the CA and
// the store; subscriptions and timers are dropped after them.
import type { Logger } from '../log.js';

export type StopStep = () => Promise<void> | void;

/** Where a start-up step puts what undoes it (the signal ends its long-running parts). */
export type StopOrder = Pick<Teardown, 'signal' | 'first' | 'last'>;

/**
 * stop() aborts the signal, waits for the background loops, then runs the steps in list order:
 * `first` puts a step before all earlier ones (each listener closes before those bound earlier, and
 * before the CA and the store), `last` after them, `before` just ahead of a given step.
 */
export class Teardown {
  readonly #controller = new AbortController();
  readonly #background: Promise<unknown>[] = [];
  readonly #steps: StopStep[] = [];

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Runs a long-running part under the signal; stop() waits for it to settle. */
  inBackground(run: (signal: AbortSignal) => Promise<unknown>): void {
    this.#background.push(run(this.#controller.signal));
  }

  first(step: StopStep): void {
    this.#steps.unshift(step);
  }

  last(step: StopStep): void {
    this.#steps.push(step);
  }

  before(existing: StopStep, step: StopStep): void {
    this.#steps.splice(this.#steps.indexOf(existing), 0, step);
  }

  /** A clean stop: a failing step is logged and the next one still runs. */
  async stop(logger: Pick<Logger, 'warn'>): Promise<void> {
    this.#controller.abort();
    await Promise.allSettled(this.#background);
    for (const step of this.#steps) {
      try {
        await step();
      } catch (error) {
        logger.warn('error while stopping', { error: (error as Error).message });
      }
    }
  }

  /** After a failed start: the same steps, their failures dropped (the start-up error is thrown). */
  async abandon(): Promise<void> {
    this.#controller.abort();
    await Promise.allSettled(this.#background);
    for (const step of this.#steps) await Promise.resolve(step()).catch(() => undefined);
  }
}
