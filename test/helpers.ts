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

/**
 * Picks when to kill a writing child: a random point in a window a little longer than a first write takes on this
 * machine now, so most kills land inside a write and some after the first one finished. A fixed window let a loaded
 * machine (CI runs three suites back to back) kill every child before its first write; a window that only grows let
 * one slow round slow every later one.
 */
export class KillWindow {
  private firstWriteMs: number;

  constructor(initialMs: number) {
    this.firstWriteMs = initialMs;
  }

  /** Milliseconds to wait after the child says it is ready. */
  delay(): number {
    return Math.random() * this.firstWriteMs * 1.4;
  }

  /** The time from ready to the child's first finished write, or undefined when it was killed before one. */
  observe(firstWriteMs: number | undefined): void {
    // A moving average of what first writes take; a round killed before its first write nudges it up.
    this.firstWriteMs = firstWriteMs === undefined ? this.firstWriteMs * 1.15 : this.firstWriteMs * 0.7 + firstWriteMs * 0.3;
  }
}

/** Forks-side bookkeeping of a writer child: resolves when it says 'ready' and records when its first write ended. */
export function watchWriter(child: { on(event: 'message', listener: (message: unknown) => void): unknown }): { ready: Promise<void>; firstWriteMs(): number | undefined } {
  let readyAt = 0;
  let firstWrite: number | undefined;
  const ready = new Promise<void>((resolve) => {
    child.on('message', (message) => {
      if (message === 'ready') {
        readyAt = performance.now();
        resolve();
      } else if (message === 'wrote' && firstWrite === undefined) firstWrite = performance.now() - readyAt;
    });
  });
  return { ready, firstWriteMs: () => firstWrite };
}
