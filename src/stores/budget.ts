import type { SecretStore } from './records.js';
import { abortableDelay } from '../core/index.js';
import { SecretbindError } from '../core/index.js';

/**
 * One rate budget per store, shared by everything in the process that calls it: resolver lookups, bulk reads, sync
 * passes and migration. A token bucket per kind of call (reads, batch reads, writes), filled at the service's
 * published quota unless the store's `rate_limit` says otherwise. A `RATE_LIMITED` answer slows the whole store:
 * every kind waits out the `Retry-After` (or a second), then runs at half rate until 30 seconds pass without one.
 */

/** The store field: `rate_limit: { reads_per_second, writes_per_second }`. */
export interface RateLimitField {
  reads_per_second?: number;
  writes_per_second?: number;
}

/** Calls per second by kind; a kind left out is not limited. */
export type RateDefaults = Readonly<Record<string, number>>;

/** The clock budgets wait on; tests and benchmarks run them on fake time. @internal */
export interface BudgetClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const REAL_CLOCK: BudgetClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => abortableDelay(ms, signal ?? new AbortController().signal),
};
let clock: BudgetClock = REAL_CLOCK;
const SLOWED_FOR_MS = 30_000;

class Bucket {
  readonly rate: number;
  #tokens: number;
  #last: number;

  constructor(rate: number) {
    this.rate = rate;
    this.#tokens = Math.max(1, rate);
    this.#last = clock.now();
  }

  /** Milliseconds until a token is free at `rate` (0: taken now). */
  reserve(rate: number): number {
    const now = clock.now();
    this.#tokens = Math.min(Math.max(1, rate), this.#tokens + ((now - this.#last) / 1000) * rate);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / rate) * 1000;
  }
}

/** A store's budget: `take` before each call of a kind, `slow` when the store said it was throttling. */
export class RateBudget {
  readonly #buckets = new Map<string, Bucket>();
  #pausedUntil = 0;
  #slowedUntil = 0;
  /** Calls made, and milliseconds spent waiting, by kind (benchmarks and tests read them). */
  readonly stats = { calls: new Map<string, number>(), waitedMs: 0, slowed: 0 };

  constructor(rates: RateDefaults) {
    for (const [kind, rate] of Object.entries(rates)) if (Number.isFinite(rate) && rate > 0) this.#buckets.set(kind, new Bucket(rate));
  }

  /** Waits until a call of this kind fits the budget. Unlimited kinds return at once. */
  async take(kind: string, signal?: AbortSignal): Promise<void> {
    this.stats.calls.set(kind, (this.stats.calls.get(kind) ?? 0) + 1);
    const bucket = this.#buckets.get(kind);
    let wait = Math.max(0, this.#pausedUntil - clock.now());
    if (bucket) wait = Math.max(wait, bucket.reserve(clock.now() < this.#slowedUntil ? bucket.rate / 2 : bucket.rate));
    if (wait > 0) {
      this.stats.waitedMs += wait;
      await clock.sleep(wait, signal);
    }
  }

  /** The store throttled us: every kind waits `retryAfterMs` (default 1 s), then runs at half rate for a while. */
  slow(retryAfterMs: number | undefined): void {
    const now = clock.now();
    this.stats.slowed++;
    this.#pausedUntil = Math.max(this.#pausedUntil, now + (retryAfterMs ?? 1000));
    this.#slowedUntil = now + SLOWED_FOR_MS;
  }
}

const budgets = new Map<string, RateBudget>();

/**
 * The process-wide budget of a store, for provider authors: call `take(kind)` before each request to the service and
 * `slow(retryAfterMs)` on a throttling answer. `defaults` are the service's quotas by kind; the store's `rate_limit`
 * overrides `read` (and caps the other read kinds) and `write`.
 */
export function rateBudget(store: SecretStore, defaults: RateDefaults): RateBudget {
  const key = `${store.type}\u0000${store.name}\u0000${JSON.stringify(store.rate_limit ?? null)}`;
  let budget = budgets.get(key);
  if (!budget) {
    const limit = (store.rate_limit ?? {}) as RateLimitField;
    const rates: Record<string, number> = { ...defaults };
    if (limit.reads_per_second !== undefined) {
      for (const kind of Object.keys(rates)) if (kind !== 'write') rates[kind] = Math.min(rates[kind]!, limit.reads_per_second);
      rates.read = limit.reads_per_second;
    }
    if (limit.writes_per_second !== undefined) rates.write = limit.writes_per_second;
    budgets.set(key, (budget = new RateBudget(rates)));
  }
  return budget;
}

/** Checks a `rate_limit` store field. */
export function checkRateLimit(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected { reads_per_second, writes_per_second }';
  for (const [key, rate] of Object.entries(value)) {
    if (key !== 'reads_per_second' && key !== 'writes_per_second') return `unknown key ${key} (known: reads_per_second, writes_per_second)`;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) return `${key} must be a positive number`;
  }
  return undefined;
}

/** Runs budgets on another clock and forgets every budget (tests, benchmarks). @internal */
export function setBudgetClock(next: BudgetClock | undefined): void {
  clock = next ?? REAL_CLOCK;
  budgets.clear();
}

/** A `SecretbindError` of the throttling kind, for budgets' callers. */
export function isThrottled(error: unknown): error is SecretbindError {
  return error instanceof SecretbindError && error.code === 'RATE_LIMITED';
}
