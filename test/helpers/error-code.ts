// The error code a promise rejects with, or a call throws: a BrokerError's code, else a description
// that no code equals ('no error' when it settles without one).
import { isBrokerError } from '../../src/errors.js';

function codeText(error: unknown): string {
  return isBrokerError(error) ? error.code : `not a broker error: ${String(error)}`;
}

export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return codeText(error);
  }
  return 'no error';
}

export function codeOfSync(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return codeText(error);
  }
  return 'no error';
}
