/**
 * gcp_secrets: Google Cloud Secret Manager through @google-cloud/secret-manager (6.x: the newest line that runs on
 * Node 20), on its default gRPC transport. Freshness: read live on every lookup; one client per store configuration,
 * whose auth caches its token. Writes carry the label `managed-by`, set on the secret before a version is added.
 * Every call is cancelled at the caller's deadline and on close(), so a hung service holds nothing open.
 */
import {
  formatReference,
  guardWrite,
  jsonSecretEntry,
  jsonSecretField,
  jsonSecretText,
  parseReference,
  peerLoader,
  readEachOnce,
  rateBudget,
  SecretbindError,
  untilAborted,
  validateStoreFields,
  WithheldError,
  type EntryInfo,
  type EntryReference,
  type EntrySettled,
  type ResolveContext,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';

export interface GcpSecretsOptions {
  /** @google-cloud/secret-manager itself, instead of importing it. */
  lib?: GcpSecretManagerModule;
  /**
   * Client options laid over the ones the store describes (`apiEndpoint`, `port`, `sslCreds`, `fallback: 'rest'`...),
   * for private endpoints and tests.
   */
  clientOptions?: Readonly<Record<string, unknown>>;
  /** Secrets a listing asks for per page. Default: 250. */
  pageSize?: number;
}

/** The parts of @google-cloud/secret-manager 6.x this provider uses. */
export interface GcpSecretManagerModule {
  SecretManagerServiceClient: new (options?: Record<string, unknown>) => SecretManagerClientLike;
}
/**
 * What the client's methods return. In 6.x a plain Promise: the generated methods chain `.then` onto gax's cancellable
 * promise, so its `cancel` never reaches the caller. Calls are cancelled through a gRPC interceptor instead.
 */
type Pending<T> = Promise<T>;
interface SecretMessage {
  name?: string | null;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  etag?: string | null;
}
interface VersionMessage {
  name?: string | null;
  state?: string | number | null;
}
interface CallOptions {
  retry?: null;
  /** `options` are the gRPC call options (gax sets their `deadline`); the REST fallback ignores them. */
  otherArgs?: { options?: { interceptors?: GrpcInterceptor[] } };
}
/** A grpc-js client interceptor, reduced to what cancelling a call needs (no import of @grpc/grpc-js). */
type GrpcInterceptor = (options: unknown, nextCall: (options: unknown) => GrpcCall) => GrpcCall;
interface GrpcCall {
  cancelWithStatus(status: number, details: string): void;
}
interface SecretManagerClientLike {
  auth: { getCredentials(): Promise<{ client_email?: string }> };
  accessSecretVersion(request: { name: string }, options?: CallOptions): Pending<[{ name?: string | null; payload?: { data?: Uint8Array | string | null; dataCrc32c?: string | number | { toString(): string } | null } | null }]>;
  getSecretVersion(request: { name: string }, options?: CallOptions): Pending<[VersionMessage]>;
  getSecret(request: { name: string }, options?: CallOptions): Pending<[SecretMessage]>;
  createSecret(request: { parent: string; secretId: string; secret: Record<string, unknown> }, options?: CallOptions): Pending<[SecretMessage]>;
  updateSecret(request: { secret: Record<string, unknown>; updateMask: { paths: string[] } }, options?: CallOptions): Pending<[SecretMessage]>;
  addSecretVersion(request: { parent: string; payload: { data: Buffer; dataCrc32c: number } }, options?: CallOptions): Pending<[VersionMessage]>;
  deleteSecret(request: { name: string; etag?: string }, options?: CallOptions): Pending<unknown>;
  listSecrets(request: { parent: string; pageSize: number; pageToken?: string; filter?: string }, options?: CallOptions & { autoPaginate: false }): Pending<[SecretMessage[], { pageToken?: string } | null, unknown]>;
  initialize(): Promise<unknown>;
  close(): Promise<void>;
}

const TYPE = 'gcp_secrets';
const INSTALL = 'npm install @google-cloud/secret-manager@6';
/** The label that marks a secret as secretbind's; its value is the owner (as a label value: lowercase, digits, -, _). */
export const OWNER_LABEL = 'managed-by';
const SECRET_ID = /^[a-zA-Z0-9_-]{1,255}$/;
/**
 * Secret Manager's published quotas per project: 90,000 access requests a minute (`access`), 600 other reads
 * (`read`) and 600 writes (`write`) a minute. Adding versions to one secret is limited to about 2 a second; sync's
 * `min_update_interval` is the tool for that.
 */
const GCP_QUOTAS = { access: 1500, read: 10, write: 10 } as const;
/** Secrets a bulk read asks for at once. */
const READS_AT_ONCE = 8;
/** gRPC status numbers, as the client reports them. */
const GRPC = { CANCELLED: 1, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/**
 * A provider for `gcp_secrets` stores (`gcp_project`; `gcp_credentials_file` for a service-account key, otherwise
 * Application Default Credentials; `gcp_location` for regional secrets). A reference is `name` or `name@version`
 * (default `latest`), with `#key` into a JSON value: `checkmk-prod`, `checkmk-prod@3#password`.
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [gcpSecrets()] })
 * // store: { name: 'gsm', type: 'gcp_secrets', gcp_project: 'ops-prod' }
 * ```
 */
export function gcpSecrets(options: GcpSecretsOptions = {}): SecretProvider {
  const load = peerLoader(TYPE, '@google-cloud/secret-manager', options.lib, () => import('@google-cloud/secret-manager') as unknown as Promise<GcpSecretManagerModule>, INSTALL);
  const clients = new Map<string, Promise<SecretManagerClientLike>>();
  const pageSize = options.pageSize ?? 250;
  /** Cancels each call in flight: close() ends them all, whoever's deadline they run under. */
  const inFlight = new Set<() => void>();

  function clientFor(store: SecretStore): Promise<SecretManagerClientLike> {
    const key = JSON.stringify([store.gcp_project, store.gcp_credentials_file, store.gcp_location]);
    let found = clients.get(key);
    if (!found) {
      found = (async () => {
        const { SecretManagerServiceClient } = await load();
        const client = new SecretManagerServiceClient({
          projectId: String(store.gcp_project),
          ...(typeof store.gcp_credentials_file === 'string' ? { keyFilename: store.gcp_credentials_file } : {}),
          // Regional secrets live behind the location's own endpoint.
          ...(typeof store.gcp_location === 'string' ? { apiEndpoint: `secretmanager.${store.gcp_location}.rep.googleapis.com` } : {}),
          ...options.clientOptions,
        });
        // Credentials load here: a failure is this store's error, not an unhandled rejection inside the client.
        try {
          await client.initialize();
        } catch (error) {
          await client.close().catch(() => undefined);
          throw mapError(error, `store ${JSON.stringify(store.name)}`, store);
        }
        return client;
      })();
      clients.set(key, found);
      found.catch(() => clients.delete(key));
    }
    return found;
  }

  async function call<T>(store: SecretStore, ctx: ResolveContext, what: string, kind: 'access' | 'read' | 'write', run: (client: SecretManagerClientLike, callOptions: CallOptions) => Pending<T>): Promise<T> {
    const client = await untilAborted(clientFor(store), ctx.signal);
    const budget = rateBudget(store, GCP_QUOTAS);
    await budget.take(kind, ctx.signal);
    // A caller past its deadline starts nothing (the budget returns at once when it has room).
    if (ctx.signal.aborted) throw ctx.signal.reason;
    // The gRPC call itself, as grpc-js creates it: cancelling it resets the stream, so no late answer is awaited and
    // the connection goes idle (unref'd). Cancelled before it started (close() meanwhile): cancelled as it starts.
    let grpcCall: GrpcCall | undefined;
    let cancelled = false;
    const cancel = (): void => {
      cancelled = true;
      grpcCall?.cancelWithStatus(GRPC.CANCELLED, 'secretbind: the caller stopped waiting (deadline or close)');
    };
    const interceptor: GrpcInterceptor = (callOptions, nextCall) => {
      const made = nextCall(callOptions);
      grpcCall = made;
      if (cancelled) queueMicrotask(cancel);
      return made;
    };
    inFlight.add(cancel);
    const forget = onAbort(ctx.signal, cancel);
    try {
      // gax would retry RESOURCE_EXHAUSTED and UNAVAILABLE for up to 600 s; `retry: null` turns its retries off (with
      // `maxRetries` beside it gax 5.0.8 throws a TypeError): the resolver's deadline and the rate budget decide instead.
      return await run(client, { retry: null, otherArgs: { options: { interceptors: [interceptor] } } });
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (cancelled) throw new SecretbindError('BACKEND_UNAVAILABLE', `The gcp_secrets provider was closed while ${what} was in flight.`, { storeType: TYPE, retryable: true, cause: new WithheldError(error) });
      const mapped = mapError(error, what, store);
      if (mapped.code === 'RATE_LIMITED') budget.slow(mapped.retryAfterMs);
      throw mapped;
    } finally {
      inFlight.delete(cancel);
      forget();
    }
  }

  async function access(store: SecretStore, ref: EntryReference, ctx: ResolveContext): Promise<{ text: string; version: string; what: string }> {
    const { secret, version } = locate(ref);
    const what = `Secret ${secret}@${version}`;
    const [answer] = await call(store, ctx, what, 'access', (client, callOptions) => client.accessSecretVersion({ name: `${secretName(store, secret)}/versions/${version}` }, callOptions));
    const data = answer.payload?.data;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data ?? []);
    const expected = answer.payload?.dataCrc32c;
    if (expected !== undefined && expected !== null && String(expected) !== String(crc32c(bytes))) {
      bytes.fill(0);
      throw new SecretbindError('BACKEND_UNAVAILABLE', `${what} arrived with a payload whose CRC32C does not match: it was damaged on the way; try again.`, { storeType: TYPE, retryable: true });
    }
    const text = bytes.toString('utf8');
    return { text, version: /\/versions\/([^/]+)$/.exec(answer.name ?? '')?.[1] ?? version, what };
  }

  async function secretOrUndefined(store: SecretStore, secret: string, ctx: ResolveContext): Promise<SecretMessage | undefined> {
    try {
      const [found] = await call(store, ctx, `Secret ${secret}`, 'read', (client, callOptions) => client.getSecret({ name: secretName(store, secret) }, callOptions));
      return found;
    } catch (error) {
      if ((error as SecretbindError).code === 'ENTRY_NOT_FOUND') return undefined;
      throw error;
    }
  }

  /** The number of the newest version, or undefined for a secret without versions. */
  async function latestVersion(store: SecretStore, secret: string, ctx: ResolveContext): Promise<string | undefined> {
    try {
      const [version] = await call(store, ctx, `Secret ${secret}`, 'read', (client, callOptions) => client.getSecretVersion({ name: `${secretName(store, secret)}/versions/latest` }, callOptions));
      return /\/versions\/([^/]+)$/.exec(version.name ?? '')?.[1];
    } catch (error) {
      if ((error as SecretbindError).code === 'ENTRY_NOT_FOUND') return undefined;
      throw error;
    }
  }

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      const { text, what } = await access(store, ref, ctx);
      return jsonSecretField(text, ref.field, what, TYPE);
    },
    resolveMany(store, refs, ctx) {
      // Each secret version once, however many keys and accounts use it; a few at a time.
      return readEachOnce(refs, (ref) => {
        const { secret, version } = locate(ref);
        return `${secret}@${version}`;
      }, (ref) => access(store, ref, ctx), (found, ref) => jsonSecretField(found.text, ref.field, found.what, TYPE), READS_AT_ONCE);
    },
    async readEntries(store, refs, ctx) {
      const answers = new Map<string, EntrySettled>();
      for (const ref of refs) {
        try {
          const { text, version } = await access(store, ref, ctx);
          answers.set(ref.raw, { ok: true, value: jsonSecretEntry(text), version });
        } catch (error) {
          answers.set(ref.raw, { ok: false, error: mapError(error, ref.raw, store) });
        }
      }
      return answers;
    },
    async check(store, ctx) {
      const client = await clientFor(store);
      await call(store, ctx, 'the secrets of the project', 'read', (api, callOptions) => api.listSecrets({ parent: parentOf(store), pageSize: 1 }, { ...callOptions, autoPaginate: false }));
      let identity = 'Application Default Credentials';
      try {
        identity = (await client.auth.getCredentials()).client_email ?? identity;
      } catch {
        // ADC without an email (a user's gcloud login): the project is still reachable, which is what check asks.
      }
      return { project: String(store.gcp_project), ...(typeof store.gcp_location === 'string' ? { location: store.gcp_location } : {}), identity };
    },
    async list(store, listOptions, ctx) {
      const prefix = listOptions.prefix ?? '';
      const entries: EntryInfo[] = [];
      let pageToken: string | undefined;
      do {
        const [secrets, next] = await call(store, ctx, 'the secrets of the project', 'read', (client, callOptions) =>
          client.listSecrets({ parent: parentOf(store), pageSize, ...(pageToken ? { pageToken } : {}), ...(prefix ? { filter: `name:${prefix}` } : {}) }, { ...callOptions, autoPaginate: false }),
        );
        for (const secret of secrets) {
          // Names come back with the project number; the id is the last segment either way.
          const id = /\/secrets\/([^/]+)$/.exec(secret.name ?? '')?.[1];
          if (!id || !id.startsWith(prefix)) continue;
          const owner = secret.labels?.[OWNER_LABEL];
          const description = secret.annotations?.description ?? secret.labels?.description;
          entries.push({ name: formatReference([id]), owned: owner !== undefined, ...(owner !== undefined ? { owner } : {}), ...(description ? { description } : {}) });
        }
        pageToken = next?.pageToken || undefined;
      } while (pageToken);
      return entries;
    },
    async write(store, ref, value, writeOptions, ctx) {
      const { secret } = locate(ref, true);
      const where = `Secret ${secret}`;
      const owner = labelValue(writeOptions.owner);
      const existing = await secretOrUndefined(store, secret, ctx);
      const version = existing && writeOptions.ifVersion !== undefined && writeOptions.ifVersion !== 'absent' ? await latestVersion(store, secret, ctx) : undefined;
      guardWrite({ what: where, exists: existing !== undefined, owner: existing?.labels?.[OWNER_LABEL] === owner ? writeOptions.owner : existing?.labels?.[OWNER_LABEL], version, mark: `${OWNER_LABEL} label`, storeType: TYPE }, writeOptions);
      let current: string | undefined;
      if (existing && writeOptions.merge && typeof value !== 'string') {
        try {
          current = (await access(store, parseReference(secret), ctx)).text;
        } catch (error) {
          if ((error as SecretbindError).code !== 'ENTRY_NOT_FOUND') throw error;
        }
      }
      const text = jsonSecretText(value, current);
      // The mark first: a secret created (or adopted) carries the label before any version of ours lands in it.
      if (!existing) {
        await call(store, ctx, where, 'write', (client, callOptions) =>
          client.createSecret({ parent: parentOf(store), secretId: secret, secret: { labels: { [OWNER_LABEL]: owner }, ...(typeof store.gcp_location === 'string' ? {} : { replication: { automatic: {} } }) } }, callOptions),
        );
      } else if (existing.labels?.[OWNER_LABEL] !== owner) {
        await call(store, ctx, where, 'write', (client, callOptions) =>
          client.updateSecret({ secret: { name: secretName(store, secret), labels: { ...(existing.labels ?? {}), [OWNER_LABEL]: owner } }, updateMask: { paths: ['labels'] } }, callOptions),
        );
      }
      const data = Buffer.from(text, 'utf8');
      const [added] = await call(store, ctx, where, 'write', (client, callOptions) => client.addSecretVersion({ parent: secretName(store, secret), payload: { data, dataCrc32c: crc32c(data) } }, callOptions));
      data.fill(0);
      return { version: /\/versions\/([^/]+)$/.exec(added.name ?? '')?.[1] ?? '', created: !existing };
    },
    checkName(_store, ref) {
      locate(ref, true);
    },
    adaptName(rendered) {
      // secretbind/central/apps/db -> secretbind-central-apps-db: secret ids hold letters, digits, - and _.
      return rendered.replace(/[^a-zA-Z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 255);
    },
    async remove(store, ref, removeOptions, ctx) {
      const { secret } = locate(ref, true);
      const where = `Secret ${secret}`;
      const existing = await secretOrUndefined(store, secret, ctx);
      if (!existing) throw new SecretbindError('ENTRY_NOT_FOUND', `${where} does not exist in project ${String(store.gcp_project)}.`, { storeType: TYPE });
      const version = removeOptions.ifVersion !== undefined ? await latestVersion(store, secret, ctx) : undefined;
      const label = existing.labels?.[OWNER_LABEL];
      guardWrite({ what: where, exists: true, owner: label === labelValue(removeOptions.owner) ? removeOptions.owner : label, version, mark: `${OWNER_LABEL} label`, storeType: TYPE }, removeOptions);
      // The etag just read: a secret changed meanwhile is ABORTED (CONFLICT), never deleted blind.
      await call(store, ctx, where, 'write', (client, callOptions) => client.deleteSecret({ name: secretName(store, secret), ...(existing.etag ? { etag: existing.etag } : {}) }, callOptions));
    },
    async close() {
      // A channel's close() leaves calls in flight running until they answer; cancel them first.
      for (const cancel of [...inFlight]) cancel();
      const open = [...clients.values()];
      clients.clear();
      // A client whose credentials never loaded rejects its close too: nothing is open to close then.
      await Promise.all(open.map(async (client) => (await client.catch(() => undefined))?.close().catch(() => undefined)));
    },
  };
}

