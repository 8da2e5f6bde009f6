import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import dotenvPackage from 'dotenv';
import { describe, expect, it } from 'vitest';
import { createSyncEngine, JsonFileSyncState, MemoryBindingRepository, MemorySyncState, parseReference, type SecretEvent, type SyncDefinition } from 'secretbind';
import { dotenv } from '../../providers/dotenv/index.js';
import { keepass } from '../../providers/keepass/index.js';
import { memory } from '../../providers/memory/index.js';
import { failure, thrown } from '../helpers.js';
import { copyOf, MASTER } from '../providers/keepass/helpers.js';

/** Two memory stores (one provider instance serves both) and an engine over them. */
function world(definitions: SyncDefinition[], seed: Record<string, string | Record<string, string>> = {}) {
  const source = memory({ entries: seed });
  const destination = memory();
  const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
  const events: SecretEvent[] = [];
  const state = new MemorySyncState();
  const engine = createSyncEngine({ repository, providers: [source, { ...destination, type: 'memtwo' }], definitions, state, onEvent: (event) => events.push(event), retryBaseMs: 1 });
  return { source, destination, engine, state, events };
}

const APPS = { 'apps/checkmk': { username: 'automation', password: 'cmk-1' }, 'apps/netbox': 'netbox-1', 'other/x': 'x' };

