/**
 * vault: secrets from HashiCorp Vault's KV engine (v1 and v2), through node-vault with a transport of ours.
 * Peer: node-vault. Freshness: read live on every lookup; only the auth token is kept (one login per store,
 * renewed before two thirds of its TTL). Concurrent identical lookups share one request; bulk reads each path once.
 */
import { readFileSync } from 'node:fs';
import {
  credentialFingerprint,
  forEachLimit,
  peerLoader,
  SecretbindError,
  settle,
  validateStoreFields,
  type EntryReference,
  type EntrySettled,
  type ProviderSettled,
  type ResolveContext,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';
import { statusOf, VaultSession, type NodeVaultFactory, type VaultBody } from './session.js';
import { createTransport } from './transport.js';
import { listSecrets, removeSecret, writeSecret } from './writes.js';

export type { NodeVaultFactory } from './session.js';

export interface VaultOptions {
  /** Where `vault_token_env`, `vault_role_id_env` and `vault_secret_id_env` are looked up. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The clock for token TTLs and renewal, in milliseconds. Default: `Date.now`. */
  now?: () => number;
  /** Retries of a 429, 500, 502, 503 or network failure, inside the resolver's deadline. 0 disables. Default: 2. */
  retries?: number;
  /** The first retry's base delay in milliseconds; doubled each time, with jitter; `Retry-After` wins. Default: 100. */
  retryBaseMs?: number;
  /**
   * How long a login or token renewal may take, in milliseconds. It is shared by every lookup waiting for it and
   * runs under this deadline rather than the first caller's. Default: 30000.
   */
  loginTimeoutMs?: number;
  /** Paths read at once in a bulk lookup. Default: 8. */
  concurrency?: number;
  /** node-vault itself, instead of importing it. */
  lib?: NodeVaultFactory;
}

const TYPE = 'vault';
const DEFAULT_MOUNT = 'secret';
const DEFAULT_FIELD = 'password';

/**
 * A provider for `vault` stores (`vault_url`, `vault_mount_point`, `vault_kv_version`, `vault_auth_method`...).
 * A reference is the path under the store's mount and a JSON key: `kv/prod/checkmk#password` with mount `secret`
 * and KV v2 reads `secret/data/kv/prod/checkmk`. The mount always comes from the store, never from the reference.
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [vault()] })
 * ```
 */
export function vault(options: VaultOptions = {}): SecretProvider {
  const loadNodeVault = peerLoader(TYPE, 'node-vault', options.lib, () => import('node-vault').then((module) => ((module as { default?: unknown }).default ?? module) as NodeVaultFactory), 'npm install node-vault@0.12');
  const sessions = new Map<string, Promise<VaultSession>>();

  const sessionKey = (store: SecretStore): string =>
    JSON.stringify([store.name, store.vault_url, store.vault_namespace, store.vault_auth_method, store.vault_auth_mount, store.vault_token_env, store.vault_role_id_env, store.vault_secret_id_env, store.vault_role, store.vault_jwt_path, store.vault_ca_path, credentialFingerprint(store.vault_token, store.vault_role_id, store.vault_secret_id)]);

  function session(store: SecretStore): Promise<VaultSession> {
    const key = sessionKey(store);
    let found = sessions.get(key);
    if (!found) {
      found = open(store);
      sessions.set(key, found);
      found.catch(() => sessions.delete(key));
    }
    return found;
  }

  async function open(store: SecretStore): Promise<VaultSession> {
    const factory = await loadNodeVault();
    let ca: Buffer | undefined;
    if (typeof store.vault_ca_path === 'string') {
      try {
        ca = readFileSync(store.vault_ca_path);
      } catch (error) {
        throw new SecretbindError('CONFIG_INVALID', `Vault store ${JSON.stringify(store.name)}: vault_ca_path ${store.vault_ca_path} cannot be read.`, { storeType: TYPE, cause: error });
      }
    }
    const transport = createTransport({ ca });
    const client = factory({
      apiVersion: 'v1',
      endpoint: String(store.vault_url),
      ...(typeof store.vault_namespace === 'string' ? { namespace: store.vault_namespace } : {}),
      'request-promise': transport,
      // LIST as GET ?list=1, which Vault treats alike; proxies and Node's own HTTP parser refuse the LIST verb.
      noCustomHTTPVerbs: true,
      // node-vault would otherwise fall back to VAULT_TOKEN; credentials come from the variables the store names.
      token: undefined,
      // node-vault's own debug output (DEBUG=node-vault) prints request bodies: an AppRole secret_id, a Kubernetes
      // JWT, values written. Library code never prints; what matters reaches the event hook instead.
      debug: silentDebug,
    });
    client.token = undefined;
    return new VaultSession(store, client, transport, { env: options.env ?? process.env, now: options.now ?? Date.now, retries: options.retries ?? 2, retryBaseMs: options.retryBaseMs ?? 100, loginTimeoutMs: options.loginTimeoutMs ?? 30_000 });
  }

  /** The secret's key-value data at the reference's path. */
  async function readSecret(store: SecretStore, ref: EntryReference, ctx: ResolveContext): Promise<Record<string, unknown>> {
    const path = kvPath(store, ref);
    let body: VaultBody;
    try {
      body = await (await session(store)).read(path, ctx);
    } catch (error) {
      if (statusOf(error) === 404) throw notFound(path, (error as { response?: { body?: VaultBody } }).response?.body);
      throw error;
    }
    const data = kvVersion(store) === 2 ? (body.data?.data as Record<string, unknown> | null | undefined) : body.data;
    if (!data || typeof data !== 'object') throw notFound(path, body);
    return data;
  }

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      return field(await readSecret(store, ref, ctx), ref);
    },
    async resolveMany(store, refs, ctx) {
      // Each path once, however many fields and accounts use it.
      const byPath = new Map<string, EntryReference[]>();
      for (const ref of refs) {
        const path = kvPath(store, ref);
        byPath.set(path, [...(byPath.get(path) ?? []), ref]);
      }
      const answers = new Map<string, ProviderSettled>();
      await forEachLimit([...byPath.values()], options.concurrency ?? 8, async (group) => {
        let data: Record<string, unknown>;
        try {
          data = await readSecret(store, group[0]!, ctx);
        } catch (error) {
          for (const ref of group) answers.set(ref.raw, { ok: false, error: error as SecretbindError });
          return;
        }
        for (const ref of group) answers.set(ref.raw, await settle(() => field(data, ref)));
      });
      return answers;
    },
    async readEntries(store, refs, ctx) {
      const answers = new Map<string, EntrySettled>();
      await forEachLimit(refs, options.concurrency ?? 8, async (ref) => {
        try {
          const data = await readSecret(store, ref, ctx);
          answers.set(ref.raw, { ok: true, value: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)])) });
        } catch (error) {
          answers.set(ref.raw, { ok: false, error: error as SecretbindError });
        }
      });
      return answers;
    },
    async check(store, ctx) {
      const current = await session(store);
      const health = await current.health(ctx);
      if (health.sealed === true) throw new SecretbindError('BACKEND_UNAVAILABLE', `Vault at ${String(store.vault_url)} is sealed: unseal it.`, { storeType: TYPE });
      const token = (await current.lookupSelf(ctx)).data ?? {};
      return {
        version: String(health.version ?? 'unknown'),
        sealed: false,
        standby: health.standby === true,
        authMethod: current.method,
        tokenTtlSeconds: Number(token.ttl ?? 0),
        renewable: token.renewable === true,
        policies: Array.isArray(token.policies) ? token.policies.map(String) : [],
      };
    },
    async list(store, listOptions, ctx) {
      return listSecrets(await session(store), store, listOptions, ctx, pathOf);
    },
    async write(store, name, value, writeOptions, ctx) {
      return writeSecret(await session(store), store, name, value, writeOptions, ctx, pathOf);
    },
    checkName(store, name) {
      pathOf(store, name.segments, 'data', name.raw);
    },
    reauthenticate(store) {
      // The next call opens a new session: a fresh login (AppRole, Kubernetes) or the token read again.
      const key = sessionKey(store);
      const old = sessions.get(key);
      sessions.delete(key);
      old?.then((stale) => stale.close(), () => {});
    },
    async remove(store, name, removeOptions, ctx) {
      await removeSecret(await session(store), store, name, removeOptions, ctx, pathOf);
    },
    async close() {
      const open = [...sessions.values()];
      sessions.clear();
      for (const pending of open) pending.then((current) => current.close(), () => {});
    },
  };
}

