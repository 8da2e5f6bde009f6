/**
 * Sync state in one Kubernetes Secret (review issue item 9): where a standby finds it after a failover. Real
 * @kubernetes/client-node against the stand-in; the new leader's first pass writes nothing already in place.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSyncEngine, MemoryBindingRepository, StoreSyncState, type SyncDefinition } from 'secretbind';
import { kubernetes } from '../../providers/kubernetes/index.js';
import { memory, type MemoryProvider } from '../../providers/memory/index.js';
import { start, type KubernetesStandIn } from '../servers/kubernetes/index.js';
import { openState } from '../../src/cli/sync-state.js';

const servers: KubernetesStandIn[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

describe('Sync state in a Kubernetes Secret', () => {
  it('after a failover the new leader reads the old one\'s state, writes nothing in place, and removes what the source dropped', async () => {
    const server = await start();
    servers.push(server);
    const kubeconfig = server.kubeconfig(join(mkdtempSync(join(tmpdir(), 'secretbind-state-')), 'config'));
    const stateStore = { name: 'state', type: 'kubernetes', kubeconfig_path: kubeconfig, kubernetes_namespace: 'secretbind' };
    const source = memory({ entries: { 'app/db': 'db-pw', 'app/api-key': 'key-pw' } });
    const destination = { ...memory(), type: 'memtwo' } as MemoryProvider;
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
    const definitions: SyncDefinition[] = [{ name: 'app', source: 'src', prefix: 'app/', destination: 'dst', name_template: 'APP_{{ .SecretBaseName | replace "-" "_" | uppercase }}' }];
    const replica = () => createSyncEngine({ repository, providers: [source, destination], definitions, state: new StoreSyncState({ provider: kubernetes(), store: stateStore }), stateKey: 'held by the operator' });

    const leader = replica();
    expect((await leader.run()).map((item) => item.action)).toEqual(['create', 'create']);
    await leader.close();
    const stored = server.state.objects.get('secrets/secretbind/secretbind-sync-state') as unknown as { data: Record<string, string>; metadata: { labels: Record<string, string> } };
    const text = Buffer.from(stored.data.state!, 'base64').toString('utf8');
    expect(JSON.parse(text).associations).toHaveLength(2);
    expect(text).not.toMatch(/db-pw|key-pw|"key"/);
    expect(stored.metadata.labels['app.kubernetes.io/managed-by']).toBe('secretbind');

    // The standby takes over: its first pass reads the Secret and writes neither a destination entry nor the state.
    destination.resetCounters();
    const stateWrites = () => server.requests.filter((request) => request.method === 'PUT' || request.method === 'POST').length;
    const before = stateWrites();
    const successor = replica();
    expect((await successor.run()).map((item) => item.action)).toEqual(['unchanged', 'unchanged']);
    expect(destination.writes()).toBe(0);
    expect(stateWrites()).toBe(before);
    source.delete('app/api-key');
    expect((await successor.run()).map((item) => [item.entry, item.action, item.outcome])).toEqual([
      ['APP_DB', 'unchanged', 'done'],
      ['APP_API_KEY', 'delete', 'done'],
    ]);
    await successor.close();
  });

  it('a flush over a state another writer moved is a CONFLICT, and the next flush writes over it', async () => {
    const server = await start();
    servers.push(server);
    const kubeconfig = server.kubeconfig(join(mkdtempSync(join(tmpdir(), 'secretbind-state-')), 'config'));
    const store = { name: 'state', type: 'kubernetes', kubeconfig_path: kubeconfig, kubernetes_namespace: 'secretbind' };
    const a = new StoreSyncState({ provider: kubernetes(), store });
    const b = new StoreSyncState({ provider: kubernetes(), store });
    await a.list();
    await b.list();
    const record = { sync: 's', destination: 'd', entry: 'E', status: 'SYNCED' as const, changedAt: new Date(0).toISOString() };
    a.put(record);
    await a.flush();
    b.put({ ...record, entry: 'F' });
    await expect(b.flush()).rejects.toMatchObject({ code: 'CONFLICT' });
    await b.flush();
    const c = new StoreSyncState({ provider: kubernetes(), store });
    expect((await c.list()).map((one) => one.entry)).toEqual(['F']);
  });

  it('the command takes --state kubernetes:NAMESPACE/NAME and refuses anything else of that form', async () => {
    await expect(openState('kubernetes:Bad/x')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    expect(await openState('kubernetes:secretbind/sync-state')).toBeInstanceOf(StoreSyncState);
  });
});
