/**
 * kubernetes: Secrets (core/v1) as a store and a destination, through @kubernetes/client-node (1.x: the newest line
 * that runs on Node 20). Freshness: read live on every lookup; one API client per store configuration. Writes carry
 * the label `app.kubernetes.io/managed-by` and are guarded by `resourceVersion`.
 */
import {
  formatReference,
  guardWrite,
  peerLoader,
  rateBudget,
  SecretbindError,
  settle,
  validateStoreFields,
  WithheldError,
  type EntryInfo,
  type EntryReference,
  type ProviderSettled,
  type ResolveContext,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';

export interface KubernetesOptions {
  /** @kubernetes/client-node itself, instead of importing it. */
  lib?: KubernetesClientModule;
  /** Entries a listing asks for per page. Default: 500. */
  pageSize?: number;
}

/** The parts of @kubernetes/client-node 1.x this provider uses. */
export interface KubernetesClientModule {
  KubeConfig: new () => KubeConfigLike;
  CoreV1Api: unknown;
}
interface KubeConfigLike {
  loadFromFile(path: string): void;
  loadFromDefault(): void;
  setCurrentContext(context: string): void;
  getCurrentContext(): string;
  getContextObject(name: string): { namespace?: string; user?: string; cluster?: string } | null;
  getCurrentUser(): { name?: string } | null;
  getCurrentCluster(): { server?: string } | null;
  makeApiClient<T>(api: unknown): T;
}
interface SecretObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; creationTimestamp?: Date | string };
  data?: Record<string, string>;
  type?: string;
}
/** client-node 1.x's per-call middleware is observable-shaped (its own small stub): `toPromise` and `pipe`. */
interface Observed<T> {
  toPromise(): Promise<T>;
  pipe<U>(next: (value: T) => U | Promise<U>): Observed<U>;
}
type CallOptions = { middleware: Array<{ pre(context: { setSignal(signal: AbortSignal): void }): Observed<unknown>; post(context: unknown): Observed<unknown> }>; middlewareMergeStrategy: 'append' };
interface CoreApi {
  readNamespacedSecret(param: { name: string; namespace: string }, options?: CallOptions): Promise<SecretObject>;
  listNamespacedSecret(param: { namespace: string; limit?: number; _continue?: string }, options?: CallOptions): Promise<{ items: SecretObject[]; metadata?: { _continue?: string } }>;
  createNamespacedSecret(param: { namespace: string; body: SecretObject }, options?: CallOptions): Promise<SecretObject>;
  replaceNamespacedSecret(param: { name: string; namespace: string; body: SecretObject }, options?: CallOptions): Promise<SecretObject>;
  deleteNamespacedSecret(param: { name: string; namespace: string; body?: { preconditions?: { resourceVersion?: string } } }, options?: CallOptions): Promise<unknown>;
}