function silentDebug(): void {}

function kvVersion(store: SecretStore): 1 | 2 {
  return store.vault_kv_version === 1 ? 1 : 2;
}

/**
 * `kv/prod/checkmk` under mount `secret`: `secret/data/kv/prod/checkmk` (v2) or `secret/kv/prod/checkmk` (v1).
 * A reference can never leave the store's mount: `.` and `..` segments are refused (encodeURIComponent leaves them
 * alone and URL parsing would resolve them), and the URL node-vault will build is checked to stay under the mount.
 */
export function kvPath(store: SecretStore, ref: EntryReference): string {
  return pathOf(store, ref.segments, 'data', ref.raw);
}

/**
 * The encoded path of secret segments for a kind of endpoint: `data` (read, write), `metadata` (KV v2 metadata),
 * `folder` (a LIST, ending in `/`). KV v1 has one path for all of them.
 */
export function pathOf(store: SecretStore, segments: readonly string[], kind: 'data' | 'metadata' | 'folder', raw = segments.join('/')): string {
  const mount = typeof store.vault_mount_point === 'string' ? store.vault_mount_point : DEFAULT_MOUNT;
  for (const segment of segments) {
    if (segment.includes('/')) {
      throw new SecretbindError('REFERENCE_INVALID', `Vault reference ${JSON.stringify(raw)} has a "/" inside a name; Vault paths split on every "/", so a name cannot hold one.`, { storeType: TYPE });
    }
    if (segment === '.' || segment === '..') {
      throw new SecretbindError('REFERENCE_INVALID', `Vault reference ${JSON.stringify(raw)} has a "${segment}" path segment; references name a secret under the store's mount and cannot leave it.`, { storeType: TYPE });
    }
  }
  const path = segments.map(encodeURIComponent).join('/');
  const v2 = kvVersion(store) === 2;
  const area = v2 ? (kind === 'data' ? 'data/' : 'metadata/') : '';
  const full = kind === 'folder' ? `${mount}/${area}${path ? `${path}/` : ''}` : `${mount}/${area}${path}`;
  assertUnderMount(store, mount, full, raw);
  return full;
}

