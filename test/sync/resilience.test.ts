/** Sync's delete guard, empty listings, and write coalescing (min_update_interval). */
import { describe, expect, it } from 'vitest';
import { checkDefinitions, createSyncEngine, MemoryBindingRepository, MemorySyncState, type SyncDefinition } from 'secretbind';
import { memory, type MemoryProvider } from '../../providers/memory/index.js';

function world(definition: Partial<SyncDefinition>, count = 20) {
  const seed = Object.fromEntries(Array.from({ length: count }, (_, index) => [`apps/a${index}`, `v${index}`]));
  const source = memory({ entries: seed });
  const destination = { ...memory(), type: 'memtwo' } as MemoryProvider;
  const state = new MemorySyncState();
  const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
  const engine = createSyncEngine({ repository, providers: [source, destination], definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst', name_template: 'c/{{ .SecretBaseName }}', ...definition }], state });
  return { source, destination, engine, state };
}

describe('Sync: the mass-delete guard', () => {
  it('removes within 10% of the associations; beyond, removes nothing with DELETE_GUARD until allowDeletes confirms the count', async () => {
    const { source, destination, engine, state } = world({});
    await engine.run();
    source.delete('apps/a0');
    source.delete('apps/a1');
    expect((await engine.run()).filter((item) => item.action === 'delete' && item.outcome === 'done')).toHaveLength(2);
    for (let index = 2; index < 8; index++) source.delete(`apps/a${index}`);
    const guarded = await engine.run();
    const stopped = guarded.filter((item) => item.code === 'DELETE_GUARD');
    expect(stopped).toHaveLength(6);
    expect(stopped[0]).toMatchObject({ action: 'error', outcome: 'failed', status: 'CLIENT_SIDE_ERROR', reason: expect.stringContaining('--allow-deletes 6') });
    expect(destination.ownerOf('c/a5')).toBe('secretbind_apps');
    expect((await state.list('apps')).find((record) => record.entry === 'c/a5')).toMatchObject({ status: 'CLIENT_SIDE_ERROR', errorCode: 'DELETE_GUARD' });
    expect((await engine.run({ allowDeletes: 5 })).filter((item) => item.code === 'DELETE_GUARD')).toHaveLength(6);
    const confirmed = await engine.run({ allowDeletes: 6 });
    expect(confirmed.filter((item) => item.action === 'delete' && item.outcome === 'done')).toHaveLength(6);
    expect(destination.ownerOf('c/a5')).toBeUndefined();
  });

  it('never reads an empty listing as "everything was deleted"; max_deletes raises the bound', async () => {
    const { source, destination, engine } = world({ max_deletes: 100 }, 5);
    await engine.run();
    for (let index = 0; index < 5; index++) source.delete(`apps/a${index}`);
    const items = await engine.run();
    expect(items.map((item) => item.code)).toEqual(Array(5).fill('DELETE_GUARD'));
    expect(items[0]!.reason).toContain('the source listed no entries where 5 were synced');
    expect(destination.writes()).toBe(5);
    const bounded = world({ max_deletes: 3 }, 10);
    await bounded.engine.run();
    for (let index = 0; index < 3; index++) bounded.source.delete(`apps/a${index}`);
    expect((await bounded.engine.run()).filter((item) => item.action === 'delete' && item.outcome === 'done')).toHaveLength(3);
  });

  it('a dry run or plan changes no state, even for associations gone from both sides', async () => {
    const { source, destination, engine, state } = world({}, 3);
    await engine.run();
    source.delete('apps/a0');
    destination.delete('c/a0');
    const before = JSON.stringify(await state.list());
    await engine.plan();
    await engine.run({ dryRun: true });
    expect(JSON.stringify(await state.list())).toBe(before);
    await engine.run();
    expect((await state.list()).map((record) => record.entry)).toEqual(['c/a1', 'c/a2']);
  });
});

describe('Sync: min_update_interval coalesces changes into one write', () => {
  it('holds back updates within the interval (PENDING), then writes the latest value once', async () => {
    const { source, destination, engine, state } = world({ min_update_interval: '400ms' }, 1);
    await engine.run();
    expect(destination.writes('c/a0')).toBe(1);
    for (const value of ['v-b', 'v-c', 'v-d']) {
      source.rotate('apps/a0', value);
      const items = await engine.run();
      expect(items[0]).toMatchObject({ action: 'update', outcome: 'planned', status: 'PENDING', reason: expect.stringContaining('min_update_interval') });
    }
    expect((await state.list())[0]!.status).toBe('PENDING');
    expect(destination.writes('c/a0')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect((await engine.run())[0]).toMatchObject({ action: 'update', outcome: 'done', status: 'SYNCED' });
    expect(destination.writes('c/a0')).toBe(2);
    const answer = (await destination.readEntries!({ name: 'dst', type: 'memtwo' }, [{ raw: 'c/a0', segments: ['c', 'a0'], field: undefined }], { signal: new AbortController().signal, account: undefined, emit: () => {} })).get('c/a0');
    expect(answer).toMatchObject({ ok: true, value: 'v-d' });
  });

  it('checks max_deletes and min_update_interval in definitions', () => {
    expect(() => checkDefinitions([{ name: 'a', source: 's', prefix: 'x/', destination: 'd', max_deletes: -1 }])).toThrow(/sync\[0\]\.max_deletes/);
    expect(() => checkDefinitions([{ name: 'a', source: 's', prefix: 'x/', destination: 'd', min_update_interval: 'soon' }])).toThrow(/sync\[0\]\.min_update_interval/);
    expect(checkDefinitions([{ name: 'a', source: 's', prefix: 'x/', destination: 'd', min_update_interval: '10m' }])[0]!.minUpdateIntervalMs).toBe(600_000);
  });
});

describe('Sync: every association status', () => {
  it('reaches SYNCED, UNSYNCED, PENDING, CLIENT_SIDE_ERROR, EXTERNAL_SERVICE_ERROR, INTERNAL_ERROR and UNKNOWN', async () => {
    const seen = new Set<string>();
    const note = async (engine: { status(): Promise<Array<{ status: string }>> }, items: Array<{ status?: string }>) => {
      for (const item of items) if (item.status) seen.add(item.status);
      for (const record of await engine.status()) seen.add(record.status);
    };
    // SYNCED, UNSYNCED, PENDING, CLIENT_SIDE_ERROR, EXTERNAL_SERVICE_ERROR over memory stores.
    const { source, destination, engine, state } = world({ min_update_interval: '1h' }, 12);
    await note(engine, await engine.run());
    source.delete('apps/a0');
    await note(engine, await engine.run());
    source.rotate('apps/a1', 'new');
    await note(engine, await engine.run());
    destination.set('c/a2', 'not ours any more');
    destination.set('c/a3', 'edited');
    source.rotate('apps/a4', 'changed');
    source.failNext('apps/a5', 'PERMISSION_DENIED', { times: 5 });
    source.failNext('apps/a6', 'BACKEND_UNAVAILABLE', { times: 5 });
    source.rotate('apps/a5', 'x');
    source.rotate('apps/a6', 'y');
    await note(engine, await engine.run());
    // INTERNAL_ERROR: secretbind's own failure, here the state store refusing a record after the write.
    const flaky = new MemorySyncState();
    let refuse = true;
    const failingState = {
      list: (sync?: string) => flaky.list(sync),
      remove: (sync: string, entry: string) => flaky.remove(sync, entry),
      put: (record: Parameters<MemorySyncState['put']>[0]) => {
        if (refuse && record.entry === 'i/a7') throw new TypeError('disk full');
        flaky.put(record);
      },
    };
    const internal = createSyncEngine({ repository: new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' }), providers: [source, destination], definitions: [{ name: 'internal', source: 'src', entries: ['apps/a7'], destination: 'dst', name_template: 'i/{{ .SecretBaseName }}' }], state: failingState });
    const items = await internal.run();
    expect(items[0]).toMatchObject({ action: 'create', outcome: 'failed', status: 'INTERNAL_ERROR' });
    expect(items[0]!.code).toBeUndefined();
    await note(internal, items);
    refuse = false;
    expect((await internal.run())[0]).toMatchObject({ action: 'unchanged', status: 'SYNCED' });
    // UNKNOWN: associations of a definition that is no longer configured.
    const renamed = createSyncEngine({ repository: new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' }), providers: [source, destination], definitions: [{ name: 'renamed', source: 'src', prefix: 'apps/', destination: 'dst' }], state });
    await note(renamed, []);
    expect([...seen].sort()).toEqual(['CLIENT_SIDE_ERROR', 'EXTERNAL_SERVICE_ERROR', 'INTERNAL_ERROR', 'PENDING', 'SYNCED', 'UNKNOWN', 'UNSYNCED']);
  });
});

describe('Sync: deletes that know the store (Azure Key Vault soft delete)', () => {
  it('recovers a destination secret of ours that sits soft-deleted and writes it again; never purges; leaves one not ours alone', async () => {
    const { start, TENANT } = await import('../servers/azure/index.js');
    const { azureKeyVault } = await import('../../providers/azure_keyvault/index.js');
    const server = await start();
    try {
      server.state.clients.set('sync-app', 'app-secret');
      const source = memory({ entries: { 'apps/db': 'db-pass', 'apps/api': 'api-key' } });
      const repository = new MemoryBindingRepository()
        .putStore({ name: 'src', type: 'memory' })
        .putStore({ name: 'kv', type: 'azure_keyvault', azure_vault_url: server.url, azure_tenant_id: TENANT, azure_client_id: 'sync-app', azure_client_secret_env: 'KV_SECRET', azure_authority_host: server.authorityHost });
      const provider = azureKeyVault({ env: { KV_SECRET: 'app-secret' }, disableChallengeResourceVerification: true, credentialOptions: { disableInstanceDiscovery: true } });
      const engine = createSyncEngine({ repository, providers: [source, provider], definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'kv' }], state: new MemorySyncState() });
      await engine.run();
      expect(server.state.latest('secretbind-src-apps-db')?.value).toBe('db-pass');
      // Someone deletes our copy in the portal; a secret of someone else's sits deleted under the other name.
      server.state.softDelete('secretbind-src-apps-db');
      server.state.put('secretbind-src-apps-api', 'theirs');
      server.state.softDelete('secretbind-src-apps-api');
      source.set('apps/db', 'db-pass-2');
      source.set('apps/api', 'api-key-2');
      const items = await engine.run();
      expect(items.find((item) => item.entry === 'secretbind-src-apps-db')).toMatchObject({ outcome: 'done' });
      expect(server.state.get('secretbind-src-apps-db')?.deleted).toBeUndefined();
      expect(server.state.latest('secretbind-src-apps-db')?.value).toBe('db-pass-2');
      expect(items.find((item) => item.entry === 'secretbind-src-apps-api')).toMatchObject({ outcome: 'failed', code: 'ENTRY_NOT_OWNED' });
      expect(server.state.get('secretbind-src-apps-api')?.deleted).toBeDefined();
      expect(server.state.log.some((request) => request.method === 'DELETE' && request.path.startsWith('/deletedsecrets/'))).toBe(false);
    } finally {
      await server.stop();
    }
  });
});
