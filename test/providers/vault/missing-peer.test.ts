import { describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { vault } from '../../../providers/vault/index.js';

vi.mock('node-vault', () => {
  throw Object.assign(new Error("Cannot find package 'node-vault'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('Provider: vault without node-vault', () => {
  it('fails with DEPENDENCY_MISSING and the install line', async () => {
    const repository = new MemoryBindingRepository().putStore({ name: 'v', type: 'vault', vault_url: 'http://127.0.0.1:1' }).putBinding({ account: 'a', store: 'v', entry: 'kv/x' });
    const resolver = createSecretResolver({ repository, providers: [vault({ env: { VAULT_TOKEN: 't' } })], cryptographyKey: [] });
    await expect(resolver.resolvePassword({ name: 'a' })).rejects.toMatchObject({ code: 'DEPENDENCY_MISSING', message: 'node-vault is required for vault stores: npm install node-vault@0.12' });
  });
});
