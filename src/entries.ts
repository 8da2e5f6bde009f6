import type { SecretStore } from './bindings.js';
import type { Engine } from './engine.js';
import { isSecretbindError, safeCause, SecretbindError } from './errors.js';
import type { EntryEvent } from './events.js';
import {
  DEFAULT_OWNER,
  type EntryInfo,
  type EntryValue,
  type ListOptions,
  type RemoveOptions,
  type SecretProvider,
  type WriteOptions,
  type WriteResult,
} from './provider.js';
import { parseReference, type EntryReference } from './reference.js';

/**
 * Stores as destinations: list, write and remove through the store's provider, under the resolver's deadline, with
 * one event each. The rules every provider shares live here (the name is an entry without a field, the value is a
 * string or a flat object of strings, the owner mark is well formed); ownership and versions are the provider's.
 * @internal
 */

// Fits every store's label or tag rules (a Kubernetes label value is the narrowest: 63 characters, no colon there).
const OWNER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export async function listEntries(engine: Engine, storeName: string, options: ListOptions = {}): Promise<EntryInfo[]> {
  const started = performance.now();
  let target: { store: SecretStore; provider: SecretProvider } | undefined;
  try {
    target = await engine.storeFor(storeName);
    const { store, provider } = target;
    const list = provider.list;
    if (!list) throw unsupported(store, 'list its entries');
    if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new SecretbindError('CONFIG_INVALID', 'list: prefix must be a string.');
    const listOptions: ListOptions = { recursive: options.recursive ?? true, metadata: options.metadata ?? false, ...(options.prefix ? { prefix: options.prefix } : {}) };
    const entries = await engine.withDeadline(store, undefined, (ctx) => list.call(provider, store, listOptions, ctx));
    emit(engine, { operation: 'list', store, outcome: 'ok', started, count: entries.length, ...(options.prefix ? { entry: options.prefix } : {}) });
    return [...entries];
  } catch (error) {
    throw failed(engine, 'list', storeName, target?.store, options.prefix, error, started);
  }
}

export async function writeEntry(engine: Engine, storeName: string, name: string, value: EntryValue, options: WriteOptions = {}): Promise<WriteResult> {
  const started = performance.now();
  let target: { store: SecretStore; provider: SecretProvider } | undefined;
  try {
    target = await engine.storeFor(storeName);
    const { store, provider } = target;
    const write = provider.write;
    if (!write) throw unsupported(store, 'be written');
    const ref = entryName(name);
    checkValue(value);
    if (options.merge && typeof value === 'string') throw new SecretbindError('CONFIG_INVALID', 'write: merge needs an object value (the fields to set).');
    const owner = ownerOf(options.owner);
    if (options.ifVersion !== undefined && (typeof options.ifVersion !== 'string' || options.ifVersion.length === 0)) throw new SecretbindError('CONFIG_INVALID', 'write: ifVersion must be a non-empty string.');
    const result = await engine.withDeadline(store, undefined, (ctx) => write.call(provider, store, ref, value, { ...options, owner }, ctx));
    emit(engine, { operation: 'write', store, entry: name, outcome: 'ok', started, version: result.version, created: result.created });
    return result;
  } catch (error) {
    throw failed(engine, 'write', storeName, target?.store, name, error, started);
  }
}

export async function removeEntry(engine: Engine, storeName: string, name: string, options: RemoveOptions = {}): Promise<void> {
  const started = performance.now();
  let target: { store: SecretStore; provider: SecretProvider } | undefined;
  try {
    target = await engine.storeFor(storeName);
    const { store, provider } = target;
    const remove = provider.remove;
    if (!remove) throw unsupported(store, 'have entries removed');
    const ref = entryName(name);
    const owner = ownerOf(options.owner);
    await engine.withDeadline(store, undefined, (ctx) => remove.call(provider, store, ref, { ...options, owner }, ctx));
    emit(engine, { operation: 'remove', store, entry: name, outcome: 'ok', started });
  } catch (error) {
    throw failed(engine, 'remove', storeName, target?.store, name, error, started);
  }
}

