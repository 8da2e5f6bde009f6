import { describeWritableProvider } from '../conformance/writes.js';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { memory } from '../../providers/memory/index.js';
import { describeProvider } from '../conformance/provider.js';

const CANARY = 'canary-memory-41d0be77';

function fixture(bulk: boolean) {
  const provider = memory({
    bulk,
    entries: {
      'prod/checkmk': { username: 'automation', password: 'Ch3ck' },
      'prod/canary': { password: CANARY },
      'plain/value': 'plain',
      'slow/one': 'never seen',
    },
  });
  return {
    provider,
    store: { name: 'mem', type: 'memory' },
    known: { reference: 'prod/checkmk', value: 'Ch3ck' },
    knownField: { reference: 'prod/checkmk#username', value: 'automation' },
    missingEntry: 'prod/nothing',
    missingField: 'prod/checkmk#token',
    badStores: [{ name: 'mem', type: '' }, { name: 42 as unknown as string, type: 'memory' }],
    canary: { reference: 'prod/canary', value: CANARY, missingFieldReference: 'prod/canary#nope' },
    hang: () => {
      provider.hangNext('slow/one');
      return 'slow/one';
    },
  };
}

describeProvider({ name: 'memory', capabilities: { bulk: true, check: false, hang: true }, setup: () => fixture(true) });
describeProvider({ name: 'memory without resolveMany', capabilities: { bulk: false, check: false, hang: true }, setup: () => fixture(false) });

describe('Provider: memory', () => {
  function setup() {
    const provider = memory({ entries: { 'prod/checkmk': { username: 'automation', password: 'v1' }, token: 'plain' } });
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'mem', type: 'memory' })
      .putBinding({ account: 'cmk', store: 'mem', entry: 'prod/checkmk' })
      .putBinding({ account: 'cmk-user', store: 'mem', entry: 'prod/checkmk#username' })
      .putBinding({ account: 'token', store: 'mem', entry: 'token' });
    return { provider, resolver: createSecretResolver({ repository, providers: [provider] }) };
  }

  it('serves a rotated value on the next lookup', async () => {
    const { provider, resolver } = setup();
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('v1');
    provider.rotate('prod/checkmk', 'v2');
    provider.rotate('prod/checkmk#username', 'svc');
    provider.rotate('token', 'plain-2');
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('v2');
    expect(await resolver.resolvePassword({ name: 'cmk-user' })).toBe('svc');
    expect(await resolver.resolvePassword({ name: 'token' })).toBe('plain-2');
  });

  it('fails the next reads with an injected code, then recovers', async () => {
    const { provider, resolver } = setup();
    provider.failNext('prod/checkmk', 'RATE_LIMITED', { times: 2 });
    await expect(resolver.resolvePassword({ name: 'cmk' })).rejects.toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    await expect(resolver.resolvePassword({ name: 'cmk-user' })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('v1');
  });

  it('counts reads per reference as written in the binding', async () => {
    const { provider, resolver } = setup();
    await resolver.resolvePassword({ name: 'cmk' });
    await resolver.resolvePassword({ name: 'cmk' });
    await resolver.resolvePassword({ name: 'cmk-user' });
    expect(provider.reads('prod/checkmk')).toBe(2);
    expect(provider.reads('prod/checkmk#username')).toBe(1);
    expect(provider.reads()).toBe(3);
    provider.resetCounters();
    expect(provider.reads()).toBe(0);
  });

  it('adds latency to every read, ended early by the deadline', async () => {
    const { provider, resolver } = setup();
    provider.setLatency(30);
    const started = performance.now();
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('v1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    provider.setLatency(10_000);
    const slow = createSecretResolver({
      repository: new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' }).putBinding({ account: 'cmk', store: 'mem', entry: 'prod/checkmk' }),
      providers: [provider],
      timeoutMs: 50,
    });
    await expect(slow.resolvePassword({ name: 'cmk' })).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('removes entries and says a plain value has no fields', async () => {
    const { provider, resolver } = setup();
    provider.set('prod/checkmk', 'now-plain');
    await expect(resolver.resolvePassword({ name: 'cmk-user' })).rejects.toMatchObject({ code: 'FIELD_NOT_FOUND' });
    expect(provider.delete('prod/checkmk')).toBe(true);
    await expect(resolver.resolvePassword({ name: 'cmk' })).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND' });
  });
});

describeWritableProvider({
  name: 'memory',
  capabilities: { pageSize: 0, objectFields: true, guarded: true },
  setup: () => {
    const provider = memory();
    return {
      provider,
      store: { name: 'mem', type: 'memory' },
      seedForeign: (name, value) => provider.set(name, value),
      names: ['folder/name with spaces', 'web\\#1', 'deep/a/b/c', 'pässwörd-Ω-🔑'],
      invalidNames: [['', 'empty'], ['a//b', 'empty path segment']],
      prefix: 'conformance/',
    };
  },
});

describe('Provider: memory writes', () => {
  it('applies injected failures and hangs to writes as to reads, and counts writes', async () => {
    const provider = memory();
    const repository = new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' });
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs: 100 });
    provider.failNext('apps/x', 'BACKEND_UNAVAILABLE');
    const failed = await resolver.writeEntry('mem', 'apps/x', 'v').catch((error: { code: string }) => error.code);
    expect(failed).toBe('BACKEND_UNAVAILABLE');
    provider.hangNext('apps/x');
    expect(await resolver.writeEntry('mem', 'apps/x', 'v').catch((error: { code: string }) => error.code)).toBe('TIMEOUT');
    expect(provider.writes('apps/x')).toBe(0);
    await resolver.writeEntry('mem', 'apps/x', 'v');
    expect(provider.writes('apps/x')).toBe(1);
    expect(provider.ownerOf('apps/x')).toBe('secretbind');
  });
});
