import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { awsSecrets } from '../../../providers/aws_secrets/index.js';
import { startSilentServer } from '../../conformance/hanging.js';
import { describeWritableProvider } from '../../conformance/writes.js';
import { failure } from '../../helpers.js';
import { awsWorld, CREDENTIALS, type AwsWorld } from './world.js';

beforeEach(() => {
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
});
const worlds: AwsWorld[] = [];
afterAll(async () => {
  await Promise.all(worlds.map((current) => current.server.stop()));
});

describeWritableProvider({
  name: 'aws_secrets',
  capabilities: { pageSize: 100, objectFields: true, guarded: true },
  hangingStore: async () => {
    const current = await awsWorld();
    worlds.push(current);
    const silent = await startSilentServer();
    return { provider: awsSecrets({ credentials: CREDENTIALS, maxAttempts: 1 }), store: { ...current.store, aws_endpoint: silent.url }, reference: 'conformance/hung', stop: silent.stop };
  },
  setup: async () => {
    const current = await awsWorld();
    worlds.push(current);
    return {
      provider: awsSecrets({ credentials: CREDENTIALS, maxAttempts: 1 }),
      store: current.store,
      seedForeign: (name, value) => void current.server.state.put(name, value),
      names: ['folder/name_with+plus=eq@at.dot-dash', 'deep/a/b/c'],
      invalidNames: [
        ['with space', 'A-Za-z0-9/_+=.@-'],
        ['web\\#1', 'A-Za-z0-9/_+=.@-'],
        ['pässwörd', 'A-Za-z0-9/_+=.@-'],
        [`long/${'x'.repeat(520)}`, '1 to 512'],
      ],
      prefix: 'conformance/',
    };
  },
});

