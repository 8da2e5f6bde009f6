import { StoreAccess } from '../access/index.js';
import { SecretbindError, type SecretEventListener } from '../core/index.js';
import { DEFAULT_OWNER, type BindingRepository, type SecretProvider } from '../stores/index.js';
import { carryOut, retrier, type ApplyContext } from './apply.js';
import { SyncLoop, type SyncLoopOptions, type SyncLoopState } from './daemon.js';
import { checkDefinitions, type CheckedDefinition, type SyncDefinition } from './definitions.js';
import { stateKeys, syncOwnerMark, type StateKeys } from './ownership.js';
import { decide, refuseSharedEntries, type PlannedDefinition, type SyncAction, type SyncItem } from './plan.js';
import { EntryBackoff, observe } from './read.js';
import { MemorySyncState, type AssociationRecord, type SyncStateRepository } from './state.js';

/**
 * The sync engine: a pass reads every selected definition (read.ts), plans it (plan.ts, pure), refuses entries two
 * definitions share, then applies the items in order (apply.ts); passes never overlap. The loop and daemon sit on
 * top (daemon.ts).
 */

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

/** One-way sync from sources into destinations; see docs/sync.md. */
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

/** Actions that change the destination. */
const WRITING: ReadonlySet<SyncAction> = new Set(['create', 'update', 'delete']);

const OWNER_PATTERN = /^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$/;

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
  const engine = new OneWaySync(options);
  return {
    plan: (planOptions = {}) => engine.pass(planOptions, false),
    run: (runOptions = {}) => engine.run(runOptions),
    status: () => engine.status(),
    start: (loopOptions = {}) => engine.start(loopOptions),
    stop: () => engine.stop(),
    loopState: () => engine.loopState(),
    close: () => engine.close(),
  };
}

class OneWaySync {
  readonly #options: SyncEngineOptions;
  readonly #definitions: CheckedDefinition[];
  readonly #deployment: string;
  readonly #keys: StateKeys;
  readonly #state: SyncStateRepository;
  readonly #now: () => number;
  readonly #backoff: EntryBackoff;
  readonly #access: StoreAccess;
  readonly #retry: ApplyContext['retry'];
  #passes = Promise.resolve();
  #loop: SyncLoop | undefined;

  constructor(options: SyncEngineOptions) {
    this.#options = options;
    this.#definitions = checkDefinitions(options.definitions ?? []);
    const deployment = options.owner ?? DEFAULT_OWNER;
    if (typeof deployment !== 'string' || !OWNER_PATTERN.test(deployment)) {
      throw new SecretbindError('CONFIG_INVALID', `owner must be 1 to 30 lowercase letters, digits and "-", starting and ending with a letter or digit (it goes into every store's owner mark), not ${JSON.stringify(deployment)}.`);
    }
    this.#deployment = deployment;
    this.#keys = stateKeys(options.stateKey);
    this.#state = options.state ?? new MemorySyncState();
    this.#retry = retrier(options.retries ?? 3, options.retryBaseMs ?? 200);
    this.#now = options.now ?? Date.now;
    this.#backoff = new EntryBackoff(this.#now, options.entryBackoff);
    this.#access = new StoreAccess({ repository: options.repository, providers: options.providers, onEvent: options.onEvent, timeoutMs: options.timeoutMs ?? 30_000 });
  }

