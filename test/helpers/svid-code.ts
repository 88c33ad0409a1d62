// The SvidError code a call throws (undefined when it returns); any other error is rethrown.
import { SvidError } from '../../src/errors.js';

export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof SvidError) return error.code;
    throw error;
  }
  return undefined;
}
