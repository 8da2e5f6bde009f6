/** Assertions shared by the test files. */
import { createRequire } from 'node:module';
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

/**
 * Makes Node's `require` fail to resolve `packageName` as it does when the package is not installed
 * (MODULE_NOT_FOUND), for the rest of the test file. Providers load CommonJS peers with `require`, which `vi.mock`
 * does not intercept; this patches the resolver itself, so the provider meets the real failure.
 */
export function uninstall(packageName: string): void {
  const Module = createRequire(import.meta.url)('node:module') as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request: string, ...rest: unknown[]): string {
    if (request === packageName || request.startsWith(`${packageName}/`)) {
      throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
    }
    return resolve.call(this, request, ...rest);
  };
}
