import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { SyncEvent } from '../core/index.js';
import { SecretbindError } from '../core/index.js';
import type { SyncItem } from './plan.js';

/**
 * Who may write when several replicas run: only the leader. `isLeader()` must turn false before another replica
 * could take over (a Lease's renew deadline is shorter than its duration), so a deposed leader stops in time.
 */
export interface LeaderElector {
  /** Starts campaigning (and renewing once elected). */
  start(): void;
  /** Whether this process holds leadership now. */
  isLeader(): boolean;
  /** Stops campaigning and releases leadership if held. */
  stop(): Promise<void>;
}

export interface SyncLoopOptions {
  /** A full pass every this many milliseconds. Default: 30000. */
  intervalMs?: number;
  /** Each wait is the interval plus or minus this fraction, so replicas and restarts do not align. Default: 0.1. */
  jitter?: number;
  /** Watch KeePass and dotenv sources' files and sync their definitions soon after a change. Default: true. */
  watch?: boolean;
  /** How long a burst of file events is gathered before the pass. Default: 200. */
  debounceMs?: number;
  /** With several replicas: only the leader passes and writes. */
  leader?: LeaderElector;
  /** Called after every pass (metrics, logs). */
  onPass?: (report: PassReport) => void;
}

/** One finished pass of the loop. */
export interface PassReport {
  trigger: 'start' | 'interval' | 'watch';
  /** The definitions it ran (all when undefined). */
  only?: readonly string[];
  /** The names of the definitions the pass covered. */
  syncs: readonly string[];
  startedAt: number;
  durationMs: number;
  items: readonly SyncItem[];
  /** Set when the pass itself failed (a bad store, the state); items are then empty. */
  error?: SecretbindError;
}

/** What `/readyz` and `/status` report about the loop. */
export interface SyncLoopState {
  running: boolean;
  /** `leader`, `standby`, or `single` without leader election. */
  role: 'leader' | 'standby' | 'single';
  /** Whether a pass has finished since the loop started (a standby counts as ready). */
  ready: boolean;
  lastPass?: { trigger: PassReport['trigger']; finishedAt: string; durationMs: number; failed: number; error?: string };
  /** Files being watched, and files whose watch failed (the interval covers those). */
  watching: readonly string[];
  watchFailures: readonly string[];
}

/** What the loop needs from the engine. */
export interface LoopHost {
  runPass(only: readonly string[] | undefined, mayWrite: () => boolean): Promise<SyncItem[]>;
  /** Every definition's name. */
  syncNames(): readonly string[];
  /** Files whose change should trigger a pass of these definitions. */
  watchTargets(): Promise<ReadonlyArray<{ path: string; syncs: readonly string[] }>>;
  emit(event: SyncEvent): void;
}

/**
 * The reconcile loop: a full pass every interval (with jitter), passes never overlapping, a slow pass delaying the
 * next rather than stacking; file watches for KeePass and dotenv sources trigger a pass of their definitions.
 */
export class SyncLoop {
  readonly #host: LoopHost;
  readonly #intervalMs: number;
  readonly #jitter: number;
  readonly #debounceMs: number;
  readonly #options: SyncLoopOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #watchers: FSWatcher[] = [];
  #watching: string[] = [];
  #watchFailures = new Set<string>();
  #pendingWatch = new Set<string>();
  #inFlight: Promise<void> | undefined;
  #running = false;
  #stopping = false;
  #lastPass: SyncLoopState['lastPass'];
  #passes = 0;

