import { createHmac } from 'node:crypto';
import type { BindingRepository } from '../bindings.js';
import { abortableDelay } from '../abort.js';
import { Engine } from '../engine.js';
import { listEntries, removeEntry, writeEntry } from '../entries.js';
import { isSecretbindError, SecretbindError, type SecretbindErrorCode } from '../errors.js';
import type { SecretEventListener } from '../events.js';
import { DEFAULT_OWNER, type EntryInfo, type EntrySettled, type EntryValue, type SecretProvider } from '../provider.js';
import { parseReference, referencePath, type EntryReference } from '../reference.js';
import { checkDefinitions, type CheckedDefinition, type SyncDefinition } from './definitions.js';
import { MemorySyncState, type AssociationRecord, type SyncStateRepository, type SyncStatus } from './state.js';
import { renderedReference, type TemplateValues } from './template.js';
import { SyncLoop, type SyncLoopOptions, type SyncLoopState } from './daemon.js';
import { stateKeys, standing, syncOwnerMark, type Marks, type StateKeys } from './ownership.js';

/** What sync decided for one destination entry. */
export type SyncAction = 'create' | 'update' | 'delete' | 'unchanged' | 'conflict' | 'not-owned' | 'error';

/** One destination entry in a plan or a run: names, the decision and why; never a value. */
export interface SyncItem {
  sync: string;
  destination: string;
  /** The destination entry (a reference path). */
  entry: string;
  action: SyncAction;
  reason: string;
  source?: string;
  sourceEntry?: string;
  code?: SecretbindErrorCode;
  /** After `run`: whether the action was carried out. */
  outcome?: 'done' | 'failed' | 'planned';
  /** After `run`: the association's status. */
  status?: SyncStatus;
}

export interface SyncEngineOptions {
  /** Where the stores are found (sources and destinations). */
  repository: BindingRepository;
  /** One provider per store type the definitions use. */
  providers: readonly SecretProvider[];
  /** The sync definitions, checked at creation (`CONFIG_INVALID` naming the place). */
  definitions: readonly SyncDefinition[];
  /** Where associations are kept. Default: in memory. */
  state?: SyncStateRepository;
  onEvent?: SecretEventListener;
  /** Deadline of one store call, in milliseconds. Default: 30000. */
  timeoutMs?: number;
  /** Retries of a retryable failure (throttling, an unreachable store) within a pass. Default: 3. */
  retries?: number;
  /** The first retry's delay in milliseconds, doubled each time with jitter; `Retry-After` wins. Default: 200. */
  retryBaseMs?: number;
  /**
   * A source entry that keeps failing is read again after 1 s, 2 s, 4 s... (with jitter, at most `capMs`), not on
   * every pass, while the store's healthy entries go on. Default: `{ baseMs: 1000, capMs: 300000 }`.
   */
  entryBackoff?: { baseMs?: number; capMs?: number };
  /** The clock, in milliseconds since the epoch (backoff, min_update_interval). Default: Date.now. */
  now?: () => number;
  /**
   * The key the state's HMACs of values are made with; keep it where the operator keeps keys (a variable, a key
   * file), **never beside the state**. Default: a random key per engine: after a restart each destination value is
   * then read once and compared (an entry already in place is not written again), instead of trusting the HMACs.
   */
  stateKey?: Uint8Array | string;
  /**
   * This deployment's name in the owner mark, `[a-z0-9-]`, at most 30: a second secretbind syncing into the same
   * destination (staging beside prod) names itself differently. Each definition's entries are marked
   * `<owner>_<definition>`, so neither another definition nor another deployment counts them as its own.
   * Default: `secretbind`.
   */
  owner?: string;
}

export interface SyncRunOptions {
  /** Only these sync definitions (by name). */
  only?: readonly string[];
  /** Decide, but change nothing: no write, no removal, no state. */
  dryRun?: boolean;
  /**
   * Asked before each write and removal; when it answers false the pass leaves the rest for later (a replica that
   * lost leadership, a process shutting down). Items left are `planned`, their associations untouched.
   */
  mayWrite?: () => boolean;
  /** Confirms a pass that the delete guard stopped: up to this many removals go ahead (`--allow-deletes N`). */
  allowDeletes?: number;
}

/** One-way sync from sources into destinations; see README "Sync". */
export interface SyncEngine {
  /** What a pass would do now, without changing anything. */
  plan(options?: Omit<SyncRunOptions, 'dryRun'>): Promise<SyncItem[]>;
  /** One pass: every planned write and removal, with the outcome of each. */
  run(options?: SyncRunOptions): Promise<SyncItem[]>;
  /** Every association with its status, time of last change and last error code. */
  status(): Promise<AssociationRecord[]>;
  /** Runs passes in a loop (interval, jitter, file watches, leader election) until {@link SyncEngine.stop}. */
  start(options?: SyncLoopOptions): Promise<void>;
  /** Stops the loop: the write in flight finishes, the state is saved, leadership released. */
  stop(): Promise<void>;
  /** The loop's role, readiness, last pass and watches (for health endpoints). */
  loopState(): SyncLoopState;
  close(): Promise<void>;
}

