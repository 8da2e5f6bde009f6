/**
 * A Vault-API stand-in on 127.0.0.1 (HTTP, or HTTPS with a certificate given by the test): KV v1 and v2 mounts with
 * versions, soft delete and destroy; tokens with TTLs on a controllable clock and policies as path allow-lists;
 * lookup-self and renew-self; AppRole and Kubernetes login; namespaces by header; modes for sealed, 429 with
 * Retry-After, 500, latency and a hang; a request log. Bodies follow the reference notes on the Vault API (examples and error table kept in test/fixtures/reference/vault.json).
 *
 * KV v2 also answers writes with `cas`, metadata (read, replace custom_metadata, delete) and listing; KV v1 writes,
 * deletes and lists, as the reference notes' "Writes, metadata and listing" section describes.
 *
 * Departures from real Vault: policies are plain path globs (`secret/data/kv/*`), not HCL with capabilities; tokens
 * are opaque `hvs.` strings; a namespace is a prefix on mount paths; listing is answered for GET `?list=` only, not
 * for the LIST verb (Node's HTTP parser refuses unknown verbs; the provider sends GET `?list=1`, which Vault treats
 * alike); PATCH is not answered; `max_versions` and `cas_required` are not enforced.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface TokenRecord {
  policies: string[];
  /** Seconds; 0 never expires (a root token). */
  ttl: number;
  renewable: boolean;
  expiresAt: number;
  issuedAt: number;
}

interface SecretVersion {
  data: Record<string, unknown> | null;
  createdAt: number;
  deletedAt: number | undefined;
  destroyed: boolean;
}

interface Mount {
  version: 1 | 2;
  secrets: Map<string, SecretVersion[]>;
  /** KV v2 metadata beside the versions: custom_metadata and times (a path can have metadata and no version yet). */
  metadata: Map<string, { custom: Record<string, string> | null; createdAt: number; updatedAt: number }>;
}

export interface RequestRecord {
  method: string;
  path: string;
  namespace: string | undefined;
  status: number;
  /** The X-Vault-Token the request carried. */
  token: string | undefined;
}

export interface VaultStandIn {
  url: string;
  requests: RequestRecord[];
  /** Requests whose path starts with `prefix` (e.g. `/v1/secret/data/`), optionally with a method. */
  count(prefix: string, method?: string): number;
  state: VaultState;
  stop(): Promise<void>;
}

/** Everything the stand-in knows; tests arrange it directly. */
export class VaultState {
  /** The stand-in's clock in seconds; tests advance it (and the provider's clock) instead of sleeping. */
  now = 1_762_000_000;
  readonly mounts = new Map<string, Mount>();
  readonly policies = new Map<string, string[]>([['root', ['*']]]);
  readonly tokens = new Map<string, TokenRecord>();
  readonly approles = new Map<string, Map<string, { secretId: string; policies: string[]; ttl: number }>>();
  readonly kubernetesRoles = new Map<string, Map<string, { jwt: string; policies: string[]; ttl: number }>>();
  readonly logins = { approle: 0, kubernetes: 0 };
  mode: {
    sealed?: boolean;
    rateLimit?: { times: number; retryAfterSeconds: number };
    failures?: { times: number; status: 500 | 502 };
    /** Answer the next requests with this status and body (for statuses no other mode produces). */
    respond?: { times: number; status: number; body: unknown };
    latencyMs?: number;
    /** Requests that get no answer at all. */
    hang?: number;
  } = {};

  addMount(path: string, version: 1 | 2, namespace?: string): void {
    this.mounts.set(key(namespace, path), { version, secrets: new Map(), metadata: new Map() });
  }

  putSecret(mount: string, path: string, data: Record<string, unknown>, namespace?: string): number {
    const versions = this.#mount(mount, namespace).secrets.get(path) ?? [];
    versions.push({ data, createdAt: this.now, deletedAt: undefined, destroyed: false });
    this.#mount(mount, namespace).secrets.set(path, versions);
    return versions.length;
  }

