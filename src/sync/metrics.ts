import type { SecretEvent } from '../core/index.js';
import { peerLoader } from '../stores/index.js';
import type { PassReport } from './daemon.js';

/** The parts of prom-client the metrics use. */
interface PromClient {
  Registry: new () => PromRegistry;
  Gauge: new (options: { name: string; help: string; labelNames?: readonly string[]; registers: PromRegistry[] }) => PromGauge;
  Counter: new (options: { name: string; help: string; labelNames?: readonly string[]; registers: PromRegistry[] }) => PromCounter;
  Histogram: new (options: { name: string; help: string; labelNames?: readonly string[]; buckets?: number[]; registers: PromRegistry[] }) => PromHistogram;
}
interface PromRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
}
interface PromGauge {
  set(labels: Record<string, string>, value: number): void;
  remove(labels: Record<string, string>): void;
}
interface PromCounter {
  inc(labels: Record<string, string>, value?: number): void;
}
interface PromHistogram {
  observe(labels: Record<string, string>, value: number): void;
}

/** Prometheus metrics of the sync daemon and the resolver; labels hold names and codes, never a value. */
export interface SyncMetrics {
  /** An `onEvent` listener: provider call durations, Vault token TTL and renewal errors. */
  readonly record: (event: SecretEvent) => void;
  /** A `SyncLoopOptions.onPass` listener: statuses, writes, errors, durations. */
  readonly observePass: (report: PassReport) => void;
  /** The exposition text for `/metrics`. */
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface SyncMetricsOptions {
  /** prom-client itself, when the application loads it (tests, bundlers). Default: `import('prom-client')`. */
  lib?: unknown;
}

const loadPromClient = (injected: unknown): (() => Promise<PromClient>) =>
  peerLoader('sync metrics', 'prom-client', injected as PromClient | undefined, () => import('prom-client').then((module) => ((module as { default?: unknown }).default ?? module) as unknown as PromClient), 'npm install prom-client@15');

/**
 * Creates the daemon's metrics in a registry of their own. Without prom-client: `DEPENDENCY_MISSING` with the
 * install line (the command then serves health only and says why).
 *
 * @example
 * ```ts
 * const metrics = await createSyncMetrics()
 * const engine = createSyncEngine({ ..., onEvent: metrics.record })
 * await engine.start({ onPass: metrics.observePass })
 * ```
 */
export async function createSyncMetrics(options: SyncMetricsOptions = {}): Promise<SyncMetrics> {
  const prom = await loadPromClient(options.lib)();
  const registry = new prom.Registry();
  const registers = [registry];
  const lastStatus = new prom.Gauge({ name: 'secretbind_sync_last_status', help: 'Whether each destination entry was synced on the last pass that concerned it (1) or failed (0).', labelNames: ['sync', 'entry'], registers });
  const writes = new prom.Counter({ name: 'secretbind_sync_writes_total', help: 'Writes and removals made in destinations.', labelNames: ['sync', 'destination'], registers });
  const errors = new prom.Counter({ name: 'secretbind_sync_errors_total', help: 'Destination entries that failed, by error code.', labelNames: ['sync', 'code'], registers });
  const readErrors = new prom.Counter({ name: 'secretbind_source_read_errors_total', help: 'Source entries that could not be read, by store and error code.', labelNames: ['store', 'code'], registers });
  const passDuration = new prom.Histogram({ name: 'secretbind_sync_pass_duration_seconds', help: 'Duration of sync passes.', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300], registers });
  const lastSuccess = new prom.Gauge({ name: 'secretbind_sync_last_success_timestamp_seconds', help: 'When each sync definition last finished a pass with no failure (Unix seconds).', labelNames: ['sync'], registers });
  const tokenTtl = new prom.Gauge({ name: 'secretbind_vault_token_ttl_seconds', help: 'TTL of the Vault token at its last login or renewal.', labelNames: ['store'], registers });
  const renewalErrors = new prom.Counter({ name: 'secretbind_vault_token_renewal_errors_total', help: 'Vault token renewals that failed (a new login follows).', labelNames: ['store'], registers });
  const callDuration = new prom.Histogram({ name: 'secretbind_provider_call_duration_seconds', help: 'Store calls by store type and operation (resolve, list, write, remove).', labelNames: ['store_type', 'operation'], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10], registers });

  return {
    record(event) {
      if (event.kind === 'resolution') {
        if (event.storeType !== undefined && event.cache !== 'hit') callDuration.observe({ store_type: event.storeType, operation: 'resolve' }, event.durationMs / 1000);
      } else if (event.kind === 'entry') {
        callDuration.observe({ store_type: event.storeType ?? 'unknown', operation: event.operation }, event.durationMs / 1000);
      } else if (event.kind === 'provider' && event.storeType === 'vault' && event.store !== undefined) {
        const ttl = event.detail?.ttlSeconds;
        if (typeof ttl === 'number' && (event.message === 'Vault login' || event.message === 'Vault token renewed')) tokenTtl.set({ store: event.store }, ttl);
        if (event.level === 'warn' && event.message.startsWith('Vault token renewal failed')) renewalErrors.inc({ store: event.store });
      }
    },
    observePass(report) {
      passDuration.observe({}, report.durationMs / 1000);
      const failedSyncs = new Set<string>();
      for (const item of report.items) {
        if (item.outcome === 'planned') continue;
        const labels = { sync: item.sync, entry: item.entry };
        if (item.outcome === 'done' && item.action === 'delete') lastStatus.remove(labels);
        else lastStatus.set(labels, item.outcome === 'done' ? 1 : 0);
        if (item.outcome === 'done' && (item.action === 'create' || item.action === 'update' || item.action === 'delete')) writes.inc({ sync: item.sync, destination: item.destination });
        if (item.outcome === 'failed') {
          failedSyncs.add(item.sync);
          errors.inc({ sync: item.sync, code: item.code ?? 'UNKNOWN' });
          if (item.action === 'error' && item.sourceEntry !== undefined && item.source !== undefined) readErrors.inc({ store: item.source, code: item.code ?? 'UNKNOWN' });
        }
      }
      const now = Math.floor(report.startedAt / 1000 + report.durationMs / 1000);
      if (!report.error) for (const sync of report.syncs) if (!failedSyncs.has(sync)) lastSuccess.set({ sync }, now);
    },
    metrics: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