/** The entry a write or remove names: a reference without a field. */
function entryName(name: string): EntryReference {
  const ref = parseReference(name);
  if (ref.field !== undefined) {
    throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(name)} names a field; a write or remove names a whole entry: drop "#${ref.field}" (write an object to set several fields).`);
  }
  return ref;
}

function checkValue(value: unknown): void {
  if (typeof value === 'string') return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SecretbindError('CONFIG_INVALID', 'write: the value must be a string or a flat object of strings.');
  const keys = Object.keys(value);
  if (keys.length === 0) throw new SecretbindError('CONFIG_INVALID', 'write: an object value needs at least one key.');
  for (const key of keys) {
    // Name the key, never the value.
    if (key.length === 0) throw new SecretbindError('CONFIG_INVALID', 'write: an object value has an empty key.');
    if (typeof (value as Record<string, unknown>)[key] !== 'string') throw new SecretbindError('CONFIG_INVALID', `write: the value of key ${JSON.stringify(key)} is not a string; nested values must be JSON text.`);
  }
}

function ownerOf(owner: unknown): string {
  if (owner === undefined) return DEFAULT_OWNER;
  if (typeof owner !== 'string' || !OWNER_PATTERN.test(owner)) {
    throw new SecretbindError('CONFIG_INVALID', `The owner mark must be 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit (got ${JSON.stringify(owner)}).`);
  }
  return owner;
}

function unsupported(store: SecretStore, what: string): SecretbindError {
  return new SecretbindError('OPERATION_UNSUPPORTED', `Store ${JSON.stringify(store.name)} is of type ${store.type}, which cannot ${what}: choose a writable store type (keepass, vault, aws_secrets, dotenv, kubernetes, memory...).`, {
    store: store.name,
    storeType: store.type,
  });
}

function emit(engine: Engine, fields: { operation: EntryEvent['operation']; store: SecretStore; outcome: EntryEvent['outcome']; started: number; entry?: string; version?: string; created?: boolean; count?: number }): void {
  if (!engine.onEvent) return;
  const entryEvent: EntryEvent = { source: 'Secrets', kind: 'entry', operation: fields.operation, store: fields.store.name, storeType: fields.store.type, outcome: fields.outcome, durationMs: performance.now() - fields.started };
  if (fields.entry !== undefined) entryEvent.entry = fields.entry;
  if (fields.version !== undefined) entryEvent.version = fields.version;
  if (fields.created !== undefined) entryEvent.created = fields.created;
  if (fields.count !== undefined) entryEvent.count = fields.count;
  engine.emit(entryEvent);
}

function failed(engine: Engine, operation: EntryEvent['operation'], storeName: string, store: SecretStore | undefined, entry: string | undefined, thrown: unknown, started: number): SecretbindError {
  const error = isSecretbindError(thrown)
    ? thrown.withContext({ store: store?.name ?? storeName, storeType: store?.type })
    : new SecretbindError('BACKEND_UNAVAILABLE', `The repository failed while looking up store ${JSON.stringify(storeName)}; see error.cause.`, { store: storeName, cause: safeCause(thrown) });
  if (engine.onEvent) {
    const entryEvent: EntryEvent = { source: 'Secrets', kind: 'entry', operation, store: store?.name ?? storeName, outcome: 'error', durationMs: performance.now() - started, code: error.code };
    if (store) entryEvent.storeType = store.type;
    if (typeof entry === 'string') entryEvent.entry = entry;
    engine.emit(entryEvent);
  }
  return error;
}

/** What a provider knows of an entry before it writes or removes it. */
export interface ExistingEntry {
  /** How messages name the entry, e.g. `Vault secret apps/db`. */
  what: string;
  exists: boolean;
  /** The owner its mark names, or undefined when it carries none. */
  owner: string | undefined;
  /** Its version, compared with `ifVersion`. */
  version: string | undefined;
  /** How messages name the mark, e.g. `a managed-by tag`. */
  mark: string;
  storeType: string;
  /**
   * Deleted but recoverable (an AWS recovery window, Key Vault's soft delete): absent to readers, so
   * `ifVersion: 'absent'` holds, but the name is still its owner's.
   */
  recoverable?: boolean;
}

/**
 * The rules every writable store applies before a write or remove, in this order: `ifVersion: 'absent'` needs a new
 * entry; an entry that exists must carry this owner's mark unless `adopt` (`ENTRY_NOT_OWNED`); `ifVersion` must match
 * the entry's version (`CONFLICT`). For provider authors.
 *
 * @example
 * ```ts
 * guardWrite({ what: `Secret ${name}`, exists: true, owner: tags['managed-by'], version, mark: 'a managed-by tag', storeType: 'aws_secrets' }, options)
 * ```
 */
export function guardWrite(entry: ExistingEntry, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }): void {
  const context = { storeType: entry.storeType };
  if (options.ifVersion === 'absent' && !entry.recoverable) {
    if (entry.exists) throw new SecretbindError('CONFLICT', `${entry.what} exists already (ifVersion "absent"): read it and decide again.`, context);
    return;
  }
  if (!entry.exists) {
    if (options.ifVersion !== undefined) throw new SecretbindError('CONFLICT', `${entry.what} no longer exists (expected version ${options.ifVersion}).`, context);
    return;
  }
  if (entry.owner !== options.owner && !options.adopt) {
    throw new SecretbindError(
      'ENTRY_NOT_OWNED',
      `${entry.what} ${entry.owner === undefined ? `has no ${entry.mark}` : `belongs to owner ${JSON.stringify(entry.owner)}`}; secretbind leaves it alone. Pass adopt to take it over.`,
      context,
    );
  }
  if (options.ifVersion !== undefined && options.ifVersion !== 'absent' && options.ifVersion !== entry.version) {
    throw new SecretbindError('CONFLICT', `${entry.what} is at version ${entry.version ?? 'unknown'}, not ${options.ifVersion}: read it again.`, context);
  }
}
