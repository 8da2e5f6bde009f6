/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it (client-node has no helper): campaign every
 * retry period; take the Lease when it is unheld or its holder has not renewed it for a lease duration (measured on
 * our clock from when we saw it change, so clock skew between replicas does not matter); renew it every retry period;
 * stop leading as soon as a renewal has not succeeded for the renew deadline, which is shorter than the duration, so
 * a deposed leader stops writing before anyone else can take over.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { peerLoader, SecretbindError, type LeaderElector, type SyncEvent } from 'secretbind';

export interface KubernetesLeaseOptions {
  namespace: string;
  name: string;
  /** This replica's identity in the Lease. Default: host name and a random id. */
  identity?: string;
  /** Seconds a Lease stays valid without renewal. Default: 15 (client-go). */
  leaseDurationSeconds?: number;
  /** Seconds a leader keeps leading while renewals fail. Default: 10 (client-go); less than the duration. */
  renewDeadlineSeconds?: number;
  /** Seconds between attempts to acquire or renew. Default: 2 (client-go). */
  retryPeriodSeconds?: number;
  /** The kubeconfig file; default: KUBECONFIG, ~/.kube/config or in-cluster. */
  kubeconfigPath?: string;
  context?: string;
  /** @kubernetes/client-node itself (tests, bundlers). */
  lib?: unknown;
  onEvent?: (event: SyncEvent) => void;
  /** The clock, in milliseconds. Default: Date.now. */
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: Date | string;
  renewTime?: Date | string;
  leaseTransitions?: number;
}
interface LeaseObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}
interface CoordinationApi {
  readNamespacedLease(param: { name: string; namespace: string }): Promise<LeaseObject>;
  createNamespacedLease(param: { namespace: string; body: LeaseObject }): Promise<LeaseObject>;
  replaceNamespacedLease(param: { name: string; namespace: string; body: LeaseObject }): Promise<LeaseObject>;
}
interface LeaseClientModule {
  KubeConfig: new () => { loadFromFile(path: string): void; loadFromDefault(): void; setCurrentContext(name: string): void; makeApiClient<T>(api: unknown): T };
  CoordinationV1Api: unknown;
  V1MicroTime: new (time: number) => Date;
}

/**
 * A {@link LeaderElector} on a Kubernetes Lease, for `engine.start({ leader })` with several replicas.
 *
 * @example
 * ```ts
 * await engine.start({ leader: kubernetesLease({ namespace: 'secretbind', name: 'secretbind-sync' }) })
 * ```
 */