/** A destination entry a pass wants, with its value and the value's HMAC. */
interface Desired {
  entry: string;
  /** Absent when the source entry was not read: its version is the one last synced (`skipped`). */
  value?: EntryValue;
  hmac: string;
  source?: string;
  sourceEntry?: string;
  /** The source entry's version, where its listing gave one. */
  sourceVersion?: string;
  skipped?: true;
}

const INTERNAL_REASON = "secretbind could not handle the store's answer (an internal error, not the store's); the events say more";

/** Actions that change the destination. */
const WRITING: ReadonlySet<SyncAction> = new Set(['create', 'update', 'delete']);

const STATUS_BY_CODE: Partial<Record<SecretbindErrorCode, SyncStatus>> = {
  RATE_LIMITED: 'EXTERNAL_SERVICE_ERROR',
  BACKEND_UNAVAILABLE: 'EXTERNAL_SERVICE_ERROR',
  TIMEOUT: 'EXTERNAL_SERVICE_ERROR',
  CONFLICT: 'EXTERNAL_SERVICE_ERROR',
};

/**
 * Creates a sync engine. It never touches a destination entry without secretbind's owner mark (unless the definition
 * says `adopt`), never writes a value that has not changed, and never reads a source that failed as "deleted".
 *
 * @example
 * ```ts
 * const engine = createSyncEngine({ repository, providers: [vault(), awsSecrets()], definitions: config.sync })
 * const outcomes = await engine.run()
 * ```
 */
