import type { StoreAccess } from './access.js';
import { isSecretbindError, safeCause, SecretbindError } from '../core/index.js';
import type { EntryEvent } from '../core/index.js';
import {
  DEFAULT_OWNER,
  type SecretStore,
  type EntryInfo,
  type EntryValue,
  type ListOptions,
  type RemoveOptions,
  type SecretProvider,
  type WriteOptions,
  type WriteResult,
} from '../stores/index.js';
import { parseReference, type EntryReference } from '../core/index.js';

/**
 * Stores as destinations: list, write and remove through the store's provider, under the resolver's deadline, with
 * one event each. The rules every provider shares live here (the name is an entry without a field, the value is a
 * string or a flat object of strings, the owner mark is well formed); ownership and versions are the provider's.
 * @internal
 */

// Fits every store's label or tag rules (a Kubernetes label value is the narrowest: 63 characters, no colon there).
const OWNER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export async function listEntries(access: StoreAccess, storeName: string, options: ListOptions = {}): Promise<EntryInfo[]> {
  const started = performance.now();
  let target: { store: SecretStore; provider: SecretProvider } | undefined;
  try {
    target = await access.storeFor(storeName);
    const { store, provider } = target;
    const list = provider.list;
    if (!list) throw unsupported(store, 'list its entries');
    if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new SecretbindError('CONFIG_INVALID', 'list: prefix must be a string.');
    const listOptions: ListOptions = { recursive: options.recursive ?? true, metadata: options.metadata ?? false, ...(options.prefix ? { prefix: options.prefix } : {}) };
    const entries = await access.withDeadline(store, undefined, (ctx) => list.call(provider, store, listOptions, ctx));
    emit(access, { operation: 'list', store, outcome: 'ok', started, count: entries.length, ...(options.prefix ? { entry: options.prefix } : {}) });
    return [...entries];
  } catch (error) {
    throw failed(access, 'list', storeName, target?.store, options.prefix, error, started);
  }
}

export async function writeEntry(access: StoreAccess, storeName: string, name: string, value: EntryValue, options: WriteOptions = {}): Promise<WriteResult> {
  const started = performance.now();
  let target: { store: SecretStore; provider: SecretProvider } | undefined;
  try {
    target = await access.storeFor(storeName);
    const { store, provider } = target;
    const write = provider.write;
    if (!write) throw unsupported(store, 'be written');
    const ref = entryName(name);
    checkValue(value);
    if (options.merge && typeof value === 'string') throw new SecretbindError('CONFIG_INVALID', 'write: merge needs an object value (the fields to set).');
    const owner = ownerOf(options.owner);
    if (options.ifVersion !== undefined && (typeof options.ifVersion !== 'string' || options.ifVersion.length === 0)) throw new SecretbindError('CONFIG_INVALID', 'write: ifVersion must be a non-empty string.');
    const result = await access.withDeadline(store, undefined, (ctx) => write.call(provider, store, ref, value, { ...options, owner }, ctx));
    emit(access, { operation: 'write', store, entry: name, outcome: 'ok', started, version: result.version, created: result.created });
    return result;
  } catch (error) {
    throw failed(access, 'write', storeName, target?.store, name, error, started);
  }
}

export async function removeEntry(access: StoreAccess, storeName: string, name: string, options: RemoveOptions = {}): Promise<void> {
  const started = performance.now();
  let target: { store: SecretStore; provider: SecretProvider } | undefined;
  try {
    target = await access.storeFor(storeName);
    const { store, provider } = target;
    const remove = provider.remove;
    if (!remove) throw unsupported(store, 'have entries removed');
    const ref = entryName(name);
    const owner = ownerOf(options.owner);
    await access.withDeadline(store, undefined, (ctx) => remove.call(provider, store, ref, { ...options, owner }, ctx));
    emit(access, { operation: 'remove', store, entry: name, outcome: 'ok', started });
  } catch (error) {
    throw failed(access, 'remove', storeName, target?.store, name, error, started);
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

function emit(access: StoreAccess, fields: { operation: EntryEvent['operation']; store: SecretStore; outcome: EntryEvent['outcome']; started: number; entry?: string; version?: string; created?: boolean; count?: number }): void {
  if (!access.onEvent) return;
  const entryEvent: EntryEvent = { source: 'Secrets', kind: 'entry', operation: fields.operation, store: fields.store.name, storeType: fields.store.type, outcome: fields.outcome, durationMs: performance.now() - fields.started };
  if (fields.entry !== undefined) entryEvent.entry = fields.entry;
  if (fields.version !== undefined) entryEvent.version = fields.version;
  if (fields.created !== undefined) entryEvent.created = fields.created;
  if (fields.count !== undefined) entryEvent.count = fields.count;
  access.emit(entryEvent);
}

function failed(access: StoreAccess, operation: EntryEvent['operation'], storeName: string, store: SecretStore | undefined, entry: string | undefined, thrown: unknown, started: number): SecretbindError {
  const error = isSecretbindError(thrown)
    ? thrown.withContext({ store: store?.name ?? storeName, storeType: store?.type })
    : new SecretbindError('BACKEND_UNAVAILABLE', `The repository failed while looking up store ${JSON.stringify(storeName)}; see error.cause.`, { store: storeName, cause: safeCause(thrown) });
  if (access.onEvent) {
    const entryEvent: EntryEvent = { source: 'Secrets', kind: 'entry', operation, store: store?.name ?? storeName, outcome: 'error', durationMs: performance.now() - started, code: error.code };
    if (store) entryEvent.storeType = store.type;
    if (typeof entry === 'string') entryEvent.entry = entry;
    access.emit(entryEvent);
  }
  return error;
}
