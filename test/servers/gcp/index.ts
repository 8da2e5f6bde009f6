/**
 * A Secret Manager (v1) stand-in on 127.0.0.1 speaking gRPC over TLS, built with @grpc/grpc-js and the client
 * package's own protos, for the real @google-cloud/secret-manager on its default transport. gRPC, not the REST
 * fallback: it is what the client uses unless told otherwise, and it carries Google's auth as call credentials.
 * Callers authenticate as the real client does with a service-account key file: a self-signed JWT (RS256, `kid` the
 * key id) sent as the bearer token, verified here with the key's public half.
 *
 * Bodies, codes and wording follow the reference notes (test/fixtures/reference/gcp-secret-manager.json): names in
 * answers carry the project number; `latest` is the newest version whatever its state; CRC32C is checked on add.
 *
 * Departures from the real service: one project (id and number) and its locations; IAM is a deny list of
 * `method` or `method:secret` per service account; labels filters know only `labels.KEY=VALUE` and `name:PREFIX`;
 * etags are counters; no replication status, rotation, topics or version aliases.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROJECT_ID = 'sync-project';
export const PROJECT_NUMBER = '123456789012';
const SECRET_ID = /^[a-zA-Z0-9_-]{1,255}$/;

interface Version {
  number: number;
  data: Buffer;
  state: 'ENABLED' | 'DISABLED' | 'DESTROYED';
  createTime: number;
}
interface StoredSecret {
  id: string;
  /** '' for global secrets, the location for regional ones. */
  location: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  versions: Version[];
  etag: number;
  createTime: number;
  replication?: unknown;
}

export class SecretManagerState {
  readonly secrets = new Map<string, StoredSecret>();
  /** Service-account emails to the public key of each key id. */
  readonly keys = new Map<string, { email: string; key: KeyObject }>();
  /** Per service-account email: denied `Method` or `Method:secret`. */
  readonly denied = new Map<string, Set<string>>();
  /** Every call; `cancelled` when the client cancelled it before an answer (a held call, `mode.hang`). */
  readonly log: Array<{ method: string; name: string; code: number; caller?: string; cancelled?: boolean }> = [];
  /** `hang`: accept every call and never answer it (a hung service); stop() then ends the held calls. */
  mode: { exhausted?: number; unavailable?: number; latencyMs?: number; hang?: boolean; corruptCrc?: boolean; deadline?: number; createAfterGet?: string; touchAfterGet?: string } = {};
  /** Calls held by `mode.hang`, until the client cancels them or the server stops. */
  readonly held = new Set<Call>();

  private key(id: string, location = ''): string {
    return `${location}\u0000${id}`;
  }

  get(id: string, location = ''): StoredSecret | undefined {
    return this.secrets.get(this.key(id, location));
  }

  /** Creates the secret when missing and adds a version; returns the version number. */
  put(id: string, value: string, options: { labels?: Record<string, string>; annotations?: Record<string, string>; location?: string } = {}): number {
    const location = options.location ?? '';
    let secret = this.get(id, location);
    if (!secret) {
      secret = { id, location, labels: { ...options.labels }, annotations: { ...options.annotations }, versions: [], etag: 1, createTime: Date.now() };
      this.secrets.set(this.key(id, location), secret);
    }
    const number = secret.versions.length + 1;
    secret.versions.push({ number, data: Buffer.from(value, 'utf8'), state: 'ENABLED', createTime: Date.now() });
    return number;
  }

  addKey(email: string, keyId: string, publicKeyPem: string): void {
    this.keys.set(keyId, { email, key: createPublicKey(publicKeyPem) });
  }

  remove(id: string, location = ''): void {
    this.secrets.delete(this.key(id, location));
  }
}

export interface SecretManagerStandIn {
  /** Host and port for the client's apiEndpoint and port options. */
  host: string;
  port: number;
  state: SecretManagerState;
  stop(): Promise<void>;
}

function protoRoots(): { file: string; includeDirs: string[] } {
  const require = createRequire(import.meta.url);
  const clientRoot = join(dirname(require.resolve('@google-cloud/secret-manager/package.json')), 'build', 'protos');
  // google-gax exports no package.json: its protos sit beside its main module (build/src/index.js).
  const gaxRoot = join(dirname(require.resolve('google-gax', { paths: [clientRoot] })), '..', 'protos');
  return { file: 'google/cloud/secretmanager/v1/service.proto', includeDirs: [clientRoot, gaxRoot] };
}

type Call = grpc.ServerUnaryCall<Record<string, unknown>, unknown>;
type Callback = grpc.sendUnaryData<unknown>;

