/**
 * `secretbind sync --watch`: the daemon. A pass every interval (with jitter) and on changes to KeePass and dotenv
 * sources, health and metrics on --listen, leader election on a Kubernetes Lease, structured log lines on stderr.
 * SIGTERM and SIGINT finish the write in flight, save the state, release the lease and exit 0; a second signal exits at
 * once. SIGHUP reloads the configuration, keeping the old one when the new one is bad.
 */
import { createSyncMetrics, formatEvent, isSecretbindError, SecretbindError, serveSyncStatus, type JsonLinesSink, type LeaderElector, type SecretEvent, type SyncEngine, type SyncMetrics, type SyncStateRepository, type SyncStatusServer } from 'secretbind';
import { openState } from './sync-state.js';
import { loadConfig, type LoadedConfig } from './config.js';
import { EXIT, parseDuration, type CliIo } from './shared.js';

export interface WatchOptions {
  configPath: string;
  statePath: string;
  intervalMs: number;
  jitter: number;
  listen: string | undefined;
  lease: string | undefined;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logFormat: 'text' | 'json';
  graceMs: number;
  sink: JsonLinesSink | undefined;
  build: (config: LoadedConfig, state: SyncStateRepository, onEvent: (event: SecretEvent) => void) => Promise<SyncEngine>;
}

export function watchOptionsFrom(values: Record<string, string | boolean | string[] | undefined>): Pick<WatchOptions, 'intervalMs' | 'jitter' | 'listen' | 'lease' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'logFormat' | 'graceMs'> {
  const text = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const jitterText = text('jitter') ?? '10%';
  const jitterMatch = /^(\d+(?:\.\d+)?)%$/.exec(jitterText);
  if (!jitterMatch || Number(jitterMatch[1]) >= 100) throw new SecretbindError('CONFIG_INVALID', `--jitter: expected a percentage below 100%, such as 10%, not ${JSON.stringify(jitterText)}.`);
  const logFormat = text('log-format') ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new SecretbindError('CONFIG_INVALID', '--log-format: expected text or json.');
  const lease = values['leader-elect'] ? text('lease') : undefined;
  if (values['leader-elect'] && (!lease || !/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(lease))) throw new SecretbindError('CONFIG_INVALID', '--leader-elect needs --lease NAMESPACE/NAME.');
  return {
    intervalMs: parseDuration(text('interval') ?? '30s', '--interval'),
    jitter: Number(jitterMatch[1]) / 100,
    listen: text('listen'),
    lease,
    leaseDurationMs: parseDuration(text('lease-duration') ?? '15s', '--lease-duration'),
    renewDeadlineMs: parseDuration(text('renew-deadline') ?? '10s', '--renew-deadline'),
    retryPeriodMs: parseDuration(text('retry-period') ?? '2s', '--retry-period'),
    logFormat,
    graceMs: parseDuration(text('grace') ?? '30s', '--grace'),
  };
}