  /** A pass: every selected definition planned before any writes, then (when applying) each item carried out. */
  async pass(runOptions: SyncRunOptions, apply: boolean): Promise<SyncItem[]> {
    // Planning all first means two definitions that land on one destination entry both fail, naming each other,
    // instead of overwriting each other every pass. (A definition reading another's destination sees that one's
    // writes on the next pass.)
    const plans: Array<{ definition: CheckedDefinition; planned: PlannedDefinition }> = [];
    for (const definition of this.#selected(runOptions.only)) {
      const marks = { mine: syncOwnerMark(this.#deployment, definition.name), legacy: this.#deployment };
      const context = { access: this.#access, state: this.#state, keys: this.#keys, marks, retry: this.#retry, backoff: apply ? this.#backoff : this.#backoff.view(), allowDeletes: runOptions.allowDeletes };
      plans.push({ definition, planned: decide(await observe(context, definition)) });
    }
    refuseSharedEntries(plans);
    const items: SyncItem[] = [];
    for (const { definition, planned } of plans) {
      if (apply) items.push(...(await this.#apply(definition, planned, runOptions)));
      else items.push(...planned.items.map((item) => ({ ...item, outcome: 'planned' as const })));
    }
    return items;
  }

  async #apply(definition: CheckedDefinition, planned: PlannedDefinition, runOptions: SyncRunOptions): Promise<SyncItem[]> {
    const context: ApplyContext = { access: this.#access, state: this.#state, keys: this.#keys, deployment: this.#deployment, now: this.#now, retry: this.#retry };
    const mark = syncOwnerMark(this.#deployment, definition.name);
    const items: SyncItem[] = [];
    for (const item of planned.items) {
      if (WRITING.has(item.action) && runOptions.mayWrite && !runOptions.mayWrite()) {
        items.push({ ...item, outcome: 'planned', reason: `${item.reason}; left for later: this process may not write now` });
        continue;
      }
      const applied = { item, desired: planned.desired.get(item.entry), existing: planned.listed.get(item.entry), record: planned.records.get(item.entry), legacy: planned.legacy.has(item.entry) };
      items.push(await carryOut(context, definition, mark, applied));
    }
    for (const entry of planned.forget ?? []) await this.#state.remove(definition.name, entry);
    await this.#state.flush?.();
    return items;
  }

  #selected(only: readonly string[] | undefined): CheckedDefinition[] {
    if (!only) return this.#definitions;
    for (const name of only) if (!this.#definitions.some((definition) => definition.name === name)) throw new SecretbindError('CONFIG_INVALID', `There is no sync definition named ${JSON.stringify(name)}.`);
    return this.#definitions.filter((definition) => only.includes(definition.name));
  }

  run(runOptions: SyncRunOptions): Promise<SyncItem[]> {
    // Passes never overlap: a second run waits for the first.
    const next = this.#passes.then(() => this.pass(runOptions, !runOptions.dryRun));
    this.#passes = next.then(
      () => {},
      () => {},
    );
    return next;
  }

  async status(): Promise<AssociationRecord[]> {
    // Associations of a definition that is no longer configured: secretbind cannot say how they stand.
    const names = new Set(this.#definitions.map((definition) => definition.name));
    return (await this.#state.list()).map((record) => (names.has(record.sync) ? { ...record } : { ...record, status: 'UNKNOWN' as const }));
  }

  async start(loopOptions: SyncLoopOptions): Promise<void> {
    if (this.#loop?.state().running) throw new SecretbindError('CONFIG_INVALID', 'The sync loop is already running; stop() it first.');
    this.#loop = new SyncLoop(
      {
        runPass: (only, mayWrite) => this.run({ ...(only ? { only } : {}), mayWrite }),
        syncNames: () => this.#definitions.map((definition) => definition.name),
        watchTargets: () => this.#watchTargets(),
        emit: (event) => this.#access.emit(event),
      },
      loopOptions,
    );
    await this.#loop.start();
  }

  async stop(): Promise<void> {
    await this.#loop?.stop();
    await this.#state.flush?.();
  }

  loopState(): SyncLoopState {
    return this.#loop?.state() ?? { running: false, role: 'single', ready: false, watching: [], watchFailures: [] };
  }

  async close(): Promise<void> {
    await this.#loop?.stop();
    await this.#access.close();
  }

  /** The files of KeePass and dotenv sources, with the definitions that read them. */
  async #watchTargets(): Promise<Array<{ path: string; syncs: string[] }>> {
    const byPath = new Map<string, string[]>();
    for (const definition of this.#definitions) {
      const sources = definition.mapped ? [...definition.mapped.values()].flatMap((parts) => parts.map((part) => part.store)) : [definition.source!];
      for (const name of new Set(sources)) {
        const store = await this.#options.repository.findStore(name);
        const path = store?.type === 'keepass' ? store.kdbx_path : store?.type === 'dotenv' ? store.dotenv_path : undefined;
        if (typeof path === 'string') byPath.set(path, [...(byPath.get(path) ?? []), definition.name]);
      }
    }
    return [...byPath].map(([path, syncs]) => ({ path, syncs }));
  }
}
