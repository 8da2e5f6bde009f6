import { describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { azureKeyVault } from '../../../providers/azure_keyvault/index.js';

// What Node reports when a package is not installed.
vi.mock('@azure/keyvault-secrets', () => {
  throw Object.assign(new Error("Cannot find package '@azure/keyvault-secrets'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('Provider: azure_keyvault without @azure/keyvault-secrets', () => {
  it('fails with DEPENDENCY_MISSING and the install line', async () => {
    const repository = new MemoryBindingRepository().putStore({ name: 'kv', type: 'azure_keyvault', azure_vault_url: 'https://ops.vault.azure.net' }).putBinding({ account: 'a', store: 'kv', entry: 'checkmk-prod' });
    const resolver = createSecretResolver({ repository, providers: [azureKeyVault()], cryptographyKey: [] });
    const error = await resolver.resolvePassword({ name: 'a' }).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'DEPENDENCY_MISSING', storeType: 'azure_keyvault', store: 'kv', account: 'a' });
    expect((error as Error).message).toBe('@azure/keyvault-secrets is required for azure_keyvault stores: npm install @azure/keyvault-secrets@4 @azure/identity@4');
  });
});
