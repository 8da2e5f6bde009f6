import type { SecretStore } from './bindings.js';
import { isSecretbindError, safeCause, SecretbindError } from './errors.js';
import type { EntryReference } from './reference.js';

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
  /** Checks that the store is reachable and the credentials work; reports facts, never values. */
  check?(store: SecretStore, ctx: ResolveContext): Promise<StoreCheckDetails>;
  /** Releases clients, caches and timers. */
  close?(): void | Promise<void>;
}

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