describe('Sync: entries, prefix and map definitions', () => {
  it('creates every entry once, then writes nothing while nothing changes, then exactly what changed', async () => {
    const { source, destination, engine } = world([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst' }], APPS);
    const first = await engine.run();
    expect(first.map((item) => [item.entry, item.action, item.outcome, item.status])).toEqual([
      ['secretbind/src/apps/checkmk', 'create', 'done', 'SYNCED'],
      ['secretbind/src/apps/netbox', 'create', 'done', 'SYNCED'],
    ]);
    expect(destination.writes()).toBe(2);
    const second = await engine.run();
    expect(second.every((item) => item.action === 'unchanged')).toBe(true);
    expect(destination.writes()).toBe(2);
    source.rotate('apps/netbox', 'netbox-2');
    const third = await engine.run();
    expect(third.filter((item) => item.action === 'update').map((item) => item.entry)).toEqual(['secretbind/src/apps/netbox']);
    expect(destination.writes()).toBe(3);
  });

  it('writes a multi-field secret as one entry (secret-path) or one entry per field (secret-key), with templates', async () => {
    const { destination, engine } = world(
      [
        { name: 'whole', source: 'src', entries: ['apps/checkmk'], destination: 'dst', name_template: 'whole/{{ .SecretPath | replace "/" "_" | uppercase }}' },
        { name: 'keys', source: 'src', entries: ['apps/checkmk'], destination: 'dst', granularity: 'secret-key', name_template: 'keys/{{ .SecretBaseName }}/{{ .SecretKey }}' },
      ],
      APPS,
    );
    const items = await engine.run();
    expect(items.map((item) => item.entry).sort()).toEqual(['keys/checkmk/password', 'keys/checkmk/username', 'whole/APPS_CHECKMK']);
    const listed = await destination.list!({ name: 'dst', type: 'memtwo' }, { recursive: true }, { signal: new AbortController().signal, account: undefined, emit: () => {} });
    expect(listed.find((entry) => entry.name === 'whole/APPS_CHECKMK')?.fields).toEqual(['username', 'password']);
  });

  it('maps KEY and KEY+JSON_KEY like ksm sync: 50 keys into 5 JSON secrets is 5 writes, then none', async () => {
    const seed: Record<string, string> = {};
    const map: Record<string, string> = {};
    for (let index = 0; index < 50; index++) {
      seed[`keys/k${index}`] = `v${index}`;
      map[`app-${index % 5}+key_${index}`] = `src:keys/k${index}`;
    }
    map.PLAIN = 'src:keys/k0';
    const { destination, engine } = world([{ name: 'ksm', destination: 'dst', map }], seed);
    const first = await engine.run();
    expect(first.filter((item) => item.action === 'create')).toHaveLength(6);
    expect(destination.writes()).toBe(6);
    await engine.run();
    expect(destination.writes()).toBe(6);
  });

  it('fails two sources that land on one name, naming each other, and writes neither', async () => {
    const { destination, engine } = world([{ name: 'clash', source: 'src', entries: ['apps/netbox', 'other/x'], destination: 'dst', name_template: 'same/{{ .SourceName }}' }], APPS);
    const items = await engine.run();
    expect(items).toEqual([expect.objectContaining({ entry: 'same/src', action: 'error', code: 'REFERENCE_INVALID', reason: expect.stringContaining('apps/netbox and src:other/x') })]);
    expect(destination.writes()).toBe(0);
  });
});

describe('Sync: ownership, drift, deletion and failures', () => {
  it('never overwrites an entry it does not own (CLIENT_SIDE_ERROR, ENTRY_NOT_OWNED) unless adopt', async () => {
    const { destination, engine } = world([{ name: 'apps', source: 'src', entries: ['apps/netbox'], destination: 'dst' }], APPS);
    destination.set('secretbind/src/apps/netbox', 'theirs');
    const items = await engine.run();
    expect(items[0]).toMatchObject({ action: 'not-owned', outcome: 'failed', status: 'CLIENT_SIDE_ERROR' });
    expect((await engine.status())[0]).toMatchObject({ status: 'CLIENT_SIDE_ERROR', errorCode: 'ENTRY_NOT_OWNED' });
    expect(destination.writes()).toBe(0);
    const adopting = createSyncEngine({ repository: new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' }), providers: [memory({ entries: APPS }), { ...destination, type: 'memtwo' }], definitions: [{ name: 'apps', source: 'src', entries: ['apps/netbox'], destination: 'dst', adopt: true }] });
    expect((await adopting.run())[0]).toMatchObject({ action: 'update', outcome: 'done', status: 'SYNCED' });
    expect(destination.ownerOf('secretbind/src/apps/netbox')).toBe('secretbind_apps');
  });

  it('overwrites drift by default and reports it with on_drift: report', async () => {
    for (const onDrift of ['overwrite', 'report'] as const) {
      const { destination, engine } = world([{ name: 'apps', source: 'src', entries: ['apps/netbox'], destination: 'dst', on_drift: onDrift }], APPS);
      await engine.run();
      destination.set('secretbind/src/apps/netbox', 'edited by hand'); // keeps the mark, moves the version
      const items = await engine.run();
      if (onDrift === 'overwrite') expect(items[0]).toMatchObject({ action: 'update', reason: expect.stringContaining('drift'), status: 'SYNCED' });
      else expect(items[0]).toMatchObject({ action: 'conflict', status: 'CLIENT_SIDE_ERROR', code: 'CONFLICT' });
    }
  });

  it('removes an owned destination entry whose source entry is gone (UNSYNCED), never one of a failing source', async () => {
    const { source, destination, engine } = world([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst' }], APPS);
    await engine.run();
    source.rotate('apps/netbox', 'netbox-2'); // a new version: the pass reads it (unchanged versions are not read)
    source.failNext('apps/netbox', 'BACKEND_UNAVAILABLE', { times: 10 });
    const outage = await engine.run();
    expect(outage.find((item) => item.entry === 'secretbind/src/apps/netbox')).toMatchObject({ action: 'error', status: 'EXTERNAL_SERVICE_ERROR' });
    expect(outage.some((item) => item.action === 'delete')).toBe(false);
    source.failNext('apps/netbox', 'BACKEND_UNAVAILABLE', { times: 0 });
    source.delete('apps/netbox');
    const gone = await engine.run();
    expect(gone.find((item) => item.entry === 'secretbind/src/apps/netbox')).toMatchObject({ action: 'delete', outcome: 'done', status: 'UNSYNCED' });
    expect(destination.ownerOf('secretbind/src/apps/netbox')).toBeUndefined();
    expect((await engine.status()).map((record) => record.entry)).toEqual(['secretbind/src/apps/checkmk']);
  });

  it('retries a failing destination, then reports EXTERNAL_SERVICE_ERROR, and the next pass writes it once', async () => {
    const { destination, engine } = world([{ name: 'apps', source: 'src', entries: ['apps/netbox'], destination: 'dst' }], APPS);
    destination.failNext('secretbind/src/apps/netbox', 'BACKEND_UNAVAILABLE', { times: 2 });
    expect((await engine.run())[0]).toMatchObject({ outcome: 'done', status: 'SYNCED' });
    destination.set('secretbind/src/apps/other', 'x');
    const failing = world([{ name: 'apps', source: 'src', entries: ['apps/netbox'], destination: 'dst' }], APPS);
    failing.destination.failNext('secretbind/src/apps/netbox', 'BACKEND_UNAVAILABLE', { times: 4 });
    expect((await failing.engine.run())[0]).toMatchObject({ outcome: 'failed', status: 'EXTERNAL_SERVICE_ERROR', code: 'BACKEND_UNAVAILABLE' });
    expect((await failing.engine.run())[0]).toMatchObject({ outcome: 'done', status: 'SYNCED' });
    expect(failing.destination.writes()).toBe(1);
  });

  it('changes nothing on a dry run or a plan, and says what it would do', async () => {
    const { destination, engine, state } = world([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst' }], APPS);
    const planned = await engine.run({ dryRun: true });
    expect(planned.map((item) => [item.action, item.outcome])).toEqual([['create', 'planned'], ['create', 'planned']]);
    expect(await engine.plan()).toEqual(planned);
    expect(destination.writes()).toBe(0);
    expect(state.list()).toEqual([]);
  });

  it('never lets a value reach a plan, a status, an event or an error (canary)', async () => {
    const canary = 'canary-sync-c0ffee';
    const { engine, events, destination } = world([{ name: 'apps', source: 'src', entries: ['apps/canary', 'apps/theirs'], destination: 'dst' }], { 'apps/canary': { password: canary }, 'apps/theirs': canary });
    destination.set('secretbind/src/apps/theirs', canary);
    const texts = [JSON.stringify(await engine.plan()), JSON.stringify(await engine.run()), JSON.stringify(await engine.status()), ...events.map((event) => JSON.stringify(event)), inspect(engine, { depth: 5 })];
    for (const text of texts) expect(text).not.toContain(canary);
  });

  it('refuses bad definitions with CONFIG_INVALID naming the place', () => {
    const build = (definitions: unknown[]) => () => createSyncEngine({ repository: new MemoryBindingRepository(), providers: [], definitions: definitions as SyncDefinition[] });
    expect(thrown(build([{ name: 'a', destination: 'd' }])).message).toContain('sync[0].source: required unless map is given');
    expect(thrown(build([{ name: 'a', destination: 'd', source: 's', prefix: 'p/', name_template: '{{ .Nope }}' }])).message).toContain('sync[0].name_template');
    expect(thrown(build([{ name: 'a', destination: 'd', map: { 'K+': 's:x' } }])).message).toContain('KEY or KEY+JSON_KEY');
    expect(thrown(build([{ name: 'a', destination: 'd', source: 's', prefix: 'p' }, { name: 'a', destination: 'd', source: 's', prefix: 'p' }])).message).toContain('used twice');
    expect(thrown(build([{ name: 'a', destination: 'd', source: 's', prefix: 'p', name_template: 'x/{{ .SecretKey }}' }])).message).toContain('granularity');
  });
});

describe('Sync: a KeePass folder into a .env file, with state in a JSON file', () => {
  it('syncs the folder, converges after the state file is lost, and writes nothing twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-sync-'));
    const envPath = join(dir, '.env');
    writeFileSync(envPath, '# managed in part by secretbind\nKEEP=me\n');
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'kp', type: 'keepass', kdbx_path: copyOf('kdbx4-argon2id-chacha20.kdbx'), master_password_env: 'KEEPASS_MASTER' })
      .putStore({ name: 'env', type: 'dotenv', dotenv_path: envPath });
    const definitions: SyncDefinition[] = [{ name: 'infra', source: 'kp', folder: 'Infrastructure', destination: 'env', name_template: '{{ .SecretBaseName | uppercase | replace "-" "_" }}' }];
    const providers = [keepass({ env: { KEEPASS_MASTER: MASTER } }), dotenv()];
    const statePath = join(dir, 'state.json');
    const engine = createSyncEngine({ repository, providers, definitions, state: new JsonFileSyncState(statePath) });
    const first = await engine.run();
    const outcome = (items: typeof first) => Object.fromEntries(items.map((item) => [item.entry, item.outcome === 'done' ? item.action : item.code]));
    // Titles a .env key cannot hold, and a value no .env quoting can hold, fail with their rule; the rest is written.
    expect(outcome(first)).toEqual({ CHECKMK_PROD: 'create', NETBOX: 'create', NO_PASSWORD: 'create', CHECKMK_ALIAS: 'create', 'WEB\\#1': 'REFERENCE_INVALID', 'LDAP/BIND': 'REFERENCE_INVALID', POSTGRES_MAIN: 'CONFIG_INVALID' });
    const parsed = dotenvPackage.parse(readFileSync(envPath, 'utf8'));
    expect(parsed.KEEP).toBe('me');
    expect(JSON.parse(parsed.CHECKMK_PROD!)).toMatchObject({ Password: 'Ch3ck-MK!prod#2026', UserName: 'automation' });
    expect(readFileSync(statePath, 'utf8')).not.toContain('Ch3ck-MK');
    // A fresh state (lost file): the engine compares values, finds them in place, writes nothing.
    const before = readFileSync(envPath, 'utf8');
    const again = createSyncEngine({ repository, providers, definitions, state: new JsonFileSyncState(join(dir, 'fresh.json')) });
    const second = await again.run();
    expect(outcome(second)).toEqual({ ...outcome(first), CHECKMK_PROD: 'unchanged', NETBOX: 'unchanged', NO_PASSWORD: 'unchanged', CHECKMK_ALIAS: 'unchanged' });
    expect(readFileSync(envPath, 'utf8')).toBe(before);
    expect((await failure(createSyncEngine({ repository, providers, definitions: [{ ...definitions[0]!, name: 'x' }] }).run({ only: ['nope'] }))).code).toBe('CONFIG_INVALID');
  });
});

describe('Sync: a pass over unchanged entries leaves the state alone', () => {
  it('puts no record and does not rewrite the JSON state file, but saves a new key and every change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-sync-'));
    const statePath = join(dir, 'state.json');
    const source = memory({ entries: { 'apps/a': 'a-1', 'apps/b': 'b-1' } });
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
    class CountingState extends JsonFileSyncState {
      puts = 0;
      override put(record: Parameters<JsonFileSyncState['put']>[0]): void {
        this.puts++;
        super.put(record);
      }
    }
    const state = new CountingState(statePath);
    const engine = createSyncEngine({ repository, providers: [source, { ...memory(), type: 'memtwo' }], definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst' }], state });
    await engine.run();
    expect(state.puts).toBe(2);
    const written = readFileSync(statePath, 'utf8');
    const inode = statSync(statePath).ino;
    state.puts = 0;
    expect((await engine.run()).map((item) => item.action)).toEqual(['unchanged', 'unchanged']);
    expect(state.puts).toBe(0);
    expect(statSync(statePath).ino).toBe(inode); // not replaced by an atomic rewrite
    source.rotate('apps/b', 'b-2');
    await engine.run();
    expect(state.puts).toBe(1);
    expect(readFileSync(statePath, 'utf8')).not.toBe(written);
    expect(JSON.parse(readFileSync(statePath, 'utf8')).key).toBeUndefined();
  });
});

describe('Sync: several updates to a store whose version is the whole file', () => {
  it('updates every changed entry of a .env destination in one pass (regression: a stale file version made all but the first CONFLICT)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-sync-'));
    writeFileSync(join(dir, 'dest.env'), '');
    const source = memory({ entries: { 'a/one': '1', 'a/two': '2', 'a/three': '3' } });
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'env', type: 'dotenv', dotenv_path: join(dir, 'dest.env') });
    const engine = createSyncEngine({ repository, providers: [source, dotenv()], definitions: [{ name: 'env', source: 'src', prefix: 'a/', destination: 'env', name_template: 'K_{{ .SecretBaseName | uppercase }}' }] });
    await engine.run();
    for (const name of ['one', 'two', 'three']) source.rotate(`a/${name}`, `${name}-rotated`);
    const items = await engine.run();
    expect(items.map((item) => [item.entry, item.action, item.outcome])).toEqual([
      ['K_ONE', 'update', 'done'],
      ['K_THREE', 'update', 'done'],
      ['K_TWO', 'update', 'done'],
    ]);
    expect(dotenvPackage.parse(readFileSync(join(dir, 'dest.env'), 'utf8'))).toEqual({ K_ONE: 'one-rotated', K_TWO: 'two-rotated', K_THREE: 'three-rotated' });
  });
});

