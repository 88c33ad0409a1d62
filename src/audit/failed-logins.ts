// Failed logins as aggregated audit events: one event per window (count, bounded source list,
// window start and end) instead of one durable event per attempt, within a small daily budget,
// so unauthenticated callers can neither flood the log nor push real events past its cap.
import type { AuditEventInput } from './event.js';
import type { Clock } from '../clock.js';

export const DEFAULT_FAILED_LOGIN_WINDOW_MS = 60_000;
/** Source addresses named per event; the rest are counted together. */
export const MAX_FAILED_LOGIN_SOURCES = 16;
/** Distinct reasons named per event; the rest are counted as `other`. */
const MAX_REASONS = 8;
/** Aggregated events per rolling day; past it a window stays open until the budget allows. */
export const DEFAULT_FAILED_LOGIN_EVENTS_PER_DAY = 96;
const DAY_MS = 86_400_000;

export interface FailedLoginAggregatorDeps {
  /** Appends one event durably (rejects when it cannot). */
  readonly record: (event: AuditEventInput) => Promise<unknown>;
  readonly now: Clock;
  /** Timer seam; defaults to an unref'd setTimeout. Returns a cancel function. */
  readonly schedule?: (run: () => void, ms: number) => () => void;
  /** Told when an aggregate cannot be written (it is kept and retried at the next window). */
  readonly onError?: (error: unknown) => void;
}

export interface FailedLoginAggregatorOptions {
  /** Which listener the failures came to (`admin`). */
  readonly listener: string;
  readonly windowMs?: number;
  readonly eventsPerDay?: number;
}

export interface FailedLoginAggregator {
  /** Counts one failed attempt; `limited` when it was answered 429. Never writes by itself. */
  note(source: string, reason: string, limited: boolean): void;
  /** Writes the open window now, if any (on shutdown); rejects when the append fails. */
  flush(): Promise<void>;
  /** Stops the timer (pending counts are dropped unless flushed first). */
  stop(): void;
}

interface Window {
  startMs: number;
  count: number;
  limited: number;
  sources: Map<string, number>;
  otherSources: number;
  reasons: Map<string, number>;
}

function emptyWindow(startMs: number): Window {
  return { startMs, count: 0, limited: 0, sources: new Map(), otherSources: 0, reasons: new Map() };
}

/** Adds `times` to `key` while the map has room for it; returns false when it had none. */
function bump(map: Map<string, number>, key: string, times: number, max: number): boolean {
  const seen = map.get(key);
  if (seen === undefined && map.size >= max) return false;
  map.set(key, (seen ?? 0) + times);
  return true;
}

function addReason(window: Window, reason: string, times: number): void {
  if (!bump(window.reasons, reason, times, MAX_REASONS)) {
    window.reasons.set('other', (window.reasons.get('other') ?? 0) + times);
  }
}

function add(window: Window, source: string, reason: string, limited: boolean): void {
  window.count += 1;
  if (limited) window.limited += 1;
  if (!bump(window.sources, source, 1, MAX_FAILED_LOGIN_SOURCES)) window.otherSources += 1;
  addReason(window, reason, 1);
}

/** Folds an unwritten window back into the open one (kept, never dropped). */
function merge(into: Window, from: Window): void {
  into.startMs = Math.min(into.startMs, from.startMs);
  into.count += from.count;
  into.limited += from.limited;
  into.otherSources += from.otherSources;
  for (const [source, times] of from.sources) {
    if (!bump(into.sources, source, times, MAX_FAILED_LOGIN_SOURCES)) into.otherSources += times;
  }
  for (const [reason, times] of from.reasons) addReason(into, reason, times);
}

export function createFailedLoginAggregator(
  deps: FailedLoginAggregatorDeps,
  options: FailedLoginAggregatorOptions,
): FailedLoginAggregator {
  const windowMs = options.windowMs ?? DEFAULT_FAILED_LOGIN_WINDOW_MS;
  const eventsPerDay = options.eventsPerDay ?? DEFAULT_FAILED_LOGIN_EVENTS_PER_DAY;
  const schedule =
    deps.schedule ??
    ((run: () => void, ms: number) => {
      const timer = setTimeout(run, ms);
      timer.unref();
      return () => clearTimeout(timer);
    });
  let open: Window | undefined;
  let cancel: (() => void) | undefined;
  /** Times of the events written in the last day (at most eventsPerDay). */
  const written: number[] = [];

  const eventOf = (window: Window, endMs: number): AuditEventInput => ({
    type: 'admin.login_failed',
    actor: 'anonymous',
    details: {
      aggregated: true,
      listener: options.listener,
      count: window.count,
      limited: window.limited,
      sources: [...window.sources].map(([address, count]) => ({ address, count })),
      otherSources: window.otherSources,
      reasons: Object.fromEntries(window.reasons),
      windowStart: new Date(window.startMs).toISOString(),
      windowEnd: new Date(endMs).toISOString(),
    },
  });

  async function write(): Promise<void> {
    const window = open;
    if (window === undefined) return;
    open = undefined;
    const now = deps.now();
    try {
      await deps.record(eventOf(window, now));
      written.push(now);
    } catch (error) {
      if (open === undefined) open = window;
      else merge(open, window);
      throw error;
    }
  }

  function arm(ms: number): void {
    cancel = schedule(() => {
      cancel = undefined;
      const now = deps.now();
      while (written.length > 0 && now - (written[0] as number) >= DAY_MS) written.shift();
      if (written.length >= eventsPerDay) {
        // Over budget: the window stays open (and keeps counting) until the oldest slot frees.
        arm(Math.max(windowMs, (written[0] as number) + DAY_MS - now));
        return;
      }
      write().then(
        () => undefined,
        (error: unknown) => {
          deps.onError?.(error);
          if (open !== undefined && cancel === undefined) arm(windowMs);
        },
      );
    }, ms);
  }

  return {
    note(source, reason, limited) {
      if (open === undefined) open = emptyWindow(deps.now());
      add(open, source, reason, limited);
      if (cancel === undefined) arm(windowMs);
    },
    async flush() {
      cancel?.();
      cancel = undefined;
      await write();
    },
    stop() {
      cancel?.();
      cancel = undefined;
    },
  };
}
