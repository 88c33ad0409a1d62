// The BundleError code a call throws ('no error' when it returns); any other error fails the test.
import { expect } from 'vitest';
import { BundleError } from '../../src/errors.js';

export function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BundleError);
    return (error as BundleError).code;
  }
  return 'no error';
}