  /** KV v2 soft delete of the latest (or a given) version. */
  deleteVersion(mount: string, path: string, version?: number, namespace?: string): void {
    const versions = this.#mount(mount, namespace).secrets.get(path)!;
    versions[(version ?? versions.length) - 1]!.deletedAt = this.now;
  }

  destroyVersion(mount: string, path: string, version?: number, namespace?: string): void {
    const versions = this.#mount(mount, namespace).secrets.get(path)!;
    const record = versions[(version ?? versions.length) - 1]!;
    record.destroyed = true;
    record.data = null;
  }

  createToken(options: { policies?: string[]; ttl?: number; renewable?: boolean } = {}): string {
    const token = `hvs.${randomUUID().replace(/-/g, '')}`;
    const ttl = options.ttl ?? 0;
    this.tokens.set(token, { policies: options.policies ?? ['root'], ttl, renewable: options.renewable ?? false, expiresAt: this.now + ttl, issuedAt: this.now });
    return token;
  }

  addAppRole(mount: string, roleId: string, secretId: string, policies: string[], ttl = 3600): void {
    if (!this.approles.has(mount)) this.approles.set(mount, new Map());
    this.approles.get(mount)!.set(roleId, { secretId, policies, ttl });
  }

  addKubernetesRole(mount: string, role: string, jwt: string, policies: string[], ttl = 3600): void {
    if (!this.kubernetesRoles.has(mount)) this.kubernetesRoles.set(mount, new Map());
    this.kubernetesRoles.get(mount)!.set(role, { jwt, policies, ttl });
  }

  tokenValid(token: string | undefined): TokenRecord | undefined {
    const record = token === undefined ? undefined : this.tokens.get(token);
    if (!record) return undefined;
    return record.ttl === 0 || this.now < record.expiresAt ? record : undefined;
  }

  allows(record: TokenRecord, path: string): boolean {
    return record.policies.some((policy) => (this.policies.get(policy) ?? []).some((pattern) => (pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern)));
  }

  #mount(mount: string, namespace?: string): Mount {
    const found = this.mounts.get(key(namespace, mount));
    if (!found) throw new Error(`no mount ${mount}`);
    return found;
  }
}

const key = (namespace: string | undefined, path: string): string => `${namespace ?? ''}\u0000${path}`;

/** Error bodies exactly as the reference shows them. */
export const ERROR_BODIES = {
  missingToken: { errors: ['missing client token'] },
  permissionDenied: { errors: ['permission denied'] },
  notFound: { errors: [] as string[] },
  internal: { errors: ['1 error occurred:\n\t* internal error\n\n'] },
  sealed: { errors: ['Vault is sealed'] },
  rateLimited: (path: string) => ({ errors: [`request path "${path}": rate limit quota exceeded`] }),
};

export async function start(options: { tls?: { key: string; cert: string } } = {}): Promise<VaultStandIn> {
  const state = new VaultState();
  const requests: RequestRecord[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    void handle(state, request, response, requests);
  };
  const server: Server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler) : createHttpServer(handler);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    count: (prefix, method) => requests.filter((record) => record.path.startsWith(prefix) && (!method || record.method === method)).length,
    state,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy(); // hung requests included
        server.close(() => resolve());
      }),
  };
}

