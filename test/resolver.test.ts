import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createSecretResolver,
  encryptLocalPassword,
  generateFernetKey,
  MemoryBindingRepository,
  SecretbindError,
  type BindingRepository,
  type ResolutionEvent,
  type SecretEvent,
  type SecretProvider,
  WithheldError,
} from 'secretbind';
import { memory } from '../providers/memory/index.js';
import { failure } from './helpers.js';

const KEY = generateFernetKey();
const LOCAL = encryptLocalPassword('local-password', KEY);

/** A provider that fails the test if it is ever asked. */
const untouchable: SecretProvider = {
  type: 'memory',
  resolve: () => {
    throw new Error('the provider must not be called');
  },
};

function setup(options: { enabledBinding?: boolean; enabledStore?: boolean } = {}) {
  const provider = memory({ entries: { 'prod/checkmk': { password: 'from-store', username: 'automation' } } });
  const repository = new MemoryBindingRepository()
    .putStore({ name: 'mem', type: 'memory', enabled: options.enabledStore ?? true })
    .putBinding({ account: 'cmk', store: 'mem', entry: 'prod/checkmk', enabled: options.enabledBinding ?? true });
  const events: SecretEvent[] = [];
  const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: KEY, onEvent: (event) => events.push(event) });
  return { provider, repository, resolver, events };
}


const resolutions = (events: SecretEvent[]) => events.filter((event): event is ResolutionEvent => event.kind === 'resolution');

describe('Resolution rule 1: no active binding uses the local password', () => {
  it('decrypts the local password of an account without a binding, without asking any provider', async () => {
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository(), providers: [untouchable], cryptographyKey: KEY });
    expect(await resolver.resolvePassword({ name: 'unbound', password: LOCAL })).toBe('local-password');
  });

  it('uses the local password while the binding is disabled', async () => {
    const { resolver, provider, events } = setup({ enabledBinding: false });
    expect(await resolver.resolvePassword({ name: 'cmk', password: LOCAL })).toBe('local-password');
    expect(provider.reads()).toBe(0);
    expect(resolutions(events)[0]).toMatchObject({ outcome: 'local', reason: 'binding disabled' });
  });

  it('uses the local password while the store is disabled', async () => {
    const { resolver, provider, events } = setup({ enabledStore: false });
    expect(await resolver.resolvePassword({ name: 'cmk', password: LOCAL })).toBe('local-password');
    expect(provider.reads()).toBe(0);
    expect(resolutions(events)[0]).toMatchObject({ outcome: 'local', reason: 'store disabled', store: 'mem' });
  });

  it('returns null for an account with neither binding nor local password', async () => {
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository(), cryptographyKey: [] });
    expect(await resolver.resolvePassword({ name: 'nothing' })).toBeNull();
    expect(await resolver.resolvePassword({ name: 'nothing', password: null })).toBeNull();
  });

  it('fails with LOCAL_KEY_MISSING when a local password needs a key and none is configured', async () => {
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository(), cryptographyKey: [] });
    const error = await failure(resolver.resolvePassword({ name: 'unbound', password: LOCAL }));
    expect(error).toMatchObject({ code: 'LOCAL_KEY_MISSING', account: 'unbound' });
  });

  it('fails with LOCAL_DECRYPT_FAILED for a token made with another key', async () => {
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository(), cryptographyKey: generateFernetKey() });
    expect((await failure(resolver.resolvePassword({ name: 'unbound', password: LOCAL }))).code).toBe('LOCAL_DECRYPT_FAILED');
  });

  describe('the key comes from CRYPTOGRAPHY_KEY by default', () => {
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    it('reads the environment when cryptographyKey is not given', async () => {
      vi.stubEnv('CRYPTOGRAPHY_KEY', KEY);
      const resolver = createSecretResolver({ repository: new MemoryBindingRepository() });
      expect(await resolver.resolvePassword({ name: 'unbound', password: LOCAL })).toBe('local-password');
    });

    it('refuses a malformed key at creation with CONFIG_INVALID, without echoing it', () => {
      vi.stubEnv('CRYPTOGRAPHY_KEY', 'definitely-not-a-fernet-key');
      let error: unknown;
      try {
        createSecretResolver({ repository: new MemoryBindingRepository() });
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
      expect((error as Error).message).not.toContain('definitely-not-a-fernet-key');
    });
  });
});

