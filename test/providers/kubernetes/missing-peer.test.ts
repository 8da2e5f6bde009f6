import { describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { kubernetes } from '../../../providers/kubernetes/index.js';

// What Node reports when a package is not installed (the provider imports this ESM-capable package).
vi.mock('@kubernetes/client-node', () => {
  throw Object.assign(new Error("Cannot find package '@kubernetes/client-node'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('Provider: kubernetes without @kubernetes/client-node', () => {
  it('fails with DEPENDENCY_MISSING and the install line', async () => {
    const repository = new MemoryBindingRepository().putStore({ name: 'cluster', type: 'kubernetes', kubernetes_namespace: 'apps' }).putBinding({ account: 'a', store: 'cluster', entry: 'db#password' });
    const resolver = createSecretResolver({ repository, providers: [kubernetes()], cryptographyKey: [] });
    const error = await resolver.resolvePassword({ name: 'a' }).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'DEPENDENCY_MISSING', storeType: 'kubernetes', store: 'cluster', account: 'a' });
    expect((error as Error).message).toBe('@kubernetes/client-node is required for kubernetes stores: npm install @kubernetes/client-node@1');
  });
});
