import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createJsonLinesSink, createSecretLog, createSecretResolver, encryptLocalPassword, generateFernetKey, MemoryBindingRepository, readJsonLines, type ResolutionEvent } from 'secretbind';
import { memory } from '../../providers/memory/index.js';
import { main } from '../../src/cli/main.js';
import { thrown } from '../helpers.js';

const resolution = (account: string, extra: Partial<ResolutionEvent> = {}): ResolutionEvent => ({ source: 'Secrets', kind: 'resolution', account, outcome: 'store', durationMs: 0.1, store: 'mem', ...extra });

describe('Function: createSecretLog', () => {
  it('stays within its bounds, in total and per account, under 1,000,000 events', () => {
    const log = createSecretLog({ capacity: 10_000, perAccount: 100 });
    for (let index = 0; index < 1_000_000; index++) log.record(resolution(`account-${index % 5000}`, { durationMs: index }));
    expect(log.size).toBe(10_000);
    const one = log.query({ account: 'account-42' });
    expect(one.length).toBeLessThanOrEqual(100);
    expect(one.length).toBeGreaterThan(0);
    // Newest first, and only recent events survive.
    const durations = one.map((entry) => (entry.event as ResolutionEvent).durationMs);
    expect(durations).toEqual([...durations].sort((a, b) => b - a));
    expect(Math.min(...log.query().map((entry) => (entry.event as ResolutionEvent).durationMs))).toBeGreaterThanOrEqual(1_000_000 - 10_000);
    expect(log.stats().lookups).toBe(1_000_000);
    expect(log.stats().kept).toBe(10_000);
  });

  it('keeps a noisy account from pushing out the others', () => {
    const log = createSecretLog({ capacity: 1000, perAccount: 10 });
    log.record(resolution('quiet'));
    for (let index = 0; index < 500; index++) log.record(resolution('noisy'));
    expect(log.query({ account: 'noisy' })).toHaveLength(10);
    expect(log.query({ account: 'quiet' })).toHaveLength(1);
    expect(log.size).toBe(11);
  });

  it('filters by account, store, outcome, code and time, newest first, with a limit', () => {
    let clock = 1000;
    const log = createSecretLog({ now: () => clock });
    log.record(resolution('a'));
    clock = 2000;
    log.record(resolution('a', { outcome: 'error', code: 'TIMEOUT' }));
    log.record(resolution('b', { store: 'other', outcome: 'local', fallback: true, code: 'BACKEND_UNAVAILABLE' }));
    clock = 3000;
    log.record(resolution('a', { cache: 'hit' }));
    expect(log.query({ account: 'a' }).map((entry) => entry.at)).toEqual([3000, 2000, 1000]);
    expect(log.query({ account: 'a', outcome: 'error' })).toHaveLength(1);
    expect(log.query({ code: 'TIMEOUT' })[0]!.event).toMatchObject({ account: 'a' });
    expect(log.query({ store: 'other' })).toHaveLength(1);
    expect(log.query({ since: 2000 })).toHaveLength(3);
    expect(log.query({ since: new Date(3000) })).toHaveLength(1);
    expect(log.query({ limit: 2 })).toHaveLength(2);
    expect(log.stats()).toMatchObject({ lookups: 4, errors: { TIMEOUT: 1 }, fallbacks: 1, cacheHits: 1, stores: { mem: { lookups: 3, errors: 1 }, other: { lookups: 1, errors: 0 } } });
    log.clear();
    expect(log.size).toBe(0);
    expect(log.stats().lookups).toBe(4);
  });

  it('refuses bounds that are not positive integers', () => {
    expect(thrown(() => createSecretLog({ capacity: 0 })).code).toBe('CONFIG_INVALID');
    expect(thrown(() => createSecretLog({ perAccount: 1.5 })).code).toBe('CONFIG_INVALID');
  });

  it('never holds a value: a resolver logging into it with canary values (canary)', async () => {
    const canary = 'canary-secret-log-51d2';
    const key = generateFernetKey();
    const log = createSecretLog();
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-log-'));
    const sink = createJsonLinesSink({ path: join(dir, 'events.jsonl') });
    const store = memory({ entries: { 'apps/db': canary } });
    store.failNext('apps/db', 'BACKEND_UNAVAILABLE');
    const repository = new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' }).putBinding({ account: 'db', store: 'mem', entry: 'apps/db' });
    const resolver = createSecretResolver({ repository, providers: [store], cryptographyKey: key, onProviderError: 'use-local', onEvent: (event) => (log.record(event), sink.record(event)) });
    await resolver.resolvePassword({ name: 'db', password: encryptLocalPassword(canary, key) });
    await resolver.resolvePassword({ name: 'db' });
    await resolver.writeEntry('mem', 'apps/new', canary);
    sink.close();
    expect(log.size).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(log.query())).not.toContain(canary);
    expect(readFileSync(join(dir, 'events.jsonl'), 'utf8')).not.toContain(canary);
  });
});

describe('Function: createJsonLinesSink', () => {
  it('rotates by size, keeps maxFiles, and reads back every kept line oldest first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-log-'));
    const path = join(dir, 'events.jsonl');
    const sink = createJsonLinesSink({ path, maxBytes: 2000, maxFiles: 2, now: () => 0 });
    for (let index = 0; index < 100; index++) sink.record(resolution(`a-${index}`));
    sink.close();
    expect(readdirSync(dir).sort()).toEqual(['events.jsonl', 'events.jsonl.1', 'events.jsonl.2']);
    for (const file of readdirSync(dir)) expect(statSync(join(dir, file)).size).toBeLessThanOrEqual(2000);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const lines = readJsonLines(path);
    expect(lines.at(-1)).toMatchObject({ account: 'a-99', time: '1970-01-01T00:00:00.000Z', kind: 'resolution' });
    const accounts = lines.map((line) => Number((line as { account: string }).account.slice(2)));
    expect(accounts).toEqual([...accounts].sort((a, b) => a - b));
    expect(accounts.length).toBeLessThan(100);
  });

  it('feeds secretbind log ACCOUNT, newest first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-log-'));
    const path = join(dir, 'events.jsonl');
    let clock = 0;
    const sink = createJsonLinesSink({ path, now: () => (clock += 1000) });
    sink.record(resolution('checkmk-prod'));
    sink.record(resolution('netbox'));
    sink.record(resolution('checkmk-prod', { outcome: 'error', code: 'AUTH_FAILED' }));
    sink.close();
    let stdout = '';
    const status = await main(['log', 'checkmk-prod', '--log-file', path], { stdout: (text) => void (stdout += text), stderr: () => {}, readSecret: async () => '', env: {}, stderrIsTerminal: false });
    expect(status).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^1970-01-01T00:00:03\.000Z Secrets resolution account=checkmk-prod .*outcome=error .*code=AUTH_FAILED/);
    expect(lines[1]).toMatch(/^1970-01-01T00:00:01\.000Z .*outcome=store/);
  });
});
