import type { SecretStore } from './records.js';
import { isSecretbindError, safeCause, SecretbindError } from '../core/index.js';
import type { EntryReference } from '../core/index.js';
import { forEachLimit } from '../core/index.js';

/** What a provider may report through the resolver's event hook; the resolver adds store and account. */
export interface ProviderNotice {
  level?: 'info' | 'warn';
  message: string;
  detail?: Readonly<Record<string, string | number | boolean>>;
}

/** Passed to every provider call. */
export interface ResolveContext {
  /** Aborted at the resolver's deadline (`timeoutMs`). Providers pass it to their I/O. */
  readonly signal: AbortSignal;
  /** The account being resolved, for messages; undefined for bulk and check calls. */
  readonly account: string | undefined;
  /** Reports something through the resolver's `onEvent`. Never pass a value. */
  emit(notice: ProviderNotice): void;
  /**
   * Environment variables that hold credentials secretbind itself reads: the `*_env` fields of every store the
   * resolver knows (all of them when the repository can list stores) and `CRYPTOGRAPHY_KEY`. A provider that reads
   * the environment refuses these unless its store allows one explicitly.
   */
  readonly credentialVariables?: ReadonlySet<string>;
}

/** A provider's answer: the value, optionally saying whether its cache served it. */
export type ProviderValue = string | { value: string; cache?: 'hit' | 'miss' };

/** One reference's outcome in a bulk answer. */
export type ProviderSettled = { ok: true; value: string; cache?: 'hit' | 'miss' } | { ok: false; error: SecretbindError };

/** What a listing says about one entry: its name and metadata, never a value. */
export interface EntryInfo {
  /** The entry's name as a binding would reference it (a reference path, `#`, `/` and `\` escaped). */
  readonly name: string;
  /** The store's version of the entry (KV version, VersionId, resourceVersion...), where it has one. */
  readonly version?: string;
  /** When the entry last changed, ISO 8601, where the store says. */
  readonly updatedAt?: string;
  /**
   * Whether the entry carries secretbind's owner mark (any owner); undefined where the listing cannot tell without a
   * call per entry and `metadata` was not asked for (Vault's LIST returns names only).
   */
  readonly owned?: boolean;
  /** The owner mark's value, when it has one. */
  readonly owner?: string;
  /** The keys of a multi-field entry (JSON keys, KeePass fields, Secret keys), where the store knows them cheaply. */
  readonly fields?: readonly string[];
  /** A description the store keeps beside the entry (a tag, a content type, a note's first line is never used). */
  readonly description?: string;
}

export interface ListOptions {
  /** Only entries under this path (a folder, group or name prefix as a reference path). Default: the whole store. */
  prefix?: string;
  /** Descend into sub-folders. Default: true. */
  recursive?: boolean;
  /**
   * Also fetch what the store's listing does not carry (owner, version, update time), at a call per entry where the
   * store needs one (Vault KV v2 metadata). Default: false.
   */
  metadata?: boolean;
}

/** A value to write: one string, or a flat object of strings (a JSON secret, KeePass fields, a Secret's keys). */
export type EntryValue = string | Readonly<Record<string, string>>;

export interface WriteOptions {
  /** The owner mark to set and to require on an existing entry. Default: `secretbind`. */
  owner?: string;
  /**
   * Write only if the entry is still at this version (the `version` a listing or an earlier write returned);
   * otherwise `CONFLICT`. `'absent'` writes only if the entry does not exist yet.
   */
  ifVersion?: string;
  /** Take over an existing entry that has no owner mark or another owner's. Default: false. */
  adopt?: boolean;
  /**
   * For an object value: set these fields and keep the entry's others. Default: false, the object replaces the
   * entry's fields. Stores that hold one value per entry refuse it (`OPERATION_UNSUPPORTED`).
   */
  merge?: boolean;
}

/** What a write did. */
export interface WriteResult {
  /** The entry's new version. */
  version: string;
  /** True when the entry did not exist before. */
  created: boolean;
}

export interface RemoveOptions {
  /** The owner mark the entry must carry. Default: `secretbind`. */
  owner?: string;
  /** Remove only if the entry is still at this version; otherwise `CONFLICT`. */
  ifVersion?: string;
  /** Remove an entry without our owner mark. Default: false. */
  adopt?: boolean;
  /** Skip the store's recovery window where it has one (AWS, Azure). Default: false. */
  force?: boolean;
}

/** The options a provider's write and remove receive: the owner is always filled in. */
export type ProviderWriteOptions = WriteOptions & { owner: string };
export type ProviderRemoveOptions = RemoveOptions & { owner: string };

/** One whole entry's outcome in `readEntries`. */
export type EntrySettled = { ok: true; value: EntryValue; version?: string } | { ok: false; error: SecretbindError };

/** What `check` reports about a store: facts about its reachability and configuration, never a value. */
export type StoreCheckDetails = Readonly<Record<string, string | number | boolean | readonly string[]>>;

/**
 * Resolves entries of one store type. A provider is the fetch and the error mapping; deadlines, sharing of
 * identical lookups, bulk grouping, events and fallback live in the resolver.
 *
 * @example
 * ```ts
 * const constant: SecretProvider = {
 *   type: 'constant',
 *   async resolve(store, ref) { return String(store.value) },
 * }
 * ```
 */