export function kubernetesLease(options: KubernetesLeaseOptions): LeaderElector & { readonly identity: string; stop(options?: { release?: boolean }): Promise<void> } {
  const duration = options.leaseDurationSeconds ?? 15;
  const renewDeadline = options.renewDeadlineSeconds ?? 10;
  const retryPeriod = options.retryPeriodSeconds ?? 2;
  if (!(duration > renewDeadline && renewDeadline > retryPeriod && retryPeriod > 0)) {
    throw new SecretbindError('CONFIG_INVALID', `Leader election needs lease duration (${duration} s) > renew deadline (${renewDeadline} s) > retry period (${retryPeriod} s) > 0, so a deposed leader stops before another can take over.`);
  }
  const identity = options.identity ?? `${hostname()}_${randomUUID()}`;
  const now = options.now ?? Date.now;
  const load = peerLoader('kubernetes', '@kubernetes/client-node', options.lib as LeaseClientModule | undefined, () => import('@kubernetes/client-node') as unknown as Promise<LeaseClientModule>, 'npm install @kubernetes/client-node@1');
  let api: Promise<{ api: CoordinationApi; lib: LeaseClientModule }> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let leading = false;
  let renewedAt = 0;
  let observed: { key: string; at: number } | undefined;
  let ticking: Promise<void> | undefined;

  const emit = (level: SyncEvent['level'], message: string, detail: Record<string, string | number | boolean> = {}): void => {
    try {
      options.onEvent?.({ source: 'Secrets', kind: 'sync', level, message, detail: { lease: `${options.namespace}/${options.name}`, identity, ...detail } });
    } catch {
      // a failing listener does not stop the election
    }
  };

  function client(): Promise<{ api: CoordinationApi; lib: LeaseClientModule }> {
    api ??= (async () => {
      const lib = await load();
      const config = new lib.KubeConfig();
      if (options.kubeconfigPath) config.loadFromFile(options.kubeconfigPath);
      else config.loadFromDefault();
      if (options.context) config.setCurrentContext(options.context);
      return { api: config.makeApiClient<CoordinationApi>(lib.CoordinationV1Api), lib };
    })();
    api.catch(() => (api = undefined));
    return api;
  }

  const isLeader = (): boolean => leading && now() - renewedAt < renewDeadline * 1000;

  function setLeading(value: boolean, why: string): void {
    if (value === leading) return;
    leading = value;
    emit(value ? 'info' : 'warn', value ? 'Became the leader' : 'Stopped leading', { why });
  }

  async function tick(): Promise<void> {
    try {
      const { api: coordination, lib } = await client();
      const time = (): Date => new lib.V1MicroTime(now());
      let lease: LeaseObject | undefined;
      try {
        lease = await coordination.readNamespacedLease({ name: options.name, namespace: options.namespace });
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      if (!lease) {
        await coordination.createNamespacedLease({ namespace: options.namespace, body: { metadata: { name: options.name, namespace: options.namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: time(), renewTime: time(), leaseTransitions: 0 } } });
        renewedAt = now();
        setLeading(true, 'created the lease');
        return;
      }
      const spec = lease.spec ?? {};
      const key = JSON.stringify([spec.holderIdentity, String(spec.renewTime ?? ''), spec.leaseTransitions]);
      if (observed?.key !== key) observed = { key, at: now() };
      const held = spec.holderIdentity !== undefined && spec.holderIdentity !== '';
      const expired = now() >= observed.at + (spec.leaseDurationSeconds ?? duration) * 1000;
      if (spec.holderIdentity === identity) {
        await coordination.replaceNamespacedLease({ name: options.name, namespace: options.namespace, body: { metadata: { ...lease.metadata }, spec: { ...spec, leaseDurationSeconds: duration, renewTime: time() } } });
        renewedAt = now();
        setLeading(true, 'renewed');
      } else if (!held || expired) {
        await coordination.replaceNamespacedLease({
          name: options.name,
          namespace: options.namespace,
          body: { metadata: { ...lease.metadata }, spec: { holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: time(), renewTime: time(), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } },
        });
        renewedAt = now();
        setLeading(true, held ? `took over from ${spec.holderIdentity}` : 'the lease was free');
      } else {
        setLeading(false, `held by ${spec.holderIdentity}`);
      }
    } catch (error) {
      // 409: someone else wrote the Lease first; anything else: the API could not be reached. Either way a leader
      // keeps leading only until its renew deadline passes.
      if (statusOf(error) === 409) setLeading(false, 'another replica won the lease');
      else if (leading && !isLeader()) setLeading(false, 'could not renew within the renew deadline');
    }
  }

  function schedule(): void {
    if (!running) return;
    timer = setTimeout(() => {
      ticking = tick().finally(schedule);
    }, retryPeriod * 1000);
    timer.unref?.();
  }

  return {
    identity,
    start() {
      if (running) return;
      running = true;
      ticking = tick().finally(schedule);
    },
    isLeader,
    async stop(stopOptions: { release?: boolean } = {}) {
      running = false;
      clearTimeout(timer);
      await ticking;
      if (!leading) return;
      leading = false;
      if (stopOptions.release === false) return;
      // Release as client-go does: no holder, a one-second duration, so a standby takes over at once.
      try {
        const { api: coordination, lib } = await client();
        const lease = await coordination.readNamespacedLease({ name: options.name, namespace: options.namespace });
        if (lease.spec?.holderIdentity === identity) {
          await coordination.replaceNamespacedLease({ name: options.name, namespace: options.namespace, body: { metadata: { ...lease.metadata }, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new lib.V1MicroTime(now()) } } });
        }
        emit('info', 'Released the lease');
      } catch {
        emit('warn', 'Could not release the lease; it expires after its duration');
      }
    },
  };
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}
