// What the demo prints: a ✔ line for each expectation that held, a ✘ line for the one that did not,
// indented details, and the progress (current step, checks so far) the last line reports.

/** The step now running (a ✘ line names it) and how many expectations have held so far. */
export const progress = { step: '0', checks: 0 };

/** An expectation that did not hold: reported by its message alone, without a stack. */
export class Expectation extends Error {}

export function pass(step: string, text: string): void {
  progress.checks += 1;
  console.log(`✔ step ${step} ${text}`);
}

export function fail(step: string, text: string): void {
  console.log(`✘ step ${step} ${text}`);
}

export function detail(text: string): void {
  for (const line of text.replace(/\n+$/, '').split('\n')) console.log(`    │ ${line}`);
}

export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Expectation(message);
}

export const short = (hex: string | undefined): string =>
  hex === undefined ? '-' : `${hex.slice(0, 16)}…`;
export const instanceOf = (id: string): string => id.split('/').at(-1) ?? '-';
export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);
