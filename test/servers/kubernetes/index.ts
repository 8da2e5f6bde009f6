/**
 * A Kubernetes API stand-in on 127.0.0.1 for the real @kubernetes/client-node: core/v1 Secrets (get, list with
 * limit/continue/labelSelector, create, replace, delete with preconditions) and coordination.k8s.io/v1 Leases, with
 * bearer-token auth, resourceVersions, and `Status` bodies, reasons and codes as the API server sends them (404
 * NotFound, 409 AlreadyExists and Conflict, 422 Invalid with causes, 403 Forbidden, 401). It follows the project's
 * reference notes on the Kubernetes API.
 *
 * Departures from the real API server: plain HTTP (kubeconfigs it writes set insecure-skip-tls-verify, as the client
 * requires for http); one global resourceVersion counter; labelSelector knows only `key=value` terms; no watch, no
 * patch, no field selectors; RBAC is a set of denied `verb/resource` pairs.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface StoredObject {
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string; creationTimestamp: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
}

export class KubernetesState {
  /** Objects by `resource/namespace/name`. */
  readonly objects = new Map<string, StoredObject>();
  /** Denied `verb/resource` pairs (`get/secrets`, `update/leases`). */
  readonly denied = new Set<string>();
  mode: { unavailable?: number; latencyMs?: number } = {};
  #version = 1000;

  nextVersion(): string {
    return String(++this.#version);
  }

  /** Adds a Secret out of band, as kubectl would (no secretbind label). */
  putSecret(namespace: string, name: string, data: Record<string, string>, labels?: Record<string, string>): StoredObject {
    const object: StoredObject = {
      metadata: { name, namespace, resourceVersion: this.nextVersion(), uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), ...(labels ? { labels } : {}) },
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
    };
    this.objects.set(`secrets/${namespace}/${name}`, object);
    return object;
  }

  secret(namespace: string, name: string): StoredObject | undefined {
    return this.objects.get(`secrets/${namespace}/${name}`);
  }

  /** A Secret's values decoded. */
  secretData(namespace: string, name: string): Record<string, string> | undefined {
    const data = this.secret(namespace, name)?.data as Record<string, string> | undefined;
    return data && Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]));
  }
}

