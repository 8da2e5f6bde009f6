import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { keepass } from '../../../providers/keepass/index.js';
import { uninstall } from '../../helpers.js';

// kdbxweb is a CommonJS package, loaded with require: make require fail as it does when it is not installed.
uninstall('kdbxweb');

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
