/** The sync daemon: the loop, file watches, metrics and health over HTTP. Leader election is in leader.test.ts. */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSecretResolver, createSyncEngine, createSyncMetrics, MemoryBindingRepository, parseReference, serveSyncStatus, type PassReport, type SecretEvent, type SyncEngine } from 'secretbind';
import { dotenv } from '../../providers/dotenv/index.js';
import { keepass } from '../../providers/keepass/index.js';
import { memory, type MemoryProvider } from '../../providers/memory/index.js';
import { copyOf, MASTER } from '../providers/keepass/helpers.js';

const running: SyncEngine[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((engine) => engine.close()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error('timed out waiting');
    await sleep(10);
  }
  return performance.now() - started;
}

function memoryWorld(seed: Record<string, string>, latencyMs = 0) {
  const source = memory({ entries: seed, latencyMs });
  const destination: MemoryProvider = { ...memory(), type: 'memtwo' } as MemoryProvider;
  const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
  const events: SecretEvent[] = [];
  const engine = createSyncEngine({ repository, providers: [source, destination], definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst', name_template: 'copy/{{ .SecretBaseName }}' }], onEvent: (event) => events.push(event) });
  running.push(engine);
  return { source, destination, engine, events };
}

async function valueOf(provider: MemoryProvider, store: string, type: string, name: string): Promise<unknown> {
  const answers = await provider.readEntries!({ name: store, type }, [parseReference(name)], { signal: new AbortController().signal, account: undefined, emit: () => {} });
  const answer = answers.get(name);
  return answer?.ok ? answer.value : undefined;
}

describe('Daemon: the reconcile loop', () => {
  it('waits the interval plus or minus the jitter', async () => {
    const { engine } = memoryWorld({});
    const reports: PassReport[] = [];
    await engine.start({ intervalMs: 1000, jitter: 0.2, watch: false, onPass: (report) => reports.push(report) });
    await until(() => reports.length > 0);
    await engine.stop();
    // The loop is internal; its delays are checked through a fresh loop of the same options.
    const { SyncLoop } = await import('../../src/sync/daemon.js');
    const loop = new SyncLoop({ runPass: async () => [], syncNames: () => [], watchTargets: async () => [], emit: () => {} }, { intervalMs: 1000, jitter: 0.2 });
    expect([loop.nextDelay(0), loop.nextDelay(0.5), loop.nextDelay(0.999999)]).toEqual([800, 1000, 1200]);
    expect(() => new SyncLoop({ runPass: async () => [], syncNames: () => [], watchTargets: async () => [], emit: () => {} }, { jitter: 1 })).toThrow(/jitter/);
  });

  it('never overlaps passes, and counts the interval from the end of a slow pass', async () => {
    const { engine } = memoryWorld({ 'apps/a': 'a', 'apps/b': 'b' }, 120);
    const reports: PassReport[] = [];
    await engine.start({ intervalMs: 40, jitter: 0, watch: false, onPass: (report) => reports.push(report) });
    await until(() => reports.length >= 4, 5000);
    await engine.stop();
    expect(reports[0]!.trigger).toBe('start');
    for (let index = 1; index < reports.length; index++) {
      const previousEnd = reports[index - 1]!.startedAt + reports[index - 1]!.durationMs;
      expect(reports[index]!.startedAt).toBeGreaterThanOrEqual(previousEnd + 35);
      expect(reports[index]!.trigger).toBe('interval');
    }
    expect(reports.every((report) => report.durationMs >= 110)).toBe(true);
  });

  it('stops: the pass in flight ends, nothing runs after, and the state is saved', async () => {
    const { engine, destination } = memoryWorld({ 'apps/a': 'a' }, 100);
    const reports: PassReport[] = [];
    await engine.start({ intervalMs: 20, jitter: 0, watch: false, onPass: (report) => reports.push(report) });
    await sleep(30);
    await engine.stop();
    const count = reports.length;
    expect(engine.loopState().running).toBe(false);
    await sleep(150);
    expect(reports.length).toBe(count);
    expect(destination.writes()).toBeLessThanOrEqual(1);
  });
});

describe('Daemon: watching KeePass and dotenv sources', () => {
  it('syncs a .env source within a second of a rename save, an in-place save, and a delete and re-create', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-watch-'));
    const envPath = join(dir, 'source.env');
    writeFileSync(envPath, 'DB=one\n');
    const destination: MemoryProvider = { ...memory(), type: 'memtwo' } as MemoryProvider;
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'dotenv', dotenv_path: envPath }).putStore({ name: 'dst', type: 'memtwo' });
    const engine = createSyncEngine({ repository, providers: [dotenv(), destination], definitions: [{ name: 'env', source: 'src', entries: ['DB'], destination: 'dst', name_template: 'copy/{{ .SecretPath }}' }] });
    running.push(engine);
    const reports: PassReport[] = [];
    await engine.start({ intervalMs: 60_000, debounceMs: 50, onPass: (report) => reports.push(report) });
    await until(async () => (await valueOf(destination, 'dst', 'memtwo', 'copy/DB')) === 'one');
    expect(engine.loopState().watching).toEqual([envPath]);

    writeFileSync(join(dir, 'source.env.tmp'), 'DB=two\n');
    renameSync(join(dir, 'source.env.tmp'), envPath);
    expect(await until(async () => (await valueOf(destination, 'dst', 'memtwo', 'copy/DB')) === 'two')).toBeLessThan(1000);

    writeFileSync(envPath, 'DB=three\n');
    expect(await until(async () => (await valueOf(destination, 'dst', 'memtwo', 'copy/DB')) === 'three')).toBeLessThan(1000);

    rmSync(envPath);
    await sleep(150);
    writeFileSync(envPath, 'DB=four\n');
    expect(await until(async () => (await valueOf(destination, 'dst', 'memtwo', 'copy/DB')) === 'four')).toBeLessThan(1000);
    expect(reports.filter((report) => report.trigger === 'watch').every((report) => report.only?.join() === 'env')).toBe(true);
  });

  it('syncs a KeePass source saved by another writer (atomic rename) within a second', async () => {
    const kdbx = copyOf('kdbx4-aeskdf.kdbx');
    const destination: MemoryProvider = { ...memory(), type: 'memtwo' } as MemoryProvider;
    const repository = new MemoryBindingRepository().putStore({ name: 'kp', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KP' }).putStore({ name: 'dst', type: 'memtwo' });
    const engine = createSyncEngine({ repository, providers: [keepass({ env: { KP: MASTER } }), destination], definitions: [{ name: 'kp', source: 'kp', entries: ['Root/Infrastructure/checkmk-prod'], destination: 'dst', name_template: 'copy/{{ .SecretBaseName }}' }] });
    running.push(engine);
    await engine.start({ intervalMs: 60_000, debounceMs: 50 });
    await until(async () => String(JSON.stringify(await valueOf(destination, 'dst', 'memtwo', 'copy/checkmk-prod'))).includes('Ch3ck-MK!prod#2026'));
    const editor = createSecretResolver({ repository: new MemoryBindingRepository().putStore({ name: 'kp', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KP' }), providers: [keepass({ env: { KP: MASTER } })], cryptographyKey: [] });
    await editor.writeEntry('kp', 'Root/Infrastructure/checkmk-prod', { Password: 'rotated-by-hand' }, { merge: true, adopt: true });
    await editor.close();
    expect(await until(async () => String(JSON.stringify(await valueOf(destination, 'dst', 'memtwo', 'copy/checkmk-prod'))).includes('rotated-by-hand'))).toBeLessThan(1000);
  });

  it('falls back to the interval with a warning when a folder cannot be watched', async () => {
    const destination: MemoryProvider = { ...memory(), type: 'memtwo' } as MemoryProvider;
    const missing = join(mkdtempSync(join(tmpdir(), 'secretbind-watch-')), 'no-such-folder', 'source.env');
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'dotenv', dotenv_path: missing }).putStore({ name: 'dst', type: 'memtwo' });
    const events: SecretEvent[] = [];
    const engine = createSyncEngine({ repository, providers: [dotenv(), destination], definitions: [{ name: 'env', source: 'src', entries: ['DB'], destination: 'dst' }], onEvent: (event) => events.push(event) });
    running.push(engine);
    await engine.start({ intervalMs: 60_000 });
    expect(engine.loopState().watchFailures).toEqual([missing]);
    expect(events).toContainEqual(expect.objectContaining({ kind: 'sync', level: 'warn', message: expect.stringContaining('picked up on the interval') }));
  });
});

describe('Daemon: metrics and health over HTTP', () => {
  it('serves /healthz, /readyz (503 before the first pass), /status without values, and Prometheus metrics with names and labels', async () => {
    const { engine, source, events } = memoryWorld({ 'apps/a': 'canary-daemon-a', 'apps/b': 'canary-daemon-b' });
    const metrics = await createSyncMetrics();
    const server = await serveSyncStatus({ engine, metrics, port: 0 });
    try {
      const get = async (path: string) => {
        const response = await fetch(`${server.url}${path}`);
        return { status: response.status, text: await response.text(), type: response.headers.get('content-type') };
      };
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/readyz')).status).toBe(503);
      const reports: PassReport[] = [];
      await engine.start({
        intervalMs: 60_000,
        watch: false,
        onPass: (report) => {
          metrics.observePass(report);
          reports.push(report);
        },
      });
      await until(() => reports.length === 1);
      for (const event of events) metrics.record(event);
      source.failNext('apps/b', 'PERMISSION_DENIED', { times: 5 });
      source.rotate('apps/b', 'canary-daemon-b2');
      expect(JSON.parse((await get('/readyz')).text)).toMatchObject({ ready: true, role: 'single', lastPass: { trigger: 'start', failed: 0 } });
      const status = await get('/status');
      expect(JSON.parse(status.text).associations.map((record: { entry: string; status: string }) => [record.entry, record.status])).toEqual([
        ['copy/a', 'SYNCED'],
        ['copy/b', 'SYNCED'],
      ]);
      await engine.run().then((items) => metrics.observePass({ trigger: 'interval', syncs: ['apps'], startedAt: Date.now(), durationMs: 5, items }));
      const scraped = await get('/metrics');
      expect(scraped.type).toMatch(/^text\/plain/);
      const samples = new Map(
        scraped.text
          .split('\n')
          .filter((line) => line && !line.startsWith('#'))
          .map((line) => [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))]),
      );
      expect(samples.get('secretbind_sync_last_status{sync="apps",entry="copy/a"}')).toBe(1);
      expect(samples.get('secretbind_sync_last_status{sync="apps",entry="copy/b"}')).toBe(0);
      expect(samples.get('secretbind_sync_writes_total{sync="apps",destination="dst"}')).toBe(2);
      expect(samples.get('secretbind_sync_errors_total{sync="apps",code="PERMISSION_DENIED"}')).toBe(1);
      expect(samples.get('secretbind_source_read_errors_total{store="src",code="PERMISSION_DENIED"}')).toBe(1);
      expect(samples.get('secretbind_sync_pass_duration_seconds_count')).toBe(2);
      expect(samples.get('secretbind_sync_last_success_timestamp_seconds{sync="apps"}')).toBeGreaterThan(1_700_000_000);
      expect([...samples.keys()].some((name) => name.startsWith('secretbind_provider_call_duration_seconds_count{store_type="memtwo",operation="write"}'))).toBe(true);
      expect(scraped.text).toContain('# TYPE secretbind_vault_token_ttl_seconds gauge');
      expect(scraped.text).toContain('# TYPE secretbind_vault_token_renewal_errors_total counter');
      for (const text of [scraped.text, status.text, JSON.stringify(events)]) expect(text).not.toContain('canary-daemon');
      expect((await get('/nope')).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('records Vault token TTLs and renewal failures from provider events', async () => {
    const metrics = await createSyncMetrics();
    metrics.record({ source: 'Secrets', kind: 'provider', storeType: 'vault', store: 'central', level: 'info', message: 'Vault login', detail: { method: 'approle', ttlSeconds: 3600 } });
    metrics.record({ source: 'Secrets', kind: 'provider', storeType: 'vault', store: 'central', level: 'warn', message: 'Vault token renewal failed; logging in again', detail: { method: 'approle' } });
    const text = await metrics.metrics();
    expect(text).toContain('secretbind_vault_token_ttl_seconds{store="central"} 3600');
    expect(text).toContain('secretbind_vault_token_renewal_errors_total{store="central"} 1');
  });

  it('answers /metrics with 404 and the reason when metrics are off', async () => {
    const { engine } = memoryWorld({});
    const server = await serveSyncStatus({ engine, metricsUnavailable: 'metrics are off: prom-client is required for sync metrics stores: npm install prom-client@15', port: 0 });
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('npm install prom-client@15');
    await server.close();
  });
});
