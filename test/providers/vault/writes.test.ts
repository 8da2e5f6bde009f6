import { afterAll, describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { vault } from '../../../providers/vault/index.js';
import { startSilentServer } from '../../conformance/hanging.js';
import { describeWritableProvider } from '../../conformance/writes.js';
import { failure } from '../../helpers.js';
import { world, type World } from './world.js';

const worlds: World[] = [];
afterAll(async () => {
  await Promise.all(worlds.map((current) => current.server.stop()));
});

describeWritableProvider({
  name: 'vault (KV v2)',
  capabilities: { pageSize: 0, objectFields: true, guarded: true },
  hangingStore: async () => {
    const current = await world({ kv: 2 });
    worlds.push(current);
    const silent = await startSilentServer();
    return { provider: vault({ env: current.env, now: () => current.clock.now, retries: 0 }), store: { ...current.store, vault_url: silent.url }, reference: 'conformance/hung', stop: silent.stop };
  },
  setup: async () => {
    const current = await world({ kv: 2 });
    worlds.push(current);
    return {
      provider: vault({ env: current.env, now: () => current.clock.now, retries: 0 }),
      store: current.store,
      seedForeign: (name) => void current.server.state.putSecret('secret', name, { password: 'theirs' }),
      names: ['folder/name with spaces', 'sync/web\\#1', 'pässwörd-Ω-🔑'],
      invalidNames: [
        ['a/../b', '".." path segment'],
        ['sync/ldap\\/bind', 'cannot hold one'],
      ],
      prefix: 'conformance/',
      teardown: () => current.server.stop(),
    };
  },
});

describe('Provider: vault writes', () => {
  async function setup(kv: 1 | 2 = 2) {
    const current = await world({ kv });
    worlds.push(current);
    const provider = vault({ env: current.env, now: () => current.clock.now, retries: 0 });
    const repository = new MemoryBindingRepository().putStore(current.store);
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [] });
    return { ...current, resolver };
  }

  it('marks a secret in custom_metadata, keeps the custom_metadata others set, and guards the write with cas', async () => {
    const { resolver, server } = await setup();
    server.state.putSecret('secret', 'apps/adopted', { password: 'theirs' });
    server.state.mounts.get('\u0000secret')!.metadata.set('apps/adopted', { custom: { team: 'ops' }, createdAt: server.state.now, updatedAt: server.state.now });
    await resolver.writeEntry('vault', 'apps/adopted', 'ours', { adopt: true });
    expect(server.state.mounts.get('\u0000secret')!.metadata.get('apps/adopted')!.custom).toEqual({ team: 'ops', 'managed-by': 'secretbind' });
    // Someone writes between our metadata read and our data write: cas refuses, nothing is overwritten.
    server.state.putSecret('secret', 'apps/raced', { password: 'v1' });
    server.state.mounts.get('\u0000secret')!.metadata.set('apps/raced', { custom: { 'managed-by': 'secretbind' }, createdAt: 0, updatedAt: 0 });
    server.state.mode.respond = { times: 0, status: 200, body: {} };
    const originalPut = server.state.putSecret.bind(server.state);
    let raced = false;
    const requests = server.requests;
    const watcher = setInterval(() => {
      if (!raced && requests.some((request) => request.path === '/v1/secret/metadata/apps/raced')) {
        raced = true;
        originalPut('secret', 'apps/raced', { password: 'theirs' });
      }
    }, 0);
    server.state.mode.latencyMs = 20;
    const error = await failure(resolver.writeEntry('vault', 'apps/raced', 'ours'));
    clearInterval(watcher);
    server.state.mode.latencyMs = 0;
    expect(error.code).toBe('CONFLICT');
    expect(server.state.mounts.get('\u0000secret')!.secrets.get('apps/raced')!.at(-1)!.data).toEqual({ password: 'theirs' });
  });

  it('lists a tree of folders with one LIST per folder, names only unless metadata is asked for', async () => {
    const { resolver, server } = await setup();
    for (let folder = 0; folder < 5; folder++) for (let index = 0; index < 4; index++) server.state.putSecret('secret', `tree/f${folder}/s${index}`, { password: 'x' });
    const before = server.requests.length;
    const names = await resolver.listEntries('vault', { prefix: 'tree/' });
    expect(names).toHaveLength(20);
    expect(names[0]).toEqual({ name: 'tree/f0/s0' });
    expect(server.requests.slice(before).filter((request) => request.method === 'GET')).toHaveLength(6);
    const flat = await resolver.listEntries('vault', { prefix: 'tree/', recursive: false });
    expect(flat).toEqual([]);
    const detailed = await resolver.listEntries('vault', { prefix: 'tree/f1/', metadata: true });
    expect(detailed.every((entry) => entry.owned === false && entry.version === '1')).toBe(true);
  });

  it('removes a KV v2 secret with every version (its metadata)', async () => {
    const { resolver, server } = await setup();
    await resolver.writeEntry('vault', 'apps/gone', 'v1');
    await resolver.writeEntry('vault', 'apps/gone', 'v2');
    await resolver.removeEntry('vault', 'apps/gone');
    expect(server.state.mounts.get('\u0000secret')!.secrets.has('apps/gone')).toBe(false);
    expect(server.count('/v1/secret/metadata/apps/gone', 'DELETE')).toBe(1);
  });

  it('with vault_delete_mode "latest", soft-deletes the current version and keeps the history (undelete can restore it)', async () => {
    const current = await world({ kv: 2 });
    worlds.push(current);
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore({ ...current.store, vault_delete_mode: 'latest' }), providers: [vault({ env: current.env, now: () => current.clock.now, retries: 0 })], cryptographyKey: [] });
    await resolver.writeEntry('vault', 'apps/soft', 'v1');
    await resolver.writeEntry('vault', 'apps/soft', 'v2');
    await resolver.removeEntry('vault', 'apps/soft');
    const versions = current.server.state.mounts.get('\u0000secret')!.secrets.get('apps/soft')!;
    expect(versions).toHaveLength(2);
    expect(versions[1]!.deletedAt).toBeDefined();
    expect(versions[0]!.deletedAt).toBeUndefined();
    expect(current.server.count('/v1/secret/data/apps/soft', 'DELETE')).toBe(1);
    expect(current.server.count('/v1/secret/metadata/apps/soft', 'DELETE')).toBe(0);
    expect(() => MemoryBindingRepository.fromConfig({ stores: [{ ...current.store, vault_delete_mode: 'purge' }] })).toThrow(/vault_delete_mode/);
  });

  it('KV v1: creates, refuses an existing secret it cannot know to be its own unless adopt, and refuses ifVersion', async () => {
    const { resolver, server } = await setup(1);
    const created = await resolver.writeEntry('vault', 'apps/new', 'v1');
    expect(created.created).toBe(true);
    expect((await failure(resolver.writeEntry('vault', 'apps/new', 'v2'))).code).toBe('ENTRY_NOT_OWNED');
    expect((await failure(resolver.writeEntry('vault', 'kv/prod/checkmk', 'x'))).code).toBe('ENTRY_NOT_OWNED');
    expect((await resolver.writeEntry('vault', 'apps/new', 'v2', { adopt: true })).created).toBe(false);
    expect((await failure(resolver.writeEntry('vault', 'apps/new', 'v3', { ifVersion: '1' }))).code).toBe('OPERATION_UNSUPPORTED');
    expect((await failure(resolver.removeEntry('vault', 'apps/new'))).code).toBe('ENTRY_NOT_OWNED');
    await resolver.removeEntry('vault', 'apps/new', { adopt: true });
    expect(server.state.mounts.get('\u0000kv1')!.secrets.has('apps/new')).toBe(false);
    expect((await resolver.listEntries('vault', { prefix: 'kv/' })).map((entry) => entry.name).sort()).toEqual(['kv/prod/canary', 'kv/prod/checkmk', 'kv/prod/no-password']);
  });

  it('says PERMISSION_DENIED naming the capability when the policy allows reading only', async () => {
    const { resolver, server, env } = await setup();
    server.state.policies.set('read-kv', ['secret/data/kv/*']);
    server.state.tokens.get(env.VAULT_TOKEN!)!.policies = ['read-kv'];
    const error = await failure(resolver.writeEntry('vault', 'apps/denied', 'x'));
    expect(error.code).toBe('PERMISSION_DENIED');
  });
});