export async function start(): Promise<SecretManagerStandIn> {
  const dir = process.env.SECRETBIND_TEST_TLS_DIR;
  if (!dir) throw new Error('SECRETBIND_TEST_TLS_DIR is not set: the Secret Manager stand-in needs the test run certificate (test/global-setup.ts)');
  const { file, includeDirs } = protoRoots();
  const definition = protoLoader.loadSync(file, { includeDirs, keepCase: false, longs: String, enums: String, defaults: false, oneofs: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { google: { cloud: { secretmanager: { v1: { SecretManagerService: { service: grpc.ServiceDefinition } } } } } };
  const state = new SecretManagerState();
  const server = new grpc.Server();
  const unimplemented = (_call: Call, callback: Callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: 'not in the stand-in' });
  const service = loaded.google.cloud.secretmanager.v1.SecretManagerService.service;
  const handlers: Record<string, grpc.handleUnaryCall<Record<string, unknown>, unknown>> = Object.fromEntries(Object.keys(service).map((name) => [name, unimplemented]));
  for (const [method, handler] of Object.entries(methods(state))) {
    handlers[method] = (call: Call, callback: Callback) => {
      const record: SecretManagerState['log'][number] = { method, name: String(call.request.name ?? call.request.parent ?? ''), code: 0 };
      state.log.push(record);
      if (state.mode.hang) {
        // No timer: what holds the call open is the client's stream, so a client that cancels leaves nothing here.
        state.held.add(call);
        call.on('cancelled', () => {
          record.cancelled = true;
          state.held.delete(call);
        });
        return;
      }
      const reply: Callback = (error, value) => {
        record.code = error ? Number((error as { code?: number }).code) : 0;
        callback(error, value);
      };
      void (async () => {
        if (state.mode.latencyMs) await new Promise((resolve) => setTimeout(resolve, state.mode.latencyMs));
        const caller = authenticate(state, call);
        if (typeof caller !== 'string') return reply(caller);
        record.caller = caller;
        if (state.mode.exhausted && state.mode.exhausted > 0) {
          state.mode.exhausted--;
          return reply({ code: grpc.status.RESOURCE_EXHAUSTED, details: `Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute per project' of service 'secretmanager.googleapis.com' for consumer 'project_number:${PROJECT_NUMBER}'.` });
        }
        if (state.mode.unavailable && state.mode.unavailable > 0) {
          state.mode.unavailable--;
          return reply({ code: grpc.status.UNAVAILABLE, details: 'The service is currently unavailable.' });
        }
        if (state.mode.deadline && state.mode.deadline > 0) {
          state.mode.deadline--;
          return reply({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline Exceeded' });
        }
        const denied = state.denied.get(caller);
        const secretId = /secrets\/([^/]+)/.exec(record.name)?.[1];
        if (denied && (denied.has(method) || (secretId && denied.has(`${method}:${secretId}`)))) {
          const permission = method === 'AccessSecretVersion' ? 'secretmanager.versions.access' : method.startsWith('List') ? 'secretmanager.secrets.list' : 'secretmanager.secrets.get';
          return reply({ code: grpc.status.PERMISSION_DENIED, details: `Permission '${permission}' denied on resource (or it may not exist).` });
        }
        try {
          reply(null, handler(call.request));
        } catch (error) {
          reply(error as grpc.ServiceError);
        }
      })();
    };
  }
  server.addService(service, handlers);
  const credentials = grpc.ServerCredentials.createSsl(null, [{ private_key: readFileSync(join(dir, 'key.pem')), cert_chain: readFileSync(join(dir, 'cert.pem')) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))));
  return {
    host: '127.0.0.1',
    port,
    state,
    // tryShutdown waits for calls in flight, which a held call never finishes.
    stop: () => (state.held.size > 0 ? Promise.resolve(server.forceShutdown()) : new Promise<void>((resolve) => server.tryShutdown(() => resolve()))),
  };
}

/** The caller's service-account email from a self-signed JWT, or the UNAUTHENTICATED error. */
function authenticate(state: SecretManagerState, call: Call): string | Partial<grpc.ServiceError> {
  const refused = { code: grpc.status.UNAUTHENTICATED, details: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.' };
  const header = String(call.metadata.get('authorization')[0] ?? '');
  const token = /^Bearer (.+)$/.exec(header)?.[1];
  if (!token) return refused;
  const [head, body, signature] = token.split('.');
  if (!head || !body || !signature) return refused;
  try {
    const parsedHead = JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: string; kid?: string };
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { iss?: string; sub?: string; exp?: number };
    const known = parsedHead.kid ? state.keys.get(parsedHead.kid) : undefined;
    if (parsedHead.alg !== 'RS256' || !known) return refused;
    if (!verifySignature('RSA-SHA256', Buffer.from(`${head}.${body}`), known.key, Buffer.from(signature, 'base64url'))) return refused;
    if (claims.iss !== known.email || claims.sub !== known.email || !claims.exp || claims.exp * 1000 < Date.now()) return refused;
    return known.email;
  } catch {
    return refused;
  }
}

function fail(code: grpc.status, details: string): never {
  throw Object.assign(new Error(details), { code, details });
}

/** `projects/P[/locations/L]` as the service names it: by number. */
function parentOf(location: string): string {
  return location ? `projects/${PROJECT_NUMBER}/locations/${location}` : `projects/${PROJECT_NUMBER}`;
}

function parseName(name: string): { location: string; secret: string; version?: string } {
  const match = /^projects\/([^/]+)(?:\/locations\/([^/]+))?\/secrets\/([^/]+)(?:\/versions\/([^/]+))?$/.exec(name);
  if (!match) fail(grpc.status.INVALID_ARGUMENT, `Invalid resource field value in the request.`);
  if (match[1] !== PROJECT_ID && match[1] !== PROJECT_NUMBER) fail(grpc.status.PERMISSION_DENIED, `Permission 'secretmanager.secrets.get' denied on resource (or it may not exist).`);
  return { location: match[2] ?? '', secret: match[3]!, ...(match[4] ? { version: match[4] } : {}) };
}

function parseParent(parent: string): string {
  const match = /^projects\/([^/]+)(?:\/locations\/([^/]+))?$/.exec(parent);
  if (!match) fail(grpc.status.INVALID_ARGUMENT, `Invalid resource field value in the request.`);
  if (match[1] !== PROJECT_ID && match[1] !== PROJECT_NUMBER) fail(grpc.status.PERMISSION_DENIED, `Permission 'secretmanager.secrets.list' denied on resource (or it may not exist).`);
  return match[2] ?? '';
}

const timestamp = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });

function secretMessage(secret: StoredSecret) {
  return {
    name: `${parentOf(secret.location)}/secrets/${secret.id}`,
    ...(secret.location ? {} : { replication: secret.replication ?? { automatic: {} } }),
    createTime: timestamp(secret.createTime),
    labels: secret.labels,
    annotations: secret.annotations,
    etag: `"${secret.etag}"`,
  };
}

function versionMessage(secret: StoredSecret, version: Version) {
  return { name: `${parentOf(secret.location)}/secrets/${secret.id}/versions/${version.number}`, createTime: timestamp(version.createTime), state: version.state, etag: `"${version.number}"` };
}

function methods(state: SecretManagerState): Record<string, (request: Record<string, unknown>) => unknown> {
  const secretOf = (location: string, id: string, name: string, what: 'secret' | 'versions' = 'secret'): StoredSecret => {
    const secret = state.get(id, location);
    if (!secret) fail(grpc.status.NOT_FOUND, what === 'versions' ? `Secret [${name}] not found or has no versions.` : `Secret [${name}] not found.`);
    return secret;
  };
  const versionOf = (request: Record<string, unknown>): { secret: StoredSecret; version: Version } => {
    const { location, secret: id, version: wanted } = parseName(String(request.name));
    const secretName = `${parentOf(location)}/secrets/${id}`;
    const secret = secretOf(location, id, secretName, 'versions');
    // `latest` is the newest version whatever its state (the reference notes): no fall back to an older one.
    const version = wanted === 'latest' ? secret.versions.at(-1) : secret.versions.find((item) => String(item.number) === wanted);
    if (!version) fail(grpc.status.NOT_FOUND, wanted === 'latest' ? `Secret [${secretName}] not found or has no versions.` : `Secret Version [${secretName}/versions/${wanted}] not found.`);
    return { secret, version };
  };
  return {
    AccessSecretVersion(request) {
      const { secret, version } = versionOf(request);
      if (version.state !== 'ENABLED') fail(grpc.status.FAILED_PRECONDITION, `Secret Version [${parentOf(secret.location)}/secrets/${secret.id}/versions/${version.number}] is in ${version.state} state.`);
      const crc = crc32c(version.data);
      return { name: versionMessage(secret, version).name, payload: { data: version.data, dataCrc32c: String(state.mode.corruptCrc ? (crc + 1) >>> 0 : crc) } };
    },
    GetSecretVersion(request) {
      const { secret, version } = versionOf(request);
      return versionMessage(secret, version);
    },
    GetSecret(request) {
      const { location, secret: id } = parseName(String(request.name));
      try {
        return secretMessage(secretOf(location, id, `${parentOf(location)}/secrets/${id}`));
      } finally {
        // Another writer creates the secret right after our look (a race the tests stage).
        if (state.mode.createAfterGet === id) {
          delete state.mode.createAfterGet;
          state.put(id, 'theirs', { location });
        }
        if (state.mode.touchAfterGet === id) {
          delete state.mode.touchAfterGet;
          state.get(id, location)!.etag++;
        }
      }
    },
    CreateSecret(request) {
      const location = parseParent(String(request.parent));
      const id = String(request.secretId ?? '');
      if (!SECRET_ID.test(id)) fail(grpc.status.INVALID_ARGUMENT, `The provided Secret ID [${id}] does not match the expected format [[a-zA-Z_0-9]+]`);
      if (state.get(id, location)) fail(grpc.status.ALREADY_EXISTS, `Secret [${parentOf(location)}/secrets/${id}] already exists.`);
      const body = (request.secret ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string>; replication?: unknown };
      if (!location && !body.replication) fail(grpc.status.INVALID_ARGUMENT, 'Secret.replication is required.');
      if (location && body.replication) fail(grpc.status.INVALID_ARGUMENT, 'Regional secrets take no replication policy.');
      const secret: StoredSecret = { id, location, labels: { ...body.labels }, annotations: { ...body.annotations }, versions: [], etag: 1, createTime: Date.now(), replication: body.replication };
      state.secrets.set(`${location}\u0000${id}`, secret);
      return secretMessage(secret);
    },
    AddSecretVersion(request) {
      const { location, secret: id } = parseName(`${String(request.parent)}`);
      const secret = secretOf(location, id, `${parentOf(location)}/secrets/${id}`);
      const payload = (request.payload ?? {}) as { data?: Buffer; dataCrc32c?: string };
      const data = Buffer.from(payload.data ?? []);
      if (data.length > 64 * 1024) fail(grpc.status.INVALID_ARGUMENT, 'Secret Payload cannot be larger than 64KiB.');
      if (payload.dataCrc32c !== undefined && String(crc32c(data)) !== String(payload.dataCrc32c)) fail(grpc.status.INVALID_ARGUMENT, 'Checksum mismatch: data_crc32c does not match the payload.');
      const version: Version = { number: secret.versions.length + 1, data, state: 'ENABLED', createTime: Date.now() };
      secret.versions.push(version);
      return versionMessage(secret, version);
    },
    UpdateSecret(request) {
      const body = (request.secret ?? {}) as { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
      const { location, secret: id } = parseName(String(body.name));
      const secret = secretOf(location, id, `${parentOf(location)}/secrets/${id}`);
      const paths = ((request.updateMask ?? {}) as { paths?: string[] }).paths ?? [];
      if (paths.length === 0) fail(grpc.status.INVALID_ARGUMENT, 'update_mask is required.');
      for (const path of paths) {
        if (path === 'labels') secret.labels = { ...body.labels };
        else if (path === 'annotations') secret.annotations = { ...body.annotations };
        else fail(grpc.status.INVALID_ARGUMENT, `The update_mask path [${path}] is not supported by the stand-in.`);
      }
      secret.etag++;
      return secretMessage(secret);
    },
    DeleteSecret(request) {
      const { location, secret: id } = parseName(String(request.name));
      const secret = secretOf(location, id, `${parentOf(location)}/secrets/${id}`);
      if (request.etag && request.etag !== `"${secret.etag}"`) fail(grpc.status.ABORTED, `The etag provided in the request does not match the current etag of the Secret [${parentOf(location)}/secrets/${id}].`);
      state.remove(id, location);
      return {};
    },
    ListSecrets(request) {
      const location = parseParent(String(request.parent));
      const pageSize = Math.min(Number(request.pageSize ?? 0) || 25_000, 25_000);
      const offset = Number(request.pageToken || 0);
      const filter = String(request.filter ?? '');
      const label = /^labels\.([a-z0-9_-]+)=(\S+)$/.exec(filter);
      const prefix = /^name:(\S+)$/.exec(filter);
      const all = [...state.secrets.values()]
        .filter((secret) => secret.location === location)
        .filter((secret) => (label ? secret.labels[label[1]!] === label[2] : prefix ? secret.id.startsWith(prefix[1]!) : true))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      const page = all.slice(offset, offset + pageSize);
      return { secrets: page.map(secretMessage), nextPageToken: offset + pageSize < all.length ? String(offset + pageSize) : '', totalSize: all.length };
    },
  };
}

/** CRC32C (Castagnoli), as the service computes `data_crc32c`. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
