/**
 * A name rendered from source data never leaves its store's configured scope (review issue item 7): a `/` in a
 * KeePass title or an account name must not pick the Kubernetes namespace or the keyring service. Real client
 * against the Kubernetes stand-in; its request log shows every path the client asked for.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSyncEngine, encryptLocalPassword, generateFernetKey, MemoryBindingRepository, migrateAccounts, parseReference } from 'secretbind';
import { kubernetes } from '../../providers/kubernetes/index.js';
import { memory } from '../../providers/memory/index.js';
import { osKeyring } from '../../providers/os_keyring/index.js';
import { start, type KubernetesStandIn } from '../servers/kubernetes/index.js';

const servers: KubernetesStandIn[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

async function cluster() {
  const server = await start();
  servers.push(server);
  const kubeconfig = server.kubeconfig(join(mkdtempSync(join(tmpdir(), 'secretbind-scope-')), 'config'));
  return { server, store: { name: 'cluster', type: 'kubernetes', kubeconfig_path: kubeconfig, kubernetes_namespace: 'apps' } };
}

const outsideApps = (server: KubernetesStandIn) => server.requests.filter((request) => request.path.includes('/namespaces/') && !request.path.includes('/namespaces/apps/'));

describe('Scope: a / from source data picks the Kubernetes namespace (regression)', () => {
  it('sync refuses a source title kube-system/db-admin rendered with {{ .SecretBaseName }}, asking nothing of kube-system', async () => {
    const { server, store } = await cluster();
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore(store);
    const engine = createSyncEngine({ repository, providers: [memory({ entries: { 'team/kube-system\\/db-admin': 'hijack', 'team/web': 'fine' } }), kubernetes()], definitions: [{ name: 'k', source: 'src', prefix: 'team/', destination: 'cluster', name_template: '{{ .SecretBaseName }}' }] });
    const items = await engine.run();
    await engine.close();
    expect(items.map((item) => [item.entry, item.outcome, item.code])).toEqual([
      ['kube-system/db-admin', 'failed', 'REFERENCE_INVALID'],
      ['web', 'done', undefined],
    ]);
    expect(items[0]!.reason).toContain('store\'s namespace ("apps")');
    expect(outsideApps(server)).toEqual([]);
    expect([...server.state.objects.keys()].filter((key) => key.startsWith('secrets/'))).toEqual(['secrets/apps/web']);
  });

  it('migration refuses the default {{ .Account }} for an account named kube-system/x', async () => {
    const { server, store } = await cluster();
    const key = generateFernetKey();
    const repository = new MemoryBindingRepository().putStore(store).putAccount({ name: 'kube-system/x', password: encryptLocalPassword('pw', key) });
    const items = await migrateAccounts({ repository, providers: [kubernetes()], cryptographyKey: key, to: 'cluster' });
    expect(items).toMatchObject([{ account: 'kube-system/x', action: 'refuse', outcome: 'failed', code: 'REFERENCE_INVALID' }]);
    expect(outsideApps(server)).toEqual([]);
    expect(repository.findBinding('kube-system/x')).toBeUndefined();
  });

  it('a name in the store\'s own namespace is still fine, and so is an explicit namespace in a binding', async () => {
    const { store } = await cluster();
    const provider = kubernetes();
    expect(() => provider.checkName!(store, parseReference('apps/db'))).not.toThrow();
    expect(() => provider.checkName!(store, parseReference('db'))).not.toThrow();
    expect(() => provider.checkName!({ ...store, kubernetes_namespace: undefined }, parseReference('apps/db'))).toThrow(/kubernetes_namespace is not set/);
  });

  it('os_keyring: service/account from a template names only the store\'s service', () => {
    const provider = osKeyring();
    const store = { name: 'kr', type: 'os_keyring', keyring_service: 'secretbind-sync' };
    expect(() => provider.checkName!(store, parseReference('other-service/account'))).toThrow(/would be written in service "other-service"/);
    expect(() => provider.checkName!(store, parseReference('secretbind-sync/account'))).not.toThrow();
    expect(() => provider.checkName!(store, parseReference('a\\/b'))).not.toThrow(); // one account named a/b, in the store's service
  });
});