  constructor(host: LoopHost, options: SyncLoopOptions) {
    this.#host = host;
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 30_000;
    this.#jitter = options.jitter ?? 0.1;
    this.#debounceMs = options.debounceMs ?? 200;
    if (!Number.isFinite(this.#intervalMs) || this.#intervalMs <= 0) throw new SecretbindError('CONFIG_INVALID', 'intervalMs must be a positive number of milliseconds.');
    if (!Number.isFinite(this.#jitter) || this.#jitter < 0 || this.#jitter >= 1) throw new SecretbindError('CONFIG_INVALID', 'jitter must be a fraction from 0 to below 1 (0.1 is 10%).');
    if (!Number.isFinite(this.#debounceMs) || this.#debounceMs < 0) throw new SecretbindError('CONFIG_INVALID', 'debounceMs must be 0 or more.');
  }

  /** The wait before the next interval pass: the interval, plus or minus the jitter. */
  nextDelay(random: number = Math.random()): number {
    return Math.round(this.#intervalMs * (1 + this.#jitter * (2 * random - 1)));
  }

  async start(): Promise<void> {
    if (this.#running) throw new SecretbindError('CONFIG_INVALID', 'The sync loop is already running; stop() it first.');
    this.#running = true;
    this.#stopping = false;
    this.#options.leader?.start();
    if (this.#options.watch !== false) await this.#watch();
    this.#trigger('start', undefined);
  }

  /** Stops the timers and watches, lets the pass in flight finish its current write, and releases leadership. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#stopping = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#debounce);
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    this.#watching = [];
    await this.#inFlight;
    await this.#options.leader?.stop();
    this.#running = false;
  }

  state(): SyncLoopState {
    const leader = this.#options.leader;
    const role = !leader ? 'single' : leader.isLeader() ? 'leader' : 'standby';
    return {
      running: this.#running,
      role,
      ready: this.#running && (this.#passes > 0 || role === 'standby'),
      ...(this.#lastPass ? { lastPass: this.#lastPass } : {}),
      watching: [...this.#watching],
      watchFailures: [...this.#watchFailures],
    };
  }

  /** Runs a pass now, or right after the one in flight; never two at once. */
  #trigger(trigger: PassReport['trigger'], only: readonly string[] | undefined): void {
    if (this.#stopping) return;
    clearTimeout(this.#timer);
    const previous = this.#inFlight ?? Promise.resolve();
    const run = previous.then(() => this.#pass(trigger, only));
    this.#inFlight = run;
    void run.finally(() => {
      if (this.#inFlight === run) this.#inFlight = undefined;
    });
  }

  async #pass(trigger: PassReport['trigger'], only: readonly string[] | undefined): Promise<void> {
    if (this.#stopping) return;
    const leader = this.#options.leader;
    const startedAt = Date.now();
    let items: SyncItem[] = [];
    let error: SecretbindError | undefined;
    if (!leader || leader.isLeader()) {
      try {
        items = await this.#host.runPass(only, () => !this.#stopping && (!leader || leader.isLeader()));
      } catch (thrown) {
        error = thrown instanceof SecretbindError ? thrown : new SecretbindError('BACKEND_UNAVAILABLE', 'The pass failed unexpectedly.');
        this.#host.emit({ source: 'Secrets', kind: 'sync', level: 'warn', message: 'Sync pass failed', detail: { code: error.code } });
      }
      const durationMs = Date.now() - startedAt;
      const failed = items.filter((item) => item.outcome === 'failed').length;
      this.#passes++;
      this.#lastPass = { trigger, finishedAt: new Date().toISOString(), durationMs, failed, ...(error ? { error: error.code } : {}) };
      const written = items.filter((item) => item.outcome === 'done' && (item.action === 'create' || item.action === 'update' || item.action === 'delete')).length;
      this.#host.emit({ source: 'Secrets', kind: 'sync', level: failed > 0 || error ? 'warn' : 'info', message: 'Sync pass finished', detail: { trigger, durationMs, items: items.length, written, failed } });
      this.#options.onPass?.({ trigger, ...(only ? { only } : {}), syncs: only ?? this.#host.syncNames(), startedAt, durationMs, items, ...(error ? { error } : {}) });
    }
    // A slow pass delays the next one instead of stacking: the interval counts from the end of this pass. Watches
    // that failed are tried again on each interval.
    if (!this.#stopping) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        if (this.#watchFailures.size > 0) void this.#watch();
        this.#trigger('interval', undefined);
      }, this.nextDelay());
      this.#timer.unref?.();
    }
  }

  async #watch(): Promise<void> {
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    this.#watching = [];
    let targets: Awaited<ReturnType<LoopHost['watchTargets']>>;
    try {
      targets = await this.#host.watchTargets();
    } catch {
      return; // the pass reports what is wrong with the stores
    }
    // Editors and KeePass save by writing a new file and renaming it over the old one: watch the folder, not the file.
    const byFolder = new Map<string, Array<{ file: string; syncs: readonly string[]; path: string }>>();
    for (const target of targets) byFolder.set(dirname(target.path), [...(byFolder.get(dirname(target.path)) ?? []), { file: basename(target.path), syncs: target.syncs, path: target.path }]);
    for (const [folder, files] of byFolder) {
      try {
        const watcher = watch(folder, { persistent: false }, (_event, filename) => {
          const changed = files.find((candidate) => candidate.file === (filename === null ? undefined : String(filename)));
          if (!changed) return;
          for (const name of changed.syncs) this.#pendingWatch.add(name);
          clearTimeout(this.#debounce);
          this.#debounce = setTimeout(() => {
            this.#debounce = undefined;
            const only = [...this.#pendingWatch];
            this.#pendingWatch.clear();
            this.#trigger('watch', only);
          }, this.#debounceMs);
        });
        watcher.on('error', () => this.#watchFailed(files.map((file) => file.path)));
        this.#watchers.push(watcher);
        this.#watching.push(...files.map((file) => file.path));
        for (const file of files) this.#watchFailures.delete(file.path);
      } catch {
        this.#watchFailed(files.map((file) => file.path));
      }
    }
  }

  #watchFailed(paths: readonly string[]): void {
    for (const path of paths) {
      if (!this.#watchFailures.has(path)) this.#host.emit({ source: 'Secrets', kind: 'sync', level: 'warn', message: 'Cannot watch a source file; its changes are picked up on the interval', detail: { path } });
      this.#watchFailures.add(path);
      this.#watching = this.#watching.filter((watched) => watched !== path);
    }
  }
}
