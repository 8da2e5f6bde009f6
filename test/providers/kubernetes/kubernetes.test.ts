import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretStore } from 'secretbind';
import { kubernetes } from '../../../providers/kubernetes/index.js';
import { startSilentServer } from '../../conformance/hanging.js';
import { describeProvider } from '../../conformance/provider.js';
import { describeWritableProvider } from '../../conformance/writes.js';
import { failure } from '../../helpers.js';
import { start, type KubernetesStandIn } from '../../servers/kubernetes/index.js';

const CANARY = 'canary-kubernetes-2b7e90';
const servers: KubernetesStandIn[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

async function cluster(options: { token?: string } = {}) {
  const server = await start();
  servers.push(server);
  server.state.putSecret('apps', 'db-credentials', { username: 'automation', password: 'Ch3ck-MK!prod#2026' });
  server.state.putSecret('apps', 'canary', { password: CANARY });
  server.state.putSecret('other', 'shared', { token: 'from-other-namespace' });
  const kubeconfig = server.kubeconfig(join(mkdtempSync(join(tmpdir(), 'secretbind-kube-')), 'config'), options);
  const store: SecretStore = { name: 'cluster', type: 'kubernetes', kubeconfig_path: kubeconfig };
  return { server, store };
}

/** A cluster whose API server takes the connection and never answers. */
async function hungCluster() {
  const silent = await startSilentServer();
  const path = join(mkdtempSync(join(tmpdir(), 'secretbind-kube-hung-')), 'config');
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'hung', cluster: { server: silent.url, 'insecure-skip-tls-verify': true } }], users: [{ name: 'sync', user: { token: 'never-checked' } }], contexts: [{ name: 'hung', context: { cluster: 'hung', user: 'sync', namespace: 'apps' } }], 'current-context': 'hung' }));
  return { provider: kubernetes(), store: { name: 'cluster', type: 'kubernetes', kubeconfig_path: path }, reference: 'db-credentials', stop: silent.stop };
}

describeProvider({
  name: 'kubernetes',
  hangingStore: hungCluster,
  capabilities: { bulk: true, check: true, hang: true },
  setup: async () => {
    const { server, store } = await cluster();
    return {
      provider: kubernetes(),
      store,
      known: { reference: 'db-credentials', value: 'Ch3ck-MK!prod#2026' },
      knownField: { reference: 'other/shared#token', value: 'from-other-namespace' },
      missingEntry: 'apps/missing',
      missingField: 'db-credentials#nope',
      badStores: [{ name: 'cluster', type: 'kubernetes', kubernetes_namespace: 'Not_A_Namespace' }],
      canary: { reference: 'apps/canary', value: CANARY, missingFieldReference: 'canary#nope' },
      hang: () => {
        server.state.mode.latencyMs = 2000;
        setTimeout(() => (server.state.mode.latencyMs = 0), 400);
        return 'db-credentials';
      },
    };
  },
});

describeWritableProvider({
  name: 'kubernetes',
  hangingStore: hungCluster,
  capabilities: { pageSize: 5, objectFields: true, guarded: true },
  setup: async () => {
    const { server, store } = await cluster();
    return {
      provider: kubernetes({ pageSize: 5 }),
      store: { ...store, kubernetes_namespace: 'sync' },
      seedForeign: (name, value) => void server.state.putSecret('sync', name, { password: value }),
      // Listings name Secrets of the store's namespace, so the names here stay in it (other namespaces: the read tests).
      names: ['dotted.name-with-dash', '0-starts-with-a-digit'],
      invalidNames: [
        ['Upper_Case', 'DNS-1123'],
        ['with space', 'DNS-1123'],
        ['a/b/c', 'namespace/name'],
        [`x${'a'.repeat(260)}`, 'DNS-1123'],
      ],
      prefix: 'conformance-',
      separator: '-',
    };
  },
});

describe('Provider: kubernetes', () => {
  async function setup(options: { token?: string } = {}) {
    const { server, store } = await cluster(options);
    const repository = new MemoryBindingRepository().putStore(store);
    for (const [account, entry] of Object.entries({ db: 'db-credentials', user: 'db-credentials#username', other: 'other/shared#token' })) repository.putBinding({ account, store: 'cluster', entry });
    const resolver = createSecretResolver({ repository, providers: [kubernetes()], cryptographyKey: [] });
    return { server, store, resolver };
  }

  it('reads the namespace of the kubeconfig context unless the store names one, and decodes data', async () => {
    const { resolver } = await setup();
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('Ch3ck-MK!prod#2026');
    expect(await resolver.resolvePassword({ name: 'user' })).toBe('automation');
    expect(await resolver.resolvePassword({ name: 'other' })).toBe('from-other-namespace');
  });

  const arrangements: Array<[string, string, (server: KubernetesStandIn) => void, { token?: string }]> = [
    ['401 Unauthorized', 'AUTH_FAILED', () => {}, { token: 'wrong' }],
    ['403 Forbidden', 'PERMISSION_DENIED', (server) => void server.state.denied.add('get/secrets'), {}],
    ['503', 'BACKEND_UNAVAILABLE', (server) => void (server.state.mode.unavailable = 1), {}],
  ];
  it.each(arrangements)('maps %s to %s', async (_, code, arrange, options) => {
    const { resolver, server } = await setup(options);
    arrange(server);
    expect((await failure(resolver.resolvePassword({ name: 'db' }))).code).toBe(code);
  });

  it('labels what it writes, refuses an unlabelled Secret, and turns a stale resourceVersion into CONFLICT', async () => {
    const { resolver, server } = await setup();
    const created = await resolver.writeEntry('cluster', 'sync-target', { username: 'svc', password: 'p1' });
    expect(server.state.secret('apps', 'sync-target')!.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'secretbind' });
    expect(server.state.secretData('apps', 'sync-target')).toEqual({ username: 'svc', password: 'p1' });
    expect((await failure(resolver.writeEntry('cluster', 'db-credentials', 'x'))).code).toBe('ENTRY_NOT_OWNED');
    expect((await failure(resolver.writeEntry('cluster', 'sync-target', 'p2', { ifVersion: String(Number(created.version) - 1) }))).code).toBe('CONFLICT');
    const merged = await resolver.writeEntry('cluster', 'sync-target', { password: 'p2' }, { merge: true, ifVersion: created.version });
    expect(server.state.secretData('apps', 'sync-target')).toEqual({ username: 'svc', password: 'p2' });
    expect(merged.version).toBe(server.state.secret('apps', 'sync-target')!.metadata.resourceVersion);
    expect((await failure(resolver.writeEntry('cluster', 'sync-target', { 'bad key!': 'x' }))).code).toBe('REFERENCE_INVALID');
  });

  it('reports the context, user and namespace in check, never a token', async () => {
    const { resolver, server } = await setup();
    const report = await resolver.check();
    expect(report.stores[0]).toMatchObject({ ok: true, details: { context: 'stand-in', user: 'sync', namespace: 'apps' } });
    expect(JSON.stringify(report)).not.toContain(server.token);
  });
});
