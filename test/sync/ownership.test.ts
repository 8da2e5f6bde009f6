/**
 * Whose an entry is, across definitions, deployments and replicas (review issue items 8, 9 and 13): each definition
 * marks its entries `<owner>_<definition>`; two definitions on one entry both fail; a new replica's empty state still
 * removes its definition's orphans; the state keeps no key beside its HMACs.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSyncEngine, JsonFileSyncState, MemoryBindingRepository, MemorySyncState, serveSyncStatus, syncOwnerMark, type SyncDefinition, type SyncStateRepository } from 'secretbind';
import { memory, type MemoryProvider } from '../../providers/memory/index.js';

function world(seed: Record<string, string>, other: Record<string, string> = {}) {
  const source = memory({ entries: seed });
  const second = { ...memory({ entries: other }), type: 'memthree' } as MemoryProvider;
  const destination = { ...memory(), type: 'memtwo' } as MemoryProvider;
  const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'src2', type: 'memthree' }).putStore({ name: 'dst', type: 'memtwo' });
  const engine = (definitions: SyncDefinition[], extra: { owner?: string; state?: SyncStateRepository; stateKey?: string } = {}) => createSyncEngine({ repository, providers: [source, second, destination], definitions, ...extra });
  return { source, second, destination, engine };
}

describe('Sync: two sync definitions on one destination entry overwrite each other every pass (regression)', () => {
  it('fails both with REFERENCE_INVALID, naming each other, and writes nothing, pass after pass', async () => {
    const { destination, engine } = world({ 'apps/db': 'from-a' }, { 'team/db': 'from-b' });
    const sync = engine([
      { name: 'a', source: 'src', prefix: 'apps/', destination: 'dst', name_template: 'APP_{{ .SecretBaseName | uppercase }}' },
      { name: 'b', source: 'src2', prefix: 'team/', destination: 'dst', name_template: 'APP_{{ .SecretBaseName | uppercase }}' },
    ]);
    for (let pass = 0; pass < 2; pass++) {
      const items = await sync.run();
      expect(items.map((item) => [item.sync, item.entry, item.code, item.status])).toEqual([
        ['a', 'APP_DB', 'REFERENCE_INVALID', 'CLIENT_SIDE_ERROR'],
        ['b', 'APP_DB', 'REFERENCE_INVALID', 'CLIENT_SIDE_ERROR'],
      ]);
      expect(items[0]!.reason).toContain('Sync definitions "a" and "b" both write APP_DB in dst');
    }
    expect(destination.writes()).toBe(0);
    await sync.close();
  });

  it('marks each definition\'s entries as its own: another definition or deployment never counts them as its own', async () => {
    const { destination, engine } = world({ 'apps/db': 'prod-value' });
    const prod = engine([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst', name_template: 'APP_{{ .SecretBaseName | uppercase }}' }]);
    await prod.run();
    expect(destination.ownerOf('APP_DB')).toBe('secretbind_apps');
    // Staging, its own deployment name and state, with the same definition name: the entry is not its own.
    const staging = engine([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst', name_template: 'APP_{{ .SecretBaseName | uppercase }}' }], { owner: 'staging' });
    const items = await staging.run();
    expect(items).toMatchObject([{ entry: 'APP_DB', action: 'not-owned', code: 'ENTRY_NOT_OWNED', reason: expect.stringContaining('"secretbind_apps", not this definition\'s ("staging_apps")') }]);
    // Another definition of the same deployment, fresh state: not its own either, and never removed as an orphan.
    const other = engine([{ name: 'other', source: 'src', prefix: 'none/', destination: 'dst', name_template: 'APP_{{ .SecretBaseName | uppercase }}' }]);
    expect((await other.run()).filter((item) => item.action === 'delete')).toEqual([]);
    expect(destination.writes()).toBe(1);
    for (const engine of [prod, staging, other]) await engine.close();
    expect(() => engine([], { owner: 'Has Space' })).toThrow(/owner must be/);
    expect(syncOwnerMark('secretbind', 'Prod DB/EU')).toMatch(/^secretbind_prod-db-eu-[0-9a-f]{8}$/);
    expect(syncOwnerMark('secretbind', 'x'.repeat(80)).length).toBeLessThanOrEqual(63);
  });
});

describe('Sync: a fresh state never removes orphans (regression)', () => {
  it('a new replica removes the entry its definition marked and no source maps to, and writes nothing in place', async () => {
    const { source, destination, engine } = world({ 'app/db': 'db-pw', 'app/api-key': 'key' });
    const definitions: SyncDefinition[] = [{ name: 'app', source: 'src', prefix: 'app/', destination: 'dst', name_template: 'APP_{{ .SecretBaseName | replace "-" "_" | uppercase }}' }];
    const replicaA = engine(definitions);
    await replicaA.run();
    await replicaA.close();
    source.delete('app/api-key');
    destination.resetCounters();
    const replicaB = engine(definitions, { state: new MemorySyncState() });
    const items = await replicaB.run();
    expect(items.map((item) => [item.entry, item.action, item.outcome])).toEqual([
      ['APP_DB', 'unchanged', 'done'],
      ['APP_API_KEY', 'delete', 'done'],
    ]);
    expect(destination.writes()).toBe(1); // the removal; APP_DB was compared, not written
    expect(destination.ownerOf('APP_API_KEY')).toBeUndefined();
    await replicaB.close();
  });

  it('keeps the delete guard for orphans found without a state', async () => {
    const seed = Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`app/k${index}`, `v${index}`]));
    const { source, destination, engine } = world(seed);
    const definitions: SyncDefinition[] = [{ name: 'app', source: 'src', prefix: 'app/', destination: 'dst', name_template: 'K_{{ .SecretBaseName | uppercase }}' }];
    await engine(definitions).run();
    for (let index = 0; index < 5; index++) source.delete(`app/k${index}`);
    const items = await engine(definitions, { state: new MemorySyncState() }).run();
    expect(items.filter((item) => item.code === 'DELETE_GUARD')).toHaveLength(5);
    expect(destination.ownerOf('K_K0')).toBe('secretbind_app');
  });
});

describe('Sync: the sync state holds its HMAC key beside the HMACs (regression)', () => {
  it('keeps no key in the state file: a 4-digit PIN cannot be found from the file alone; /status serves no HMAC', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-state-key-'));
    const { engine } = world({ 'app/pin': '4821' });
    const statePath = join(dir, 'state.json');
    const sync = createSyncEngineWith(engine, statePath);
    await sync.run();
    const text = readFileSync(statePath, 'utf8');
    const stored = JSON.parse(text);
    expect(stored.key).toBeUndefined();
    const hmacs: string[] = stored.associations.map((record: { valueHmac: string }) => record.valueHmac);
    expect(hmacs).toHaveLength(1);
    // Every string in the file tried as a key, against every PIN: nothing matches.
    const candidates = [...text.matchAll(/"([^"]{8,})"/g)].map((match) => match[1]!);
    let found = 0;
    for (const key of candidates) {
      for (let pin = 0; pin < 10_000; pin++) {
        const guess = createHmac('sha256', Buffer.from(key, 'base64')).update(`s:${String(pin).padStart(4, '0')}`).digest('base64url');
        if (hmacs.includes(guess)) found++;
      }
    }
    expect(found).toBe(0);
    const server = await serveSyncStatus({ engine: sync, port: 0 });
    const status = await (await fetch(`${server.url}/status`)).text();
    await server.close();
    expect(JSON.parse(status).associations).toHaveLength(1);
    expect(status).not.toContain('valueHmac');
    expect(status).not.toContain(hmacs[0]!);
    await sync.close();
  });
});

function createSyncEngineWith(engine: ReturnType<typeof world>['engine'], statePath: string) {
  return engine([{ name: 'app', source: 'src', prefix: 'app/', destination: 'dst' }], { state: new JsonFileSyncState(statePath), stateKey: 'operator-held key' });
}
