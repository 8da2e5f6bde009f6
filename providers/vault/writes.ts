/**
 * Vault as a destination. KV v2: LIST on metadata (one call per folder), the owner mark in `custom_metadata`
 * (`managed-by`), every write guarded by `cas` against the version read just before, removal by deleting the
 * metadata (every version). KV v1 has no metadata and no versions: it cannot carry a mark, so an existing KV v1 entry
 * is never overwritten or removed without `adopt`, and `ifVersion` is OPERATION_UNSUPPORTED.
 */
import {
  formatReference,
  guardWrite,
  SecretbindError,
  type EntryInfo,
  type EntryReference,
  type EntryValue,
  type ListOptions,
  type ProviderRemoveOptions,
  type ProviderWriteOptions,
  type ResolveContext,
  type SecretStore,
  type WriteResult,
} from 'secretbind';
import { statusOf, type VaultBody, type VaultSession } from './session.js';

const TYPE = 'vault';
/** The custom_metadata key that marks a secret as secretbind's. */
export const OWNER_KEY = 'managed-by';
const DEFAULT_FIELD = 'password';

/** Builds the encoded KV path of secret segments for one kind of endpoint (checked to stay under the mount). */
export type PathBuilder = (store: SecretStore, segments: readonly string[], kind: 'data' | 'metadata' | 'folder') => string;

interface Metadata {
  current_version?: number;
  updated_time?: string;
  custom_metadata?: Record<string, string> | null;
  versions?: Record<string, { deletion_time?: string; destroyed?: boolean }>;
}

export async function listSecrets(session: VaultSession, store: SecretStore, options: ListOptions & { metadata?: boolean }, ctx: ResolveContext, build: PathBuilder): Promise<EntryInfo[]> {
  const v2 = store.vault_kv_version !== 1;
  const prefix = options.prefix ?? '';
  const cut = prefix.lastIndexOf('/');
  const startFolder = cut === -1 ? '' : prefix.slice(0, cut + 1);
  const namePrefix = cut === -1 ? prefix : prefix.slice(cut + 1);
  const names: string[] = [];
  const folders = [startFolder];
  while (folders.length > 0) {
    const folder = folders.shift()!;
    const keys = await listFolder(session, store, folder, ctx, build);
    for (const key of keys) {
      if (folder === startFolder && !key.startsWith(namePrefix)) continue;
      if (key.endsWith('/')) {
        if (options.recursive !== false) folders.push(`${folder}${key}`);
      } else {
        names.push(`${folder}${key}`);
      }
    }
  }
  const entries: EntryInfo[] = [];
  for (const name of names) {
    const reference = formatReference(name.split('/'));
    if (!v2 || !options.metadata) {
      entries.push({ name: reference });
      continue;
    }
    const metadata = await readMetadata(session, store, { raw: reference, segments: name.split('/'), field: undefined }, ctx, build);
    const owner = metadata?.custom_metadata?.[OWNER_KEY];
    entries.push({
      name: reference,
      ...(metadata?.current_version ? { version: String(metadata.current_version) } : {}),
      ...(metadata?.updated_time ? { updatedAt: metadata.updated_time } : {}),
      owned: owner !== undefined,
      ...(owner ? { owner } : {}),
    });
  }
  return entries;
}

/** The keys of one folder (`a`, `sub/`); a missing or empty folder is 404 in Vault, an empty list here. */
async function listFolder(session: VaultSession, store: SecretStore, folder: string, ctx: ResolveContext, build: PathBuilder): Promise<string[]> {
  try {
    const body = await session.list(build(store, folder.split('/').filter(Boolean), 'folder'), ctx);
    const keys = (body.data as { keys?: unknown } | undefined)?.keys;
    return Array.isArray(keys) ? keys.map(String) : [];
  } catch (error) {
    if (statusOf(error) === 404) return [];
    throw error;
  }
}

