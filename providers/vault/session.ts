/**
 * One Vault session per store: a node-vault client, its token, and the reads made with it. A login (AppRole,
 * Kubernetes) happens once and is shared by every concurrent lookup; a renewable token is renewed with renew-self
 * before two thirds of its TTL; an expired token gets one new login and one retry.
 */
import { readFile } from 'node:fs/promises';
import { abortableDelay, rateBudget, runWithTimeout, SecretbindError, untilAborted, type RateBudget, type ResolveContext, type SecretStore } from 'secretbind';
import { retryAfterOf, type Transport } from './transport.js';

/** The typed face of node-vault 0.12 this provider uses (its own types are loose). */
export interface NodeVaultClient {
  token?: string | undefined;
  read(path: string, requestOptions?: CallOptions): Promise<VaultBody>;
  write(path: string, data: unknown, requestOptions?: CallOptions): Promise<VaultBody | undefined>;
  list(path: string, requestOptions?: CallOptions): Promise<VaultBody>;
  delete(path: string, requestOptions?: CallOptions): Promise<VaultBody | undefined>;
  tokenLookupSelf(args?: { requestOptions?: CallOptions }): Promise<VaultBody>;
  tokenRenewSelf(args?: { requestOptions?: CallOptions }): Promise<VaultBody>;
  approleLogin(args: { role_id: string; secret_id: string; mount_point: string; requestOptions?: CallOptions }): Promise<VaultBody>;
  kubernetesLogin(args: { role: string; jwt: string; mount_point: string; requestOptions?: CallOptions }): Promise<VaultBody>;
  health(args?: { requestOptions?: CallOptions }): Promise<VaultBody>;
}
export type NodeVaultFactory = (config: Record<string, unknown>) => NodeVaultClient;
interface CallOptions {
  signal?: AbortSignal;
}
export interface VaultBody {
  data?: Record<string, unknown> | null;
  auth?: { client_token: string; lease_duration: number; renewable: boolean; policies?: string[] } | null;
  [key: string]: unknown;
}

export interface SessionOptions {
  env: Readonly<Record<string, string | undefined>>;
  now: () => number;
  retries: number;
  retryBaseMs: number;
  loginTimeoutMs: number;
}

const TYPE = 'vault';
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const TLS_PROBLEMS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate chain ends in a self-signed certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is signed by an unknown authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate is signed by an unknown authority',
  CERT_HAS_EXPIRED: 'its certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: "its certificate does not name this host",
};

export class VaultSession {
  readonly #client: NodeVaultClient;
  readonly #store: SecretStore;
  readonly #options: SessionOptions;
  readonly #budget: RateBudget;
  readonly #transport: Transport;
  #token: { issuedAt: number; ttlMs: number; renewable: boolean } | undefined;
  #login: Promise<void> | undefined;
  #renewal: Promise<void> | undefined;
  /** Aborted by close(): a login or renewal outlives the lookup that started it (it is shared), not the session. */
  readonly #closing = new AbortController();

  constructor(store: SecretStore, client: NodeVaultClient, transport: Transport, options: SessionOptions) {
    this.#store = store;
    this.#client = client;
    this.#transport = transport;
    this.#options = options;
    // Vault publishes no quota: unlimited unless the store sets rate_limit; a 429 still pauses the whole store.
    this.#budget = rateBudget(store, {});
  }

  get method(): string {
    return typeof this.#store.vault_auth_method === 'string' ? this.#store.vault_auth_method : 'token';
  }

  /** Reads a KV path (already including the mount and `data/`), with auth and retries. */
  async read(path: string, ctx: ResolveContext): Promise<VaultBody> {
    return this.#withToken(ctx, () => this.#client.read(path, { signal: ctx.signal }), path);
  }

  /** Writes (POST) a path; Vault answers 200 with a body or 204 without. */
  async write(path: string, data: unknown, ctx: ResolveContext): Promise<VaultBody> {
    return this.#withToken(ctx, async () => (await this.#client.write(path, data, { signal: ctx.signal })) ?? {}, path, 'create and update');
  }

  /** Lists a folder (GET ?list=1, which Vault treats as LIST). */
  async list(path: string, ctx: ResolveContext): Promise<VaultBody> {
    return this.#withToken(ctx, () => this.#client.list(path, { signal: ctx.signal }), path, 'list');
  }

