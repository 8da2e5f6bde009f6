/**
 * memory: an in-process store for unit tests and demos. No peer dependency. Values live in the provider
 * instance (shared by every memory store it serves); tests rotate them, inject failures, latency and hangs,
 * and count reads per reference.
 */
import {
  abortableDelay,
  formatReference,
  guardWrite,
  parseReference,
  SecretbindError,
  settle,
  untilAborted,
  validateStoreFields,
  type EntryInfo,
  type EntryReference,
  type EntrySettled,
  type ProviderSettled,
  type ResolveContext,
  type SecretbindErrorCode,
  type SecretProvider,
} from 'secretbind';

/** An entry: a plain value, or named fields (`{ password, username }`). */
export type MemoryEntry = string | Readonly<Record<string, string>>;

export interface MemoryOptions {
  /**
   * Entries keyed by the reference path without `#field`, written as in a binding (`'prod/checkmk'`;
   * escape `#`, `/` and `\` in names as references do).
   */
  entries?: Readonly<Record<string, MemoryEntry>>;
  /** The field a reference without `#field` reads from an object entry. Default: `password`. */
  defaultField?: string;
  /** Delay added to every read, in milliseconds; ends early with the abort signal. Default: 0. */
  latencyMs?: number;
  /** Offer `resolveMany` (bulk reads in one call). Set false to test the resolver's per-entry path. Default: true. */
  bulk?: boolean;
}

/** The memory provider, with controls for tests. */
export interface MemoryProvider extends SecretProvider {
  /** Adds or replaces an entry. */
  set(path: string, entry: MemoryEntry): void;
  /** Changes one value: `rotate('prod/checkmk', 'new')` or `rotate('prod/checkmk#username', 'svc')`. */
  rotate(reference: string, value: string): void;
  /** Removes an entry; later reads are ENTRY_NOT_FOUND. */
  delete(path: string): boolean;
  /** Makes the next `times` reads of the entry (any field) fail with `code`. Default times: 1. */
  failNext(path: string, code: SecretbindErrorCode, options?: { times?: number }): void;
  /** Makes the next `times` reads of the entry wait until the resolver's deadline aborts them. Default times: 1. */
  hangNext(path: string, options?: { times?: number }): void;
  /** Sets the delay added to every read, in milliseconds. */
  setLatency(latencyMs: number): void;
  /** Reads of a reference as written in the binding (`'prod/checkmk#password'`); all reads when omitted. */
  reads(reference?: string): number;
  /** How many `resolveMany` calls were made. */
  readonly bulkCalls: number;
  /** Writes and removes that changed an entry (of one path as written in `set`, or all). */
  writes(path?: string): number;
  /** The owner mark of an entry, or undefined when it has none (entries seeded or `set` have none). */
  ownerOf(path: string): string | undefined;
  /** Sets every counter back to zero. */
  resetCounters(): void;
}

const TYPE = 'memory';

/**
 * A provider for `memory` stores.
 *
 * @example
 * ```ts
 * const store = memory({ entries: { 'prod/checkmk': { username: 'automation', password: 's3cret' } } })
 * const resolver = createSecretResolver({ repository, providers: [store] })
 * store.rotate('prod/checkmk', 'rotated')
 * expect(store.reads('prod/checkmk')).toBe(1)
 * ```
 */