describe('Resolution rule 2: a missing store or provider is an error', () => {
  it('fails with STORE_NOT_FOUND when the bound store does not exist', async () => {
    const repository: BindingRepository = {
      findBinding: async (name) => ({ account: name, store: 'gone', entry: 'x' }),
      findStore: async () => undefined,
    };
    const resolver = createSecretResolver({ repository, providers: [untouchable], cryptographyKey: KEY });
    const error = await failure(resolver.resolvePassword({ name: 'cmk', password: LOCAL }));
    expect(error).toMatchObject({ code: 'STORE_NOT_FOUND', account: 'cmk', store: 'gone' });
  });

  it('fails with PROVIDER_NOT_REGISTERED naming the entry point to import', async () => {
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1' })
      .putBinding({ account: 'cmk', store: 'aws', entry: 'prod/checkmk#password' });
    const resolver = createSecretResolver({ repository, providers: [], cryptographyKey: KEY });
    const error = await failure(resolver.resolvePassword({ name: 'cmk', password: LOCAL }));
    expect(error).toMatchObject({ code: 'PROVIDER_NOT_REGISTERED', storeType: 'aws_secrets' });
    expect(error.message).toContain("import { awsSecrets } from 'secretbind/providers/aws_secrets'");
  });

  it('never falls back to the local password for configuration errors, even with use-local', async () => {
    const repository = new MemoryBindingRepository().putStore({ name: 'v', type: 'vault', vault_url: 'http://127.0.0.1:1' }).putBinding({ account: 'cmk', store: 'v', entry: 'x' });
    const resolver = createSecretResolver({ repository, cryptographyKey: KEY, onProviderError: 'use-local' });
    expect((await failure(resolver.resolvePassword({ name: 'cmk', password: LOCAL }))).code).toBe('PROVIDER_NOT_REGISTERED');
  });
});

describe('Resolution rule 3: an active binding asks the store', () => {
  it('returns the store value and ignores the local password', async () => {
    const { resolver, provider } = setup();
    expect(await resolver.resolvePassword({ name: 'cmk', password: LOCAL })).toBe('from-store');
    expect(await resolver.resolvePassword({ name: 'cmk', password: 'not even a token' })).toBe('from-store');
    expect(provider.reads('prod/checkmk')).toBe(2);
  });

  it('asks the store on every lookup, so a rotation is seen at once', async () => {
    const { resolver, provider } = setup();
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('from-store');
    provider.rotate('prod/checkmk', 'rotated');
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('rotated');
  });

  it('throws a provider failure instead of using the stale local password', async () => {
    const { resolver, provider } = setup();
    provider.failNext('prod/checkmk', 'BACKEND_UNAVAILABLE');
    const error = await failure(resolver.resolvePassword({ name: 'cmk', password: LOCAL }));
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', account: 'cmk', store: 'mem', storeType: 'memory', retryable: true });
  });

  it("falls back to the local password with onProviderError 'use-local' and says so in the event", async () => {
    const provider = memory({ entries: {} });
    const events: SecretEvent[] = [];
    const repository = new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' }).putBinding({ account: 'cmk', store: 'mem', entry: 'prod/checkmk' });
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: KEY, onProviderError: 'use-local', onEvent: (event) => events.push(event) });
    expect(await resolver.resolvePassword({ name: 'cmk', password: LOCAL })).toBe('local-password');
    expect(resolutions(events)).toEqual([expect.objectContaining({ outcome: 'local', fallback: true, code: 'ENTRY_NOT_FOUND', store: 'mem' })]);
  });

  it('throws the provider failure when the fallback has no local password to use', async () => {
    const provider = memory({ entries: {} });
    const repository = new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' }).putBinding({ account: 'cmk', store: 'mem', entry: 'x' });
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], onProviderError: 'use-local' });
    expect((await failure(resolver.resolvePassword({ name: 'cmk', password: LOCAL }))).code).toBe('ENTRY_NOT_FOUND');
  });

  it('lets a policy function decide per error', async () => {
    const { repository, provider } = setup();
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: KEY, onProviderError: (error) => (error.retryable ? 'use-local' : 'throw') });
    provider.failNext('prod/checkmk', 'RATE_LIMITED');
    expect(await resolver.resolvePassword({ name: 'cmk', password: LOCAL })).toBe('local-password');
    provider.failNext('prod/checkmk', 'AUTH_FAILED');
    expect((await failure(resolver.resolvePassword({ name: 'cmk', password: LOCAL }))).code).toBe('AUTH_FAILED');
  });

  it('wraps an unexpected provider error as BACKEND_UNAVAILABLE without repeating its message', async () => {
    const leaky: SecretProvider = {
      type: 'memory',
      async resolve() {
        throw new SyntaxError('Unexpected token, "hunter2" is not valid JSON');
      },
    };
    const { repository } = setup();
    const resolver = createSecretResolver({ repository, providers: [leaky], cryptographyKey: KEY });
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).not.toContain('hunter2');
    expect(JSON.stringify(error)).not.toContain('hunter2');
    expect(inspect(error, { depth: 10 })).not.toContain('hunter2');
    // The original stays reachable for a debugger, out of sight of loggers.
    expect(error.cause).toBeInstanceOf(WithheldError);
    expect((error.cause as WithheldError).name).toBe('SyntaxError');
    expect((error.cause as WithheldError).original).toBeInstanceOf(SyntaxError);
  });

  it('fails with TIMEOUT at the deadline even when the provider ignores the signal, and aborts the signal', async () => {
    let signal: AbortSignal | undefined;
    const stubborn: SecretProvider = {
      type: 'memory',
      resolve: (_store, _ref, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    };
    const { repository } = setup();
    const resolver = createSecretResolver({ repository, providers: [stubborn], timeoutMs: 100 });
    const started = performance.now();
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error).toMatchObject({ code: 'TIMEOUT', account: 'cmk', store: 'mem' });
    expect(performance.now() - started).toBeLessThan(200);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(error);
  });

  it('shares one provider call among identical concurrent lookups', async () => {
    const { resolver, provider } = setup();
    provider.setLatency(20);
    const values = await Promise.all(Array.from({ length: 50 }, () => resolver.resolvePassword({ name: 'cmk' })));
    expect(new Set(values)).toEqual(new Set(['from-store']));
    expect(provider.reads()).toBe(1);
  });

  it('refuses a store its provider finds invalid with CONFIG_INVALID', async () => {
    const picky: SecretProvider = {
      type: 'memory',
      validateStore: () => {
        throw new SecretbindError('CONFIG_INVALID', 'store "mem".path: required');
      },
      resolve: async () => 'never',
    };
    const { repository } = setup();
    const resolver = createSecretResolver({ repository, providers: [picky] });
    expect((await failure(resolver.resolvePassword({ name: 'cmk' }))).code).toBe('CONFIG_INVALID');
  });

  it('reports a failing repository as BACKEND_UNAVAILABLE, withholding its message', async () => {
    const repository: BindingRepository = {
      findBinding: async () => {
        throw new Error('connection refused for postgres://sync:db-password-123@db');
      },
      findStore: () => undefined,
    };
    const resolver = createSecretResolver({ repository, cryptographyKey: KEY });
    const error = await failure(resolver.resolvePassword({ name: 'cmk', password: LOCAL }));
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', account: 'cmk' });
    expect(error.message).toContain('binding repository');
    expect(inspect(error, { depth: 10 })).not.toContain('db-password-123');
  });
});

