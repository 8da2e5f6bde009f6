/**
 * Leader election on a Lease in the Kubernetes API stand-in, with the real @kubernetes/client-node: two and three
 * replicas, a leader killed (no release), a leader that loses its lease, a release on stop. Timings are client-go's
 * scaled down (duration 1.2 s, renew deadline 0.8 s, retry 0.15 s) so the suite stays short.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSyncEngine, MemoryBindingRepository, SecretbindError, type SecretEvent, type SyncEngine } from 'secretbind';
import { kubernetesLease } from '../../providers/kubernetes/index.js';
import { memory, type MemoryProvider } from '../../providers/memory/index.js';
import { start, type KubernetesStandIn } from '../servers/kubernetes/index.js';

const TIMING = { leaseDurationSeconds: 1.2, renewDeadlineSeconds: 0.8, retryPeriodSeconds: 0.15 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let server: KubernetesStandIn;
let kubeconfigPath: string;
beforeAll(async () => {
  server = await start();
  kubeconfigPath = server.kubeconfig(join(mkdtempSync(join(tmpdir(), 'secretbind-lease-')), 'config'));
});
afterAll(() => server.stop());

function replicas(count: number, lease: string) {
  const source = memory({ entries: { 'apps/a': 'a-1' } });
  const destination: MemoryProvider = { ...memory(), type: 'memtwo' } as MemoryProvider;
  const events: SecretEvent[] = [];
  return Array.from({ length: count }, (_, index) => {
    const elector = kubernetesLease({ namespace: 'apps', name: lease, identity: `replica-${index}`, kubeconfigPath, ...TIMING, onEvent: (event) => events.push(event) });
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
    const engine: SyncEngine = createSyncEngine({ repository, providers: [source, destination], definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst' }] });
    return { elector, engine, source, destination, events };
  });
}

function leaseOf(name: string): { holderIdentity?: string; leaseTransitions?: number; renewTime?: string } {
  return ((server.state.objects.get(`leases/apps/${name}`) as { spec?: Record<string, unknown> } | undefined)?.spec ?? {}) as never;
}

describe('Leader election on a Lease', () => {
  it('three replicas: exactly one leads and writes; killing it hands over after the lease duration, not before', async () => {
    const group = replicas(3, 'three');
    for (const replica of group) await replica.engine.start({ intervalMs: 100, jitter: 0, watch: false, leader: replica.elector });
    let leaders: number[] = [];
    for (let sample = 0; sample < 20; sample++) {
      await sleep(50);
      leaders = group.flatMap((replica, index) => (replica.elector.isLeader() ? [index] : []));
      expect(leaders.length).toBeLessThanOrEqual(1);
    }
    expect(leaders).toHaveLength(1);
    const leader = group[leaders[0]!]!;
    expect(leaseOf('three').holderIdentity).toBe(leader.elector.identity);
    expect(group.map((replica) => replica.engine.loopState().role).sort()).toEqual(['leader', 'standby', 'standby']);
    expect(leader.destination.writes()).toBe(1);

    // Kill the leader: it stops renewing and releases nothing, as a crashed process would.
    const killedAt = performance.now();
    await leader.elector.stop({ release: false });
    await leader.engine.stop();
    leader.source.rotate('apps/a', 'a-2');
    let takeover = 0;
    while (takeover === 0) {
      await sleep(20);
      if (group.some((replica) => replica !== leader && replica.elector.isLeader())) takeover = performance.now() - killedAt;
      if (performance.now() - killedAt > 5000) throw new Error('no takeover');
    }
    expect(takeover).toBeGreaterThanOrEqual(TIMING.leaseDurationSeconds * 1000 - 50);
    expect(takeover).toBeLessThan((TIMING.leaseDurationSeconds + 3 * TIMING.retryPeriodSeconds) * 1000 + 300);
    const next = group.find((replica) => replica.elector.isLeader())!;
    await sleep(300);
    expect(next.destination.writes()).toBe(2); // the new leader synced the change; one write for it
    expect(leaseOf('three').leaseTransitions).toBe(1);
    for (const replica of group) await replica.engine.close();
  });

  it('two replicas: a leader stopping releases the lease and the standby takes over within a retry period or two', async () => {
    const group = replicas(2, 'two');
    for (const replica of group) await replica.engine.start({ intervalMs: 100, jitter: 0, watch: false, leader: replica.elector });
    await sleep(400);
    const leader = group.find((replica) => replica.elector.isLeader())!;
    const standby = group.find((replica) => replica !== leader)!;
    const stoppedAt = performance.now();
    await leader.engine.stop();
    expect(leaseOf('two').holderIdentity).toBe('');
    while (!standby.elector.isLeader()) {
      await sleep(10);
      if (performance.now() - stoppedAt > 2000) throw new Error('no takeover');
    }
    expect(performance.now() - stoppedAt).toBeLessThan(3 * TIMING.retryPeriodSeconds * 1000 + 200);
    for (const replica of group) await replica.engine.close();
  });

  it('a leader whose lease is taken stops writing at its next renewal, well before its renew deadline', async () => {
    const [only] = replicas(1, 'taken');
    await only!.engine.start({ intervalMs: 50, jitter: 0, watch: false, leader: only!.elector });
    await sleep(300);
    expect(only!.elector.isLeader()).toBe(true);
    // Another holder writes the Lease (as a replica elsewhere would after a partition).
    const stored = server.state.objects.get('leases/apps/taken') as unknown as { spec: Record<string, unknown>; metadata: { resourceVersion: string } };
    stored.spec = { ...stored.spec, holderIdentity: 'elsewhere', renewTime: new Date(Date.now()).toISOString().replace('Z', '000Z') };
    stored.metadata.resourceVersion = server.state.nextVersion();
    await sleep(TIMING.retryPeriodSeconds * 1000 * 2 + 100);
    expect(only!.elector.isLeader()).toBe(false);
    expect(only!.engine.loopState().role).toBe('standby');
    const writes = only!.destination.writes();
    only!.source.rotate('apps/a', 'a-3');
    await sleep(300);
    expect(only!.destination.writes()).toBe(writes);
    expect(only!.events).toContainEqual(expect.objectContaining({ kind: 'sync', message: 'Stopped leading' }));
    await only!.engine.close();
  });

  it('stops leading when renewals fail for the renew deadline, before the lease could be taken', async () => {
    const [only] = replicas(1, 'unreachable');
    await only!.engine.start({ intervalMs: 50, jitter: 0, watch: false, leader: only!.elector });
    await sleep(300);
    expect(only!.elector.isLeader()).toBe(true);
    server.state.mode.unavailable = 1_000;
    const cutAt = performance.now();
    while (only!.elector.isLeader()) await sleep(10);
    const stoppedAfter = performance.now() - cutAt;
    server.state.mode.unavailable = 0;
    expect(stoppedAfter).toBeLessThan(TIMING.renewDeadlineSeconds * 1000 + 50);
    expect(stoppedAfter).toBeLessThan(TIMING.leaseDurationSeconds * 1000);
    await only!.engine.close();
  });

  it('refuses timings where a deposed leader could still write after a takeover', () => {
    expect(() => kubernetesLease({ namespace: 'apps', name: 'x', leaseDurationSeconds: 10, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 })).toThrow(SecretbindError);
  });
});