export function createSyncEngine(options: SyncEngineOptions): SyncEngine {
  const definitions = checkDefinitions(options.definitions ?? []);
  const deployment = options.owner ?? DEFAULT_OWNER;
  if (typeof deployment !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$/.test(deployment)) {
    throw new SecretbindError('CONFIG_INVALID', `owner must be 1 to 30 lowercase letters, digits and "-", starting and ending with a letter or digit (it goes into every store's owner mark), not ${JSON.stringify(deployment)}.`);
  }
  const keys = stateKeys(options.stateKey);
  const state: SyncStateRepository = options.state ?? new MemorySyncState();
  const retries = options.retries ?? 3;
  const retryBaseMs = options.retryBaseMs ?? 200;
  const clockNow = options.now ?? Date.now;
  const backoff = new EntryBackoff(clockNow, options.entryBackoff);
  const engine = new Engine({ repository: options.repository, providers: options.providers, cryptographyKey: [], onEvent: options.onEvent, timeoutMs: options.timeoutMs ?? 30_000, onProviderError: 'throw' });
  let passes = Promise.resolve();

  async function selected(only: readonly string[] | undefined): Promise<CheckedDefinition[]> {
    if (!only) return definitions;
    for (const name of only) if (!definitions.some((definition) => definition.name === name)) throw new SecretbindError('CONFIG_INVALID', `There is no sync definition named ${JSON.stringify(name)}.`);
    return definitions.filter((definition) => only.includes(definition.name));
  }

  async function pass(runOptions: SyncRunOptions, apply: boolean): Promise<SyncItem[]> {
    const items: SyncItem[] = [];
    // Every definition is planned before any writes, so two that land on one destination entry both fail, naming
    // each other, instead of overwriting each other every pass. (A definition reading another's destination sees
    // that one's writes on the next pass.)
    const plans: Array<{ definition: CheckedDefinition; planned: PlannedDefinition }> = [];
    for (const definition of await selected(runOptions.only)) {
      const marks = { mine: syncOwnerMark(deployment, definition.name), legacy: deployment };
      plans.push({ definition, planned: await planDefinition(engine, definition, state, keys, marks, retrying, runOptions.allowDeletes, apply ? backoff : backoff.view()) });
    }
    refuseSharedEntries(plans);
    for (const { definition, planned } of plans) {
      if (apply) {
        for (const item of planned.items) {
          if (WRITING.has(item.action) && runOptions.mayWrite && !runOptions.mayWrite()) {
            items.push({ ...item, outcome: 'planned', reason: `${item.reason}; left for later: this process may not write now` });
            continue;
          }
          items.push(await carryOut(item, planned.desired.get(item.entry), planned.listed.get(item.entry), definition, planned.records.get(item.entry), planned.legacy.has(item.entry)));
        }
        for (const entry of planned.forget ?? []) await state.remove(definition.name, entry);
        await state.flush?.();
      } else {
        items.push(...planned.items.map((item) => ({ ...item, outcome: 'planned' as const })));
      }
    }
    return items;
  }

  async function carryOut(item: SyncItem, desired: Desired | undefined, existing: EntryInfo | undefined, definition: CheckedDefinition, record: AssociationRecord | undefined, legacy: boolean): Promise<SyncItem> {
    const mark = syncOwnerMark(deployment, definition.name);
    // The item's time, as text only where a record gets it (most items of a quiet pass change nothing).
    const at = clockNow();
    let iso: string | undefined;
    const now = (): string => (iso ??= new Date(at).toISOString());
    const base = itemAbout({ name: item.sync, destination: item.destination }, item.entry, item.source, item.sourceEntry);
    const keep = async (status: SyncStatus, extra: Partial<AssociationRecord> = {}): Promise<void> => {
      const changed = record?.status !== status || extra.errorCode !== record?.errorCode;
      // A pass over unchanged entries leaves the state as it was: no put, so a file or database state is not rewritten.
      if (record && !changed && holds(record, base) && holds(record, extra)) return;
      await state.put({ ...record, ...base, ...extra, status, changedAt: changed ? now() : (record?.changedAt ?? now()) });
    };
    try {
      switch (item.action) {
        case 'unchanged':
          await keep('SYNCED', { destinationVersion: existing?.version ?? record?.destinationVersion, valueHmac: desired!.hmac, hmacKeyId: keys.id, sourceVersion: desired!.sourceVersion, errorCode: undefined });
          return { ...item, outcome: 'done', status: 'SYNCED' };
        case 'create':
        case 'update': {
          const heldUntil = item.action === 'update' && definition.minUpdateIntervalMs > 0 && record?.writtenAt ? Date.parse(record.writtenAt) + definition.minUpdateIntervalMs : 0;
          if (heldUntil > clockNow()) {
            // Several changes within min_update_interval become one write of the latest value after it.
            await keep('PENDING', { errorCode: undefined });
            return { ...item, outcome: 'planned', status: 'PENDING', reason: `${item.reason}; held back until ${new Date(heldUntil).toISOString()} (min_update_interval), then written once with the latest value` };
          }
          const result = await retrying(() =>
            writeEntry(engine, definition.destination, item.entry, desired!.value!, {
              owner: mark,
              // An entry under the mark an earlier version wrote (the deployment's name alone), that this
              // definition's state names, is taken over: its mark becomes the definition's.
              ...(definition.adopt || legacy ? { adopt: true } : {}),
              // A create must stay a create. An update carries no version: a file store's version is the whole
              // file's, which the pass's own earlier writes move; each provider guards its read-modify-write itself.
              ...(item.action === 'create' ? { ifVersion: 'absent' } : {}),
            }),
          );
          await keep('SYNCED', { destinationVersion: result.version, valueHmac: desired!.hmac, hmacKeyId: keys.id, sourceVersion: desired!.sourceVersion, writtenAt: now(), errorCode: undefined });
          return { ...item, outcome: 'done', status: 'SYNCED' };
        }
        case 'delete':
          await retrying(() => removeEntry(engine, definition.destination, item.entry, { owner: legacy ? deployment : mark }));
          await state.remove(item.sync, item.entry);
          return { ...item, outcome: 'done', status: 'UNSYNCED' };
        case 'not-owned':
          await keep('CLIENT_SIDE_ERROR', { errorCode: 'ENTRY_NOT_OWNED' });
          return { ...item, outcome: 'failed', status: 'CLIENT_SIDE_ERROR' };
        case 'conflict':
          await keep('CLIENT_SIDE_ERROR', { errorCode: 'CONFLICT' });
          return { ...item, outcome: 'failed', status: 'CLIENT_SIDE_ERROR' };
        default: {
          const status = statusOf(item.code);
          if (record || item.sourceEntry) await keep(status, item.code ? { errorCode: item.code } : {});
          return { ...item, outcome: 'failed', status };
        }
      }
    } catch (thrown) {
      if (!isSecretbindError(thrown)) {
        // Our own failure (the state store, a bug): reported, and the next pass converges from what it finds.
        await keep('INTERNAL_ERROR', { errorCode: undefined }).catch(() => {});
        return { ...item, outcome: 'failed', status: 'INTERNAL_ERROR', reason: `${item.reason}; failed: ${INTERNAL_REASON}` };
      }
      const status = statusOf(thrown.code);
      await keep(status, { errorCode: thrown.code });
      return { ...item, outcome: 'failed', status, code: thrown.code, reason: `${item.reason}; failed: ${thrown.message}` };
    }
  }

  /** Retries retryable failures (never CONFLICT: that needs a re-read, which the next pass does). */
  async function retrying<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!isSecretbindError(error) || !error.retryable || error.code === 'CONFLICT' || attempt >= retries) throw error;
        const delay = error.retryAfterMs ?? retryBaseMs * 2 ** attempt * (0.5 + Math.random());
        await abortableDelay(delay, new AbortController().signal);
      }
    }
  }

  let loop: SyncLoop | undefined;

  /** The files of KeePass and dotenv sources, with the definitions that read them. */
  async function watchTargets(): Promise<Array<{ path: string; syncs: string[] }>> {
    const byPath = new Map<string, string[]>();
    for (const definition of definitions) {
      const sources = definition.mapped ? [...definition.mapped.values()].flatMap((parts) => parts.map((part) => part.store)) : [definition.source!];
      for (const name of new Set(sources)) {
        const store = await options.repository.findStore(name);
        const path = store?.type === 'keepass' ? store.kdbx_path : store?.type === 'dotenv' ? store.dotenv_path : undefined;
        if (typeof path === 'string') byPath.set(path, [...(byPath.get(path) ?? []), definition.name]);
      }
    }
    return [...byPath].map(([path, syncs]) => ({ path, syncs }));
  }

  function run(runOptions: SyncRunOptions): Promise<SyncItem[]> {
    // Passes never overlap: a second run waits for the first.
    const next = passes.then(() => pass(runOptions, !runOptions.dryRun));
    passes = next.then(
      () => {},
      () => {},
    );
    return next;
  }

  return {
    plan: (planOptions = {}) => pass(planOptions, false),
    run: (runOptions = {}) => run(runOptions),
    async status() {
      // Associations of a definition that is no longer configured: secretbind cannot say how they stand.
      const names = new Set(definitions.map((definition) => definition.name));
      return (await state.list()).map((record) => (names.has(record.sync) ? { ...record } : { ...record, status: 'UNKNOWN' as const }));
    },
    async start(loopOptions = {}) {
      if (loop?.state().running) throw new SecretbindError('CONFIG_INVALID', 'The sync loop is already running; stop() it first.');
      loop = new SyncLoop(
        {
          runPass: (only, mayWrite) => run({ ...(only ? { only } : {}), mayWrite }),
          syncNames: () => definitions.map((definition) => definition.name),
          watchTargets,
          emit: (event) => engine.emit(event),
        },
        loopOptions,
      );
      await loop.start();
    },
    async stop() {
      await loop?.stop();
      await state.flush?.();
    },
    loopState() {
      return loop?.state() ?? { running: false, role: 'single', ready: false, watching: [], watchFailures: [] };
    },
    async close() {
      await loop?.stop();
      await engine.close();
    },
  };
}

