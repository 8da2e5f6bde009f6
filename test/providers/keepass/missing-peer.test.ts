import { describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { keepass } from '../../../providers/keepass/index.js';

// What Node reports when a package is not installed.
vi.mock('kdbxweb', () => {
  throw Object.assign(new Error("Cannot find package 'kdbxweb'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('Provider: keepass without kdbxweb', () => {
  it('fails with DEPENDENCY_MISSING and the install line', async () => {
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'kp', type: 'keepass', kdbx_path: new URL('../../fixtures/keepass/kdbx4-aeskdf.kdbx', import.meta.url).pathname, master_password_env: 'K' })
      .putBinding({ account: 'a', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod' });
    const resolver = createSecretResolver({ repository, providers: [keepass({ env: { K: 'x' } })], cryptographyKey: [] });
    const error = await resolver.resolvePassword({ name: 'a' }).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'DEPENDENCY_MISSING', storeType: 'keepass', store: 'kp', account: 'a' });
    expect((error as Error).message).toBe('kdbxweb is required for keepass stores: npm install kdbxweb @node-rs/argon2');
  });
});
