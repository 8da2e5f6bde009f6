import { LRUCache } from 'lru-cache';
import { SecretbindError, type SecretbindError as ErrorType } from '../core/index.js';

/** `staleIfError`: how long a store entry's last good value may answer for a store that is failing. */
export interface StaleIfErrorOptions {
  /** The oldest value that may be served, in milliseconds. */
  maxAgeMs: number;
  /** Entries kept at most (least recently used go first). Default: 10000. */
  maxEntries?: number;
}

interface Kept {
  bytes: Buffer;
  at: number;
}

/**
 * The last good value per store entry, in memory only, as bytes that are zeroed when they age out, are evicted, are
 * replaced, or the resolver closes. Never written to disk and never put in an event.
 * @internal
 */
export class StaleCache {
  readonly #maxAgeMs: number;
  readonly #values: LRUCache<string, Kept>;
  readonly #now: () => number;

  constructor(options: StaleIfErrorOptions, now: () => number = Date.now) {
    if (typeof options?.maxAgeMs !== 'number' || !Number.isFinite(options.maxAgeMs) || options.maxAgeMs <= 0) {
      throw new SecretbindError('CONFIG_INVALID', 'staleIfError.maxAgeMs must be a positive number of milliseconds.');
    }
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = now;
    this.#values = new LRUCache<string, Kept>({ max: options.maxEntries ?? 10_000, dispose: (kept) => kept.bytes.fill(0) });
  }

  remember(store: string, reference: string, value: string): void {
    this.#values.set(`${store}\u0000${reference}`, { bytes: Buffer.from(value, 'utf8'), at: this.#now() });
  }

  /**
   * The last good value when the error may be answered with it: retryable (an outage, throttling, a timeout) and
   * the value younger than `maxAgeMs`. A value too old is zeroed and dropped.
   */
  recall(store: string, reference: string, error: ErrorType): { value: string; ageMs: number } | undefined {
    if (!error.retryable) return undefined;
    const key = `${store}\u0000${reference}`;
    const kept = this.#values.get(key);
    if (!kept) return undefined;
    const ageMs = this.#now() - kept.at;
    if (ageMs > this.#maxAgeMs) {
      this.#values.delete(key);
      return undefined;
    }
    return { value: kept.bytes.toString('utf8'), ageMs };
  }

  /** Zeroes and drops every value. */
  clear(): void {
    this.#values.clear();
  }
}