export function memory(options: MemoryOptions = {}): MemoryProvider {
  const defaultField = options.defaultField ?? 'password';
  const entries = new Map<string, MemoryEntry>();
  for (const [path, entry] of Object.entries(options.entries ?? {})) entries.set(pathKey(path), entry);
  const failures = new Map<string, { code: SecretbindErrorCode; times: number }>();
  const hangs = new Map<string, number>();
  const readCounts = new Map<string, number>();
  // The resolver hands out the same parsed reference each time; remember its entry path.
  const paths = new WeakMap<EntryReference, string>();
  let latencyMs = options.latencyMs ?? 0;
  let totalReads = 0;
  let bulkCalls = 0;
  // Owner marks and versions of entries; a seeded or set() entry has version 1 and no owner.
  const meta = new Map<string, { owner: string | undefined; version: number; updatedAt: string }>();
  const writeCounts = new Map<string, number>();
  let totalWrites = 0;
  const metaOf = (path: string) => {
    let found = meta.get(path);
    if (!found) meta.set(path, (found = { owner: undefined, version: 1, updatedAt: new Date().toISOString() }));
    return found;
  };

  /** Applies injected faults to a write or remove, as to reads. */
  async function faults(path: string, ctx: ResolveContext): Promise<void> {
    if (latencyMs > 0) await abortableDelay(latencyMs, ctx.signal);
    if (hangs.size > 0 && take(hangs, path)) await waitForAbort(ctx.signal);
    const failure = failures.size > 0 ? failures.get(path) : undefined;
    if (failure) {
      if (--failure.times <= 0) failures.delete(path);
      throw new SecretbindError(failure.code, `Injected ${failure.code} for memory entry ${JSON.stringify(path)}.`);
    }
  }

  function counted(path: string): void {
    writeCounts.set(path, (writeCounts.get(path) ?? 0) + 1);
    totalWrites++;
  }

  /** Counts the read, applies injected faults, then looks the value up. */
  async function read(ref: EntryReference, ctx: ResolveContext): Promise<string> {
    readCounts.set(ref.raw, (readCounts.get(ref.raw) ?? 0) + 1);
    totalReads++;
    let path = paths.get(ref);
    if (path === undefined) paths.set(ref, (path = formatReference(ref.segments)));
    if (hangs.size > 0 && take(hangs, path)) await waitForAbort(ctx.signal);
    const failure = failures.size > 0 ? failures.get(path) : undefined;
    if (failure) {
      if (--failure.times <= 0) failures.delete(path);
      throw new SecretbindError(failure.code, `Injected ${failure.code} for memory entry ${JSON.stringify(path)}.`);
    }
    return lookup(entries, path, ref, defaultField);
  }

  const provider: MemoryProvider = {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(_store, ref, ctx) {
      if (latencyMs > 0) await abortableDelay(latencyMs, ctx.signal);
      return read(ref, ctx);
    },
    async list(_store, listOptions, ctx) {
      if (latencyMs > 0) await abortableDelay(latencyMs, ctx.signal);
      const prefix = listOptions.prefix ?? '';
      const found: EntryInfo[] = [];
      for (const [path, entry] of entries) {
        if (!path.startsWith(prefix)) continue;
        if (listOptions.recursive === false && path.slice(prefix.length).replace(/^\//, '').includes('/')) continue;
        const { owner, version, updatedAt } = metaOf(path);
        found.push({ name: path, version: String(version), updatedAt, owned: owner !== undefined, ...(owner ? { owner } : {}), ...(typeof entry === 'object' ? { fields: Object.keys(entry) } : {}) });
      }
      return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async write(_store, name, value, writeOptions, ctx) {
      const path = formatReference(name.segments);
      await faults(path, ctx);
      const exists = entries.has(path);
      const current = exists ? metaOf(path) : undefined;
      guard(path, current, writeOptions);
      const previous = entries.get(path);
      const merged = writeOptions.merge && typeof value === 'object' ? { ...(typeof previous === 'object' ? previous : previous === undefined ? {} : { [defaultField]: previous }), ...value } : value;
      entries.set(path, typeof merged === 'string' ? merged : { ...merged });
      const next = { owner: writeOptions.owner, version: (current?.version ?? 0) + 1, updatedAt: new Date().toISOString() };
      meta.set(path, next);
      counted(path);
      return { version: String(next.version), created: !exists };
    },
    async remove(_store, name, removeOptions, ctx) {
      const path = formatReference(name.segments);
      await faults(path, ctx);
      if (!entries.has(path)) throw new SecretbindError('ENTRY_NOT_FOUND', `Memory entry ${JSON.stringify(path)} does not exist.`);
      guard(path, metaOf(path), removeOptions);
      entries.delete(path);
      meta.delete(path);
      counted(path);
    },
    set(path, entry) {
      const key = pathKey(path);
      entries.set(key, entry);
      const current = meta.get(key);
      meta.set(key, { owner: current?.owner, version: (current?.version ?? 0) + 1, updatedAt: new Date().toISOString() });
    },
    rotate(reference, value) {
      const ref = parseReference(reference);
      const path = formatReference(ref.segments);
      const current = entries.get(path);
      if (typeof current === 'object') entries.set(path, { ...current, [ref.field ?? defaultField]: value });
      else if (ref.field === undefined) entries.set(path, value);
      else entries.set(path, { [ref.field]: value });
      // A rotation is a new version, as in every real store: sync skips reads by version.
      const before = meta.get(path);
      if (before) meta.set(path, { ...before, version: before.version + 1, updatedAt: new Date().toISOString() });
    },
    delete(path) {
      meta.delete(pathKey(path));
      return entries.delete(pathKey(path));
    },
    writes(path) {
      return path === undefined ? totalWrites : (writeCounts.get(pathKey(path)) ?? 0);
    },
    ownerOf(path) {
      return meta.get(pathKey(path))?.owner;
    },
    failNext(path, code, { times = 1 } = {}) {
      failures.set(pathKey(path), { code, times });
    },
    hangNext(path, { times = 1 } = {}) {
      hangs.set(pathKey(path), times);
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    reads(reference) {
      return reference === undefined ? totalReads : (readCounts.get(reference) ?? 0);
    },
    get bulkCalls() {
      return bulkCalls;
    },
    resetCounters() {
      readCounts.clear();
      writeCounts.clear();
      totalReads = 0;
      totalWrites = 0;
      bulkCalls = 0;
    },
  };
  provider.readEntries = async (_store, refs, ctx) => {
    if (latencyMs > 0) await abortableDelay(latencyMs, ctx.signal);
    const answers = new Map<string, EntrySettled>();
    for (const ref of refs) {
      const path = formatReference(ref.segments);
      try {
        // Counted before faults, as single reads are: a failed read is a call the store received.
        readCounts.set(ref.raw, (readCounts.get(ref.raw) ?? 0) + 1);
        totalReads++;
        await faults(path, ctx);
        const entry = entries.get(path);
        if (entry === undefined) throw new SecretbindError('ENTRY_NOT_FOUND', `Memory entry ${JSON.stringify(path)} does not exist: seed it with entries or set().`);
        answers.set(ref.raw, { ok: true, value: typeof entry === 'string' ? entry : { ...entry }, version: String(metaOf(path).version) });
      } catch (error) {
        answers.set(ref.raw, { ok: false, error: error as SecretbindError });
      }
    }
    return answers;
  };
  if (options.bulk !== false) {
    provider.resolveMany = async (_store, refs, ctx) => {
      bulkCalls++;
      if (latencyMs > 0) await abortableDelay(latencyMs, ctx.signal);
      const answers = new Map<string, ProviderSettled>();
      await Promise.all(
        refs.map(async (ref) => {
          answers.set(ref.raw, await settle(() => read(ref, ctx)));
        }),
      );
      return answers;
    };
  }
  return provider;
}

/** The shared rules (guardWrite) over a memory entry's owner and version counter. */
function guard(path: string, current: { owner: string | undefined; version: number } | undefined, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }): void {
  guardWrite({ what: `Memory entry ${JSON.stringify(path)}`, exists: current !== undefined, owner: current?.owner, version: current === undefined ? undefined : String(current.version), mark: 'owner mark', storeType: TYPE }, options);
}

function lookup(entries: ReadonlyMap<string, MemoryEntry>, path: string, ref: EntryReference, defaultField: string): string {
  const entry = entries.get(path);
  if (entry === undefined) throw new SecretbindError('ENTRY_NOT_FOUND', `Memory entry ${JSON.stringify(path)} does not exist: seed it with entries or set().`);
  if (typeof entry === 'string') {
    if (ref.field === undefined) return entry;
    throw new SecretbindError('FIELD_NOT_FOUND', `Memory entry ${JSON.stringify(path)} is a plain value without fields; drop "#${ref.field}".`);
  }
  const field = ref.field ?? defaultField;
  const value = Object.prototype.hasOwnProperty.call(entry, field) ? entry[field] : undefined;
  if (value === undefined) {
    throw new SecretbindError('FIELD_NOT_FOUND', `Memory entry ${JSON.stringify(path)} has no field ${JSON.stringify(field)} (fields: ${Object.keys(entry).join(', ') || 'none'}).`);
  }
  return value;
}

/** Normalises a path as a reference path, so `'a/b'` and the parsed `a/b#x` share one key. */
function pathKey(path: string): string {
  return formatReference(parseReference(path).segments);
}

function take(counters: Map<string, number>, key: string): boolean {
  const left = counters.get(key);
  if (left === undefined) return false;
  if (left <= 1) counters.delete(key);
  else counters.set(key, left - 1);
  return true;
}

function waitForAbort(signal: AbortSignal): Promise<never> {
  return untilAborted(new Promise<never>(() => {}), signal);
}
