/**
 * Copy this file to unit-test code that looks passwords up through secretbind. The memory provider stands in for
 * every real store: seed it, rotate values, inject failures and latency, and count the reads your code causes.
 */
import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretResolver } from 'secretbind';
import { memory } from 'secretbind/providers/memory';

/** The code under test: a sync job that logs in to each system it syncs. */
async function syncAll(resolver: SecretResolver, systems: string[]): Promise<Record<string, string>> {
  const results = await resolver.resolvePasswords(systems.map((name) => ({ name })));
  return Object.fromEntries([...results].map(([name, result]) => [name, result.ok ? 'synced' : `skipped (${result.error.code})`]));
}

function setup() {
  const store = memory({
    entries: {
      'prod/checkmk': { username: 'automation', password: 'initial' },
      'prod/netbox': { username: 'sync', password: 'netbox-initial' },
    },
  });
  const repository = MemoryBindingRepository.fromConfig({
    stores: [{ name: 'vault-prod', type: 'memory' }],
    bindings: [
      { account: 'checkmk', store: 'vault-prod', entry: 'prod/checkmk' },
      { account: 'netbox', store: 'vault-prod', entry: 'prod/netbox' },
    ],
  });
  const resolver = createSecretResolver({ repository, providers: [store], timeoutMs: 200 });
  return { store, resolver };
}

describe('Example: unit-testing with the memory provider', () => {
  it('sees a rotated password on the next lookup', async () => {
    const { store, resolver } = setup();
    expect(await resolver.resolvePassword({ name: 'checkmk' })).toBe('initial');
    store.rotate('prod/checkmk', 'rotated');
    expect(await resolver.resolvePassword({ name: 'checkmk' })).toBe('rotated');
  });

  it('skips only the system whose store entry fails', async () => {
    const { store, resolver } = setup();
    store.failNext('prod/netbox', 'PERMISSION_DENIED');
    expect(await syncAll(resolver, ['checkmk', 'netbox'])).toEqual({ checkmk: 'synced', netbox: 'skipped (PERMISSION_DENIED)' });
  });

  it('gives up on a store that hangs at the deadline', async () => {
    const { store, resolver } = setup();
    store.hangNext('prod/checkmk');
    await expect(resolver.resolvePassword({ name: 'checkmk' })).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
  });

  it('reads each store entry once per sync run', async () => {
    const { store, resolver } = setup();
    await syncAll(resolver, ['checkmk', 'netbox', 'checkmk']);
    expect(store.reads('prod/checkmk')).toBe(1);
    expect(store.reads()).toBe(2);
  });
});