describe('Provider: aws_secrets writes', () => {
  async function setup() {
    const current = await awsWorld();
    worlds.push(current);
    const repository = new MemoryBindingRepository().putStore(current.store);
    const resolver = createSecretResolver({ repository, providers: [awsSecrets({ credentials: CREDENTIALS, maxAttempts: 1 })], cryptographyKey: [] });
    return { ...current, resolver };
  }

  it('creates with the managed-by tag, tags before it overwrites on adopt, and lists tags, versions and descriptions', async () => {
    const { resolver, server } = await setup();
    await resolver.writeEntry('aws', 'sync/new', 'v1');
    expect(server.state.secrets.get('sync/new')!.tags).toEqual({ 'managed-by': 'secretbind' });
    const before = server.requests.length;
    await resolver.writeEntry('aws', 'prod/plain', 'adopted', { adopt: true });
    expect(server.requests.slice(before).map((request) => request.operation)).toEqual(['DescribeSecret', 'TagResource', 'PutSecretValue']);
    server.state.secrets.get('prod/plain')!.description = 'the plain one';
    const listed = await resolver.listEntries('aws', { prefix: 'prod/p' });
    expect(listed).toEqual([expect.objectContaining({ name: 'prod/plain', owned: true, owner: 'secretbind', description: 'the plain one', version: server.state.secrets.get('prod/plain')!.versions.at(-1)!.versionId })]);
  });

  it("sends an idempotent ClientRequestToken: the SDK's retry after a lost answer makes no second version", async () => {
    const current = await awsWorld();
    worlds.push(current);
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(current.store), providers: [awsSecrets({ credentials: CREDENTIALS, maxAttempts: 3 })], cryptographyKey: [] });
    await resolver.writeEntry('aws', 'sync/idem', 'v1');
    const secret = current.server.state.secrets.get('sync/idem')!;
    current.server.state.mode.failAfter = { operation: 'PutSecretValue', times: 1 };
    const written = await resolver.writeEntry('aws', 'sync/idem', 'v2');
    expect(current.server.count('PutSecretValue')).toBe(2); // the SDK sent it twice
    expect(secret.versions).toHaveLength(2); // and the service made one version
    expect(written.version).toBe(secret.versions.at(-1)!.versionId);
    const tokens = [...secret.tokens!.keys()];
    expect(tokens.every((token) => /^[0-9a-f]{64}$/.test(token))).toBe(true);
    // Two identical writes racing (both read the same AWSCURRENT) carry one token: one new version, not two.
    const [a, b] = await Promise.all([resolver.writeEntry('aws', 'sync/idem', 'v3'), resolver.writeEntry('aws', 'sync/idem', 'v3')]);
    expect(a.version).toBe(b.version);
    expect(secret.versions).toHaveLength(3);
  });

  it('lists past many pages with one ListSecrets call per 100 secrets, filtering the prefix exactly', async () => {
    const { resolver, server } = await setup();
    for (let index = 0; index < 250; index++) server.state.put(`many/${String(index).padStart(3, '0')}`, 'x');
    server.state.put('MANY/upper', 'x'); // AWS's name filter ignores case; the listing must not
    const before = server.count('ListSecrets');
    const listed = await resolver.listEntries('aws', { prefix: 'many/' });
    expect(listed).toHaveLength(250);
    expect(server.count('ListSecrets') - before).toBe(3);
  });

  it('deletes with a 30-day recovery window by default (or the store field), and at once only with force', async () => {
    const { resolver, server, store } = await setup();
    await resolver.writeEntry('aws', 'sync/soft', 'x');
    await resolver.removeEntry('aws', 'sync/soft');
    expect(server.state.secrets.get('sync/soft')!.deletedDate).toBe(1_762_000_000 + 30 * 86_400);
    // Writing again to a name of ours inside its recovery window restores it and writes, instead of failing for 30 days.
    const restoresBefore = server.count('RestoreSecret');
    await resolver.writeEntry('aws', 'sync/soft', 'again');
    expect(server.count('RestoreSecret') - restoresBefore).toBe(1);
    expect(server.state.secrets.get('sync/soft')!.deletedDate).toBeUndefined();
    expect(server.state.secrets.get('sync/soft')!.versions.at(-1)!.secretString).toBe('again');
    // Sync re-creates a name it finds missing with ifVersion 'absent': a name of ours in its window counts as absent.
    await resolver.removeEntry('aws', 'sync/soft');
    await resolver.writeEntry('aws', 'sync/soft', 'recreated', { ifVersion: 'absent' });
    expect(server.count('RestoreSecret') - restoresBefore).toBe(2);
    expect(server.state.secrets.get('sync/soft')!.versions.at(-1)!.secretString).toBe('recreated');
    // A scheduled-for-deletion name that is not ours is left alone: ENTRY_NOT_OWNED, and no RestoreSecret.
    server.state.put('other/deleted', 'theirs');
    server.state.secrets.get('other/deleted')!.deletedDate = 1_762_000_000 + 86_400;
    expect((await failure(resolver.writeEntry('aws', 'other/deleted', 'mine'))).code).toBe('ENTRY_NOT_OWNED');
    expect((await failure(resolver.writeEntry('aws', 'other/deleted', 'mine', { ifVersion: 'absent' }))).code).toBe('ENTRY_NOT_OWNED');
    expect(server.count('RestoreSecret') - restoresBefore).toBe(2);
    const seven = createSecretResolver({ repository: new MemoryBindingRepository().putStore({ ...store, aws_recovery_window_days: 7 }), providers: [awsSecrets({ credentials: CREDENTIALS })], cryptographyKey: [] });
    await seven.writeEntry('aws', 'sync/seven', 'x');
    await seven.removeEntry('aws', 'sync/seven');
    expect(server.state.secrets.get('sync/seven')!.deletedDate).toBe(1_762_000_000 + 7 * 86_400);
    await resolver.writeEntry('aws', 'sync/hard', 'x');
    await resolver.removeEntry('aws', 'sync/hard', { force: true });
    expect(server.state.secrets.has('sync/hard')).toBe(false);
    expect(() => MemoryBindingRepository.fromConfig({ stores: [{ ...store, aws_recovery_window_days: 3 }] })).toThrow(/7 to 30/);
  });

  it('merges a field into a JSON secret with merge, and refuses merging into a plain string', async () => {
    const { resolver, server } = await setup();
    await resolver.writeEntry('aws', 'prod/checkmk', { api_key: 'k1' }, { adopt: true, merge: true });
    expect(JSON.parse(server.state.secrets.get('prod/checkmk')!.versions.at(-1)!.secretString!)).toEqual({ username: 'automation', password: 'Ch3ck-MK!prod#2026', port: 8443, api_key: 'k1' });
    expect((await failure(resolver.writeEntry('aws', 'prod/plain', { a: 'b' }, { adopt: true, merge: true }))).code).toBe('CONFIG_INVALID');
  });
});
