import { LRUCache } from 'lru-cache';
import type { Account, AccountBinding, BindingRepository, SecretStore } from './bindings.js';
import { DeadlineQueue } from './deadline.js';
import { asProviderError, ProviderCall, type CallHost, type CallListener } from './provider-call.js';
import { isSecretbindError, safeCause, SecretbindError } from './errors.js';
import type { ResolutionEvent, SecretEvent, SecretEventListener } from './events.js';
import { decryptTextWithKeys, parseFernetKeys, type FernetKeyInput } from './fernet.js';
import type { ProviderSettled, ProviderValue, ResolveContext, SecretProvider } from './provider.js';
import { parseReference, type EntryReference } from './reference.js';
import { BUILT_IN_STORE_TYPES } from './store-fields.js';
import { hasStoreRefs, StoreRefs } from './store-refs.js';
import { StaleCache, type StaleIfErrorOptions } from './stale.js';

/**
 * The resolver's internals, shared by single, bulk and inspection paths: binding lookup, provider calls
 * under a deadline with identical concurrent calls shared, local passwords and events.
 * @internal
 */

/** What to do when a bound store fails: throw (default) or answer with the account's local password. */
export type ProviderErrorPolicy = 'throw' | 'use-local' | ((error: SecretbindError, account: Account) => 'throw' | 'use-local');

/** How an account will be resolved. */
export type Plan =
  | { kind: 'local'; reason: string; binding?: AccountBinding; store?: SecretStore }
  | { kind: 'store'; binding: AccountBinding; store: SecretStore; provider: SecretProvider; ref: EntryReference };

export interface EngineOptions {
  repository: BindingRepository;
  providers: readonly SecretProvider[];
  cryptographyKey: FernetKeyInput | undefined;
  onEvent: SecretEventListener | undefined;
  timeoutMs: number;
  onProviderError: ProviderErrorPolicy;
  staleIfError?: StaleIfErrorOptions | undefined;
}

const REFERENCE_CACHE_SIZE = 10_000;

export class Engine implements CallHost {
  readonly repository: BindingRepository;
  readonly providers = new Map<string, SecretProvider>();
  readonly timeoutMs: number;
  readonly onEvent: SecretEventListener | undefined;
  /** The last good values, when the resolver serves them while a store fails (`staleIfError`). */
  readonly stale: StaleCache | undefined;
  readonly #policy: ProviderErrorPolicy;
  readonly #keyInput: FernetKeyInput | undefined;
  #keys: ReturnType<typeof parseFernetKeys> | undefined;
  readonly #deadlines = new DeadlineQueue();
  // In-flight reads by store name, then reference: two lookups are cheaper than building a joint key.
  readonly #inflight = new Map<string, Map<string, ProviderCall<ProviderValue>>>();
  // Parsed references (or their parse errors) by text: bindings repeat, parsing per lookup is waste.
  readonly #references = new LRUCache<string, EntryReference | SecretbindError>({ max: REFERENCE_CACHE_SIZE });
  readonly #validStores = new WeakSet<SecretStore>();
  readonly #credentialVariables = new Set<string>(['CRYPTOGRAPHY_KEY']);
  // Stores whose *_env fields were noted: once per store record, not once per lookup.
  readonly #notedStores = new WeakSet<SecretStore>();
  readonly #refStores = new WeakMap<SecretStore, boolean>();
  readonly #storeRefs: StoreRefs;