describe('Sync: names the destination can hold', () => {
  function envWorld(definition: Partial<SyncDefinition>) {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-sync-'));
    const envPath = join(dir, 'dest.env');
    writeFileSync(envPath, 'KEEP=me\n');
    const source = memory({ entries: { 'apps/net-box': 'n-1', 'apps/9lives': 'c-1' } });
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'env', type: 'dotenv', dotenv_path: envPath });
    const engine = createSyncEngine({ repository, providers: [source, dotenv()], definitions: [{ name: 'env', source: 'src', prefix: 'apps/', destination: 'env', ...definition }] });
    return { engine, envPath };
  }

  it('adapts the default template to a .env file and lists by the adapted prefix, so a second pass writes nothing', async () => {
    const { engine, envPath } = envWorld({});
    const first = await engine.run();
    expect(first.map((item) => [item.entry, item.action, item.outcome])).toEqual([
      ['SECRETBIND_SRC_APPS_9LIVES', 'create', 'done'],
      ['SECRETBIND_SRC_APPS_NET_BOX', 'create', 'done'],
    ]);
    const written = readFileSync(envPath, 'utf8');
    expect(dotenvPackage.parse(written)).toEqual({ KEEP: 'me', SECRETBIND_SRC_APPS_NET_BOX: 'n-1', SECRETBIND_SRC_APPS_9LIVES: 'c-1' });
    expect((await engine.run()).map((item) => item.action)).toEqual(['unchanged', 'unchanged']);
    expect(readFileSync(envPath, 'utf8')).toBe(written);
  });

  it('fails a name the destination cannot hold when it plans, naming the rule, and writes nothing', async () => {
    const { engine, envPath } = envWorld({ name_template: '{{ .SecretPath }}' });
    const plan = await engine.plan();
    expect(plan).toEqual([
      expect.objectContaining({ entry: 'apps/9lives', action: 'error', code: 'REFERENCE_INVALID', reason: expect.stringContaining('keys match [A-Za-z_][A-Za-z0-9_]*'), sourceEntry: 'apps/9lives' }),
      expect.objectContaining({ entry: 'apps/net-box', action: 'error', code: 'REFERENCE_INVALID' }),
    ]);
    const run = await engine.run();
    expect(run.map((item) => [item.action, item.status])).toEqual([
      ['error', 'CLIENT_SIDE_ERROR'],
      ['error', 'CLIENT_SIDE_ERROR'],
    ]);
    expect(readFileSync(envPath, 'utf8')).toBe('KEEP=me\n');
    expect((await engine.status()).map((record) => [record.entry, record.status, record.errorCode])).toEqual([
      ['apps/9lives', 'CLIENT_SIDE_ERROR', 'REFERENCE_INVALID'],
      ['apps/net-box', 'CLIENT_SIDE_ERROR', 'REFERENCE_INVALID'],
    ]);
  });

  it('reports a destination that does not exist as one failed item, not as nothing to do', async () => {
    const source = memory({ entries: { 'apps/x': 'x' } });
    const engine = createSyncEngine({ repository: new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }), providers: [source], definitions: [{ name: 'lost', source: 'src', prefix: 'apps/', destination: 'nowhere' }] });
    expect(await engine.run()).toEqual([expect.objectContaining({ sync: 'lost', entry: '*', action: 'error', code: 'STORE_NOT_FOUND', outcome: 'failed', status: 'CLIENT_SIDE_ERROR' })]);
  });
});