async function handle(state: VaultState, request: IncomingMessage, response: ServerResponse, requests: RequestRecord[]): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://stand-in');
  const namespace = header(request, 'x-vault-namespace');
  const token = header(request, 'x-vault-token');
  const body = await readJson(request);
  const reply = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
    requests.push({ method: request.method ?? 'GET', path: url.pathname, namespace, status, token });
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(payload === undefined ? '' : JSON.stringify(payload));
  };

  if (state.mode.hang && state.mode.hang > 0) {
    state.mode.hang--;
    return; // never answers; the client's deadline must end it
  }
  if (state.mode.latencyMs) await new Promise((resolve) => setTimeout(resolve, state.mode.latencyMs));
  const path = url.pathname;
  if (path === '/v1/sys/health') {
    const sealed = Boolean(state.mode.sealed);
    return reply(sealed ? 503 : 200, { initialized: true, sealed, standby: false, performance_standby: false, replication_performance_mode: 'disabled', replication_dr_mode: 'disabled', server_time_utc: state.now, version: '1.15.6', cluster_name: 'vault-stand-in', cluster_id: 'stand-in' });
  }
  if (state.mode.sealed) return reply(503, ERROR_BODIES.sealed);
  if (state.mode.rateLimit && state.mode.rateLimit.times > 0) {
    state.mode.rateLimit.times--;
    return reply(429, ERROR_BODIES.rateLimited(path.replace(/^\/v1\//, '')), { 'retry-after': String(state.mode.rateLimit.retryAfterSeconds) });
  }
  if (state.mode.failures && state.mode.failures.times > 0) {
    state.mode.failures.times--;
    return reply(state.mode.failures.status, state.mode.failures.status === 500 ? ERROR_BODIES.internal : { errors: ['1 error occurred:\n\t* upstream error\n\n'] });
  }

  if (state.mode.respond && state.mode.respond.times > 0) {
    state.mode.respond.times--;
    return reply(state.mode.respond.status, state.mode.respond.body);
  }

  const login = /^\/v1\/auth\/(.+)\/login$/.exec(path);
  if (login && request.method === 'POST') return reply(...loginResponse(state, login[1]!, body));
  if (path === '/v1/auth/token/lookup-self') {
    const record = state.tokenValid(token);
    if (!token) return reply(400, ERROR_BODIES.missingToken);
    if (!record) return reply(403, ERROR_BODIES.permissionDenied);
    return reply(200, envelope({ data: tokenData(state, token, record) }));
  }
  if (path === '/v1/auth/token/renew-self' && request.method === 'POST') {
    const record = state.tokenValid(token);
    if (!record) return reply(403, ERROR_BODIES.permissionDenied);
    if (!record.renewable) return reply(400, { errors: ['lease is not renewable'] });
    record.expiresAt = state.now + record.ttl;
    return reply(200, envelope({ auth: auth(token!, record) }));
  }

  const relative = path.replace(/^\/v1\//, '').split('/').map(decodeURIComponent).join('/');
  const mountName = [...state.mounts.keys()]
    .filter((name) => name.startsWith(`${namespace ?? ''}\u0000`))
    .map((name) => name.split('\u0000')[1]!)
    .filter((name) => relative.startsWith(`${name}/`))
    .sort((a, b) => b.length - a.length)[0];
  if (!token) return reply(400, ERROR_BODIES.missingToken);
  const record = state.tokenValid(token);
  if (!record || !state.allows(record, relative)) return reply(403, ERROR_BODIES.permissionDenied);
  if (!mountName) return reply(404, ERROR_BODIES.notFound);
  const mount = state.mounts.get(key(namespace, mountName))!;
  const inside = relative.slice(mountName.length + 1);
  const listing = request.method === 'GET' && url.searchParams.has('list');
  if (listing) return listKeys(mount, mount.version === 2 ? inside.replace(/^metadata\/?/, '') : inside, mount.version === 2 && !inside.startsWith('metadata'), reply);
  if (request.method !== 'GET') return reply(...writeRequest(state, mount, inside, request.method ?? 'POST', body));
  if (mount.version === 2 && inside.startsWith('metadata/')) return reply(...metadataOf(state, mount, inside.slice('metadata/'.length)));
  if (mount.version === 1) {
    const versions = mount.secrets.get(inside);
    const latest = versions?.[versions.length - 1];
    if (!latest?.data) return reply(404, ERROR_BODIES.notFound);
    return reply(200, envelope({ lease_duration: 2_764_800, data: latest.data }));
  }
  if (!inside.startsWith('data/')) return reply(404, ERROR_BODIES.notFound);
  const versions = mount.secrets.get(inside.slice('data/'.length));
  if (!versions) return reply(404, ERROR_BODIES.notFound);
  const wanted = url.searchParams.has('version') ? Number(url.searchParams.get('version')) : versions.length;
  const version = versions[wanted - 1];
  if (!version) return reply(404, ERROR_BODIES.notFound);
  const metadata = {
    created_time: iso(version.createdAt),
    custom_metadata: mount.metadata.get(inside.slice('data/'.length))?.custom ?? null,
    deletion_time: version.deletedAt === undefined ? '' : iso(version.deletedAt),
    destroyed: version.destroyed,
    version: wanted,
  };
  if (version.deletedAt !== undefined || version.destroyed) return reply(404, { data: { data: null, metadata } });
  return reply(200, envelope({ data: { data: version.data, metadata } }));
}

/** LIST (as GET ?list=): the direct children of a folder, folders ending in `/`; none is 404 `{"errors":[]}`. */
function listKeys(mount: Mount, folder: string, wrongArea: boolean, reply: (status: number, payload: unknown) => void): void {
  if (wrongArea) return reply(405, { errors: ['1 error occurred:\n\t* unsupported operation\n\n'] });
  const base = folder === '' || folder.endsWith('/') ? folder : `${folder}/`;
  const keys = new Set<string>();
  const live = (path: string) => mount.version === 1 ? mount.secrets.get(path)?.some((version) => version.data) : mount.secrets.has(path) || mount.metadata.has(path);
  for (const path of new Set([...mount.secrets.keys(), ...mount.metadata.keys()])) {
    if (!path.startsWith(base) || !live(path)) continue;
    const rest = path.slice(base.length);
    const slash = rest.indexOf('/');
    keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
  }
  if (keys.size === 0) return reply(404, ERROR_BODIES.notFound);
  reply(200, envelope({ data: { keys: [...keys].sort() } }));
}

function metadataOf(state: VaultState, mount: Mount, path: string): [number, unknown] {
  const versions = mount.secrets.get(path);
  const meta = mount.metadata.get(path);
  if (!versions && !meta) return [404, ERROR_BODIES.notFound];
  const list = versions ?? [];
  return [
    200,
    envelope({
      data: {
        cas_required: false,
        created_time: iso(meta?.createdAt ?? list[0]?.createdAt ?? state.now),
        current_version: list.length,
        custom_metadata: meta?.custom ?? null,
        delete_version_after: '0s',
        max_versions: 0,
        oldest_version: list.length > 0 ? 1 : 0,
        updated_time: iso(meta?.updatedAt ?? list.at(-1)?.createdAt ?? state.now),
        versions: Object.fromEntries(list.map((version, index) => [String(index + 1), { created_time: iso(version.createdAt), deletion_time: version.deletedAt === undefined ? '' : iso(version.deletedAt), destroyed: version.destroyed }])),
      },
    }),
  ];
}

/** POST/PUT and DELETE on data, metadata (KV v2) or a path (KV v1). */
function writeRequest(state: VaultState, mount: Mount, inside: string, method: string, body: Record<string, unknown>): [number, unknown] {
  if (mount.version === 1) {
    if (method === 'DELETE') {
      mount.secrets.delete(inside);
      return [204, undefined];
    }
    if (method !== 'POST' && method !== 'PUT') return [405, { errors: ['1 error occurred:\n\t* unsupported operation\n\n'] }];
    if (Object.keys(body).length === 0) return [400, { errors: ['missing data fields'] }];
    mount.secrets.set(inside, [{ data: body, createdAt: state.now, deletedAt: undefined, destroyed: false }]);
    return [204, undefined];
  }
  if (inside.startsWith('metadata/')) {
    const path = inside.slice('metadata/'.length);
    if (method === 'DELETE') {
      mount.secrets.delete(path);
      mount.metadata.delete(path);
      return [204, undefined];
    }
    const custom = (body.custom_metadata ?? {}) as Record<string, string>;
    const previous = mount.metadata.get(path);
    // POST replaces custom_metadata whole; an empty map reads back as null.
    mount.metadata.set(path, { custom: Object.keys(custom).length === 0 ? null : { ...custom }, createdAt: previous?.createdAt ?? state.now, updatedAt: state.now });
    return [204, undefined];
  }
  if (!inside.startsWith('data/')) return [404, ERROR_BODIES.notFound];
  const path = inside.slice('data/'.length);
  if (method === 'DELETE') {
    const versions = mount.secrets.get(path);
    if (versions?.length) versions[versions.length - 1]!.deletedAt = state.now;
    return [204, undefined];
  }
  const versions = mount.secrets.get(path) ?? [];
  const cas = (body.options as { cas?: unknown } | undefined)?.cas;
  if (cas !== undefined && Number(cas) !== versions.length) return [400, { errors: ['check-and-set parameter did not match the current version'] }];
  const data = body.data as Record<string, unknown> | undefined;
  if (!data || typeof data !== 'object') return [400, { errors: ['no data provided'] }];
  versions.push({ data: { ...data }, createdAt: state.now, deletedAt: undefined, destroyed: false });
  mount.secrets.set(path, versions);
  const meta = mount.metadata.get(path);
  mount.metadata.set(path, { custom: meta?.custom ?? null, createdAt: meta?.createdAt ?? state.now, updatedAt: state.now });
  return [200, envelope({ data: { created_time: iso(state.now), custom_metadata: meta?.custom ?? null, deletion_time: '', destroyed: false, version: versions.length } })];
}

function loginResponse(state: VaultState, mount: string, body: Record<string, unknown>): [number, unknown] {
  const approle = state.approles.get(mount);
  const kubernetes = state.kubernetesRoles.get(mount);
  let policies: string[];
  let ttl: number;
  if (approle) {
    const role = approle.get(String(body.role_id));
    if (!role || role.secretId !== body.secret_id) return [400, { errors: ['invalid role or secret ID'] }];
    state.logins.approle++;
    ({ policies, ttl } = role);
  } else if (kubernetes) {
    const role = kubernetes.get(String(body.role));
    if (!role || role.jwt !== body.jwt) return [403, ERROR_BODIES.permissionDenied];
    state.logins.kubernetes++;
    ({ policies, ttl } = role);
  } else {
    return [404, ERROR_BODIES.notFound];
  }
  const token = state.createToken({ policies, ttl, renewable: true });
  return [200, envelope({ auth: auth(token, state.tokens.get(token)!) })];
}

function auth(token: string, record: TokenRecord) {
  return { client_token: token, accessor: `accessor-${token.slice(4, 12)}`, policies: ['default', ...record.policies], token_policies: ['default', ...record.policies], metadata: null, lease_duration: record.ttl, renewable: record.renewable, entity_id: '', token_type: 'service', orphan: true };
}

function tokenData(state: VaultState, token: string, record: TokenRecord) {
  return {
    accessor: `accessor-${token.slice(4, 12)}`,
    creation_time: record.issuedAt,
    creation_ttl: record.ttl,
    display_name: 'token',
    entity_id: '',
    expire_time: record.ttl === 0 ? null : iso(record.expiresAt),
    explicit_max_ttl: 0,
    id: token,
    issue_time: iso(record.issuedAt),
    meta: null,
    num_uses: 0,
    orphan: true,
    path: 'auth/token/create',
    policies: record.policies,
    renewable: record.renewable,
    ttl: record.ttl === 0 ? 0 : Math.max(0, record.expiresAt - state.now),
    type: 'service',
  };
}

function envelope(fields: Record<string, unknown>) {
  return { request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0, data: null, wrap_info: null, warnings: null, auth: null, ...fields };
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}
