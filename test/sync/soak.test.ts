/**
 * Soak (60 seconds): the daemon runs against the Secrets Manager stand-in while values rotate in a memory source and
 * a KeePass source and the stand-in answers bursts of 503s. At the end every destination secret holds its source's
 * last value and nothing else is there; no value appears in a log line, a metric or a status.
 */
import { describe, expect, it } from 'vitest';
import { createSecretResolver, createSyncEngine, createSyncMetrics, formatEvent, MemoryBindingRepository, serveSyncStatus, type SecretEvent } from 'secretbind';
import { awsSecrets } from '../../providers/aws_secrets/index.js';
import { keepass } from '../../providers/keepass/index.js';
import { memory } from '../../providers/memory/index.js';
import { copyOf, MASTER } from '../providers/keepass/helpers.js';
import { start } from '../servers/secrets-manager/index.js';

const SOAK_MS = 60_000;
const MEMORY_ENTRIES = 10;
const KEEPASS_ENTRIES = 4;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Daemon soak', () => {
  it(`keeps destinations at the sources' last values through rotations and 503s (${SOAK_MS / 1000} s)`, { timeout: SOAK_MS + 60_000 }, async () => {
    const aws = await start();
    const kdbx = copyOf('kdbx4-aeskdf.kdbx');
    const kpStore = { name: 'kp', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KP' };
    const editor = createSecretResolver({ repository: new MemoryBindingRepository().putStore(kpStore), providers: [keepass({ env: { KP: MASTER } })], cryptographyKey: [] });
    let counter = 0;
    const fresh = (): string => `soak-canary-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
    const memoryValues = new Map<string, string>();
    const keepassValues = new Map<string, string>();
    for (let index = 0; index < MEMORY_ENTRIES; index++) memoryValues.set(`soak/m${index}`, fresh());
    for (let index = 0; index < KEEPASS_ENTRIES; index++) {
      keepassValues.set(`k${index}`, fresh());
      await editor.writeEntry('kp', `Root/Soak/k${index}`, { Password: keepassValues.get(`k${index}`)! });
    }
    const source = memory({ entries: Object.fromEntries(memoryValues) });
    const repository = new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' }).putStore(kpStore).putStore({ name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: aws.url });
    const lines: string[] = [];
    const metrics = await createSyncMetrics();
    const onEvent = (event: SecretEvent): void => {
      lines.push(formatEvent(event), JSON.stringify(event));
      metrics.record(event);
    };
    const engine = createSyncEngine({
      repository,
      providers: [source, keepass({ env: { KP: MASTER } }), awsSecrets({ credentials: { accessKeyId: 'AKIASOAK', secretAccessKey: 'soak' }, maxAttempts: 1 })],
      definitions: [
        { name: 'from-memory', source: 'mem', prefix: 'soak/', destination: 'aws', name_template: 'soak-mem/{{ .SecretBaseName }}' },
        { name: 'from-keepass', source: 'kp', folder: 'Soak', destination: 'aws', name_template: 'soak-kp/{{ .SecretBaseName }}' },
      ],
      onEvent,
      retryBaseMs: 20,
    });
    const server = await serveSyncStatus({ engine, metrics, port: 0 });
    await engine.start({ intervalMs: 400, jitter: 0.1, debounceMs: 100, onPass: metrics.observePass });

    const started = Date.now();
    let tick = 0;
    while (Date.now() - started < SOAK_MS) {
      await sleep(150);
      tick++;
      const name = `soak/m${tick % MEMORY_ENTRIES}`;
      memoryValues.set(name, fresh());
      source.rotate(name, memoryValues.get(name)!);
      if (tick % 13 === 0) {
        const entry = `k${tick % KEEPASS_ENTRIES}`;
        keepassValues.set(entry, fresh());
        await editor.writeEntry('kp', `Root/Soak/${entry}`, { Password: keepassValues.get(entry)! }, { merge: true });
      }
      // Bursts of 503s from the service's front end, and throttling, now and then.
      if (tick % 40 === 0) aws.state.mode.respond = { times: 25, status: 503, type: 'ServiceUnavailable', message: 'Service Unavailable' };
      if (tick % 55 === 0) aws.state.mode.throttle = 15;
    }
    aws.state.mode = {};
    // Let the loop catch up: a clean pass that started after the last change (a pass that began before it and ended
    // after may have read an older value).
    const settledAfter = Date.now();
    while (Date.now() - settledAfter < 20_000) {
      await sleep(500);
      const statuses = await engine.status();
      const last = engine.loopState().lastPass;
      if (last && Date.parse(last.finishedAt) - last.durationMs > settledAfter && last.failed === 0 && statuses.every((record) => record.status === 'SYNCED')) break;
    }
    const scraped = await (await fetch(`${server.url}/metrics`)).text();
    const status = await (await fetch(`${server.url}/status`)).text();
    await engine.stop();
    await engine.close();
    await server.close();
    await editor.close();

    const current = (name: string): string | undefined => aws.state.find(name)?.versions.find((version) => version.stages.includes('AWSCURRENT'))?.secretString;
    for (const [name, value] of memoryValues) expect(current(`soak-mem/${name.slice('soak/'.length)}`), name).toBe(value);
    for (const [name, value] of keepassValues) expect(JSON.parse(current(`soak-kp/${name}`) ?? '{}').Password, name).toBe(value);
    expect([...aws.state.secrets.keys()].sort()).toEqual([...[...memoryValues.keys()].map((name) => `soak-mem/${name.slice(5)}`), ...[...keepassValues.keys()].map((name) => `soak-kp/${name}`)].sort());
    expect(aws.requests.some((request) => request.status === 503)).toBe(true);
    expect(scraped).toMatch(/secretbind_sync_errors_total\{sync="from-memory",code="(BACKEND_UNAVAILABLE|RATE_LIMITED)"\} \d+/);
    for (const text of [lines.join('\n'), scraped, status]) expect(text).not.toContain('soak-canary');
    await aws.stop();
  });
});
