import { SecretbindError, type SecretbindErrorCode } from '../core/index.js';
import type { SecretEvent } from '../core/index.js';

/**
 * The secret log: recent events kept in memory, bounded in total and per account, for a "Secret Log" view that
 * filters one account's history. Events never hold a value, so neither does the log.
 */

export interface SecretLogOptions {
  /** Events kept in all; the oldest go first. Default: 10,000. */
  capacity?: number;
  /** Events kept per account (events without an account count as one account); its oldest go first. Default: 100. */
  perAccount?: number;
  /** The clock, in milliseconds since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/** An event as the log keeps it: the event and when it was recorded. */
export interface LoggedEvent {
  /** Milliseconds since the epoch. */
  at: number;
  event: SecretEvent;
}

export interface SecretLogQuery {
  account?: string;
  store?: string;
  /** A resolution's outcome (`store`, `local`, `error`) or an entry operation's (`ok`, `error`). */
  outcome?: string;
  code?: SecretbindErrorCode;
  /** Only events recorded at or after this time (a Date or milliseconds since the epoch). */
  since?: Date | number;
  /** At most this many, newest first. Default: all that match. */
  limit?: number;
}

/** Counts over every event recorded since the log was made (not only those still kept). */
export interface SecretLogStats {
  /** Resolutions recorded. */
  lookups: number;
  /** Failed resolutions and entry operations, by code. */
  errors: Partial<Record<SecretbindErrorCode, number>>;
  /** Resolutions answered with the local password after a store failure. */
  fallbacks: number;
  cacheHits: number;
  cacheMisses: number;
  /** Per store: resolutions and failures. */
  stores: Record<string, { lookups: number; errors: number }>;
  /** Events kept now. */
  kept: number;
}

/** The log: pass `log.record` as `onEvent` (or call it from yours). */
export interface SecretLog {
  /** Records one event; an `onEvent` listener. Costs a few hundred nanoseconds. */
  readonly record: (event: SecretEvent) => void;
  /** Kept events that match, newest first. */
  query(filter?: SecretLogQuery): LoggedEvent[];
  stats(): SecretLogStats;
  /** Forgets every kept event (the counts of `stats` stay). */
  clear(): void;
  /** Events kept now. */
  readonly size: number;
}

/** One kept event: in the list of all events (oldest first) and in its account's list. */
interface Node {
  at: number;
  event: SecretEvent;
  account: string;
  older: Node | undefined;
  newer: Node | undefined;
  nextOfAccount: Node | undefined;
}

const DEFAULT_CAPACITY = 10_000;
const DEFAULT_PER_ACCOUNT = 100;

/**
 * Creates a secret log bounded to `capacity` events in all and `perAccount` per account.
 *
 * @example
 * ```ts
 * const log = createSecretLog({ capacity: 50_000, perAccount: 200 })
 * const resolver = createSecretResolver({ repository, providers, onEvent: log.record })
 * log.query({ account: 'checkmk-prod', outcome: 'error', limit: 20 })
 * ```
 */
export function createSecretLog(options: SecretLogOptions = {}): SecretLog {
  const capacity = positive(options.capacity, DEFAULT_CAPACITY, 'capacity');
  const perAccount = positive(options.perAccount, DEFAULT_PER_ACCOUNT, 'perAccount');
  const now = options.now ?? Date.now;
  let oldest: Node | undefined;
  let newest: Node | undefined;
  let size = 0;
  // Per account: its oldest and newest kept node and how many it has.
  const accounts = new Map<string, { first: Node; last: Node; count: number }>();
  const stats: SecretLogStats = { lookups: 0, errors: {}, fallbacks: 0, cacheHits: 0, cacheMisses: 0, stores: {}, kept: 0 };

  /** Drops the oldest node of an account; it is also the oldest of that account in the list of all. */
  function dropOldestOf(account: string): void {
    const list = accounts.get(account)!;
    const node = list.first;
    if (node.older) node.older.newer = node.newer;
    else oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else newest = node.older;
    size--;
    if (--list.count === 0) accounts.delete(account);
    else list.first = node.nextOfAccount!;
  }

  const record = (event: SecretEvent): void => {
    countEvent(stats, event);
    const account = event.kind === 'entry' || event.kind === 'sync' ? '' : (event.account ?? '');
    const node: Node = { at: now(), event, account, older: newest, newer: undefined, nextOfAccount: undefined };
    if (newest) newest.newer = node;
    else oldest = node;
    newest = node;
    size++;
    const list = accounts.get(account);
    if (list) {
      list.last.nextOfAccount = node;
      list.last = node;
      list.count++;
      if (list.count > perAccount) dropOldestOf(account);
    } else {
      accounts.set(account, { first: node, last: node, count: 1 });
    }
    if (size > capacity) dropOldestOf(oldest!.account);
  };

  return {
    record,
    query(filter = {}) {
      const since = filter.since instanceof Date ? filter.since.getTime() : filter.since;
      const limit = filter.limit ?? Infinity;
      const found: LoggedEvent[] = [];
      for (let node = newest; node && found.length < limit; node = node.older) {
        if (since !== undefined && node.at < since) break; // older ones are older still
        const event = node.event;
        if (filter.account !== undefined && node.account !== filter.account) continue;
        if (filter.store !== undefined && (event as { store?: string }).store !== filter.store) continue;
        if (filter.outcome !== undefined && (event as { outcome?: string }).outcome !== filter.outcome) continue;
        if (filter.code !== undefined && (event as { code?: string }).code !== filter.code) continue;
        found.push({ at: node.at, event });
      }
      return found;
    },
    stats() {
      return { ...stats, errors: { ...stats.errors }, stores: Object.fromEntries(Object.entries(stats.stores).map(([name, value]) => [name, { ...value }])), kept: size };
    },
    clear() {
      oldest = newest = undefined;
      size = 0;
      accounts.clear();
    },
    get size() {
      return size;
    },
  };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new SecretbindError('CONFIG_INVALID', `createSecretLog: ${name} must be a positive integer (got ${String(value)}).`);
  return value;
}

/** Adds an event to the running counts. */
function countEvent(stats: SecretLogStats, event: SecretEvent): void {
  if (event.kind === 'resolution') {
    stats.lookups++;
    if (event.fallback) stats.fallbacks++;
    if (event.cache === 'hit') stats.cacheHits++;
    else if (event.cache === 'miss') stats.cacheMisses++;
    if (event.store !== undefined) {
      const store = (stats.stores[event.store] ??= { lookups: 0, errors: 0 });
      store.lookups++;
      if (event.outcome === 'error') store.errors++;
    }
  }
  if ((event.kind === 'resolution' || event.kind === 'entry') && event.outcome === 'error' && event.code !== undefined) stats.errors[event.code] = (stats.errors[event.code] ?? 0) + 1;
}
