import type { SecretbindErrorCode } from './errors.js';

/** Where a resolution's value came from: a store, the local Fernet password, or nowhere (an error). */
export type ResolutionOutcome = 'store' | 'local' | 'error' | 'stale';

/**
 * Emitted once per resolution. Holds names and references, never a value, token, master password or key.
 */
export interface ResolutionEvent {
  source: 'Secrets';
  kind: 'resolution';
  account: string;
  /** The bound store, when the account has an active binding. */
  store?: string;
  storeType?: string;
  /** The entry reference as written in the binding. */
  reference?: string;
  outcome: ResolutionOutcome;
  /** With `outcome: 'stale'`: the age of the value served, in milliseconds (`code` says why the store failed). */
  ageMs?: number;
  /** Wall time of the resolution in milliseconds. */
  durationMs: number;
  /** Whether the provider served the value from its cache, where the provider caches. */
  cache?: 'hit' | 'miss';
  /** The error code: of the failure when `outcome` is `error`, of the provider failure behind a fallback. */
  code?: SecretbindErrorCode;
  /** True when a provider failure was answered with the local password (`onProviderError: 'use-local'`). */
  fallback?: boolean;
  /** True when the resolution was part of `resolvePasswords`. */
  bulk?: boolean;
  /** Why the local password was used: no binding, a disabled binding or store, or a fallback. */
  reason?: string;
}

/** Something a provider reports on its own (a file reopened, a token renewed, a retry). Never holds a value. */
export interface ProviderEvent {
  source: 'Secrets';
  kind: 'provider';
  storeType: string;
  store?: string;
  account?: string;
  level: 'info' | 'warn';
  message: string;
  detail?: Readonly<Record<string, string | number | boolean>>;
}

/** Emitted once per list, write or remove. Holds names and versions, never a value. */
export interface EntryEvent {
  source: 'Secrets';
  kind: 'entry';
  operation: 'list' | 'write' | 'remove';
  store: string;
  storeType?: string;
  /** The entry's name (writes and removes) or the listing's prefix. */
  entry?: string;
  outcome: 'ok' | 'error';
  durationMs: number;
  /** The version a write produced. */
  version?: string;
  /** True when a write created the entry. */
  created?: boolean;
  /** Entries a listing returned. */
  count?: number;
  code?: SecretbindErrorCode;
}

/** Emitted by the sync daemon: a pass, a watch, leadership. Names and counts, never a value. */
export interface SyncEvent {
  source: 'Secrets';
  kind: 'sync';
  level: 'info' | 'warn';
  message: string;
  /** The sync definition concerned, where one is. */
  sync?: string;
  detail?: Readonly<Record<string, string | number | boolean>>;
}

/** Every event secretbind emits through `onEvent`. */
export type SecretEvent = ResolutionEvent | ProviderEvent | EntryEvent | SyncEvent;

/** Receives every event. A listener that throws is ignored: logging never breaks a resolution. */
export type SecretEventListener = (event: SecretEvent) => void;

/** Hands an event to the listener, if any; a listener that throws is ignored. @internal */
export function emitTo(listener: SecretEventListener | undefined, event: SecretEvent): void {
  if (!listener) return;
  try {
    listener(event);
  } catch {
    // A failing log sink must not fail a lookup, and library code has nowhere else to report it.
  }
}

/**
 * One log line for an event, in a stable `key=value` form, for applications that log text.
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers, onEvent: (event) => logger.info(formatEvent(event)) })
 * // Secrets resolution account=checkmk-prod store=kp type=keepass ref="Root/checkmk" outcome=store 0.21ms cache=hit
 * ```
 */
export function formatEvent(event: SecretEvent): string {
  const parts: string[] = [event.source, event.kind];
  if (event.kind === 'resolution') {
    parts.push(`account=${quote(event.account)}`);
    if (event.store !== undefined) parts.push(`store=${quote(event.store)}`);
    if (event.storeType !== undefined) parts.push(`type=${event.storeType}`);
    if (event.reference !== undefined) parts.push(`ref=${quote(event.reference)}`);
    parts.push(`outcome=${event.outcome}`, `${event.durationMs.toFixed(2)}ms`);
    if (event.cache) parts.push(`cache=${event.cache}`);
    if (event.ageMs !== undefined) parts.push(`age=${Math.round(event.ageMs)}ms`);
    if (event.code) parts.push(`code=${event.code}`);
    if (event.fallback) parts.push('fallback=true');
    if (event.reason) parts.push(`reason=${quote(event.reason)}`);
  } else if (event.kind === 'entry') {
    parts.push(`operation=${event.operation}`, `store=${quote(event.store)}`);
    if (event.storeType !== undefined) parts.push(`type=${event.storeType}`);
    if (event.entry !== undefined) parts.push(`entry=${quote(event.entry)}`);
    parts.push(`outcome=${event.outcome}`, `${event.durationMs.toFixed(2)}ms`);
    if (event.version !== undefined) parts.push(`version=${quote(event.version)}`);
    if (event.created) parts.push('created=true');
    if (event.count !== undefined) parts.push(`count=${event.count}`);
    if (event.code) parts.push(`code=${event.code}`);
  } else if (event.kind === 'sync') {
    parts.push(`level=${event.level}`);
    if (event.sync !== undefined) parts.push(`sync=${quote(event.sync)}`);
    parts.push(`message=${quote(event.message)}`);
    for (const [key, value] of Object.entries(event.detail ?? {})) parts.push(`${key}=${quote(String(value))}`);
  } else {
    parts.push(`level=${event.level}`, `type=${event.storeType}`);
    if (event.store !== undefined) parts.push(`store=${quote(event.store)}`);
    if (event.account !== undefined) parts.push(`account=${quote(event.account)}`);
    parts.push(`message=${quote(event.message)}`);
    for (const [key, value] of Object.entries(event.detail ?? {})) parts.push(`${key}=${quote(String(value))}`);
  }
  return parts.join(' ');
}

function quote(text: string): string {
  return /^[\w.:@-]+$/.test(text) ? text : JSON.stringify(text);
}