async function readMetadata(session: VaultSession, store: SecretStore, ref: EntryReference, ctx: ResolveContext, build: PathBuilder): Promise<Metadata | undefined> {
  try {
    return ((await session.read(build(store, ref.segments, 'metadata'), ctx)).data ?? undefined) as Metadata | undefined;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

export async function writeSecret(session: VaultSession, store: SecretStore, ref: EntryReference, value: EntryValue, options: ProviderWriteOptions, ctx: ResolveContext, build: PathBuilder): Promise<WriteResult> {
  const name = formatReference(ref.segments);
  if (store.vault_kv_version === 1) return writeV1(session, store, ref, name, value, options, ctx, build);
  const metadata = await readMetadata(session, store, ref, ctx, build);
  const current = metadata?.current_version ?? 0;
  const owner = metadata?.custom_metadata?.[OWNER_KEY];
  guard(name, metadata !== undefined, owner, String(current), options);
  let data: Record<string, string> = typeof value === 'string' ? { [DEFAULT_FIELD]: value } : { ...value };
  if (options.merge && current > 0) {
    try {
      const body = await session.read(build(store, ref.segments, 'data'), ctx);
      data = { ...((body.data?.data as Record<string, string> | undefined) ?? {}), ...data };
    } catch (error) {
      if (statusOf(error) !== 404) throw error; // a deleted latest version: nothing to merge into
    }
  }
  // The mark goes first: a crash between the two calls leaves an owned entry with its old value, which the next
  // write updates, never an unmarked value that secretbind could no longer touch. POST replaces custom_metadata,
  // so the keys someone else set are sent back with ours.
  if (owner !== options.owner) {
    await session.write(build(store, ref.segments, 'metadata'), { custom_metadata: { ...(metadata?.custom_metadata ?? {}), [OWNER_KEY]: options.owner } }, ctx);
  }
  let body: VaultBody;
  try {
    body = await session.write(build(store, ref.segments, 'data'), { data, options: { cas: current } }, ctx);
  } catch (error) {
    if (isCasMismatch(error)) throw new SecretbindError('CONFLICT', `Vault secret ${name} changed after it was read (check-and-set failed): read it again.`, { storeType: TYPE, cause: error });
    throw error;
  }
  const version = (body.data as { version?: number } | null | undefined)?.version;
  return { version: String(version ?? current + 1), created: current === 0 };
}

async function writeV1(session: VaultSession, store: SecretStore, ref: EntryReference, name: string, value: EntryValue, options: ProviderWriteOptions, ctx: ResolveContext, build: PathBuilder): Promise<WriteResult> {
  if (options.ifVersion !== undefined && options.ifVersion !== 'absent') throw unguarded(name);
  const existing = await readV1(session, store, ref, ctx, build);
  if (existing && options.ifVersion === 'absent') throw new SecretbindError('CONFLICT', `Vault secret ${name} exists already (ifVersion "absent").`, { storeType: TYPE });
  if (existing && !options.adopt) throw notOwnedV1(name);
  let data: Record<string, unknown> = typeof value === 'string' ? { [DEFAULT_FIELD]: value } : { ...value };
  if (options.merge && existing) data = { ...existing, ...data };
  await session.write(build(store, ref.segments, 'data'), data, ctx);
  // KV v1 keeps no versions: the write's time stands in, so callers can still tell writes apart.
  return { version: new Date().toISOString(), created: !existing };
}

async function readV1(session: VaultSession, store: SecretStore, ref: EntryReference, ctx: ResolveContext, build: PathBuilder): Promise<Record<string, unknown> | undefined> {
  try {
    return (await session.read(build(store, ref.segments, 'data'), ctx)).data ?? undefined;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

export async function removeSecret(session: VaultSession, store: SecretStore, ref: EntryReference, options: ProviderRemoveOptions, ctx: ResolveContext, build: PathBuilder): Promise<void> {
  const name = formatReference(ref.segments);
  if (store.vault_kv_version === 1) {
    if (options.ifVersion !== undefined) throw unguarded(name);
    if (!(await readV1(session, store, ref, ctx, build))) throw notFound(name);
    if (!options.adopt) throw notOwnedV1(name);
    await session.delete(build(store, ref.segments, 'data'), ctx);
    return;
  }
  const metadata = await readMetadata(session, store, ref, ctx, build);
  if (!metadata) throw notFound(name);
  guard(name, true, metadata.custom_metadata?.[OWNER_KEY], String(metadata.current_version ?? 0), options);
  // vault_delete_mode "latest": a soft delete of the current version, which `vault kv undelete` can bring back;
  // "metadata" (default): every version and the metadata go, as `vault kv metadata delete` does.
  await session.delete(build(store, ref.segments, store.vault_delete_mode === 'latest' ? 'data' : 'metadata'), ctx);
}

function guard(name: string, exists: boolean, owner: string | undefined, version: string, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }): void {
  guardWrite({ what: `Vault secret ${name}`, exists, owner, version, mark: `${OWNER_KEY} custom metadata`, storeType: TYPE }, options);
}

function isCasMismatch(error: unknown): boolean {
  if (statusOf(error) !== 400) return false;
  for (let current: unknown = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const errors = (current as { response?: { body?: { errors?: unknown } } }).response?.body?.errors;
    if (Array.isArray(errors) && errors.some((message) => String(message).includes('check-and-set'))) return true;
  }
  return false;
}

function notFound(name: string): SecretbindError {
  return new SecretbindError('ENTRY_NOT_FOUND', `No Vault secret at ${name}.`, { storeType: TYPE });
}

function notOwnedV1(name: string): SecretbindError {
  return new SecretbindError('ENTRY_NOT_OWNED', `Vault secret ${name} exists on a KV v1 mount, which cannot carry secretbind's owner mark; secretbind never overwrites or removes it on its own. Pass adopt if it is meant to.`, { storeType: TYPE });
}

function unguarded(name: string): SecretbindError {
  return new SecretbindError('OPERATION_UNSUPPORTED', `KV v1 keeps no versions, so a guarded write or remove of ${name} (ifVersion) is impossible: use a KV v2 mount, or leave ifVersion out.`, { storeType: TYPE });
}
