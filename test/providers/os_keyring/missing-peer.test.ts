import { describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { osKeyring } from '../../../providers/os_keyring/index.js';

// What Node reports when a package is not installed.
vi.mock('@napi-rs/keyring', () => {
  throw Object.assign(new Error("Cannot find package '@napi-rs/keyring'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('Provider: os_keyring without @napi-rs/keyring', () => {
  it('fails with DEPENDENCY_MISSING and the install line', async () => {
    const repository = new MemoryBindingRepository().putStore({ name: 'desktop', type: 'os_keyring' }).putBinding({ account: 'a', store: 'desktop', entry: 'smtp-relay' });
    const resolver = createSecretResolver({ repository, providers: [osKeyring()], cryptographyKey: [] });
    const error = await resolver.resolvePassword({ name: 'a' }).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'DEPENDENCY_MISSING', storeType: 'os_keyring', store: 'desktop', account: 'a' });
    expect((error as Error).message).toBe('@napi-rs/keyring is required for os_keyring stores: npm install @napi-rs/keyring@2');
  });
});