const cancellers = new WeakMap<AbortSignal, Set<() => void>>();

/** Runs `cancel` when `signal` aborts; one listener per signal however many calls share it (a bulk read). */
function onAbort(signal: AbortSignal, cancel: () => void): () => void {
  let pending = cancellers.get(signal);
  if (!pending) {
    const set = new Set<() => void>();
    pending = set;
    cancellers.set(signal, set);
    signal.addEventListener('abort', () => set.forEach((run) => run()), { once: true });
  }
  pending.add(cancel);
  return () => pending.delete(cancel);
}

function parentOf(store: SecretStore): string {
  return typeof store.gcp_location === 'string' ? `projects/${String(store.gcp_project)}/locations/${store.gcp_location}` : `projects/${String(store.gcp_project)}`;
}

function secretName(store: SecretStore, secret: string): string {
  return `${parentOf(store)}/secrets/${secret}`;
}

/** `name` or `name@version` (a number, `latest`, or an alias); ids `[a-zA-Z0-9_-]{1,255}`, checked before any call. */
function locate(ref: EntryReference, write = false): { secret: string; version: string } {
  if (ref.segments.length !== 1) {
    throw new SecretbindError('REFERENCE_INVALID', `A gcp_secrets reference is name or name@version: ${JSON.stringify(ref.raw)} has ${ref.segments.length} path segments.`, { storeType: TYPE });
  }
  const [whole] = ref.segments as [string];
  const at = whole.lastIndexOf('@');
  const secret = at === -1 ? whole : whole.slice(0, at);
  const version = at === -1 ? 'latest' : whole.slice(at + 1);
  if (write && at !== -1) throw new SecretbindError('REFERENCE_INVALID', `A write names a secret, not a version: drop "@${version}" from ${JSON.stringify(ref.raw)}.`, { storeType: TYPE });
  if (!SECRET_ID.test(secret)) {
    throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(secret)} is not a valid Secret Manager secret id: 1 to 255 letters, digits, "-" and "_" ([a-zA-Z0-9_-]{1,255}).`, { storeType: TYPE });
  }
  if (!/^[a-zA-Z0-9_-]{1,63}$/.test(version)) throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(version)} is not a secret version: a number, latest, or an alias.`, { storeType: TYPE });
  return { secret, version };
}