const TYPE = 'kubernetes';
const INSTALL = 'npm install @kubernetes/client-node@1';
/** The label that marks a Secret as secretbind's; its value is the owner. */
export const OWNER_LABEL = 'app.kubernetes.io/managed-by';
const DEFAULT_KEY = 'password';
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * A provider for `kubernetes` stores (`kubernetes_namespace`, `kubeconfig_path`, `kubernetes_context`). A reference
 * is `namespace/name#key` (the namespace is optional): `db-credentials#password`, `apps/db-credentials#username`.
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [kubernetes()] })
 * // store: { name: 'cluster', type: 'kubernetes', kubernetes_namespace: 'apps' }
 * ```
 */
export function kubernetes(options: KubernetesOptions = {}): SecretProvider {
  const loadClient = peerLoader(TYPE, '@kubernetes/client-node', options.lib, () => import('@kubernetes/client-node') as unknown as Promise<KubernetesClientModule>, INSTALL);
  const clients = new Map<string, Promise<{ api: CoreApi; config: KubeConfigLike }>>();
  const pageSize = options.pageSize ?? 500;

  function clientFor(store: SecretStore): Promise<{ api: CoreApi; config: KubeConfigLike }> {
    const key = JSON.stringify([store.kubeconfig_path, store.kubernetes_context]);
    let found = clients.get(key);
    if (!found) {
      found = (async () => {
        const lib = await loadClient();
        const config = new lib.KubeConfig();
        try {
          // No kubeconfig_path: KUBECONFIG, ~/.kube/config, or the in-cluster service account, as kubectl looks.
          if (typeof store.kubeconfig_path === 'string') config.loadFromFile(store.kubeconfig_path);
          else config.loadFromDefault();
          if (typeof store.kubernetes_context === 'string') config.setCurrentContext(store.kubernetes_context);
        } catch (error) {
          throw new SecretbindError('CONFIG_INVALID', `Kubernetes store ${JSON.stringify(store.name)}: the kubeconfig ${typeof store.kubeconfig_path === 'string' ? store.kubeconfig_path : '(default)'} cannot be used (${(error as Error)?.name ?? 'error'}): check kubeconfig_path and kubernetes_context.`, { storeType: TYPE, cause: new WithheldError(error) });
        }
        return { api: config.makeApiClient<CoreApi>(lib.CoreV1Api), config };
      })();
      clients.set(key, found);
      found.catch(() => clients.delete(key));
    }
    return found;
  }

  async function call<T>(store: SecretStore, ctx: ResolveContext, what: string, run: (api: CoreApi, options: CallOptions) => Promise<T>, kind: 'read' | 'write' = 'read'): Promise<T> {
    const { api } = await clientFor(store);
    // The API server publishes no per-client quota (priority and fairness decide): unlimited unless rate_limit is set.
    const budget = rateBudget(store, {});
    await budget.take(kind, ctx.signal);
    // client-node takes no signal argument; a request middleware hands the deadline's signal to its fetch.
    const options: CallOptions = {
      middleware: [
        {
          pre: (context) => {
            context.setSignal(ctx.signal);
            return observed(context);
          },
          post: (context) => observed(context),
        },
      ],
      middlewareMergeStrategy: 'append',
    };
    try {
      return await run(api, options);
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const mapped = mapError(error, what);
      if (mapped.code === 'RATE_LIMITED') budget.slow(mapped.retryAfterMs);
      throw mapped;
    }
  }

  async function namespaceOf(store: SecretStore): Promise<string> {
    if (typeof store.kubernetes_namespace === 'string') return store.kubernetes_namespace;
    const { config } = await clientFor(store);
    return config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  }

  /** The namespace and Secret name a reference names; `namespace/name` or `name`. */
  async function locate(store: SecretStore, ref: EntryReference): Promise<{ namespace: string; name: string }> {
    checkLocation(ref);
    const [first, second] = ref.segments as [string, string | undefined];
    return second === undefined ? { namespace: await namespaceOf(store), name: first } : { namespace: first, name: second };
  }

  async function read(store: SecretStore, ref: EntryReference, ctx: ResolveContext): Promise<SecretObject> {
    const { namespace, name } = await locate(store, ref);
    return call(store, ctx, `Secret ${namespace}/${name}`, (api, options) => api.readNamespacedSecret({ name, namespace }, options));
  }

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      return valueOf(await read(store, ref, ctx), ref);
    },
    async resolveMany(store, refs, ctx) {
      // Each Secret once, however many keys and accounts use it.
      const secrets = new Map<string, Promise<SecretObject>>();
      for (const ref of refs) {
        const path = ref.segments.join('/');
        if (!secrets.has(path)) {
          const reading = read(store, ref, ctx);
          reading.catch(() => {}); // settled below, per reference; not an unhandled rejection meanwhile
          secrets.set(path, reading);
        }
      }
      const answers = new Map<string, ProviderSettled>();
      for (const ref of refs) answers.set(ref.raw, await settle(async () => valueOf(await secrets.get(ref.segments.join('/'))!, ref)));
      return answers;
    },
    async check(store, ctx) {
      const { config } = await clientFor(store);
      const namespace = await namespaceOf(store);
      await call(store, ctx, `Secrets in ${namespace}`, (api, options) => api.listNamespacedSecret({ namespace, limit: 1 }, options));
      return { context: config.getCurrentContext(), user: config.getCurrentUser()?.name ?? 'unknown', server: config.getCurrentCluster()?.server ?? 'unknown', namespace };
    },
    async list(store, listOptions, ctx) {
      const namespace = await namespaceOf(store);
      const prefix = listOptions.prefix ?? '';
      const entries: EntryInfo[] = [];
      let next: string | undefined;
      do {
        const page = await call(store, ctx, `Secrets in ${namespace}`, (api, options) => api.listNamespacedSecret({ namespace, limit: pageSize, ...(next ? { _continue: next } : {}) }, options));
        for (const secret of page.items) {
          const name = secret.metadata?.name ?? '';
          if (!name.startsWith(prefix) || secret.type === 'kubernetes.io/service-account-token') continue;
          const owner = secret.metadata?.labels?.[OWNER_LABEL];
          entries.push({
            name: formatReference([name]),
            ...(secret.metadata?.resourceVersion ? { version: secret.metadata.resourceVersion } : {}),
            owned: owner !== undefined,
            ...(owner ? { owner } : {}),
            fields: Object.keys(secret.data ?? {}),
          });
        }
        next = page.metadata?._continue || undefined;
      } while (next);
      return entries;
    },
    async write(store, ref, value, writeOptions, ctx) {
      const { namespace, name } = await locate(store, ref);
      const entries = typeof value === 'string' ? { [DEFAULT_KEY]: value } : value;
      for (const key of Object.keys(entries)) {
        if (!SECRET_KEY.test(key)) throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(key)} is not a valid Secret key: keys match [-._a-zA-Z0-9]+.`, { storeType: TYPE });
      }
      const where = `Secret ${namespace}/${name}`;
      let current: SecretObject | undefined;
      try {
        current = await call(store, ctx, where, (api, options) => api.readNamespacedSecret({ name, namespace }, options));
      } catch (error) {
        if ((error as SecretbindError).code !== 'ENTRY_NOT_FOUND') throw error;
      }
      guard(where, current, writeOptions);
      const data = Object.fromEntries(Object.entries(entries).map(([key, text]) => [key, Buffer.from(text, 'utf8').toString('base64')]));
      if (!current) {
        const created = await call(store, ctx, where, (api, options) =>
          api.createNamespacedSecret({ namespace, body: { metadata: { name, namespace, labels: { [OWNER_LABEL]: writeOptions.owner } }, type: 'Opaque', data } }, options), 'write',
        );
        return { version: created.metadata?.resourceVersion ?? '', created: true };
      }
      // Replace with the resourceVersion just read: a change in between is a 409, never a silent overwrite.
      const body: SecretObject = {
        ...current,
        metadata: { ...current.metadata, labels: { ...(current.metadata?.labels ?? {}), [OWNER_LABEL]: writeOptions.owner } },
        data: writeOptions.merge ? { ...(current.data ?? {}), ...data } : data,
      };
      const replaced = await call(store, ctx, where, (api, options) => api.replaceNamespacedSecret({ name, namespace, body }, options), 'write');
      return { version: replaced.metadata?.resourceVersion ?? '', created: false };
    },
    checkName(store, ref) {
      checkLocation(ref);
      // Names come from templates over source data: only the store's namespace may be named in one.
      const [first, second] = ref.segments as [string, string | undefined];
      if (second !== undefined && first !== store.kubernetes_namespace) {
        throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(ref.raw)} would be written in namespace ${JSON.stringify(first)}; sync and migration write only in the store's namespace (${typeof store.kubernetes_namespace === 'string' ? JSON.stringify(store.kubernetes_namespace) : 'kubernetes_namespace is not set'}): change the name template so that a name has no "/".`, { storeType: TYPE });
      }
    },
    adaptName(rendered) {
      // secretbind/central/apps/db -> secretbind-central-apps-db: one Secret name in the store's namespace.
      return rendered.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 253);
    },
    async remove(store, ref, removeOptions, ctx) {
      const { namespace, name } = await locate(store, ref);
      const where = `Secret ${namespace}/${name}`;
      const current = await call(store, ctx, where, (api, options) => api.readNamespacedSecret({ name, namespace }, options));
      guard(where, current, removeOptions);
      await call(store, ctx, where, (api, options) => api.deleteNamespacedSecret({ name, namespace, body: { preconditions: { resourceVersion: current.metadata?.resourceVersion } } }, options), 'write');
    },
    async close() {
      clients.clear();
    },
  };
}