  async delete(path: string, ctx: ResolveContext): Promise<void> {
    await this.#withToken(ctx, async () => (await this.#client.delete(path, { signal: ctx.signal })) ?? {}, path, 'delete');
  }

  async health(ctx: ResolveContext): Promise<VaultBody> {
    return this.#retrying(ctx, () => this.#client.health({ requestOptions: { signal: ctx.signal } }), 'sys/health');
  }

  async lookupSelf(ctx: ResolveContext): Promise<VaultBody> {
    return this.#withToken(ctx, () => this.#client.tokenLookupSelf({ requestOptions: { signal: ctx.signal } }), 'auth/token/lookup-self');
  }

  close(): void {
    this.#closing.abort(new SecretbindError('BACKEND_UNAVAILABLE', 'The Vault session was closed during a login or token renewal.', { storeType: TYPE }));
    this.#transport.close();
  }

  async #withToken(ctx: ResolveContext, call: () => Promise<VaultBody>, path: string, capability = 'read'): Promise<VaultBody> {
    await this.#ensureToken(ctx);
    const kind = capability === 'create and update' || capability === 'delete' ? 'write' : 'read';
    try {
      return await this.#retrying(ctx, call, path, kind);
    } catch (error) {
      if (statusOf(error) !== 403) throw error;
      // 403 says nothing about why: ask Vault whether the token itself is still good.
      const tokenValid = await this.#retrying(ctx, () => this.#client.tokenLookupSelf({ requestOptions: { signal: ctx.signal } }), 'auth/token/lookup-self').then(
        () => true,
        (lookup: unknown) => {
          if (statusOf(lookup) === 403) return false;
          throw lookup;
        },
      );
      if (tokenValid) throw new SecretbindError('PERMISSION_DENIED', `Vault denied ${path}: the token is valid but no policy allows it; grant ${capability} on ${path}.`, { storeType: TYPE, cause: error });
      if (this.method === 'token') throw this.#tokenRejected(error);
      // A login token that expired: one new login, one retry.
      ctx.emit({ level: 'warn', message: 'Vault token rejected; logging in again', detail: { method: this.method } });
      this.#token = undefined;
      await this.#ensureToken(ctx);
      try {
        return await this.#retrying(ctx, call, path, kind);
      } catch (retry) {
        if (statusOf(retry) === 403) throw new SecretbindError('PERMISSION_DENIED', `Vault denied ${path} right after a fresh ${this.method} login: grant ${capability} on ${path} to the role.`, { storeType: TYPE, cause: retry });
        throw retry;
      }
    }
  }

  async #ensureToken(ctx: ResolveContext): Promise<void> {
    if (this.method === 'token') {
      if (this.#client.token === undefined) {
        const variable = typeof this.#store.vault_token_env === 'string' ? this.#store.vault_token_env : 'VAULT_TOKEN';
        // vault_token is filled in by the resolver from vault_token_ref; it wins over the variable.
        const token = typeof this.#store.vault_token === 'string' ? this.#store.vault_token : this.#options.env[variable];
        if (!token) throw new SecretbindError('CONFIG_INVALID', `Vault store ${JSON.stringify(this.#store.name)}: environment variable ${variable} (vault_token_env) is not set.`, { storeType: TYPE });
        this.#client.token = token;
      }
      return;
    }
    // A login or renewal is shared by every lookup waiting for it: it runs under its own deadline, never the first
    // caller's signal, and each caller waits only as long as its own deadline allows.
    if (!this.#token || this.#expired()) {
      this.#login ??= this.#shared('login', (shared) => this.#logIn(shared), ctx).finally(() => (this.#login = undefined));
      await untilAborted(this.#login, ctx.signal);
      return;
    }
    const { issuedAt, ttlMs, renewable } = this.#token;
    if (renewable && ttlMs > 0 && this.#options.now() - issuedAt >= (ttlMs * 2) / 3) {
      this.#renewal ??= this.#shared('token renewal', (shared) => this.#renew(shared), ctx).finally(() => (this.#renewal = undefined));
      await untilAborted(this.#renewal, ctx.signal);
    }
  }

  #shared(what: string, work: (ctx: ResolveContext) => Promise<void>, ctx: ResolveContext): Promise<void> {
    const timeoutMs = this.#options.loginTimeoutMs;
    return runWithTimeout(timeoutMs, `Vault ${what} (${this.method}) did not finish within ${timeoutMs} ms (loginTimeoutMs).`, (signal) => work({ signal: AbortSignal.any([signal, this.#closing.signal]), account: undefined, emit: (notice) => ctx.emit(notice) }), TYPE);
  }

  #expired(): boolean {
    const token = this.#token!;
    return token.ttlMs > 0 && this.#options.now() - token.issuedAt >= token.ttlMs;
  }

  async #logIn(ctx: ResolveContext): Promise<void> {
    const mount = typeof this.#store.vault_auth_mount === 'string' ? this.#store.vault_auth_mount : this.method;
    const signal = { signal: ctx.signal };
    let body: VaultBody;
    try {
      if (this.method === 'approle') {
        const roleId = this.#credential('vault_role_id');
        const secretId = this.#credential('vault_secret_id');
        body = await this.#retrying(ctx, () => this.#client.approleLogin({ role_id: roleId, secret_id: secretId, mount_point: mount, requestOptions: signal }), `auth/${mount}/login`);
      } else {
        const jwtPath = typeof this.#store.vault_jwt_path === 'string' ? this.#store.vault_jwt_path : SERVICE_ACCOUNT_TOKEN;
        let jwt: string;
        try {
          jwt = (await readFile(jwtPath, 'utf8')).trim();
        } catch (error) {
          throw new SecretbindError('CONFIG_INVALID', `Vault store ${JSON.stringify(this.#store.name)}: the service account token ${jwtPath} (vault_jwt_path) cannot be read.`, { storeType: TYPE, cause: error });
        }
        const role = String(this.#store.vault_role);
        body = await this.#retrying(ctx, () => this.#client.kubernetesLogin({ role, jwt, mount_point: mount, requestOptions: signal }), `auth/${mount}/login`);
      }
    } catch (error) {
      const status = statusOf(error);
      if (status === 400 || status === 403) {
        throw new SecretbindError('AUTH_FAILED', `Vault ${this.method} login at auth/${mount} was refused: check ${this.method === 'approle' ? 'the role id and secret id variables' : 'vault_role and the service account token'}.`, { storeType: TYPE, cause: error });
      }
      throw error;
    }
    this.#remember(body);
    ctx.emit({ message: 'Vault login', detail: { method: this.method, ttlSeconds: body.auth?.lease_duration ?? 0 } });
  }

  async #renew(ctx: ResolveContext): Promise<void> {
    try {
      const body = await this.#retrying(ctx, () => this.#client.tokenRenewSelf({ requestOptions: { signal: ctx.signal } }), 'auth/token/renew-self');
      this.#remember(body);
      ctx.emit({ message: 'Vault token renewed', detail: { method: this.method, ttlSeconds: body.auth?.lease_duration ?? 0 } });
    } catch (error) {
      if (isAbort(error, ctx)) throw error;
      // A renewal that fails (max TTL reached) is not fatal: log in again instead.
      ctx.emit({ level: 'warn', message: 'Vault token renewal failed; logging in again', detail: { method: this.method } });
      this.#token = undefined;
      await this.#logIn(ctx);
    }
  }

  #remember(body: VaultBody): void {
    const auth = body.auth;
    if (!auth?.client_token) throw new SecretbindError('BACKEND_UNAVAILABLE', 'Vault answered a login without a token.', { storeType: TYPE });
    this.#client.token = auth.client_token;
    this.#token = { issuedAt: this.#options.now(), ttlMs: auth.lease_duration * 1000, renewable: auth.renewable };
  }

  #credential(field: 'vault_role_id' | 'vault_secret_id'): string {
    const filled = this.#store[field];
    if (typeof filled === 'string') return filled;
    const variable = String(this.#store[`${field}_env`]);
    const value = this.#options.env[variable];
    if (!value) throw new SecretbindError('CONFIG_INVALID', `Vault store ${JSON.stringify(this.#store.name)}: environment variable ${variable} (${field}_env) is not set.`, { storeType: TYPE });
    return value;
  }

  #tokenRejected(cause: unknown): SecretbindError {
    const variable = typeof this.#store.vault_token_env === 'string' ? this.#store.vault_token_env : 'VAULT_TOKEN';
    const where = typeof this.#store.vault_token === 'string' ? `vault_token_ref (${String(this.#store.vault_token_ref ?? 'another store')})` : `$${variable}`;
    return new SecretbindError('AUTH_FAILED', `Vault token rejected: the token in ${where} is invalid or expired`, { storeType: TYPE, cause });
  }

  /** Retries 429, 500, 502, 503 and network failures with jittered exponential backoff, inside the deadline. */
  async #retrying(ctx: ResolveContext, call: () => Promise<VaultBody>, path: string, kind: 'read' | 'write' = 'read'): Promise<VaultBody> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#budget.take(kind, ctx.signal);
        return await call();
      } catch (error) {
        if (isAbort(error, ctx)) throw ctx.signal.reason;
        const mapped = mapError(error, path, this.#store);
        if (statusOf(error) === 429) this.#budget.slow(mapped.retryAfterMs);
        if (!mapped.retryable || attempt >= this.#options.retries) throw mapped.error ?? error;
        const backoff = this.#options.retryBaseMs * 2 ** attempt * (0.5 + Math.random());
        ctx.emit({ level: 'warn', message: 'Vault request failed; retrying', detail: { path, status: statusOf(error) ?? 0, attempt: attempt + 1 } });
        await abortableDelay(mapped.retryAfterMs ?? backoff, ctx.signal);
      }
    }
  }
}