/** An owner as a label value: lowercase letters, digits, - and _, at most 63. */
function labelValue(owner: string): string {
  return owner.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let index = 0; index < 256; index++) {
    let crc = index;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    table[index] = crc >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), the checksum Secret Manager keeps beside a payload. */
function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The client's errors as codes, following the reference table. Over gRPC `code` is the gRPC status; over the REST
 * fallback (gax 5.0.8) it is the HTTP status and the message is the JSON body, whose `status` names the gRPC code.
 * Messages never quote the service's text.
 */
function mapError(error: unknown, what: string, store: SecretStore): SecretbindError {
  if (error instanceof SecretbindError) return error;
  const context = { storeType: TYPE, cause: new WithheldError(error) };
  const text = String((error as { details?: unknown }).details ?? (error as Error)?.message ?? '');
  let code = (error as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 100) {
    // REST: the HTTP status, and the body's status name where the message is the body.
    let status: string | undefined;
    try {
      status = (JSON.parse(String((error as Error).message)) as { error?: { status?: string } }).error?.status;
    } catch {
      status = undefined;
    }
    code = status && status in GRPC ? GRPC[status as keyof typeof GRPC] : ({ 400: GRPC.INVALID_ARGUMENT, 401: GRPC.UNAUTHENTICATED, 403: GRPC.PERMISSION_DENIED, 404: GRPC.NOT_FOUND, 409: GRPC.ALREADY_EXISTS, 429: GRPC.RESOURCE_EXHAUSTED, 503: GRPC.UNAVAILABLE, 504: GRPC.DEADLINE_EXCEEDED } as Record<number, number>)[code] ?? GRPC.INTERNAL;
  }
  switch (code) {
    case GRPC.NOT_FOUND:
      return new SecretbindError('ENTRY_NOT_FOUND', `${what} does not exist in project ${String(store.gcp_project)}, or has no versions (NOT_FOUND).`, context);
    case GRPC.FAILED_PRECONDITION:
      if (/DISABLED state/.test(text)) return new SecretbindError('ENTRY_NOT_FOUND', `${what} is disabled: enable the version (gcloud secrets versions enable) or add a new one.`, context);
      if (/DESTROYED state/.test(text)) return new SecretbindError('ENTRY_NOT_FOUND', `${what} was destroyed and cannot come back: add a new version.`, context);
      return new SecretbindError('CONFLICT', `Secret Manager refused ${what} in its current state (FAILED_PRECONDITION).`, { ...context, retryable: false });
    case GRPC.INVALID_ARGUMENT:
      return new SecretbindError('REFERENCE_INVALID', `Secret Manager refused the request for ${what} as invalid (INVALID_ARGUMENT): ids are 1 to 255 letters, digits, - and _; payloads at most 64 KiB.`, context);
    case GRPC.PERMISSION_DENIED:
      return new SecretbindError('PERMISSION_DENIED', `The service account may not do this on ${what}, or it does not exist (PERMISSION_DENIED): grant roles/secretmanager.secretAccessor (reads) or secretVersionAdder and admin (writes).`, context);
    case GRPC.UNAUTHENTICATED:
      return new SecretbindError('AUTH_FAILED', `Secret Manager rejected the credentials for ${what} (UNAUTHENTICATED): check gcp_credentials_file or the Application Default Credentials.`, context);
    case GRPC.RESOURCE_EXHAUSTED:
      return new SecretbindError('RATE_LIMITED', `Secret Manager's quota is used up for ${what} (RESOURCE_EXHAUSTED).`, context);
    case GRPC.ALREADY_EXISTS:
      return new SecretbindError('CONFLICT', `${what} was created by someone else meanwhile (ALREADY_EXISTS): read it again.`, context);
    case GRPC.ABORTED:
      return new SecretbindError('CONFLICT', `${what} changed since it was read (ABORTED, etag mismatch): read it again.`, context);
    case GRPC.DEADLINE_EXCEEDED:
      return new SecretbindError('TIMEOUT', `Secret Manager did not answer in time for ${what} (DEADLINE_EXCEEDED).`, context);
    case GRPC.UNAVAILABLE:
    case GRPC.INTERNAL:
      return new SecretbindError('BACKEND_UNAVAILABLE', `Secret Manager is unavailable for ${what} (${code === GRPC.UNAVAILABLE ? 'UNAVAILABLE' : 'INTERNAL'}).`, { ...context, retryable: true });
    default:
      if (/Could not load the default credentials|Could not refresh access token|invalid_grant/i.test(text)) {
        return new SecretbindError('AUTH_FAILED', `No usable Google credentials for ${what}: set gcp_credentials_file to a service-account key, or configure Application Default Credentials (gcloud auth application-default login, or an attached service account).`, context);
      }
      return new SecretbindError('BACKEND_UNAVAILABLE', `Secret Manager is unreachable or failed (${(error as Error)?.name ?? 'error'}) on ${what}.`, { ...context, retryable: true });
  }
}
