/** Assertions shared by the test files. */
import { expect } from 'vitest';
import { SecretbindError } from 'secretbind';

/** The SecretbindError a promise rejects with; fails the test if it resolves or rejects with anything else. */
export async function failure(promise: Promise<unknown>): Promise<SecretbindError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(SecretbindError);
  return outcome as SecretbindError;
}

/** The SecretbindError a function throws; fails the test if it returns or throws anything else. */
export function thrown(run: () => unknown): SecretbindError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretbindError);
    return error as SecretbindError;
  }
  throw new Error('expected a SecretbindError');
}