describe('Resolution rule 4: one event per resolution, without values', () => {
  it('emits source, account, store, type, reference, outcome, duration and code', async () => {
    const { resolver, provider, events } = setup();
    await resolver.resolvePassword({ name: 'cmk' });
    provider.failNext('prod/checkmk', 'PERMISSION_DENIED');
    await failure(resolver.resolvePassword({ name: 'cmk' }));
    await resolver.resolvePassword({ name: 'unbound', password: LOCAL });
    expect(events).toHaveLength(3);
    expect(events[0]).toEqual({ source: 'Secrets', kind: 'resolution', account: 'cmk', store: 'mem', storeType: 'memory', reference: 'prod/checkmk', outcome: 'store', durationMs: expect.any(Number) });
    expect(events[1]).toMatchObject({ source: 'Secrets', account: 'cmk', store: 'mem', outcome: 'error', code: 'PERMISSION_DENIED' });
    expect(events[2]).toMatchObject({ source: 'Secrets', account: 'unbound', outcome: 'local', reason: 'no binding' });
    expect(JSON.stringify(events)).not.toMatch(/from-store|local-password/);
  });

  it('keeps resolving when the event listener throws', async () => {
    const { repository, provider } = setup();
    const resolver = createSecretResolver({
      repository,
      providers: [provider],
      onEvent: () => {
        throw new Error('log sink down');
      },
    });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('from-store');
  });
});

describe('Function: createSecretResolver', () => {
  it('returns bound methods, so destructuring works', async () => {
    const { resolvePassword, resolvePasswords, explain } = setup().resolver;
    expect(await resolvePassword({ name: 'cmk' })).toBe('from-store');
    expect((await resolvePasswords([{ name: 'cmk' }])).get('cmk')).toEqual({ ok: true, value: 'from-store', source: 'store' });
    expect((await explain('cmk')).source).toBe('store');
  });

  it.each([
    [{ timeoutMs: 0 }, 'timeoutMs'],
    [{ concurrency: 0 }, 'concurrency'],
    [{ onProviderError: 'retry' as 'throw' }, 'onProviderError'],
    [{ providers: [memory(), memory()] }, 'two providers'],
    [{ repository: {} as BindingRepository }, 'findBinding'],
  ])('refuses bad options %j with CONFIG_INVALID', (options, text) => {
    expect(() => createSecretResolver({ repository: new MemoryBindingRepository(), ...options })).toThrow(text);
  });

  it('still times out a call that is in flight when the resolver closes', async () => {
    const stubborn: SecretProvider = { type: 'memory', resolve: () => new Promise(() => {}) };
    const { repository } = setup();
    const resolver = createSecretResolver({ repository, providers: [stubborn], timeoutMs: 50 });
    const pending = resolver.resolvePassword({ name: 'cmk' });
    await resolver.close();
    expect((await failure(pending)).code).toBe('TIMEOUT');
  });

  it('closes every provider', async () => {
    const close = vi.fn();
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository(), providers: [{ ...memory(), close }] });
    await resolver.close();
    expect(close).toHaveBeenCalledOnce();
  });
});
