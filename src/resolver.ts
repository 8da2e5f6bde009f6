import type { Account, BindingRepository } from './bindings.js';
import { resolveBulk, type BulkOptions, type BulkResult } from './bulk.js';
import { asResolutionError, Engine, event, isPromise, type Plan, type ProviderErrorPolicy } from './engine.js';
import type { StaleIfErrorOptions } from './stale.js';
import { SecretbindError } from './errors.js';
import type { SecretEventListener } from './events.js';
import type { FernetKeyInput } from './fernet.js';
import { checkBindings, explainAccount, type CheckOptions, type CheckReport, type Explanation } from './inspect.js';
import { listEntries, removeEntry, writeEntry } from './entries.js';
import type { EntryInfo, EntryValue, ListOptions, RemoveOptions, SecretProvider, WriteOptions, WriteResult } from './provider.js';

export type { ProviderErrorPolicy } from './engine.js';

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
   * login and one more try; other errors are never answered stale. See README "When the store is down".
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
  const engine = new Engine({
    repository: options.repository,
    providers: options.providers ?? [],
    cryptographyKey: 'cryptographyKey' in options ? options.cryptographyKey : process.env.CRYPTOGRAPHY_KEY,
    onEvent: options.onEvent,
    timeoutMs,
    onProviderError: policy,
    staleIfError: options.staleIfError,
  });

  return {
    resolvePassword: (account) => resolvePassword(engine, account),
    resolvePasswords: (accounts, bulkOptions) => {
      let bulkConcurrency: number;
      try {
        bulkConcurrency = concurrencyOption(bulkOptions?.concurrency, concurrency);
      } catch (error) {
        return Promise.reject(error);
      }
      return resolveBulk(engine, accounts, { concurrency: bulkConcurrency });
    },
    explain: (account) => explainAccount(engine, typeof account === 'string' ? { name: account } : account),
    check: (checkOptions) => checkBindings(engine, checkOptions, concurrency),
    listEntries: (store, listOptions) => listEntries(engine, store, listOptions),
    writeEntry: (store, name, value, writeOptions) => writeEntry(engine, store, name, value, writeOptions),
    removeEntry: (store, name, removeOptions) => removeEntry(engine, store, name, removeOptions),
    close: () => engine.close(),
  };
}

/** `concurrency` as given, or the default when it is absent or explicitly undefined; anything else is refused. */
function concurrencyOption(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new SecretbindError('CONFIG_INVALID', `concurrency must be a positive integer (got ${String(value)}).`);
  return value;
}

function resolvePassword(engine: Engine, account: Account): Promise<string | null> {
  if (!account || typeof account.name !== 'string') return Promise.reject(new SecretbindError('CONFIG_INVALID', 'resolvePassword needs an account with a name.'));
  // Written with explicit promises rather than async/await: this is the hot path, and each await is a hop.
  const started = engine.onEvent ? performance.now() : 0;
  let plan: Plan | Promise<Plan>;
  try {
    plan = engine.plan(account);
  } catch (error) {
    return Promise.reject(failed(engine, account, undefined, error, started));
  }
  if (isPromise(plan)) {
    return plan.then(
      (ready) => resolvePlanned(engine, account, ready, started),
      (error: unknown) => Promise.reject(failed(engine, account, undefined, error, started)),
    );
  }
  return resolvePlanned(engine, account, plan, started);
}

function resolvePlanned(engine: Engine, account: Account, plan: Plan, started: number, reauthenticated = false): Promise<string | null> {
  if (plan.kind === 'local') {
    try {
      const value = engine.local(account);
      if (engine.onEvent) engine.emit(event(account, plan, 'local', started, { reason: plan.reason }));
      return Promise.resolve(value);
    } catch (error) {
      return Promise.reject(failed(engine, account, plan, error, started));
    }
  }
  return new Promise((resolve, reject) =>
    engine.read(plan, account.name, {
      value(answer) {
        const value = typeof answer === 'string' ? answer : answer.value;
        engine.stale?.remember(plan.store.name, plan.ref.raw, value);
        if (engine.onEvent) engine.emit(event(account, plan, 'store', started, typeof answer !== 'string' && answer.cache ? { cache: answer.cache } : {}));
        resolve(value);
      },
      error(failure) {
        // A joined read's error names the first caller's account: address it to this one.
        const error = failure.forAccount(account.name);
        if (engine.stale) {
          // Rejected credentials get one fresh login and one more try before anything is served stale.
          const reauthenticate = plan.provider.reauthenticate;
          if (error.code === 'AUTH_FAILED' && reauthenticate && !reauthenticated) {
            Promise.resolve()
              .then(() => reauthenticate.call(plan.provider, plan.store))
              .then(
                () => resolvePlanned(engine, account, plan, started, true),
                () => Promise.reject(failed(engine, account, plan, error, started)),
              )
              .then(resolve, reject);
            return;
          }
          const stale = engine.stale.recall(plan.store.name, plan.ref.raw, error);
          if (stale) {
            engine.emit(event(account, plan, 'stale', started, { code: error.code, ageMs: stale.ageMs }));
            return resolve(stale.value);
          }
        }
        if (!engine.fallsBack(error, account)) return reject(failed(engine, account, plan, error, started));
        let value: string | null;
        try {
          value = engine.local(account);
        } catch {
          // The local copy cannot stand in: the provider's failure is the one to report.
          return reject(failed(engine, account, plan, error, started));
        }
        engine.emit(event(account, plan, 'local', started, { code: error.code, fallback: true, reason: 'provider failed' }));
        resolve(value);
      },
    }),
  );
}

/** Emits the error event and returns the error to throw. */
function failed(engine: Engine, account: Account, plan: Plan | undefined, thrown: unknown, started: number): SecretbindError {
  const error = asResolutionError(thrown, account);
  if (engine.onEvent) engine.emit(event(account, plan, 'error', started, { code: error.code }, error));
  return error;
}
