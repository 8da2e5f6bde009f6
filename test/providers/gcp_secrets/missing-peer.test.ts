import { describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { gcpSecrets } from '../../../providers/gcp_secrets/index.js';

// What Node reports when a package is not installed.
vi.mock('@google-cloud/secret-manager', () => {
  throw Object.assign(new Error("Cannot find package '@google-cloud/secret-manager'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('Provider: gcp_secrets without @google-cloud/secret-manager', () => {
  it('fails with DEPENDENCY_MISSING and the install line', async () => {
    const repository = new MemoryBindingRepository().putStore({ name: 'gsm', type: 'gcp_secrets', gcp_project: 'ops-prod' }).putBinding({ account: 'a', store: 'gsm', entry: 'checkmk-prod' });
    const resolver = createSecretResolver({ repository, providers: [gcpSecrets()], cryptographyKey: [] });
    const error = await resolver.resolvePassword({ name: 'a' }).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'DEPENDENCY_MISSING', storeType: 'gcp_secrets', store: 'gsm', account: 'a' });
    expect((error as Error).message).toBe('@google-cloud/secret-manager is required for gcp_secrets stores: npm install @google-cloud/secret-manager@6');
  });
});
