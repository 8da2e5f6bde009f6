/** staleIfError: every path (fresh, stale within budget, too old, non-retryable, AUTH_FAILED re-login), bulk, canary. */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, SecretbindError, type SecretEvent } from 'secretbind';
import { memory } from '../providers/memory/index.js';
import { vault } from '../providers/vault/index.js';
import { StaleCache } from '../src/resolve/stale.js';
import { start as startVault } from './servers/vault/index.js';

afterEach(() => vi.useRealTimers());

function world(maxAgeMs = 60_000) {
  const store = memory({ entries: { 'apps/db': 'stale-canary-1' } });
  const repository = new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' }).putBinding({ account: 'db', store: 'mem', entry: 'apps/db' });
  const events: SecretEvent[] = [];
  const resolver = createSecretResolver({ repository, providers: [store], cryptographyKey: [], staleIfError: { maxAgeMs }, onEvent: (event) => events.push(event) });
  return { store, resolver, events };
}

describe('staleIfError', () => {
  it('answers fresh while the store answers, then the last good value while it fails with a retryable error, with its age and code', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { store, resolver, events } = world();
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('stale-canary-1');
    expect(events.at(-1)).toMatchObject({ outcome: 'store' });
    vi.setSystemTime(Date.now() + 30_000);
    store.failNext('apps/db', 'BACKEND_UNAVAILABLE');
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('stale-canary-1');
    expect(events.at(-1)).toMatchObject({ outcome: 'stale', code: 'BACKEND_UNAVAILABLE', ageMs: 30_000 });
    store.failNext('apps/db', 'RATE_LIMITED');
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('stale-canary-1');
    store.failNext('apps/db', 'TIMEOUT');
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('stale-canary-1');
    // The store answers again: the new value, and it is the one kept from now on.
    store.rotate('apps/db', 'stale-canary-2');
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('stale-canary-2');
    store.failNext('apps/db', 'BACKEND_UNAVAILABLE');
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('stale-canary-2');
    expect(JSON.stringify(events)).not.toContain('stale-canary');
    expect(inspect(resolver, { depth: 10, showHidden: true })).not.toContain('stale-canary');
  });

  it('throws once the value is older than maxAgeMs, and never answers a non-retryable error stale', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { store, resolver } = world(10_000);
    await resolver.resolvePassword({ name: 'db' });
    store.failNext('apps/db', 'PERMISSION_DENIED');
    await expect(resolver.resolvePassword({ name: 'db' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    store.failNext('apps/db', 'ENTRY_NOT_FOUND');
    await expect(resolver.resolvePassword({ name: 'db' })).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND' });
    vi.setSystemTime(Date.now() + 10_001);
    store.failNext('apps/db', 'BACKEND_UNAVAILABLE');
    const error = await resolver.resolvePassword({ name: 'db' }).catch((thrown: unknown) => thrown as SecretbindError);
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(String((error as Error).message)).not.toContain('stale-canary');
  });

  it('serves stale in bulk lookups too', async () => {
    const { store, resolver, events } = world();
    await resolver.resolvePasswords([{ name: 'db' }]);
    store.failNext('apps/db', 'BACKEND_UNAVAILABLE');
    const results = await resolver.resolvePasswords([{ name: 'db' }]);
    expect(results.get('db')).toEqual({ ok: true, value: 'stale-canary-1', source: 'stale' });
    expect(events.at(-1)).toMatchObject({ outcome: 'stale', bulk: true, code: 'BACKEND_UNAVAILABLE' });
  });

  it('zeroes values it drops: aged out, cleared (close)', () => {
    let now = 0;
    const cache = new StaleCache({ maxAgeMs: 100 }, () => now);
    const retryable = new SecretbindError('BACKEND_UNAVAILABLE', 'down');
    const spy = vi.spyOn(Buffer.prototype, 'fill');
    cache.remember('s', 'r', 'stale-canary-x');
    expect(cache.recall('s', 'r', retryable)?.value).toBe('stale-canary-x');
    now = 101;
    expect(cache.recall('s', 'r', retryable)).toBeUndefined();
    expect(spy).toHaveBeenCalledWith(0);
    spy.mockClear();
    cache.remember('s', 'r2', 'stale-canary-y');
    cache.clear();
    expect(spy).toHaveBeenCalledWith(0);
    expect(cache.recall('s', 'r2', retryable)).toBeUndefined();
    spy.mockRestore();
    expect(() => new StaleCache({ maxAgeMs: 0 })).toThrow(/maxAgeMs/);
  });

  it('AUTH_FAILED from Vault: one fresh login and retry before anything is served stale; still refused, it throws', async () => {
    const server = await startVault();
    try {
      server.state.addMount('secret', 2);
      server.state.putSecret('secret', 'apps/db', { password: 'vault-stale-canary' });
      const first = server.state.createToken({ policies: ['root'], ttl: 3600 });
      const env: Record<string, string> = { VAULT_TOKEN: first };
      const repository = new MemoryBindingRepository().putStore({ name: 'v', type: 'vault', vault_url: server.url }).putBinding({ account: 'db', store: 'v', entry: 'apps/db' });
      const events: SecretEvent[] = [];
      const resolver = createSecretResolver({ repository, providers: [vault({ env, retries: 0 })], cryptographyKey: [], staleIfError: { maxAgeMs: 60_000 }, onEvent: (event) => events.push(event) });
      expect(await resolver.resolvePassword({ name: 'db' })).toBe('vault-stale-canary');
      // The token is revoked and a new one is put where the store reads it: the re-login picks it up.
      server.state.tokens.delete(first);
      env.VAULT_TOKEN = server.state.createToken({ policies: ['root'], ttl: 3600 });
      expect(await resolver.resolvePassword({ name: 'db' })).toBe('vault-stale-canary');
      expect(events.at(-1)).toMatchObject({ outcome: 'store' });
      // Revoked with no replacement: AUTH_FAILED stands (not retryable, never served stale).
      server.state.tokens.delete(env.VAULT_TOKEN);
      await expect(resolver.resolvePassword({ name: 'db' })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      expect(JSON.stringify(events)).not.toContain('vault-stale-canary');
      await resolver.close();
    } finally {
      await server.stop();
    }
  });
});