function statusOf(code: SecretbindErrorCode | undefined): SyncStatus {
  if (code === undefined) return 'INTERNAL_ERROR';
  return STATUS_BY_CODE[code] ?? 'CLIENT_SIDE_ERROR';
}

/** Entries that two planned definitions both want in one destination: refused in both, naming each other. */
function refuseSharedEntries(plans: ReadonlyArray<{ definition: CheckedDefinition; planned: PlannedDefinition }>): void {
  const wanted = new Map<string, CheckedDefinition[]>();
  for (const { definition, planned } of plans) {
    for (const entry of planned.desired.keys()) {
      const key = `${definition.destination}\u0000${entry}`;
      wanted.set(key, [...(wanted.get(key) ?? []), definition]);
    }
  }
  for (const { definition, planned } of plans) {
    for (const entry of [...planned.desired.keys()]) {
      const sharing = wanted.get(`${definition.destination}\u0000${entry}`)!;
      if (sharing.length < 2) continue;
      planned.desired.delete(entry);
      const at = planned.items.findIndex((item) => item.entry === entry);
      const reason = `Sync definitions ${sharing.map((other) => JSON.stringify(other.name)).join(' and ')} both write ${entry} in ${definition.destination}: give each its own name_template or destination.`;
      const refused: SyncItem = { ...(at === -1 ? itemAbout(definition, entry, undefined, undefined) : planned.items[at]!), action: 'error', code: 'REFERENCE_INVALID', reason };
      if (at === -1) planned.items.push(refused);
      else planned.items[at] = refused;
    }
  }
}

/** An HMAC of a value (objects with sorted keys), keyed by the state's key. */
function hmacOf(key: Uint8Array, value: EntryValue): string {
  const canonical = typeof value === 'string' ? `s:${value}` : `o:${JSON.stringify(Object.keys(value).sort().map((name) => [name, value[name]]))}`;
  return createHmac('sha256', key).update(canonical).digest('base64url');
}

interface PlannedDefinition {
  items: SyncItem[];
  /** Associations whose entry is gone from both sides: dropped from the state when the pass applies. */
  forget?: string[];
  desired: Map<string, Desired>;
  listed: Map<string, EntryInfo>;
  records: Map<string, AssociationRecord>;
  /** Entries under an earlier version's mark (the deployment's name) that this definition's state names. */
  legacy: Set<string>;
}

/** The entry of an item that concerns a whole definition (its source or destination cannot be used). */
export const WHOLE_DEFINITION = '*';

/** Per source entry: how often it failed in a row, and when it may be read again. */
class EntryBackoff {
  readonly #entries = new Map<string, { failures: number; until: number; code: SecretbindErrorCode }>();
  readonly #now: () => number;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #frozen: boolean;

  constructor(now: () => number, options: { baseMs?: number; capMs?: number } = {}, entries?: Map<string, { failures: number; until: number; code: SecretbindErrorCode }>, frozen = false) {
    this.#now = now;
    this.#baseMs = options.baseMs ?? 1000;
    this.#capMs = options.capMs ?? 300_000;
    if (entries) this.#entries = entries;
    this.#frozen = frozen;
  }

  /** The same schedule, read-only: a plan or dry run must not move it. */
  view(): EntryBackoff {
    return new EntryBackoff(this.#now, { baseMs: this.#baseMs, capMs: this.#capMs }, this.#entries, true);
  }

  waiting(key: string): { failures: number; until: number; code: SecretbindErrorCode } | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.until > this.#now() ? entry : undefined;
  }