export interface SecretProvider {
  /** The store type this provider serves (`SecretStore.type`). */
  readonly type: string;
  /** Throws `CONFIG_INVALID` naming the field when the store's configuration is wrong. */
  validateStore?(store: SecretStore): void;
  /** Resolves one entry. Throws `SecretbindError`; never returns a placeholder for "missing". */
  resolve(store: SecretStore, ref: EntryReference, ctx: ResolveContext): Promise<ProviderValue>;
  /**
   * Resolves many distinct references of one store, keyed by `ref.raw`. One failure settles only its reference;
   * a thrown error fails them all.
   */
  resolveMany?(store: SecretStore, refs: readonly EntryReference[], ctx: ResolveContext): Promise<ReadonlyMap<string, ProviderSettled>>;
  /**
   * Reads whole entries (every field: a JSON secret's keys, a KeePass entry's fields), keyed by `ref.raw`, with the
   * store's version where it has one. Sync reads sources through it; a provider without it is read one field (the
   * reference's default) at a time through `resolveMany` or `resolve`.
   */
  readEntries?(store: SecretStore, refs: readonly EntryReference[], ctx: ResolveContext): Promise<ReadonlyMap<string, EntrySettled>>;
  /** Checks that the store is reachable and the credentials work; reports facts, never values. */
  check?(store: SecretStore, ctx: ResolveContext): Promise<StoreCheckDetails>;
  /**
   * Lists entries: names and metadata, never values. Returned whole; a provider pages through the store itself.
   * Read-only store types may leave it out.
   */
  list?(store: SecretStore, options: ListOptions, ctx: ResolveContext): Promise<readonly EntryInfo[]>;
  /**
   * Creates or updates one entry (`name` is a reference without a field). Never overwrites an entry without the
   * owner mark (`ENTRY_NOT_OWNED`) unless `adopt`; honours `ifVersion` (`CONFLICT`); marks what it writes.
   */
  write?(store: SecretStore, name: EntryReference, value: EntryValue, options: ProviderWriteOptions, ctx: ResolveContext): Promise<WriteResult>;
  /**
   * Checks, without any call, that the store can hold an entry of this name; throws `REFERENCE_INVALID` naming the
   * rule. Sync and migration call it for every name they render, before anything is written: **a rendered name
   * must stay in the store's configured scope** (its namespace, service, mount or file), so a name that would pick
   * another (`kube-system/db-admin` from a source entry's title) is refused here, not written elsewhere.
   */
  checkName?(store: SecretStore, name: EntryReference): void;
  /**
   * Turns a name into one the store can hold (`secretbind/central/apps/db` into `SECRETBIND_CENTRAL_APPS_DB` for a
   * .env file). Sync applies it to names from the default template only: a template the operator wrote is kept as is.
   */
  adaptName?(rendered: string): string;
  /** Removes one owned entry; `ENTRY_NOT_FOUND` when it does not exist, `ENTRY_NOT_OWNED` when it is not ours. */
  remove?(store: SecretStore, name: EntryReference, options: ProviderRemoveOptions, ctx: ResolveContext): Promise<void>;
  /**
   * Forgets the store's session or cached credentials so the next call logs in again. The resolver calls it once
   * after an `AUTH_FAILED` (with `staleIfError`) before serving anything stale.
   */
  reauthenticate?(store: SecretStore): void | Promise<void>;
  /** Releases clients, caches and timers. */
  close?(): void | Promise<void>;
}

/** The owner mark secretbind writes when the caller names none. */
export const DEFAULT_OWNER = 'secretbind';

/**
 * One reference's answer in a bulk read: what `read` returns, or what it throws. A throw that is not a
 * SecretbindError becomes BACKEND_UNAVAILABLE with the original as its cause, never echoed.
 *
 * @example
 * ```ts
 * for (const ref of refs) answers.set(ref.raw, await settle(() => index.lookup(ref), 'hit'))
 * ```
 */
export async function settle(read: () => string | Promise<string>, cache?: 'hit' | 'miss'): Promise<ProviderSettled> {
  try {
    const value = await read();
    return cache === undefined ? { ok: true, value } : { ok: true, value, cache };
  } catch (error) {
    if (isSecretbindError(error)) return { ok: false, error };
    return { ok: false, error: new SecretbindError('BACKEND_UNAVAILABLE', `A provider failed unexpectedly (${(error as Error)?.name ?? typeof error}); see error.cause.`, { cause: safeCause(error) }) };
  }
}

/**
 * A bulk read for stores read one secret at a time (`resolveMany`): each distinct key read once, `limit` reads at a
 * time, and every reference settled from its key's read through `pick` (a field, a JSON key). A reference whose key
 * cannot be made (`keyOf` throws, e.g. `REFERENCE_INVALID`) settles with that error and is never read. For provider
 * authors.
 *
 * @example
 * ```ts
 * resolveMany: (store, refs, ctx) => readEachOnce(refs, (ref) => ref.segments.join('/'), (ref) => fetchSecret(store, ref, ctx), (text, ref) => pickField(text, ref.field), 8)
 * ```
 */
export async function readEachOnce<T>(
  refs: readonly EntryReference[],
  keyOf: (ref: EntryReference) => string,
  read: (ref: EntryReference) => Promise<T>,
  pick: (result: T, ref: EntryReference) => string,
  limit: number,
): Promise<Map<string, ProviderSettled>> {
  const unique = new Map<string, EntryReference>();
  for (const ref of refs) {
    try {
      const key = keyOf(ref);
      if (!unique.has(key)) unique.set(key, ref);
    } catch {
      // settled below, with the error keyOf throws again
    }
  }
  const results = new Map<string, { ok: true; value: T } | { ok: false; error: unknown }>();
  await forEachLimit([...unique], limit, async ([key, ref]) => {
    results.set(key, await read(ref).then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })));
  });
  const answers = new Map<string, ProviderSettled>();
  for (const ref of refs) {
    answers.set(ref.raw, await settle(() => {
      const found = results.get(keyOf(ref))!;
      if (!found.ok) throw found.error;
      return pick(found.value, ref);
    }));
  }
  return answers;
}