describe('Sync: source entries whose version has not moved are not read', () => {
  it('reads nothing on a no-change pass, only what changed after, and a skipped entry again when its copy drifted', async () => {
    const { source, destination, engine } = world([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst', granularity: 'secret-key', name_template: 'k/{{ .SecretBaseName }}/{{ .SecretKey }}' }], APPS);
    await engine.run();
    source.resetCounters();
    const quiet = await engine.run();
    expect(quiet.map((item) => item.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(source.reads()).toBe(0);
    expect((await engine.status()).every((record) => record.status === 'SYNCED' && record.sourceVersion !== undefined)).toBe(true);

    source.rotate('apps/checkmk#password', 'cmk-2');
    const rotated = await engine.run();
    expect(source.reads()).toBe(1);
    expect(rotated.filter((item) => item.action === 'update').map((item) => item.entry)).toEqual(['k/checkmk/password']);

    source.resetCounters();
    destination.set('k/netbox/value', 'edited by hand');
    const drifted = await engine.run();
    expect(source.reads()).toBe(1);
    expect(drifted.find((item) => item.entry === 'k/netbox/value')).toMatchObject({ action: 'update', reason: expect.stringContaining('drift'), status: 'SYNCED' });
    const written = await destination.readEntries!({ name: 'dst', type: 'memtwo' }, [parseReference('k/netbox/value')], { signal: new AbortController().signal, account: undefined, emit: () => {} });
    expect(written.get('k/netbox/value')).toMatchObject({ ok: true, value: 'netbox-1' });
  });
});
