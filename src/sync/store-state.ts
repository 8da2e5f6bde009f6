import { SecretbindError, isSecretbindError } from '../core/index.js';
import type { SecretStore } from '../stores/index.js';
import type { ResolveContext, SecretProvider } from '../stores/index.js';
import { DEFAULT_OWNER } from '../stores/index.js';
import { parseReference } from '../core/index.js';
import { MemorySyncState, type AssociationRecord, type SyncStateRepository } from './state.js';

export interface StoreSyncStateOptions {
  /** The provider of the store that keeps the state (`kubernetes()`). */
  provider: SecretProvider;
  /** The store record (`{ name: 'state', type: 'kubernetes', kubernetes_namespace: 'secretbind' }`). */
  store: SecretStore;
  /** The entry holding the state (a Secret's name). Default: `secretbind-sync-state`. */
  entry?: string;
  /** Deadline of one store call, in milliseconds. Default: 10000. */
  timeoutMs?: number;
  /** How long a read of the state is reused before `list` reads it again, in milliseconds. Default: 1000. */
  maxAgeMs?: number;
}

/**
 * Sync's associations in one entry of a store with versions (a Kubernetes Secret), so every replica finds them: a
 * standby that becomes leader reads what the old leader wrote, and its first pass writes nothing already in place.
 * Each flush is guarded by the version it read (`CONFLICT` when another writer moved it; the next flush writes over
 * it with a fresh version) and carries the owner mark. Only a pass that changed something flushes, so a standby,
 * which writes nothing, never writes the state either. The entry holds names, versions and HMACs, never a key.
 *
 * @example
 * ```ts
 * const state = new StoreSyncState({ provider: kubernetes(), store: { name: 'state', type: 'kubernetes', kubernetes_namespace: 'secretbind' } })
 * ```
 */
export class StoreSyncState implements SyncStateRepository {
  readonly #records = new MemorySyncState();
  readonly #provider: SecretProvider;
  readonly #store: SecretStore;
  readonly #entry: string;
  readonly #timeoutMs: number;
  readonly #maxAgeMs: number;
  #version: string | undefined;
  #loadedAt = -Infinity;
  #dirty = false;

  constructor(options: StoreSyncStateOptions) {
    if (!options.provider?.write || !options.provider.list) throw new SecretbindError('CONFIG_INVALID', `StoreSyncState needs a store type that can be listed and written, not ${JSON.stringify(options.provider?.type)}.`);
    this.#provider = options.provider;
    this.#store = options.store;
    this.#entry = options.entry ?? 'secretbind-sync-state';
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
  }

  async list(sync?: string): Promise<AssociationRecord[]> {
    // Unsaved changes are the newest truth; otherwise what the store holds now (another replica may have written).
    if (!this.#dirty && performance.now() - this.#loadedAt >= this.#maxAgeMs) await this.#load();
    return this.#records.list(sync);
  }

  put(record: AssociationRecord): void {
    this.#records.put(record);
    this.#dirty = true;
  }

  remove(sync: string, entry: string): void {
    this.#records.remove(sync, entry);
    this.#dirty = true;
  }

  async flush(): Promise<void> {
    if (!this.#dirty) return;
    const body = JSON.stringify({ version: 2, associations: this.#records.list() });
    try {
      const result = await this.#call((ctx) => this.#provider.write!(this.#store, parseReference(this.#entry), { state: body }, { owner: DEFAULT_OWNER, ifVersion: this.#version ?? 'absent' }, ctx));
      this.#version = result.version || undefined;
      this.#dirty = false;
    } catch (error) {
      // Someone else wrote it: take its version so the next flush writes over it (this replica is the leader).
      if (isSecretbindError(error) && error.code === 'CONFLICT') this.#version = await this.#currentVersion().catch(() => this.#version);
      throw error;
    }
  }

  async #load(): Promise<void> {
    const version = await this.#currentVersion();
    let text: string | undefined;
    if (version !== undefined) {
      try {
        const answer = await this.#call((ctx) => this.#provider.resolve(this.#store, parseReference(`${this.#entry}#state`), ctx));
        text = typeof answer === 'string' ? answer : answer.value;
      } catch (error) {
        if (!(isSecretbindError(error) && (error.code === 'ENTRY_NOT_FOUND' || error.code === 'FIELD_NOT_FOUND'))) throw error;
      }
    }
    let associations: AssociationRecord[] = [];
    if (text !== undefined) {
      try {
        associations = (JSON.parse(text) as { associations?: AssociationRecord[] }).associations ?? [];
      } catch {
        throw new SecretbindError('CONFIG_INVALID', `The sync state in ${this.#store.name}:${this.#entry} is not secretbind's JSON: remove the entry or point the state elsewhere.`, { store: this.#store.name, storeType: this.#store.type });
      }
    }
    for (const record of this.#records.list()) this.#records.remove(record.sync, record.entry);
    for (const record of associations) this.#records.put(record);
    this.#version = version;
    this.#loadedAt = performance.now();
  }

  async #currentVersion(): Promise<string | undefined> {
    const listed = await this.#call((ctx) => this.#provider.list!(this.#store, { prefix: this.#entry, recursive: false, metadata: true }, ctx));
    return listed.find((info) => info.name === this.#entry)?.version;
  }

  #call<T>(run: (ctx: ResolveContext) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    return run({ signal, account: undefined, emit: () => {} });
  }
}