function observed<T>(value: T | Promise<T>): Observed<T> {
  const promise = Promise.resolve(value);
  return { toPromise: () => promise, pipe: (next) => observed(promise.then(next)) };
}

function valueOf(secret: SecretObject, ref: EntryReference): string {
  const key = ref.field ?? DEFAULT_KEY;
  const data = secret.data ?? {};
  if (!Object.hasOwn(data, key)) {
    throw new SecretbindError('FIELD_NOT_FOUND', `Secret ${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''} has no key ${JSON.stringify(key)} (keys: ${Object.keys(data).join(', ') || 'none'}).`, { storeType: TYPE });
  }
  return Buffer.from(data[key]!, 'base64').toString('utf8');
}

function guard(where: string, current: SecretObject | undefined, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }): void {
  guardWrite({ what: where, exists: current !== undefined, owner: current?.metadata?.labels?.[OWNER_LABEL], version: current?.metadata?.resourceVersion, mark: `${OWNER_LABEL} label`, storeType: TYPE }, options);
}

/** The API server's answer as a code: the status, and the Status body's reason where it says more. */
function mapError(error: unknown, what: string): SecretbindError {
  if (error instanceof SecretbindError) return error;
  const code = (error as { code?: unknown }).code;
  let reason: string | undefined;
  try {
    reason = (JSON.parse(String((error as { body?: unknown }).body ?? '')) as { reason?: string }).reason;
  } catch {
    reason = undefined; // a 401 has no body; a proxy's page is not JSON
  }
  const context = { storeType: TYPE, cause: new WithheldError(error) };
  switch (code) {
    case 401:
      return new SecretbindError('AUTH_FAILED', `The Kubernetes API rejected the credentials (401) for ${what}: renew the kubeconfig's token or the service account's.`, context);
    case 403:
      return new SecretbindError('PERMISSION_DENIED', `Kubernetes RBAC forbids this on ${what} (403): grant the verb on "secrets" in that namespace to this service account.`, context);
    case 404:
      return new SecretbindError('ENTRY_NOT_FOUND', `${what} does not exist (404).`, context);
    case 409:
      return new SecretbindError('CONFLICT', `${what} ${reason === 'AlreadyExists' ? 'was created by someone else meanwhile' : 'changed since it was read'} (409 ${reason ?? 'Conflict'}): read it again.`, context);
    case 422:
      return new SecretbindError('REFERENCE_INVALID', `The Kubernetes API refused ${what} as invalid (422): names are DNS-1123 subdomains, keys [-._a-zA-Z0-9]+.`, context);
    case 429:
      return new SecretbindError('RATE_LIMITED', `The Kubernetes API throttled ${what} (429).`, context);
    default:
      if (typeof code === 'number' && code >= 500) return new SecretbindError('BACKEND_UNAVAILABLE', `The Kubernetes API failed with ${code} on ${what}.`, context);
      return new SecretbindError('BACKEND_UNAVAILABLE', `The Kubernetes API is unreachable or failed (${(error as Error)?.name ?? 'error'}) on ${what}.`, { ...context, retryable: true });
  }
}

/** A reference is `name` or `namespace/name`, each a DNS-1123 subdomain: checked before any call. */
function checkLocation(ref: EntryReference): void {
  if (ref.segments.length > 2) throw new SecretbindError('REFERENCE_INVALID', `A kubernetes reference is name or namespace/name, then #key: ${JSON.stringify(ref.raw)} has ${ref.segments.length} path segments.`, { storeType: TYPE });
  const [first, second] = ref.segments as [string, string | undefined];
  const parts = second === undefined ? ([['Secret name', first]] as const) : ([['Secret name', second], ['namespace', first]] as const);
  for (const [what, value] of parts) {
    if (value.length > 253 || !SECRET_NAME.test(value)) {
      throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(value)} is not a valid ${what}: a DNS-1123 subdomain (lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, at most 253).`, { storeType: TYPE });
    }
  }
}

export { kubernetesLease } from './lease.js';
export type { KubernetesLeaseOptions } from './lease.js';
