import { LRUCache } from 'lru-cache';
import { isSecretbindError, SecretbindError } from '../core/index.js';
import { emitTo, type SecretEvent, type SecretEventListener } from '../core/index.js';
import { parseReference, type EntryReference } from '../core/index.js';
import { BUILT_IN_STORE_TYPES } from '../stores/index.js';
import type { BindingRepository, MaybePromise, SecretStore } from '../stores/index.js';
import type { ProviderSettled, ProviderValue, ResolveContext, SecretProvider } from '../stores/index.js';
import { asProviderError, ProviderCall, SharedReads, type CallHost, type ReadyRead } from './call.js';
import { DeadlineQueue } from './deadline.js';
import { hasStoreRefs, StoreRefs } from './refs.js';

/**
 * Store access: what the resolver, sync and migration share to reach a store. It finds a store's provider and
 * validates the record once, parses references once, fills `<field>_ref` fields, and runs provider calls under
 * the deadline with identical reads in flight shared.
 * @internal
 */

export interface StoreAccessOptions {
  repository: BindingRepository;
  providers: readonly SecretProvider[];
  onEvent: SecretEventListener | undefined;
  /** The deadline of one provider call, in milliseconds. */
  timeoutMs: number;
}

const REFERENCE_CACHE_SIZE = 10_000;

export class StoreAccess implements CallHost {
  readonly repository: BindingRepository;
  readonly providers = new Map<string, SecretProvider>();
  readonly timeoutMs: number;
  readonly onEvent: SecretEventListener | undefined;
  readonly deadlines = new DeadlineQueue();
  /** Identical reads in flight, shared. */
  readonly reads: SharedReads;
  // Parsed references (or their parse errors) by text: bindings repeat, parsing per lookup is waste.
  readonly #references = new LRUCache<string, EntryReference | SecretbindError>({ max: REFERENCE_CACHE_SIZE });
  readonly #validStores = new WeakSet<SecretStore>();
  readonly #credentialVariables = new Set<string>(['CRYPTOGRAPHY_KEY']);
  // Stores whose *_env fields were noted: once per store record, not once per lookup.
  readonly #notedStores = new WeakSet<SecretStore>();
  readonly #refStores = new WeakMap<SecretStore, boolean>();
  readonly #storeRefs: StoreRefs;

  constructor(options: StoreAccessOptions) {
    this.repository = options.repository;
    this.timeoutMs = options.timeoutMs;
    this.onEvent = options.onEvent;
    this.reads = new SharedReads(this);
    this.#storeRefs = new StoreRefs({
      readEntry: (storeName, reference, chain) => this.#readForStore(storeName, reference, chain),
      findStore: (storeName) => this.repository.findStore(storeName),
      timeoutMs: this.timeoutMs,
      warn: (store, message, detail) => this.emit({ source: 'Secrets', kind: 'provider', level: 'warn', store: store.name, storeType: store.type, message, detail }),
    });
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

  emit(event: SecretEvent): void {
    emitTo(this.onEvent, event);
  }

  /**
   * Makes `into` a read of `entry` in an enabled store record, ready for {@link SharedReads.read}: the provider found,
   * the record validated (once per record), the reference parsed (once per text), `<field>_ref` fields filled.
   * Filling the caller's object and staying synchronous while no `_ref` field needs reading keep a lookup at one
   * allocation and no promise hop. Throws PROVIDER_NOT_REGISTERED, the provider's CONFIG_INVALID and
   * REFERENCE_INVALID, with the account.
   */
  prepare<T extends object>(into: T, store: SecretStore, entry: string, account: string | undefined): (T & ReadyRead) | Promise<T & ReadyRead> {
    this.#noteStore(store);
    const ready = into as T & ReadyRead;
    ready.store = store;
    ready.provider = this.#providerFor(store, account);
    ready.ref = this.reference(entry, store, account);
    if (!this.#hasRefs(store)) return ready;
    return this.#storeRefs.fill(store).then(
      (filled) => {
        ready.store = filled;
        return ready;
      },
      (error: unknown) => {
        throw isSecretbindError(error) ? error.withContext({ account }) : error;
      },
    );
  }

  /** A store record ready for its provider: `<field>_ref` fields filled in. */
  fillStore(store: SecretStore): Promise<SecretStore> {
    return this.#hasRefs(store) ? this.#storeRefs.fill(store) : Promise.resolve(store);
  }

  /** A store and its provider for a list, write, remove or batch read; it must exist, be enabled and validate. */
  async storeFor(storeName: string): Promise<{ store: SecretStore; provider: SecretProvider }> {
    if (typeof storeName !== 'string' || storeName.length === 0) throw new SecretbindError('CONFIG_INVALID', 'A store name is required.');
    const store = await this.repository.findStore(storeName);
    if (!store) throw new SecretbindError('STORE_NOT_FOUND', `Store ${JSON.stringify(storeName)} does not exist: add it to the configuration or fix the name.`, { store: storeName });
    if (store.enabled === false) throw new SecretbindError('CONFIG_INVALID', `Store ${JSON.stringify(storeName)} is disabled: enable it before listing or writing its entries.`, { store: store.name, storeType: store.type });
    // The provider first: a store no provider serves lends its *_env names to nothing.
    if (!this.providers.has(store.type)) throw notRegistered(store, undefined);
    this.#noteStore(store);
    const provider = this.#providerFor(store, undefined);
    return { store: await this.fillStore(store), provider };
  }

  /** The provider of a store record, which it has validated; PROVIDER_NOT_REGISTERED when there is none. */
  providerOf(store: SecretStore, account?: string): SecretProvider {
    this.#noteStore(store);
    return this.#providerFor(store, account);
  }

  /** An entry reference, parsed once per text; REFERENCE_INVALID with the store and account. */
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

  /** {@link SharedReads.read} as a promise. */
  readOnce(ready: ReadyRead, account: string | undefined): Promise<ProviderValue> {
    return new Promise((resolve, reject) => this.reads.read(ready, account, { value: resolve, error: reject }));
  }

  /** One `resolveMany` batch under the deadline. */
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

  async close(): Promise<void> {
    // Pending deadlines stay: a call still in flight at close must end with TIMEOUT, not hang. The timer is unref'd.
    await Promise.allSettled([...this.providers.values()].map(async (provider) => provider.close?.()));
  }

  #providerFor(store: SecretStore, account: string | undefined): SecretProvider {
    const provider = this.providers.get(store.type);
    if (!provider) throw notRegistered(store, account);
    if (provider.validateStore && !this.#validStores.has(store)) {
      try {
        provider.validateStore(store);
      } catch (error) {
        throw asProviderError(error, store, account);
      }
      this.#validStores.add(store);
    }
    return provider;
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
    const provider = this.#providerFor(store, undefined);
    const ref = this.reference(reference, store);
    const ready = this.#hasRefs(store) ? await this.#storeRefs.fill(store, chain) : store;
    return valueOf(await this.withDeadline(ready, undefined, (ctx) => provider.resolve(ready, ref, ctx))).value;
  }

  #learnCredentialVariables(): void {
    let stores: MaybePromise<readonly SecretStore[]> | undefined;
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
