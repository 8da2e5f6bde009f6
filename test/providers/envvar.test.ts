import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, SecretbindError } from 'secretbind';
import { envvar } from '../../providers/envvar/index.js';
import { describeProvider } from '../conformance/provider.js';

const CANARY = 'canary-envvar-7f3a9c1e';

describeProvider({
  name: 'envvar',
  capabilities: { bulk: true, check: true, hang: false },
  setup: () => ({
    provider: envvar({ env: { CMK_PROD_PASSWORD: 'from-env', CANARY_PASSWORD: CANARY } }),
    store: { name: 'env', type: 'envvar' },
    known: { reference: 'CMK_PROD_PASSWORD', value: 'from-env' },
    knownField: { reference: 'CANARY_PASSWORD', value: CANARY },
    missingEntry: 'NOT_SET_ANYWHERE',
    missingField: 'CMK_PROD_PASSWORD#username',
    badStores: [{ name: '', type: 'envvar' }, { name: 'env', type: 'envvar', enabled: 'yes' as unknown as boolean }],
    canary: { reference: 'CANARY_PASSWORD', value: CANARY, missingFieldReference: 'CANARY_PASSWORD#nope' },
  }),
});

describe('Provider: envvar', () => {
  const repository = () =>
    new MemoryBindingRepository()
      .putStore({ name: 'env', type: 'envvar' })
      .putBinding({ account: 'a', store: 'env', entry: 'SECRETBIND_TEST_VAR' })
      .putBinding({ account: 'path', store: 'env', entry: 'A/B' })
      .putBinding({ account: 'proto', store: 'env', entry: 'toString' });

  it('reads process.env at each lookup, so a changed variable is seen', async () => {
    const resolver = createSecretResolver({ repository: repository(), providers: [envvar()] });
    process.env.SECRETBIND_TEST_VAR = 'one';
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('one');
    process.env.SECRETBIND_TEST_VAR = 'two';
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('two');
    delete process.env.SECRETBIND_TEST_VAR;
    await expect(resolver.resolvePassword({ name: 'a' })).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND', message: expect.stringContaining('SECRETBIND_TEST_VAR') });
  });

  it('returns an empty variable as the empty string, not as missing', async () => {
    const resolver = createSecretResolver({ repository: repository(), providers: [envvar({ env: { SECRETBIND_TEST_VAR: '' } })] });
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('');
  });

  it('rejects a path reference with REFERENCE_INVALID', async () => {
    const resolver = createSecretResolver({ repository: repository(), providers: [envvar({ env: { 'A/B': 'x' } })] });
    await expect(resolver.resolvePassword({ name: 'path' })).rejects.toMatchObject({ code: 'REFERENCE_INVALID' });
  });

  it('does not read inherited properties of the environment object', async () => {
    const resolver = createSecretResolver({ repository: repository(), providers: [envvar({ env: {} })] });
    const error = await resolver.resolvePassword({ name: 'proto' }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(SecretbindError);
    expect((error as SecretbindError).code).toBe('ENTRY_NOT_FOUND');
  });
});
