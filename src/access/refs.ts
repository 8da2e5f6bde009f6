import type { SecretStore } from '../stores/index.js';
import { isSecretbindError, SecretbindError } from '../core/index.js';
import { parseStoreRef, REF_SUFFIX } from '../stores/index.js';

/** How long a store's `<field>_ref` values are used before they are read again (credential rotation). */
export const STORE_REF_REFRESH_MS = 60_000;

/** How deep stores may lend each other credentials: `a.token_ref` -> `b`, whose password is in `c`... */
const MAX_DEPTH = 4;

/** What the engine lends the store-ref reader: a store by name, ready to read from, and one read. */
export interface StoreRefHost {
  readEntry(storeName: string, reference: string, chain: readonly string[]): Promise<string>;
  /** The store records, to find loops before anything is read. */
  findStore(storeName: string): SecretStore | undefined | Promise<SecretStore | undefined>;
  /** The lookup deadline: no fill is waited on for longer, whatever it waits for. */
  readonly timeoutMs: number;
  warn(store: SecretStore, message: string, detail: Readonly<Record<string, string>>): void;
}

interface Filled {
  at: number;
  store: SecretStore;
  values: readonly string[];
}

/** Whether a store record has any `<field>_ref` field. */
export function hasStoreRefs(store: SecretStore): boolean {
  for (const field in store) if (field.endsWith(REF_SUFFIX) && store[field] != null) return true;
  return false;
}

/**
 * Fills `<field>_ref` fields from the stores they name. The filled record is kept per store record and reused while
 * its values are unchanged, so provider clients keyed by the record survive a refresh. Filled records live in
 * memory only; nothing about them reaches an event but field and store names.
 */
export class StoreRefs {
  readonly #host: StoreRefHost;
  readonly #filled = new WeakMap<SecretStore, Filled>();
  readonly #pending = new WeakMap<SecretStore, Promise<SecretStore>>();
  readonly #now: () => number;

  constructor(host: StoreRefHost, now: () => number = Date.now) {
    this.#host = host;
    this.#now = now;
  }

  /** The store with every `<field>_ref` replaced by `<field>`. */
  fill(store: SecretStore, chain: readonly string[] = []): Promise<SecretStore> {
    // Checked before joining a pending read: in a loop that read is waiting for this one.
    if (chain.includes(store.name) || chain.length >= MAX_DEPTH) return Promise.reject(lendingError([...chain, store.name]));
    const filled = this.#filled.get(store);
    if (filled && this.#now() - filled.at < STORE_REF_REFRESH_MS) return Promise.resolve(filled.store);
    let pending = this.#pending.get(store);
    if (!pending) {
      // The loop check runs first, on the records alone: two lookups entering a loop at different stores would
      // otherwise each wait on the other's pending read.
      pending = this.#findLoop(store, chain)
        .then(() => this.#read(store, chain, filled))
        .finally(() => this.#pending.delete(store));
      this.#pending.set(store, pending);
    }
    return this.#bounded(store, pending);
  }

  /** Walks the `_ref` fields through the store records, from `store`, and rejects on a loop or a chain too deep. */
  async #findLoop(store: SecretStore, chain: readonly string[]): Promise<void> {
    const path = [...chain, store.name];
    for (const target of refTargets(store)) {
      if (path.includes(target)) throw lendingError([...path, target]);
      if (path.length >= MAX_DEPTH) throw lendingError([...path, target]);
      const next = await this.#host.findStore(target);
      if (next) await this.#findLoop(next, path);
    }
  }

  /** Waits for a fill no longer than the lookup deadline (a fill waits on reads; reads can wait on fills). */
  #bounded(store: SecretStore, pending: Promise<SecretStore>): Promise<SecretStore> {
    return new Promise<SecretStore>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SecretbindError('TIMEOUT', `Store ${JSON.stringify(store.name)}: its <field>_ref credentials were not read within ${this.#host.timeoutMs} ms.`, { store: store.name, storeType: store.type, retryable: true })),
        this.#host.timeoutMs,
      );
      pending.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  async #read(store: SecretStore, chain: readonly string[], previous: Filled | undefined): Promise<SecretStore> {
    const fields = Object.keys(store).filter((field) => field.endsWith(REF_SUFFIX) && store[field] != null);
    let values: string[];
    try {
      values = await Promise.all(
        fields.map(async (field) => {
          const target = parseStoreRef(store[field]);
          if (!target) throw new SecretbindError('CONFIG_INVALID', `Store ${JSON.stringify(store.name)}: ${field} must be store:reference.`);
          try {
            return await this.#host.readEntry(target.store, target.reference, [...chain, store.name]);
          } catch (error) {
            const failure = isSecretbindError(error) ? error : new SecretbindError('BACKEND_UNAVAILABLE', 'failed unexpectedly');
            throw new SecretbindError(failure.code, `Store ${JSON.stringify(store.name)}: ${field} (${target.store}:${target.reference}) could not be read: ${failure.message}`, {
              store: store.name,
              storeType: store.type,
              cause: failure,
              ...(failure.retryable ? { retryable: true } : {}),
            });
          }
        }),
      );
    } catch (error) {
      // Credentials read a minute ago still work more often than not: a failed refresh keeps them, and says so.
      if (previous && isSecretbindError(error) && error.retryable) {
        this.#host.warn(store, 'Store credentials could not be refreshed; the ones read before are kept', { code: error.code });
        this.#filled.set(store, { ...previous, at: this.#now() });
        return previous.store;
      }
      throw error;
    }
    if (previous && previous.values.every((value, index) => value === values[index])) {
      this.#filled.set(store, { ...previous, at: this.#now() });
      return previous.store;
    }
    const record: SecretStore = { ...store };
    fields.forEach((field, index) => {
      delete record[field];
      record[field.slice(0, -REF_SUFFIX.length)] = values[index];
    });
    this.#filled.set(store, { at: this.#now(), store: record, values });
    return record;
  }
}

/** The stores a record's `<field>_ref` fields name. */
function refTargets(store: SecretStore): string[] {
  const targets: string[] = [];
  for (const field in store) {
    if (!field.endsWith(REF_SUFFIX) || store[field] == null) continue;
    const target = parseStoreRef(store[field]);
    if (target && !targets.includes(target.store)) targets.push(target.store);
  }
  return targets;
}

function lendingError(path: readonly string[]): SecretbindError {
  const first = path[0]!;
  return new SecretbindError('CONFIG_INVALID', `Store ${JSON.stringify(first)}: its credentials come through ${path.join(' -> ')}; stores cannot lend each other credentials in a loop or more than ${MAX_DEPTH} deep. Fix the <field>_ref fields of these stores.`, { store: first });
}
