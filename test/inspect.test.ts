import { describe, expect, it } from 'vitest';
import { createSecretResolver, encryptLocalPassword, generateFernetKey, MemoryBindingRepository, type SecretProvider } from 'secretbind';
import { envvar } from '../providers/envvar/index.js';
import { memory } from '../providers/memory/index.js';

const KEY = generateFernetKey();

function setup() {
  const repository = MemoryBindingRepository.fromConfig({
    stores: [
      { name: 'mem', type: 'memory' },
      { name: 'off', type: 'memory', enabled: false },
      { name: 'vault', type: 'vault', vault_url: 'https://vault.example.test' },
    ],
    bindings: [
      { account: 'cmk', store: 'mem', entry: 'prod/checkmk#password' },
      { account: 'paused', store: 'mem', entry: 'prod/checkmk', enabled: false },
      { account: 'store-off', store: 'off', entry: 'x' },
      { account: 'no-provider', store: 'vault', entry: 'kv/x' },
      { account: 'missing-entry', store: 'mem', entry: 'prod/nothing' },
    ],
  });
  const provider = memory({ entries: { 'prod/checkmk': { password: 'from-store' } } });
  return { repository, provider, resolver: createSecretResolver({ repository, providers: [provider], cryptographyKey: KEY }) };
}

describe('Method: explain', () => {
  it('explains a bound account without reading it', async () => {
    const { resolver, provider } = setup();
    const explanation = await resolver.explain({ name: 'cmk', password: encryptLocalPassword('x', KEY) });
    expect(explanation).toMatchObject({
      account: 'cmk',
      source: 'store',
      binding: { found: true, store: 'mem', entry: 'prod/checkmk#password', enabled: true },
      store: { name: 'mem', found: true, type: 'memory', enabled: true },
      provider: { type: 'memory', registered: true, entryPoint: 'secretbind/providers/memory' },
      reference: { ok: true, segments: ['prod', 'checkmk'], field: 'password' },
      local: { hasPassword: true, keyConfigured: true },
    });
    expect(explanation.reason).toContain('local password is ignored');
    expect(provider.reads()).toBe(0);
  });

  it.each([
    ['unbound', 'local', /No binding/],
    ['paused', 'local', /binding is disabled/],
    ['store-off', 'local', /is disabled/],
    ['no-provider', 'error', /secretbind\/providers\/vault/],
  ])('explains %s as %s', async (name, source, reason) => {
    const { resolver } = setup();
    const explanation = await resolver.explain({ name, password: encryptLocalPassword('x', KEY) });
    expect(explanation.source).toBe(source);
    expect(explanation.reason).toMatch(reason);
  });

  it('says a local password cannot be used without a key', async () => {
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository(), cryptographyKey: [] });
    const explanation = await resolver.explain({ name: 'a', password: encryptLocalPassword('x', KEY) });
    expect(explanation).toMatchObject({ source: 'error', code: 'LOCAL_KEY_MISSING', local: { hasPassword: true, keyConfigured: false } });
  });
});

describe('Method: check', () => {
  it('reports every store and binding, failing the run for errors only', async () => {
    const { resolver } = setup();
    const report = await resolver.check();
    expect(report.ok).toBe(false);
    expect(report.stores.map((store) => [store.store, store.ok, store.code])).toEqual([
      ['mem', true, undefined],
      ['off', true, undefined],
      ['vault', false, 'PROVIDER_NOT_REGISTERED'],
    ]);
    expect(Object.fromEntries(report.bindings.map((binding) => [binding.account, binding.code ?? binding.status]))).toEqual({
      cmk: 'ok',
      paused: 'disabled',
      'store-off': 'disabled',
      'no-provider': 'PROVIDER_NOT_REGISTERED',
      'missing-entry': 'ok',
    });
  });

  it('reads entries when asked, so a missing entry shows before the sync run', async () => {
    const { resolver, provider } = setup();
    const report = await resolver.check({ resolveEntries: true });
    expect(report.bindings.find((binding) => binding.account === 'missing-entry')).toMatchObject({ status: 'error', code: 'ENTRY_NOT_FOUND' });
    expect(provider.reads()).toBe(2);
    expect(JSON.stringify(report)).not.toContain('from-store');
  });

  it("includes each provider's own check", async () => {
    const repository = MemoryBindingRepository.fromConfig({ stores: [{ name: 'env', type: 'envvar' }], bindings: [] });
    const report = await createSecretResolver({ repository, providers: [envvar()] }).check();
    expect(report).toEqual({ ok: true, stores: [{ store: 'env', type: 'envvar', enabled: true, ok: true, details: { source: 'process.env' } }], bindings: [] });
  });

  it('reports a failing provider check with its code', async () => {
    const failing: SecretProvider = { ...memory(), check: async () => Promise.reject(Object.assign(new Error('nope'), { name: 'Oops' })) };
    const repository = MemoryBindingRepository.fromConfig({ stores: [{ name: 'mem', type: 'memory' }], bindings: [{ account: 'a', store: 'mem', entry: 'x' }] });
    const report = await createSecretResolver({ repository, providers: [failing] }).check();
    expect(report.stores[0]).toMatchObject({ ok: false, code: 'BACKEND_UNAVAILABLE' });
    expect(report.bindings[0]).toMatchObject({ status: 'error', code: 'BACKEND_UNAVAILABLE' });
  });

  it('needs a repository that can list', async () => {
    const resolver = createSecretResolver({ repository: { findBinding: () => undefined, findStore: () => undefined } });
    await expect(resolver.check()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
