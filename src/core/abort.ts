import { SecretbindError } from './errors.js';

/** Waiting that ends with the resolver's abort signal: for provider authors. */

/**
 * Resolves after `ms` milliseconds, or rejects with the signal's reason as soon as it aborts.
 *
 * @example
 * ```ts
 * await abortableDelay(retryAfterMs, ctx.signal)
 * ```
 */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer); // a pending delay must not keep the process alive after the deadline
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Settles as `work` does, or rejects with the signal's reason as soon as it aborts (the work itself is not
 * cancelled: use this for work that cannot take a signal).
 *
 * @example
 * ```ts
 * const db = await untilAborted(kdbxweb.Kdbx.load(bytes, credentials), ctx.signal)
 * ```
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Runs work shared by several callers under its own deadline rather than one caller's signal: a login or a file
 * open that many lookups join must not die with the first caller's abort while later callers still have time.
 * Rejects with `TIMEOUT` (carrying `message`) after `timeoutMs`, aborting the signal it gave `run`. Callers wait
 * with their own signal through {@link untilAborted}.
 *
 * @example
 * ```ts
 * login ??= runWithTimeout(30_000, 'Vault login took longer than 30 s.', (signal) => logIn(signal), 'vault')
 * await untilAborted(login, ctx.signal)
 * ```
 */
export function runWithTimeout<T>(timeoutMs: number, message: string, run: (signal: AbortSignal) => Promise<T>, storeType?: string): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const timeout = new SecretbindError('TIMEOUT', message, { storeType });
      controller.abort(timeout);
      reject(timeout);
    }, timeoutMs);
    timer.unref(); // shared work in progress holds the process through its own I/O, not through this timer
  });
  let work: Promise<T>;
  try {
    work = run(controller.signal);
  } catch (error) {
    work = Promise.reject(error);
  }
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