/** The HTTP status of a node-vault ApiResponseError, also when it is the cause of one of our errors. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { response?: { statusCode?: unknown } })?.response?.statusCode;
  if (typeof status === 'number') return status;
  return error instanceof SecretbindError && error.cause !== undefined ? statusOf(error.cause) : undefined;
}

function isAbort(error: unknown, ctx: ResolveContext): boolean {
  return ctx.signal.aborted || (error as { name?: string })?.name === 'AbortError';
}

/** Vault's answer as a code; `error` is undefined where the caller decides (403, 404). */
function mapError(error: unknown, path: string, store: SecretStore): { retryable: boolean; retryAfterMs?: number; error?: SecretbindError } {
  const status = statusOf(error);
  const context = { storeType: TYPE, cause: error };
  if (status === undefined) {
    const code = (error as { code?: string })?.code ?? '';
    const tls = TLS_PROBLEMS[code];
    if (tls) return { retryable: false, error: new SecretbindError('BACKEND_UNAVAILABLE', `Cannot trust Vault at ${String(store.vault_url)}: ${tls} (${code}); set vault_ca_path to the CA that signed it.`, context) };
    return { retryable: true, error: new SecretbindError('BACKEND_UNAVAILABLE', `Vault at ${String(store.vault_url)} is unreachable (${code || (error as Error)?.name || 'error'}).`, { ...context, retryable: true }) };
  }
  const body = (error as { response?: { body?: unknown } }).response?.body;
  switch (status) {
    case 429: {
      const retryAfterMs = body && typeof body === 'object' ? retryAfterOf.get(body) : undefined;
      return { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }), error: new SecretbindError('RATE_LIMITED', `Vault rate-limited ${path}${retryAfterMs === undefined ? '' : `; it asked to wait ${retryAfterMs / 1000} s`}.`, { ...context, retryAfterMs }) };
    }
    case 500:
    case 502:
      return { retryable: true, error: new SecretbindError('BACKEND_UNAVAILABLE', `Vault failed with ${status} on ${path}; it is retried, then reported.`, context) };
    case 503:
      return { retryable: true, error: new SecretbindError('BACKEND_UNAVAILABLE', `Vault is sealed or in maintenance (503 on ${path}): unseal it or wait.`, context) };
    case 400:
      return { retryable: false, error: new SecretbindError('CONFIG_INVALID', `Vault refused the request for ${path} as invalid (400): check the token variable and the path.`, context) };
    case 405:
      return { retryable: false, error: new SecretbindError('CONFIG_INVALID', `Vault does not support this operation on ${path} (405): is vault_kv_version right for this mount?`, context) };
    case 412:
      return { retryable: true, error: new SecretbindError('BACKEND_UNAVAILABLE', `Vault node has not caught up (412 on ${path}).`, context) };
    default:
      return { retryable: false };
  }
}
