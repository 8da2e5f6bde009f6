import { describe, expect, it } from 'vitest';
import { createSecretResolver, encryptLocalPassword, generateFernetKey, MemoryBindingRepository, type SecretEvent, type SecretProvider } from 'secretbind';
import { memory } from '../providers/memory/index.js';

const KEY = generateFernetKey();

function sync(accounts: number, references: number, bulk = true) {
  const entries = Object.fromEntries(Array.from({ length: references }, (_, index) => [`sync/entry-${index}`, { password: `value-${index}` }]));
  const provider = memory({ entries, bulk });
  const repository = new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' });
  for (let index = 0; index < accounts; index++) repository.putBinding({ account: `account-${index}`, store: 'mem', entry: `sync/entry-${index % references}` });
  const list = Array.from({ length: accounts }, (_, index) => ({ name: `account-${index}` }));
  return { provider, repository, list };
}

describe('Method: resolvePasswords', () => {
  it('reads each of 100 distinct references exactly once for 10,000 accounts', async () => {
    const { provider, repository, list } = sync(10_000, 100);
    const resolver = createSecretResolver({ repository, providers: [provider] });
    const results = await resolver.resolvePasswords(list);
    expect(results.size).toBe(10_000);
    expect(provider.reads()).toBe(100);
    expect(provider.bulkCalls).toBe(1);
    expect(results.get('account-0')).toEqual({ ok: true, value: 'value-0', source: 'store' });
    expect(results.get('account-9999')).toEqual({ ok: true, value: 'value-99', source: 'store' });
    expect([...results.keys()].slice(0, 3)).toEqual(['account-0', 'account-1', 'account-2']);
  });

  it('fails only the accounts of a failing reference', async () => {
    const { provider, repository, list } = sync(10_000, 100);
    provider.failNext('sync/entry-7', 'PERMISSION_DENIED');
    const resolver = createSecretResolver({ repository, providers: [provider] });
    const results = await resolver.resolvePasswords(list);
    const failed = [...results].filter(([, result]) => !result.ok);
    expect(failed).toHaveLength(100);
    expect(failed.every(([name]) => Number(name.split('-')[1]) % 100 === 7)).toBe(true);
    const [, first] = failed[0]!;
    expect(first.ok === false && first.error).toMatchObject({ code: 'PERMISSION_DENIED', account: 'account-7', store: 'mem' });
    expect([...results.values()].filter((result) => result.ok)).toHaveLength(9_900);
  });

  it('reads one by one with bounded concurrency when the provider has no resolveMany', async () => {
    let running = 0;
    let peak = 0;
    let reads = 0;
    const slow: SecretProvider = {
      type: 'memory',
      async resolve(_store, ref) {
        reads++;
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        return `value-of-${ref.raw}`;
      },
    };
    const { repository, list } = sync(1_000, 40, false);
    const resolver = createSecretResolver({ repository, providers: [slow], concurrency: 3 });
    const results = await resolver.resolvePasswords(list);
    expect(reads).toBe(40);
    expect(peak).toBe(3);
    expect(results.get('account-41')).toEqual({ ok: true, value: 'value-of-sync/entry-1', source: 'store' });
  });

  it('mixes store, local and failing accounts and emits one event per account', async () => {
    const { provider, repository } = sync(3, 3);
    repository.putStore({ name: 'off', type: 'memory', enabled: false }).putBinding({ account: 'disabled', store: 'off', entry: 'x' });
    repository.putStore({ name: 'v', type: 'vault', vault_url: 'http://127.0.0.1:1' }).putBinding({ account: 'unregistered', store: 'v', entry: 'x' });
    const events: SecretEvent[] = [];
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: KEY, onEvent: (event) => events.push(event) });
    const results = await resolver.resolvePasswords([
      { name: 'account-0' },
      { name: 'local', password: encryptLocalPassword('mine', KEY) },
      { name: 'disabled', password: encryptLocalPassword('kept', KEY) },
      { name: 'unregistered' },
      { name: 'account-0' },
    ]);
    expect(Object.fromEntries([...results].map(([name, result]) => [name, result.ok ? [result.source, result.value] : result.error.code]))).toEqual({
      'account-0': ['store', 'value-0'],
      local: ['local', 'mine'],
      disabled: ['local', 'kept'],
      unregistered: 'PROVIDER_NOT_REGISTERED',
    });
    expect(events.map((event) => event.kind === 'resolution' && [event.account, event.outcome, event.bulk])).toEqual(
      expect.arrayContaining([
        ['account-0', 'store', true],
        ['local', 'local', true],
        ['disabled', 'local', true],
        ['unregistered', 'error', true],
      ]),
    );
    expect(events).toHaveLength(4);
  });

  it('fails every account of a store whose bulk call fails as a whole', async () => {
    const { repository, list } = sync(10, 5);
    const broken: SecretProvider = {
      type: 'memory',
      resolve: async () => 'unused',
      resolveMany: async () => {
        throw Object.assign(new Error('boom'), { name: 'NetworkError' });
      },
    };
    const resolver = createSecretResolver({ repository, providers: [broken] });
    const results = await resolver.resolvePasswords(list);
    expect([...results.values()].every((result) => !result.ok && result.error.code === 'BACKEND_UNAVAILABLE')).toBe(true);
  });

  it("falls back per account with onProviderError 'use-local'", async () => {
    const { provider, repository } = sync(2, 2);
    provider.failNext('sync/entry-1', 'BACKEND_UNAVAILABLE');
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: KEY, onProviderError: 'use-local' });
    const results = await resolver.resolvePasswords([{ name: 'account-0' }, { name: 'account-1', password: encryptLocalPassword('stale', KEY) }]);
    expect(results.get('account-0')).toEqual({ ok: true, value: 'value-0', source: 'store' });
    expect(results.get('account-1')).toEqual({ ok: true, value: 'stale', source: 'local' });
  });

  it('times a bulk call out like a single one', async () => {
    const { provider, repository, list } = sync(5, 5);
    provider.hangNext('sync/entry-2');
    const resolver = createSecretResolver({ repository, providers: [provider], timeoutMs: 100 });
    const results = await resolver.resolvePasswords(list);
    expect([...results.values()].every((result) => !result.ok && result.error.code === 'TIMEOUT')).toBe(true);
  });
});