export interface KubernetesStandIn {
  url: string;
  token: string;
  state: KubernetesState;
  requests: RequestRecord[];
  count(method?: string, pathPrefix?: string): number;
  /** Writes a kubeconfig for this stand-in and returns its path. */
  kubeconfig(path: string, options?: { namespace?: string; token?: string }): string;
  stop(): Promise<void>;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export async function start(): Promise<KubernetesStandIn> {
  const state = new KubernetesState();
  const token = `stand-in-${randomUUID()}`;
  const requests: RequestRecord[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((request, response) => void handle(state, token, requests, request, response));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token,
    state,
    requests,
    count: (method, pathPrefix) => requests.filter((record) => (!method || record.method === method) && (!pathPrefix || record.path.startsWith(pathPrefix))).length,
    kubeconfig(path, options = {}) {
      writeFileSync(
        path,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'stand-in', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
          users: [{ name: 'sync', user: { token: options.token ?? token } }],
          contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'sync', namespace: options.namespace ?? 'apps' } }],
          'current-context': 'stand-in',
        }),
      );
      return path;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): unknown {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

async function handle(state: KubernetesState, token: string, requests: RequestRecord[], request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://stand-in');
  const method = request.method ?? 'GET';
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const reply = (code: number, body: unknown): void => {
    requests.push({ method, path: url.pathname, status: code });
    response.writeHead(code, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  if (state.mode.latencyMs) await new Promise((resolve) => setTimeout(resolve, state.mode.latencyMs));
  if (request.headers.authorization !== `Bearer ${token}`) return reply(401, status(401, 'Unauthorized', 'Unauthorized'));
  if (state.mode.unavailable && state.mode.unavailable > 0) {
    state.mode.unavailable--;
    return reply(503, status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
  }
  const route = /^\/(?:api\/v1|apis\/coordination\.k8s\.io\/v1)\/namespaces\/([^/]+)\/(secrets|leases)(?:\/([^/]+))?$/.exec(url.pathname);
  if (!route) return reply(404, status(404, 'NotFound', 'the server could not find the requested resource'));
  const [, namespace, resource, encodedName] = route as unknown as [string, string, 'secrets' | 'leases', string | undefined];
  const name = encodedName === undefined ? undefined : decodeURIComponent(encodedName);
  const verb = method === 'GET' ? (name ? 'get' : 'list') : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'DELETE' ? 'delete' : method.toLowerCase();
  if (state.denied.has(`${verb}/${resource}`)) {
    return reply(403, status(403, 'Forbidden', `${resource} ${name ? `"${name}" ` : ''}is forbidden: User "system:serviceaccount:${namespace}:sync" cannot ${verb} resource "${resource}" in API group "${resource === 'leases' ? 'coordination.k8s.io' : ''}" in the namespace "${namespace}"`, { ...(name ? { name } : {}), kind: resource }));
  }
  let body: Record<string, unknown> = {};
  if (text) {
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return reply(400, status(400, 'BadRequest', 'the body of the request was in an unknown format'));
    }
  }
  const key = (objectName: string) => `${resource}/${namespace}/${objectName}`;
  const notFound = (objectName: string) => reply(404, status(404, 'NotFound', `${resource} "${objectName}" not found`, { name: objectName, kind: resource }));

  if (method === 'GET' && !name) {
    const selector = url.searchParams.get('labelSelector');
    const terms = selector ? selector.split(',').map((term) => term.split('=') as [string, string]) : [];
    const all = [...state.objects.entries()]
      .filter(([objectKey]) => objectKey.startsWith(`${resource}/${namespace}/`))
      .map(([, object]) => object)
      .filter((object) => terms.every(([label, value]) => object.metadata.labels?.[label] === value))
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const start = Number(url.searchParams.get('continue') ?? 0);
    const page = limit > 0 ? all.slice(start, start + limit) : all.slice(start);
    const more = limit > 0 && start + limit < all.length;
    return reply(200, { kind: resource === 'secrets' ? 'SecretList' : 'LeaseList', apiVersion: resource === 'secrets' ? 'v1' : 'coordination.k8s.io/v1', metadata: { resourceVersion: String(state.nextVersion()), ...(more ? { continue: String(start + limit) } : {}) }, items: page });
  }
  if (method === 'GET') {
    const object = state.objects.get(key(name!));
    return object ? reply(200, object) : notFound(name!);
  }
  if (method === 'DELETE') {
    const object = state.objects.get(key(name!));
    if (!object) return notFound(name!);
    const expected = (body.preconditions as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (expected !== undefined && expected !== object.metadata.resourceVersion) {
      return reply(409, status(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${name}": the ResourceVersion in the precondition (${expected}) does not match the ResourceVersion in record (${object.metadata.resourceVersion}). The object might have been modified`, { name, kind: resource }));
    }
    state.objects.delete(key(name!));
    return reply(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: resource, uid: object.metadata.uid } });
  }
  if (method !== 'POST' && method !== 'PUT') return reply(405, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));

  if (resource === 'leases') {
    // MicroTime fields are parsed while decoding the body: a wrong format is 400, not a 422 validation failure.
    const spec = (body.spec ?? {}) as Record<string, unknown>;
    for (const field of ['acquireTime', 'renewTime']) {
      if (spec[field] !== undefined && spec[field] !== null && !MICRO_TIME.test(String(spec[field]))) {
        return reply(400, status(400, 'BadRequest', `Lease in version "v1" cannot be handled as a Lease: parsing time "${String(spec[field])}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse`));
      }
    }
  }
  const metadata = (body.metadata ?? {}) as StoredObject['metadata'];
  const objectName = method === 'POST' ? metadata.name : name!;
  const invalid = validate(resource, objectName, body);
  if (invalid.length > 0) {
    return reply(422, status(422, 'Invalid', `${resource === 'secrets' ? 'Secret' : 'Lease'} "${objectName ?? ''}" is invalid: ${invalid.map((cause) => `${cause.field}: ${cause.message}`).join(', ')}`, { name: objectName, kind: resource === 'secrets' ? 'Secret' : 'Lease', causes: invalid.map((cause) => ({ reason: 'FieldValueInvalid', ...cause })) }));
  }
  const existing = state.objects.get(key(objectName));
  if (method === 'POST' && existing) return reply(409, status(409, 'AlreadyExists', `${resource} "${objectName}" already exists`, { name: objectName, kind: resource }));
  if (method === 'PUT') {
    if (!existing && resource === 'secrets') return notFound(objectName);
    if (existing && resource === 'leases' && metadata.resourceVersion === undefined) {
      return reply(422, status(422, 'Invalid', `Lease "${objectName}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`, { name: objectName, kind: 'Lease' }));
    }
    if (existing && metadata.resourceVersion !== undefined && metadata.resourceVersion !== existing.metadata.resourceVersion) {
      return reply(409, status(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${objectName}": the object has been modified; please apply your changes to the latest version and try again`, { name: objectName, kind: resource }));
    }
  }
  const stored: StoredObject = {
    ...body,
    metadata: {
      name: objectName,
      namespace,
      resourceVersion: state.nextVersion(),
      uid: existing?.metadata.uid ?? randomUUID(),
      creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      ...(metadata.labels ? { labels: metadata.labels } : {}),
      ...(metadata.annotations ? { annotations: metadata.annotations } : {}),
    },
  };
  if (resource === 'secrets') {
    // stringData is write-only: merged into data by the server.
    const data = { ...((body.data as Record<string, string> | undefined) ?? {}) };
    for (const [dataKey, value] of Object.entries((body.stringData as Record<string, string> | undefined) ?? {})) data[dataKey] = Buffer.from(value).toString('base64');
    delete stored.stringData;
    stored.data = data;
    stored.type = body.type ?? 'Opaque';
    stored.apiVersion = 'v1';
    stored.kind = 'Secret';
  } else {
    stored.apiVersion = 'coordination.k8s.io/v1';
    stored.kind = 'Lease';
  }
  state.objects.set(key(objectName), stored);
  return reply(existing ? 200 : 201, stored);
}

function validate(resource: 'secrets' | 'leases', name: string | undefined, body: Record<string, unknown>): Array<{ field: string; message: string }> {
  const causes: Array<{ field: string; message: string }> = [];
  if (!name || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    causes.push({ field: 'metadata.name', message: `Invalid value: "${name ?? ''}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` });
  }
  if (resource === 'secrets') {
    for (const dataKey of [...Object.keys((body.data as object | undefined) ?? {}), ...Object.keys((body.stringData as object | undefined) ?? {})]) {
      if (!SECRET_KEY.test(dataKey)) causes.push({ field: `data[${dataKey}]`, message: `Invalid value: "${dataKey}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'` });
    }
  }
  return causes;
}
