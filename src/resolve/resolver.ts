import { listEntries, removeEntry, StoreAccess, writeEntry } from '../access/index.js';
import { SecretbindError } from '../core/index.js';
import type { SecretEventListener } from '../core/index.js';
import type { FernetKeyInput } from '../core/index.js';
import type { Account, BindingRepository, EntryInfo, EntryValue, ListOptions, RemoveOptions, SecretProvider, WriteOptions, WriteResult } from '../stores/index.js';
import { resolveBulk, type BulkOptions, type BulkResult } from './bulk.js';
import { checkBindings, explainAccount, type CheckOptions, type CheckReport, type Explanation } from './inspect.js';
import { LocalPasswords } from './local.js';
import { resolvePassword, type ProviderErrorPolicy, type Resolution } from './lookup.js';
import { StaleCache, type StaleIfErrorOptions } from './stale.js';

export type { ProviderErrorPolicy } from './lookup.js';

/** Milliseconds. */
export type Milliseconds = number;

export interface SecretResolverOptions {
  /** Where bindings and stores are looked up, on every resolution. */
  repository: BindingRepository;
  /** One provider per store type in use, e.g. `[envvar(), keepass()]`. */
  providers?: readonly SecretProvider[];
  /**
   * Fernet key(s) for local passwords, newest first (an array, or one string with comma-separated keys).
   * Default: `process.env.CRYPTOGRAPHY_KEY`, read once when the resolver is made. Malformed keys are
   * `CONFIG_INVALID` at creation; no key at all only fails when a local password is needed (`LOCAL_KEY_MISSING`).
   */
  cryptographyKey?: FernetKeyInput;
  /** Receives every event (one per resolution, plus provider notices). A listener that throws is ignored. */
  onEvent?: SecretEventListener;
  /**
   * How long one provider call may take before it fails with `TIMEOUT`, whether or not the provider honours
   * the abort signal. Identical concurrent lookups share the first caller's deadline. Default: 5000.
   */
  timeoutMs?: Milliseconds;
  /**
   * What a provider failure does. `'throw'` (default) throws the `SecretbindError`. `'use-local'` answers with
   * the account's local password and logs `fallback: true` with the code; **the local copy may be stale**, which
   * is why this is opt-in. A function decides per error, e.g. fall back only when `error.retryable`.
   * Configuration errors (missing store, unregistered provider, bad reference) never fall back.
   */
  onProviderError?: ProviderErrorPolicy;
  /**
   * Opt-in: while a store fails with a retryable error (outage, throttling, timeout), answer with the entry's last
   * good value if it is younger than `maxAgeMs`, emitting `outcome: 'stale'` with its age and the error code. Values
   * are kept in memory only and zeroed when they age out and on `close()`. An `AUTH_FAILED` first gets one fresh
   * login and one more try; other errors are never answered stale. See docs/resolving.md "When the store is down".
   */
  staleIfError?: StaleIfErrorOptions;
  /** Provider calls running at once in `resolvePasswords` for providers without `resolveMany`. Default: 8. */
  concurrency?: number;
}