  constructor(options: EngineOptions) {
    this.repository = options.repository;
    this.timeoutMs = options.timeoutMs;
    this.#storeRefs = new StoreRefs({
      readEntry: (storeName, reference, chain) => this.#readForStore(storeName, reference, chain),
      findStore: (storeName) => this.repository.findStore(storeName),
      timeoutMs: this.timeoutMs,
      warn: (store, message, detail) => this.emit({ source: 'Secrets', kind: 'provider', level: 'warn', store: store.name, storeType: store.type, message, detail }),
    });
    this.onEvent = options.onEvent;
    this.#policy = options.onProviderError;
    this.stale = options.staleIfError ? new StaleCache(options.staleIfError) : undefined;
    this.#keyInput = options.cryptographyKey;
    if (this.#keyInput !== undefined && this.#keyInput !== '') this.#keys = parseFernetKeys(this.#keyInput);
    for (const provider of options.providers) {
      if (this.providers.has(provider.type)) {
        throw new SecretbindError('CONFIG_INVALID', `providers: two providers are registered for store type "${provider.type}"; pass one.`);
      }
      this.providers.set(provider.type, provider);
    }
    this.#learnCredentialVariables();
  }

  /** See {@link ResolveContext.credentialVariables}. */
  get credentialVariables(): ReadonlySet<string> {
    return this.#credentialVariables;
  }

  #learnCredentialVariables(): void {
    let stores: ReturnType<NonNullable<BindingRepository['listStores']>> | undefined;
    try {
      stores = this.repository.listStores?.();
    } catch {
      return; // the repository reports its own failures on lookups; stores are still learnt as they are planned
    }
    if (isPromise(stores)) stores.then((found) => found.forEach((store) => this.#noteStore(store)), () => {});
    else stores?.forEach((store) => this.#noteStore(store));
  }

  #noteStore(store: SecretStore): void {
    if (this.#notedStores.has(store)) return;
    this.#notedStores.add(store);
    for (const [field, value] of Object.entries(store)) {
      if (field.endsWith('_env') && typeof value === 'string') this.#credentialVariables.add(value);
    }
  }

  get hasLocalKey(): boolean {
    return this.#keys !== undefined && this.#keys.length > 0;
  }

  /**
   * Decides how an account resolves. Throws for rule 2 (missing store, unregistered provider) and bad references.
   * Stays synchronous while the repository answers synchronously: a promise hop per step is measurable here.
   */
  plan(account: Account): Plan | Promise<Plan> {
    const binding = this.repository.findBinding(account.name);
    return isPromise(binding) ? binding.then((found) => this.#planBinding(account, found)) : this.#planBinding(account, binding);
  }

  #planBinding(account: Account, binding: AccountBinding | undefined): Plan | Promise<Plan> {
    if (!binding) return { kind: 'local', reason: 'no binding' };
    if (binding.enabled === false) return { kind: 'local', reason: 'binding disabled', binding };
    const store = this.repository.findStore(binding.store);
    return isPromise(store) ? store.then((found) => this.#planFilled(account, binding, found)) : this.#planFilled(account, binding, store);
  }

  /** {@link planStore}, with the store's `<field>_ref` fields read from their stores. */
  #planFilled(account: Account, binding: AccountBinding, store: SecretStore | undefined): Plan | Promise<Plan> {
    const plan = this.planStore(account, binding, store);
    if (plan.kind !== 'store' || !this.#hasRefs(plan.store)) return plan;
    return this.#storeRefs.fill(plan.store).then(
      (filled) => ({ ...plan, store: filled }),
      (error: unknown) => {
        throw isSecretbindError(error) ? error.withContext({ account: account.name }) : error;
      },
    );
  }

  /** A store record ready for its provider: `<field>_ref` fields filled in. */
  fillStore(store: SecretStore): Promise<SecretStore> {
    return this.#hasRefs(store) ? this.#storeRefs.fill(store) : Promise.resolve(store);
  }

  /** Whether a store record has `<field>_ref` fields; looked at once per record, not once per lookup. */
  #hasRefs(store: SecretStore): boolean {
    let known = this.#refStores.get(store);
    if (known === undefined) this.#refStores.set(store, (known = hasStoreRefs(store)));
    return known;
  }

  /** One entry of a store, for another store's `<field>_ref`. */
  async #readForStore(storeName: string, reference: string, chain: readonly string[]): Promise<string> {
    const store = await this.repository.findStore(storeName);
    if (!store) throw new SecretbindError('STORE_NOT_FOUND', `Store ${JSON.stringify(storeName)} does not exist.`, { store: storeName });
    if (store.enabled === false) throw new SecretbindError('CONFIG_INVALID', `Store ${JSON.stringify(storeName)} is disabled.`, { store: storeName, storeType: store.type });
    const provider = this.providers.get(store.type);
    if (!provider) throw notRegistered(store, undefined);
    this.#validate(provider, store, undefined);
    const ref = this.reference(reference, store);
    const ready = this.#hasRefs(store) ? await this.#storeRefs.fill(store, chain) : store;
    return valueOf(await this.withDeadline(ready, undefined, (ctx) => provider.resolve(ready, ref, ctx))).value;
  }

  /** The plan for a binding whose store record is already at hand (rule 2 errors included). */
  planStore(account: Account, binding: AccountBinding, store: SecretStore | undefined): Plan {
    if (!store) {
      throw new SecretbindError('STORE_NOT_FOUND', `Account ${JSON.stringify(account.name)} is bound to store ${JSON.stringify(binding.store)}, which does not exist: add the store or fix the binding.`, {
        account: account.name,
        store: binding.store,
      });
    }
    if (store.enabled === false) return { kind: 'local', reason: 'store disabled', binding, store };
    this.#noteStore(store);
    const provider = this.providers.get(store.type);
    if (!provider) throw notRegistered(store, account.name);
    this.#validate(provider, store, account.name);
    return { kind: 'store', binding, store, provider, ref: this.reference(binding.entry, store, account.name) };
  }

  /** A store and its provider for a list, write or remove; the store must exist, be enabled and validate. */
  async storeFor(storeName: string): Promise<{ store: SecretStore; provider: SecretProvider }> {
    if (typeof storeName !== 'string' || storeName.length === 0) throw new SecretbindError('CONFIG_INVALID', 'A store name is required.');
    const store = await this.repository.findStore(storeName);
    if (!store) throw new SecretbindError('STORE_NOT_FOUND', `Store ${JSON.stringify(storeName)} does not exist: add it to the configuration or fix the name.`, { store: storeName });
    if (store.enabled === false) throw new SecretbindError('CONFIG_INVALID', `Store ${JSON.stringify(storeName)} is disabled: enable it before listing or writing its entries.`, { store: store.name, storeType: store.type });
    const provider = this.providers.get(store.type);
    if (!provider) throw notRegistered(store, undefined);
    this.#noteStore(store);
    this.#validate(provider, store, undefined);
    return { store: await this.fillStore(store), provider };
  }

  reference(entry: string, store: SecretStore, account?: string): EntryReference {
    let parsed = this.#references.get(entry);
    if (!parsed) {
      try {
        parsed = parseReference(entry);
      } catch (error) {
        parsed = error as SecretbindError;
      }
      this.#references.set(entry, parsed);
    }
    if (parsed instanceof SecretbindError) throw parsed.withContext({ account, store: store.name, storeType: store.type });
    return parsed;
  }

  /**
   * One provider read, shared with identical reads in flight (they get the first caller's deadline), bounded by
   * the deadline. The listener hears the outcome; failures arrive as SecretbindError with store and account.
   */
  read(plan: Extract<Plan, { kind: 'store' }>, account: string | undefined, listener: CallListener<ProviderValue>): void {
    const { provider, store, ref } = plan;
    let pending = this.#inflight.get(store.name);
    const joined = pending?.get(ref.raw);
    if (joined) {
      joined.join(listener);
      return;
    }
    if (!pending) this.#inflight.set(store.name, (pending = new Map()));
    const forStore = pending;
    const call = new ProviderCall(this, store, account, listener, () => {
      forStore.delete(ref.raw);
      if (forStore.size === 0) this.#inflight.delete(store.name);
    });
    forStore.set(ref.raw, call);
    call.start((ctx) => provider.resolve(store, ref, ctx));
  }

  /** {@link read} as a promise. */
  resolveEntry(plan: Extract<Plan, { kind: 'store' }>, account: string | undefined): Promise<ProviderValue> {
    return new Promise((resolve, reject) => this.read(plan, account, { value: resolve, error: reject }));
  }

  resolveEntries(provider: SecretProvider, store: SecretStore, refs: readonly EntryReference[]): Promise<ReadonlyMap<string, ProviderSettled>> {
    const resolveMany = provider.resolveMany;
    if (!resolveMany) throw new Error('resolveEntries needs a provider with resolveMany');
    return this.withDeadline(store, undefined, (ctx) => resolveMany.call(provider, store, refs, ctx));
  }

  /**
   * Runs a provider call under the deadline. Past it the call fails with TIMEOUT whether or not the provider
   * honours the signal. Any failure comes out as a SecretbindError carrying the store and account.
   */
  withDeadline<T>(store: SecretStore, account: string | undefined, run: (ctx: ResolveContext) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => new ProviderCall<T>(this, store, account, { value: resolve, error: reject }).start(run));
  }

  /** @internal */
  get deadlines(): DeadlineQueue {
    return this.#deadlines;
  }

  /** The account's local password, decrypted; null when it has none. */
  local(account: Account): string | null {
    const token = account.password;
    if (token === undefined || token === null || token === '') return null;
    if (!this.#keys || this.#keys.length === 0) {
      throw new SecretbindError('LOCAL_KEY_MISSING', `Account ${JSON.stringify(account.name)} uses its local password, but no Fernet key is configured: set CRYPTOGRAPHY_KEY or pass cryptographyKey.`, {
        account: account.name,
      });
    }
    try {
      return decryptTextWithKeys(token, this.#keys);
    } catch (error) {
      throw (error as SecretbindError).withContext({ account: account.name });
    }
  }

  /** Whether a provider failure for this account is answered with the local password. */
  fallsBack(error: SecretbindError, account: Account): boolean {
    const policy = this.#policy;
    if (typeof policy !== 'function') return policy === 'use-local';
    try {
      return policy(error, account) === 'use-local';
    } catch {
      // A policy that throws decides nothing: the provider's failure stands, as with 'throw'.
      return false;
    }
  }

  emit(event: SecretEvent): void {
    if (!this.onEvent) return;
    try {
      this.onEvent(event);
    } catch {
      // A failing log sink must not fail a lookup, and library code has nowhere else to report it.
    }
  }

  async close(): Promise<void> {
    this.stale?.clear();
    // Pending deadlines stay: a call still in flight at close must end with TIMEOUT, not hang. The timer is unref'd.
    await Promise.allSettled([...this.providers.values()].map(async (provider) => provider.close?.()));
  }

  #validate(provider: SecretProvider, store: SecretStore, account: string | undefined): void {
    if (!provider.validateStore || this.#validStores.has(store)) return;
    try {
      provider.validateStore(store);
    } catch (error) {
      throw asProviderError(error, store, account);
    }
    this.#validStores.add(store);
  }
}

