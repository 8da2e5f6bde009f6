/**
 * Where `secretbind sync` keeps its state: a JSON file (`--state FILE`), or one Kubernetes Secret
 * (`--state kubernetes:NAMESPACE/NAME`) that every replica reads, so a new leader after a failover starts from what
 * the old one wrote.
 */
import { JsonFileSyncState, SecretbindError, StoreSyncState, type SyncStateRepository } from 'secretbind';

const KUBERNETES = /^kubernetes:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

export async function openState(location: string): Promise<SyncStateRepository> {
  if (!location.startsWith('kubernetes:')) return new JsonFileSyncState(location);
  const match = KUBERNETES.exec(location);
  if (!match) throw new SecretbindError('CONFIG_INVALID', `--state ${location}: expected kubernetes:NAMESPACE/NAME (a Secret the daemon may get, list, create and update).`);
  const { kubernetes } = await import('secretbind/providers/kubernetes');
  // The in-cluster service account (or $KUBECONFIG), as the lease finds the API.
  return new StoreSyncState({ provider: kubernetes(), store: { name: 'sync-state', type: 'kubernetes', kubernetes_namespace: match[1]! }, entry: match[3]! });
}