  failed(key: string, code: SecretbindErrorCode): void {
    if (this.#frozen) return;
    const failures = (this.#entries.get(key)?.failures ?? 0) + 1;
    const delay = Math.min(this.#capMs, this.#baseMs * 2 ** (failures - 1)) * (0.8 + 0.4 * Math.random());
    this.#entries.set(key, { failures, until: this.#now() + delay, code });
  }

  succeeded(key: string): void {
    if (!this.#frozen) this.#entries.delete(key);
  }
}

/** Runs a store call again while it fails with a retryable error, within the pass's budget. */
type Retry = <T>(call: () => Promise<T>) => Promise<T>;

async function planDefinition(engine: Engine, definition: CheckedDefinition, state: SyncStateRepository, keys: StateKeys, marks: Marks, retry: Retry, allowDeletes: number | undefined, backoff: EntryBackoff): Promise<PlannedDefinition> {
  const key = keys.key;
  const records = new Map((await state.list(definition.name)).map((record) => [record.entry, record]));
  const legacy = new Set<string>();
  const base = { sync: definition.name, destination: definition.destination };
  const items: SyncItem[] = [];
  const fail = (entry: string, error: unknown, extra: Partial<SyncItem> = {}): SyncItem => {
    // Anything but a SecretbindError is secretbind failing to handle what it got: no code, status INTERNAL_ERROR.
    if (!isSecretbindError(error)) return { ...base, entry, action: 'error', reason: INTERNAL_REASON, ...extra };
    return { ...base, entry, action: 'error', reason: error.message, code: error.code, ...extra };
  };

  // The destination's listing does not depend on the sources: it runs while they are read.
  let target: SecretProvider;
  try {
    ({ provider: target } = await engine.storeFor(definition.destination));
  } catch (error) {
    // A destination that cannot be used fails every association, or the definition itself when it has none yet.
    return { items: records.size > 0 ? [...records.keys()].map((entry) => fail(entry, error)) : [fail(WHOLE_DEFINITION, error)], desired: new Map(), listed: new Map(), records, legacy };
  }
  const adapt = adapterOf(definition, target);
  // An adapted name may not keep the template's fixed start (SECRETBIND_ for secretbind/): then list everything.
  const prefix = !adapt || adapt(definition.template.fixedPrefix) === definition.template.fixedPrefix ? definition.template.fixedPrefix : '';
  const listing = retry(() => listEntries(engine, definition.destination, { recursive: true, metadata: true, ...(prefix ? { prefix } : {}) }));
  listing.catch(() => {}); // awaited below; not an unhandled rejection meanwhile

  // 1. What the sources hold. A source that fails is never read as "deleted": its associations only fail this pass.
  let gathered: Gathered;
  try {
    gathered = await gather(engine, definition, keys, retry, records, backoff);
  } catch (error) {
    return { items: records.size > 0 ? [...records.keys()].map((entry) => fail(entry, error)) : [fail(WHOLE_DEFINITION, error)], desired: new Map(), listed: new Map(), records, legacy };
  }
  for (const failure of gathered.failures) {
    // A source entry that failed keeps its associations as they are and reports the failure on each of them.
    const concerned = [...records.values()].filter((record) => record.sourceEntry === failure.sourceEntry);
    const from = { sourceEntry: failure.sourceEntry, ...(definition.source ? { source: definition.source } : {}) };
    if (concerned.length === 0) items.push(fail(failure.entry, failure.error, from));
    for (const record of concerned) items.push(fail(record.entry, failure.error, from));
  }

  // 2. Names that two sources both land on fail both, naming each other.
  const byEntry = new Map<string, Desired[]>();
  for (const want of gathered.desired) byEntry.set(want.entry, [...(byEntry.get(want.entry) ?? []), want]);
  const desired = new Map<string, Desired>();
  const { store: destinationStore, provider: destinationProvider } = await engine.storeFor(definition.destination);
  for (const [entry, wants] of byEntry) {
    if (wants.length === 1) {
      // A name the destination cannot hold fails here, before anything is written.
      try {
        destinationProvider.checkName?.(destinationStore, parseReference(entry));
      } catch (error) {
        items.push(fail(entry, error, { ...(wants[0]!.source ? { source: wants[0]!.source } : {}), ...(wants[0]!.sourceEntry ? { sourceEntry: wants[0]!.sourceEntry } : {}) }));
        continue;
      }
      desired.set(entry, wants[0]!);
    } else items.push(fail(entry, new SecretbindError('REFERENCE_INVALID', `Several sources land on ${entry}: ${wants.map((want) => `${want.source}:${want.sourceEntry}`).join(' and ')}; change name_template so that each gets its own name.`)));
  }

  // 3. What the destination holds (one listing, with owners and versions).
  let listed: Map<string, EntryInfo>;
  try {
    listed = new Map((await listing).map((info) => [info.name, info]));
  } catch (error) {
    return { items: [...items, ...[...desired.keys()].map((entry) => fail(entry, error))], desired, listed: new Map(), records, legacy };
  }

  // 3b. A want skipped by source version is unchanged only if the destination still holds what secretbind wrote.
  const stale = new Set<string>();
  for (const [entry, want] of desired) {
    const existing = listed.get(entry);
    const record = records.get(entry);
    const inPlace = existing !== undefined && existing.version !== undefined && record?.destinationVersion === existing.version && standing(existing, marks, true) === 'mine';
    if (want.skipped && !inPlace) stale.add(want.sourceEntry!);
  }
  if (stale.size > 0) {
    for (const [entry, want] of desired) if (want.sourceEntry !== undefined && stale.has(want.sourceEntry)) desired.delete(entry);
    try {
      const late = await gathered.readSkipped([...stale]);
      for (const want of late.desired) if (!byEntry.has(want.entry) || byEntry.get(want.entry)!.length === 1) desired.set(want.entry, want);
      for (const failure of late.failures) for (const record of records.values()) if (record.sourceEntry === failure.sourceEntry) items.push(fail(record.entry, failure.error, { sourceEntry: failure.sourceEntry }));
      gathered.failures.push(...late.failures);
    } catch (error) {
      for (const record of records.values()) if (record.sourceEntry !== undefined && stale.has(record.sourceEntry)) items.push(fail(record.entry, error, { sourceEntry: record.sourceEntry }));
      for (const sourceEntry of stale) gathered.failures.push({ sourceEntry, entry: sourceEntry, error });
    }
  }

  // 4. Decide each entry.
  for (const [entry, want] of desired) {
    const existing = listed.get(entry);
    const record = records.get(entry);
    const about = itemAbout(definition, entry, want.source, want.sourceEntry);
    const stands = existing ? standing(existing, marks, record !== undefined) : 'mine';
    if (stands === 'legacy') legacy.add(entry);
    // HMACs made with another key (a restart without a configured stateKey) say nothing: the value is compared instead.
    const known = record?.hmacKeyId === keys.id;
    if (!existing) {
      items.push({ ...about, action: 'create', reason: record ? 'missing from the destination; recreated' : 'new' });
    } else if (stands === 'foreign') {
      const whose = existing.owner === undefined ? "without this definition's owner mark" : `with the owner mark ${JSON.stringify(existing.owner)}, not this definition's (${JSON.stringify(marks.mine)})`;
      items.push(definition.adopt ? { ...about, action: 'update', reason: 'taken over (adopt)' } : { ...about, action: 'not-owned', reason: `${entry} exists ${whose}; set adopt: true to take it over`, code: 'ENTRY_NOT_OWNED' });
    } else if (known && record && record.valueHmac === want.hmac && existing.version !== undefined && record.destinationVersion === existing.version) {
      items.push({ ...about, action: 'unchanged', reason: 'unchanged' });
    } else if (known && record && record.destinationVersion === existing.version && existing.version !== undefined) {
      items.push({ ...about, action: 'update', reason: 'the source changed' });
    } else {
      // The destination moved since secretbind wrote it (or no record says what it wrote): look at its value.
      const current = await retry(() => readWhole(engine, definition.destination, [parseReference(entry)])).catch(() => undefined);
      const answer = current?.get(parseReference(entry).raw);
      const currentHmac = answer?.ok ? hmacOf(key, answer.value) : undefined;
      // A store of single values holds an object as its JSON text: that is the same value.
      const inPlace = currentHmac === want.hmac || (answer?.ok === true && typeof answer.value === 'string' && typeof want.value === 'object' && currentHmac === hmacOf(key, JSON.stringify(want.value)));
      if (inPlace) items.push({ ...about, action: 'unchanged', reason: 'already in place' });
      else if (known && record && currentHmac !== undefined && currentHmac !== record.valueHmac) {
        items.push(definition.on_drift === 'report' ? { ...about, action: 'conflict', reason: `${entry} was changed outside secretbind (drift); on_drift is "report"`, code: 'CONFLICT' } : { ...about, action: 'update', reason: 'changed outside secretbind (drift); overwritten' });
      } else items.push({ ...about, action: 'update', reason: record ? 'the source changed' : 'differs from the source' });
    }
  }

  // 5. Entries gone from a source that answered in full: removed where secretbind owns them, within the guard.
  const forget: string[] = [];
  {
    const failedSources = new Set(gathered.failures.map((failure) => failure.sourceEntry));
    const deletes: SyncItem[] = [];
    const failedEntries = new Set(gathered.failures.map((failure) => failure.entry));
    for (const [entry, record] of records) {
      if (desired.has(entry) || byEntry.has(entry) || (record.sourceEntry !== undefined && failedSources.has(record.sourceEntry))) continue;
      const existing = listed.get(entry);
      const stands = existing && standing(existing, marks, true);
      if (stands === 'mine' || stands === 'legacy') {
        if (stands === 'legacy') legacy.add(entry);
        deletes.push({ ...base, entry, action: 'delete', reason: 'gone from the source', ...(record.source ? { source: record.source } : {}), ...(record.sourceEntry ? { sourceEntry: record.sourceEntry } : {}) });
      } else {
        forget.push(entry);
      }
    }
    // Entries under this definition's own mark that nothing maps to are orphans whatever the state holds: a new
    // replica's empty state must not keep them forever. (Only an exact mark: the listing must show owners.)
    for (const [entry, existing] of listed) {
      if (existing.owner !== marks.mine || records.has(entry) || desired.has(entry) || byEntry.has(entry) || failedEntries.has(entry)) continue;
      deletes.push({ ...base, entry, action: 'delete', reason: "carries this definition's owner mark and no source entry maps to it" });
    }
    // A source that lists nothing where entries were synced has more likely failed than been emptied; a pass that
    // would remove more than max_deletes is more likely wrong than meant. Either way nothing is removed until an
    // operator confirms the count with allowDeletes (--allow-deletes N).
    const owned = new Set([...records.keys(), ...[...listed].filter(([, info]) => info.owner === marks.mine).map(([entry]) => entry)]).size;
    const maxDeletes = definition.max_deletes ?? Math.max(1, Math.floor(owned / 10));
    const confirmed = allowDeletes !== undefined && allowDeletes >= deletes.length;
    const guard = gathered.listedEmpty && deletes.length > 0 ? `the source listed no entries where ${owned} were synced` : deletes.length > maxDeletes ? `this pass would remove ${deletes.length} entries, more than max_deletes (${maxDeletes})` : undefined;
    if (guard && !confirmed) {
      for (const item of deletes) items.push({ ...item, action: 'error', code: 'DELETE_GUARD', reason: `${guard}: nothing was removed; if that is meant, confirm with --allow-deletes ${deletes.length} (allowDeletes: ${deletes.length})` });
    } else items.push(...deletes);
  }
  return { items, desired, listed, records, forget, legacy };
}

interface Gathered {
  desired: Desired[];
  /** Source entries that could not be read (ENTRY_NOT_FOUND is an answer, not a failure: the entry is gone). */
  failures: Array<{ sourceEntry: string; entry: string; error: unknown }>;
  /** The source was listed (prefix or folder) and the listing was empty. */
  listedEmpty?: boolean;
  /** Reads source entries that were skipped by version, for the wants that turn out to need their value. */
  readSkipped(sourceEntries: readonly string[]): Promise<Pick<Gathered, 'desired' | 'failures'>>;
}

/**
 * The entries a definition wants in its destination, from its sources. Throws when a source cannot be listed. A
 * listed source entry whose version is the one every association of it was synced from is not read: its wants carry
 * the recorded HMAC and no value, and are read only if the destination moved.
 */
async function gather(engine: Engine, definition: CheckedDefinition, keys: StateKeys, retry: Retry, records: ReadonlyMap<string, AssociationRecord>, backoff: EntryBackoff): Promise<Gathered> {
  const key = keys.key;
  const { store: destination, provider: destinationProvider } = await engine.storeFor(definition.destination);
  const desired: Desired[] = [];
  const failures: Gathered['failures'] = [];
  const adapt = adapterOf(definition, destinationProvider);
  const names = (values: TemplateValues): string => {
    const rendered = definition.template.render({ DestinationType: destination.type, DestinationName: destination.name, ...values });
    return renderedReference(adapt ? adapt(rendered) : rendered, 'name template');
  };
  const failed = (error: unknown): boolean => !(isSecretbindError(error) && error.code === 'ENTRY_NOT_FOUND');

  if (definition.mapped) {
    for (const [target, parts] of definition.mapped) {
      const values: Record<string, string> = {};
      let problem: unknown;
      let gone = false;
      for (const part of parts) {
        const ref = parseReference(part.reference);
        const answer = (await retry(() => readFields(engine, part.store, [ref]))).get(ref.raw);
        if (answer?.ok) values[part.jsonKey ?? ''] = answer.value;
        else if (failed(answer?.error)) problem ??= answer?.error;
        else gone = true;
      }
      const entry = names({ SecretPath: target, SecretBaseName: target });
      if (problem !== undefined) failures.push({ sourceEntry: target, entry, error: problem });
      else if (!gone) {
        const value: EntryValue = parts[0]!.jsonKey === undefined ? values['']! : values;
        desired.push({ entry, value, hmac: hmacOf(key, value), sourceEntry: target });
      }
    }
    return { desired, failures, readSkipped: async () => ({ desired: [], failures: [] }) };
  }

  const sourceName = definition.source!;
  const { store: source } = await engine.storeFor(sourceName);
  const versions = new Map<string, string | undefined>();
  if (definition.entries) for (const entry of definition.entries) versions.set(entry, undefined);
  else {
    const prefix = definition.folder !== undefined ? (definition.folder.endsWith('/') ? definition.folder : `${definition.folder}/`) : definition.prefix!;
    for (const info of await retry(() => listEntries(engine, sourceName, { prefix, recursive: true }))) versions.set(info.name, info.version);
  }
  const bySource = new Map<string, AssociationRecord[]>();
  for (const record of records.values()) if (record.sourceEntry !== undefined) bySource.set(record.sourceEntry, [...(bySource.get(record.sourceEntry) ?? []), record]);

  const read = async (sourceEntries: readonly string[]): Promise<Pick<Gathered, 'desired' | 'failures'>> => {
    const wanted: Desired[] = [];
    const failing: Gathered['failures'] = [];
    const all = sourceEntries.map((entry) => parseReference(entry));
    const commonOf = (ref: EntryReference): TemplateValues => ({ SourceName: source.name, SourceType: source.type, SecretPath: referencePath(ref), SecretBaseName: ref.segments.at(-1)!, ...(source.type === 'vault' ? { MountPath: typeof source.vault_mount_point === 'string' ? source.vault_mount_point : 'secret' } : {}) });
    // An entry that keeps failing is read once per backoff step, not every pass; the others go on.
    const refs: EntryReference[] = [];
    for (const ref of all) {
      const waiting = backoff.waiting(`${definition.name}\u0000${ref.raw}`);
      if (!waiting) refs.push(ref);
      else failing.push({ sourceEntry: ref.raw, entry: definition.granularity === 'secret-key' ? ref.raw : names(commonOf(ref)), error: new SecretbindError(waiting.code, `Not read this pass: it failed ${waiting.failures} time(s) in a row (last ${waiting.code}); next try at ${new Date(waiting.until).toISOString()}.`) });
    }
    const answers = refs.length > 0 ? await retry(() => readWhole(engine, sourceName, refs)) : new Map<string, EntrySettled>();
    for (const ref of refs) {
      const answer = answers.get(ref.raw) ?? { ok: false as const, error: new SecretbindError('BACKEND_UNAVAILABLE', `No answer for ${ref.raw}.`) };
      const common = commonOf(ref);
      if (!answer.ok) {
        if (failed(answer.error)) {
          backoff.failed(`${definition.name}\u0000${ref.raw}`, answer.error.code);
          failing.push({ sourceEntry: ref.raw, entry: definition.granularity === 'secret-key' ? ref.raw : names(common), error: answer.error });
        } else backoff.succeeded(`${definition.name}\u0000${ref.raw}`);
        continue;
      }
      backoff.succeeded(`${definition.name}\u0000${ref.raw}`);
      const sourceVersion = versions.get(ref.raw);
      const about = { source: source.name, sourceEntry: ref.raw, ...(sourceVersion !== undefined ? { sourceVersion } : {}) };
      if (definition.granularity === 'secret-key') {
        const fields = typeof answer.value === 'string' ? { value: answer.value } : answer.value;
        for (const [field, text] of Object.entries(fields)) wanted.push({ entry: names({ ...common, SecretKey: field }), value: text, hmac: hmacOf(key, text), ...about });
      } else {
        wanted.push({ entry: names(common), value: answer.value, hmac: hmacOf(key, answer.value), ...about });
      }
    }
    return { desired: wanted, failures: failing };
  };

  const toRead: string[] = [];
  for (const [sourceEntry, version] of versions) {
    const synced = bySource.get(sourceEntry) ?? [];
    const unchanged = version !== undefined && synced.length > 0 && synced.every((record) => record.sourceVersion === version && record.status === 'SYNCED' && record.valueHmac !== undefined && record.hmacKeyId === keys.id);
    if (!unchanged) {
      toRead.push(sourceEntry);
      continue;
    }
    for (const record of synced) desired.push({ entry: record.entry, hmac: record.valueHmac!, source: source.name, sourceEntry, sourceVersion: version, skipped: true });
  }
  const first = await read(toRead);
  desired.push(...first.desired);
  failures.push(...first.failures);
  return { desired, failures, readSkipped: read, listedEmpty: !definition.entries && versions.size === 0 };
}

/** The default template is adapted to the destination's character set; a template the operator wrote is kept. */
function adapterOf(definition: CheckedDefinition, provider: SecretProvider): ((rendered: string) => string) | undefined {
  const adaptName = provider.adaptName;
  return definition.name_template === undefined && !definition.mapped && adaptName ? (rendered) => adaptName.call(provider, rendered) : undefined;
}

/** Whole entries of a store: `readEntries` where the provider has it, else the reference's default field. */
async function readWhole(engine: Engine, storeName: string, refs: readonly EntryReference[]): Promise<ReadonlyMap<string, EntrySettled>> {
  const { store, provider } = await engine.storeFor(storeName);
  const readEntries = provider.readEntries;
  if (readEntries) return engine.withDeadline(store, undefined, (ctx) => readEntries.call(provider, store, refs, ctx));
  const answers = await readFields(engine, storeName, refs);
  return new Map([...answers].map(([raw, answer]) => [raw, answer.ok ? { ok: true, value: answer.value } : answer]));
}

/** Single fields (`ref#field`) of a store, through `resolveMany` or `resolve`. */
async function readFields(engine: Engine, storeName: string, refs: readonly EntryReference[]): Promise<ReadonlyMap<string, { ok: true; value: string } | { ok: false; error: SecretbindError }>> {
  const { store, provider } = await engine.storeFor(storeName);
  if (provider.resolveMany) return engine.resolveEntries(provider, store, refs);
  const answers = new Map<string, { ok: true; value: string } | { ok: false; error: SecretbindError }>();
  for (const ref of refs) {
    try {
      const answer = await engine.withDeadline(store, undefined, (ctx) => provider.resolve(store, ref, ctx));
      answers.set(ref.raw, { ok: true, value: typeof answer === 'string' ? answer : answer.value });
    } catch (error) {
      answers.set(ref.raw, { ok: false, error: error as SecretbindError });
    }
  }
  return answers;
}

/** Whether a record already holds each of these fields (an absent field and an undefined one are the same). */
function holds(record: AssociationRecord, fields: Partial<AssociationRecord>): boolean {
  for (const key in fields) if (record[key as keyof AssociationRecord] !== fields[key as keyof AssociationRecord]) return false;
  return true;
}

/**
 * What names an item: its definition, entry, and source where known. Built by assignment, not conditional spreads,
 * which cost V8 several times more and ran once per association per pass.
 */
function itemAbout(definition: { name: string; destination: string }, entry: string, source: string | undefined, sourceEntry: string | undefined): Pick<SyncItem, 'sync' | 'destination' | 'entry' | 'source' | 'sourceEntry'> {
  const about: Pick<SyncItem, 'sync' | 'destination' | 'entry' | 'source' | 'sourceEntry'> = { sync: definition.name, destination: definition.destination, entry };
  if (source) about.source = source;
  if (sourceEntry) about.sourceEntry = sourceEntry;
  return about;
}