export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/** The value of a provider answer. */
export function valueOf(answer: ProviderValue): { value: string; cache: 'hit' | 'miss' | undefined } {
  return typeof answer === 'string' ? { value: answer, cache: undefined } : { value: answer.value, cache: answer.cache };
}

/** The entry point and factory of a built-in store type, for messages. */
export function entryPointOf(type: string): { module: string; factory: string } | undefined {
  if (!BUILT_IN_STORE_TYPES.includes(type)) return undefined;
  return { module: `secretbind/providers/${type}`, factory: type.replace(/_(\w)/g, (_, letter: string) => letter.toUpperCase()) };
}

function notRegistered(store: SecretStore, account: string | undefined): SecretbindError {
  const entry = entryPointOf(store.type);
  const fix = entry
    ? `import { ${entry.factory} } from '${entry.module}' and pass ${entry.factory}() in providers`
    : 'pass a provider with this type in providers';
  return new SecretbindError('PROVIDER_NOT_REGISTERED', `No provider is registered for store type "${store.type}" (store ${JSON.stringify(store.name)}): ${fix}.`, {
    account,
    store: store.name,
    storeType: store.type,
  });
}

/** A failure as a SecretbindError about this account; only the repository can throw anything else here. */
export function asResolutionError(thrown: unknown, account: Account): SecretbindError {
  if (isSecretbindError(thrown)) return thrown.withContext({ account: account.name });
  const name = thrown instanceof Error ? thrown.name : typeof thrown;
  return new SecretbindError('BACKEND_UNAVAILABLE', `The binding repository failed (${name}) while looking up account ${JSON.stringify(account.name)}; see error.cause.`, {
    account: account.name,
    cause: safeCause(thrown),
  });
}

/** Builds the one event a resolution emits. */
export function event(
  account: Account,
  plan: Plan | undefined,
  outcome: ResolutionEvent['outcome'],
  started: number,
  extra: Partial<Pick<ResolutionEvent, 'cache' | 'code' | 'fallback' | 'reason' | 'bulk' | 'ageMs'>>,
  error?: SecretbindError,
): ResolutionEvent {
  const resolution: ResolutionEvent = { source: 'Secrets', kind: 'resolution', account: account.name, outcome, durationMs: performance.now() - started, ...extra };
  const store = plan?.store?.name ?? error?.store;
  const storeType = plan?.store?.type ?? error?.storeType;
  if (store !== undefined) resolution.store = store;
  if (storeType !== undefined) resolution.storeType = storeType;
  if (plan?.kind === 'store') resolution.reference = plan.ref.raw;
  else if (plan?.binding) resolution.reference = plan.binding.entry;
  return resolution;
}
