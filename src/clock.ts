// The one clock type: milliseconds since the Unix epoch. Every room takes a Clock as a parameter
// (tests drive it with test/helpers/clock.ts); names carry their unit (`nowMs`, `expiresAtMs`).

/** Returns the current time in milliseconds since the Unix epoch. */
export type Clock = () => number;

/** The system clock. */
export const systemClock: Clock = () => Date.now();