/** Builds the URL as node-vault does (`endpoint/v1/path`) and checks its normalised path is still under the mount. */
function assertUnderMount(store: SecretStore, mount: string, path: string, raw: string): void {
  const endpoint = String(store.vault_url).replace(/\/+$/, '');
  const expected = new URL(`${endpoint}/v1/${mount}/`).pathname;
  const actual = new URL(`${endpoint}/v1/${path}`).pathname;
  if (!actual.startsWith(expected)) {
    throw new SecretbindError('REFERENCE_INVALID', `Vault reference ${JSON.stringify(raw)} would leave mount ${JSON.stringify(mount)}; check the reference and vault_mount_point.`, { storeType: TYPE });
  }
}

/** The key's value; non-string values come back as JSON text. */
function field(data: Record<string, unknown>, ref: EntryReference): string {
  const key = ref.field ?? DEFAULT_FIELD;
  if (!Object.prototype.hasOwnProperty.call(data, key)) {
    throw new SecretbindError('FIELD_NOT_FOUND', `The Vault secret ${JSON.stringify(ref.segments.join('/'))} has no key ${JSON.stringify(key)} (keys: ${Object.keys(data).join(', ') || 'none'}).`, { storeType: TYPE });
  }
  const value = data[key];
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function notFound(path: string, body: VaultBody | undefined): SecretbindError {
  const metadata = (body?.data as { metadata?: { deletion_time?: string; destroyed?: boolean; version?: number } } | undefined)?.metadata;
  if (metadata?.destroyed) return new SecretbindError('ENTRY_NOT_FOUND', `Version ${metadata.version} of ${path} was destroyed; write a new version or read an older one.`, { storeType: TYPE });
  if (metadata?.deletion_time) return new SecretbindError('ENTRY_NOT_FOUND', `Version ${metadata.version} of ${path} was deleted at ${metadata.deletion_time}; undelete it or write a new version.`, { storeType: TYPE });
  return new SecretbindError('ENTRY_NOT_FOUND', `No Vault secret at ${path} (or the mount does not exist).`, { storeType: TYPE });
}