export async function watchSync(options: WatchOptions, io: CliIo): Promise<number> {
  const log = (event: SecretEvent): void => {
    const time = new Date().toISOString();
    io.stderr(options.logFormat === 'json' ? `${JSON.stringify({ time, ...event })}\n` : `${time} ${formatEvent(event)}\n`);
  };
  const note = (level: 'info' | 'warn', message: string, detail: Record<string, string | number | boolean> = {}): void => log({ source: 'Secrets', kind: 'sync', level, message, detail });

  let metrics: SyncMetrics | undefined;
  let metricsUnavailable: string | undefined;
  if (options.listen) {
    try {
      metrics = await createSyncMetrics();
    } catch (error) {
      metricsUnavailable = isSecretbindError(error) ? `metrics are off: ${error.message}` : 'metrics are off';
      note('warn', 'Serving health only', { why: metricsUnavailable });
    }
  }
  const onEvent = (event: SecretEvent): void => {
    log(event);
    options.sink?.record(event);
    metrics?.record(event);
  };

  const state = await openState(options.statePath);
  let engine = await options.build(await loadConfig(options.configPath), state, onEvent);
  const leaderFor = async (): Promise<LeaderElector | undefined> => {
    if (!options.lease) return undefined;
    const [namespace, name] = options.lease.split('/') as [string, string];
    const { kubernetesLease } = await import('secretbind/providers/kubernetes');
    return kubernetesLease({ namespace, name, leaseDurationSeconds: options.leaseDurationMs / 1000, renewDeadlineSeconds: options.renewDeadlineMs / 1000, retryPeriodSeconds: options.retryPeriodMs / 1000, onEvent });
  };
  const start = async (target: SyncEngine): Promise<void> => {
    const leader = await leaderFor();
    await target.start({ intervalMs: options.intervalMs, jitter: options.jitter, ...(leader ? { leader } : {}), ...(metrics ? { onPass: metrics.observePass } : {}) });
  };
  await start(engine);

  let server: SyncStatusServer | undefined;
  if (options.listen) {
    const { host, port } = listenAddress(options.listen);
    // The server asks whichever engine is current, so a reload does not restart it.
    server = await serveSyncStatus({ engine: { status: () => engine.status(), loopState: () => engine.loopState() }, ...(metrics ? { metrics } : {}), ...(metricsUnavailable ? { metricsUnavailable } : {}), host, port });
    note('info', 'Listening', { url: server.url });
  }

  return untilStopped(options, io, {
    current: () => engine,
    build: async () => options.build(await loadConfig(options.configPath), state, onEvent),
    swap: async (next) => {
      await engine.stop();
      await engine.close();
      engine = next;
      await start(engine);
    },
    close: async () => {
      await server?.close();
      options.sink?.close();
    },
    note,
  });
}

/** HOST:PORT (or a port alone, on loopback) of --listen. */
function listenAddress(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  const host = colon > 0 ? listen.slice(0, colon).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const port = Number(colon >= 0 ? listen.slice(colon + 1) : listen);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new SecretbindError('CONFIG_INVALID', `--listen: expected HOST:PORT, not ${JSON.stringify(listen)}.`);
  return { host, port };
}

interface Running {
  current(): SyncEngine;
  /** Builds an engine from the configuration file again; throws when the configuration is refused. */
  build(): Promise<SyncEngine>;
  /** Stops the running engine and starts this one. */
  swap(next: SyncEngine): Promise<void>;
  /** Closes what serves beside the engine (the status server, the log sink). */
  close(): Promise<void>;
  note(level: 'info' | 'warn', message: string, detail?: Record<string, string | number | boolean>): void;
}

/** Runs until SIGTERM or SIGINT (a second one exits at once); SIGHUP reloads, refusing a bad configuration. */
function untilStopped(options: WatchOptions, io: CliIo, running: Running): Promise<number> {
  const { note } = running;
  return new Promise<number>((resolve) => {
    let stopping = false;
    let reloading = Promise.resolve();
    const unsubscribe = io.onSignal?.((signal) => {
      if (signal === 'SIGHUP') {
        reloading = reloading.then(async () => {
          let next: SyncEngine;
          try {
            next = await running.build();
          } catch (error) {
            note('warn', 'Reload refused; the running configuration stays', { code: isSecretbindError(error) ? error.code : 'CONFIG_INVALID', why: error instanceof Error ? error.message : 'invalid' });
            return;
          }
          await running.swap(next);
          note('info', 'Configuration reloaded');
        });
        return;
      }
      if (stopping) {
        note('warn', `Second ${signal}: exiting now`);
        io.exit?.(130);
        return;
      }
      stopping = true;
      note('info', `${signal}: finishing the write in flight, saving state, releasing the lease`);
      const grace = setTimeout(() => {
        note('warn', 'Grace period over: exiting with work unfinished');
        io.exit?.(1);
      }, options.graceMs);
      grace.unref?.();
      void (async () => {
        await reloading;
        await running.current().stop();
        await running.current().close();
        await running.close();
        clearTimeout(grace);
        unsubscribe?.();
        note('info', 'Stopped');
        resolve(EXIT.ok);
      })();
    });
    if (!unsubscribe) resolve(EXIT.usage);
  });
}