/** The resolver: every method is bound, so `const { resolvePassword } = resolver` works. */
export interface SecretResolver {
  /**
   * The account's current password: from its bound store when it has an active binding, otherwise its local
   * Fernet password decrypted; null when it has neither a binding nor a local password.
   */
  resolvePassword(account: Account): Promise<string | null>;
  /**
   * Resolves many accounts for a sync run. Each distinct store entry is read once; one account's failure never
   * fails the others. Keyed by account name (a repeated name is resolved once).
   */
  resolvePasswords(accounts: Iterable<Account>, options?: BulkOptions): Promise<Map<string, BulkResult>>;
  /** Which source an account would use and why, without reading any value. */
  explain(account: Account | string): Promise<Explanation>;
  /** Validates every store and binding of a repository that can list them; reports codes, never values. */
  check(options?: CheckOptions): Promise<CheckReport>;
  /**
   * Lists a store's entries: names, versions, update times and whether secretbind owns them; never values.
   * `OPERATION_UNSUPPORTED` for a store type that cannot list.
   */
  listEntries(store: string, options?: ListOptions): Promise<EntryInfo[]>;
  /**
   * Creates or updates one entry of a store, with secretbind's owner mark. **An existing entry without the mark is
   * never overwritten** (`ENTRY_NOT_OWNED`) unless `adopt` is set; `ifVersion` makes the write conditional
   * (`CONFLICT`). `name` is an entry reference without a field; `value` a string or a flat object of strings.
   */
  writeEntry(store: string, name: string, value: EntryValue, options?: WriteOptions): Promise<WriteResult>;
  /** Removes one entry that carries secretbind's owner mark (`ENTRY_NOT_OWNED` otherwise, unless `adopt`). */
  removeEntry(store: string, name: string, options?: RemoveOptions): Promise<void>;
  /** Closes every provider (clients, caches, timers). */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_CONCURRENCY = 8;

/**
 * Creates a resolver over a binding repository and the providers of the store types in use.
 *
 * @example
 * ```ts
 * const resolver = createSecretResolver({
 *   repository: MemoryBindingRepository.fromConfig(config),
 *   providers: [envvar(), keepass()],
 *   onEvent: (event) => logger.info(formatEvent(event)),
 * })
 * const password = await resolver.resolvePassword({ name: 'checkmk-prod', password: localToken })
 * ```
 */
export function createSecretResolver(options: SecretResolverOptions): SecretResolver {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new SecretbindError('CONFIG_INVALID', 'timeoutMs must be a positive number of milliseconds.');
  const concurrency = concurrencyOption(options.concurrency, DEFAULT_CONCURRENCY);
  const policy = options.onProviderError ?? 'throw';
  if (policy !== 'throw' && policy !== 'use-local' && typeof policy !== 'function') {
    throw new SecretbindError('CONFIG_INVALID', `onProviderError must be 'throw', 'use-local' or a function.`);
  }
  if (!options.repository || typeof options.repository.findBinding !== 'function' || typeof options.repository.findStore !== 'function') {
    throw new SecretbindError('CONFIG_INVALID', 'repository must implement findBinding(accountName) and findStore(storeName).');
  }
  // Made in the order their option errors were always reported: stale values, keys, providers.
  const stale = options.staleIfError ? new StaleCache(options.staleIfError) : undefined;
  const local = new LocalPasswords('cryptographyKey' in options ? options.cryptographyKey : process.env.CRYPTOGRAPHY_KEY);
  const access = new StoreAccess({ repository: options.repository, providers: options.providers ?? [], onEvent: options.onEvent, timeoutMs });
  const resolution: Resolution = { access, local, policy, stale };

  return {
    resolvePassword: (account) => resolvePassword(resolution, account),
    resolvePasswords: (accounts, bulkOptions) => {
      let bulkConcurrency: number;
      try {
        bulkConcurrency = concurrencyOption(bulkOptions?.concurrency, concurrency);
      } catch (error) {
        return Promise.reject(error);
      }
      return resolveBulk(resolution, accounts, { concurrency: bulkConcurrency });
    },
    explain: (account) => explainAccount(resolution, typeof account === 'string' ? { name: account } : account),
    check: (checkOptions) => checkBindings(resolution, checkOptions, concurrency),
    listEntries: (store, listOptions) => listEntries(access, store, listOptions),
    writeEntry: (store, name, value, writeOptions) => writeEntry(access, store, name, value, writeOptions),
    removeEntry: (store, name, removeOptions) => removeEntry(access, store, name, removeOptions),
    close: async () => {
      resolution.stale?.clear();
      await access.close();
    },
  };
}

/** `concurrency` as given, or the default when it is absent or explicitly undefined; anything else is refused. */
function concurrencyOption(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new SecretbindError('CONFIG_INVALID', `concurrency must be a positive integer (got ${String(value)}).`);
  return value;
}
