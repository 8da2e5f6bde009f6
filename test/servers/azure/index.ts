/**
 * An Azure Key Vault stand-in on https://127.0.0.1 for the real @azure/keyvault-secrets and @azure/identity: the
 * secrets REST API (api-version 7.5 and later) behind the 401 `WWW-Authenticate` challenge the SDK expects, and the
 * Entra ID (v2.0) endpoints msal asks for a client-credentials token: the OpenID configuration and the token endpoint.
 * Bodies and codes follow the reference notes on Key Vault, kept in test/fixtures/reference/azure-key-vault.json.
 *
 * Departures from the real services: the vault and Entra ID answer on one server (the real ones are two hosts);
 * tokens are opaque random strings, not signed JWTs; names are compared case-insensitively as the service does,
 * but versions are 32 hex digits made here; a delete is complete at once (the service takes a moment and 404s
 * while it is pending); purge protection is a switch, not a vault property with its own rules; RBAC is a deny list
 * of `operation` or `operation:name` per client id.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
/** The resource the challenge names; the SDK asks for `${RESOURCE}/.default`. */
export const RESOURCE = 'https://vault.azure.net';
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** The api-versions the stand-in accepts: 7.5 and later, as the SDKs this project supports send. */
const API_VERSIONS = new Set(['7.5', '7.6', '2025-07-01', '2026-04-01']);

interface Attributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}
interface Version {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  attributes: Attributes;
}
interface StoredSecret {
  name: string;
  versions: Version[];
  managed?: boolean;
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

export interface AzureRequest {
  method: string;
  path: string;
  status: number;
  clientId?: string;
}

export class KeyVaultState {
  readonly secrets = new Map<string, StoredSecret>();
  /** client id -> secret; the app registrations Entra ID knows. */
  readonly clients = new Map<string, string>();
  /** Per client id: denied `get`, `set`, `list`, `delete`, `recover`, `purge` or `operation:name`. */
  readonly denied = new Map<string, Set<string>>();
  readonly tokens = new Map<string, { clientId: string; expiresAt: number }>();
  readonly log: AzureRequest[] = [];
  purgeProtection = false;
  tokenRequests = 0;
  mode: { throttle?: number; retryAfterSeconds?: number; fail500?: number; latencyMs?: number; tokenLifetimeSeconds?: number } = {};

  /** Sets a new version as the service does on PUT; returns it. */
  put(name: string, value: string, options: { tags?: Record<string, string>; contentType?: string; enabled?: boolean; nbf?: number; exp?: number; managed?: boolean } = {}): Version {
    const key = name.toLowerCase();
    const secret = this.secrets.get(key) ?? { name, versions: [] };
    const now = Math.floor(Date.now() / 1000);
    const version: Version = {
      version: randomBytes(16).toString('hex'),
      value,
      ...(options.contentType ? { contentType: options.contentType } : {}),
      ...(options.tags ? { tags: { ...options.tags } } : {}),
      attributes: { enabled: options.enabled ?? true, created: now, updated: now, ...(options.nbf ? { nbf: options.nbf } : {}), ...(options.exp ? { exp: options.exp } : {}) },
    };
    secret.versions.push(version);
    if (options.managed) secret.managed = true;
    this.secrets.set(key, secret);
    return version;
  }

  get(name: string): StoredSecret | undefined {
    return this.secrets.get(name.toLowerCase());
  }

  latest(name: string): Version | undefined {
    const secret = this.get(name);
    return secret && !secret.deleted ? secret.versions.at(-1) : undefined;
  }

  softDelete(name: string): void {
    const secret = this.get(name);
    if (secret) secret.deleted = { deletedDate: Math.floor(Date.now() / 1000), scheduledPurgeDate: Math.floor(Date.now() / 1000) + 90 * 86400 };
  }
}

export interface KeyVaultStandIn {
  /** The vault URL, as `azure_vault_url`. */
  url: string;
  /** The Entra ID authority host, as `azure_authority_host`. */
  authorityHost: string;
  state: KeyVaultState;
  stop(): Promise<void>;
}

export async function start(): Promise<KeyVaultStandIn> {
  const dir = process.env.SECRETBIND_TEST_TLS_DIR;
  if (!dir) throw new Error('SECRETBIND_TEST_TLS_DIR is not set: the Key Vault stand-in needs the test run certificate (test/global-setup.ts)');
  const state = new KeyVaultState();
  let base = '';
  const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (request, response) => {
    void handle(state, base, request, response).catch((error: unknown) => {
      send(response, 500, { error: { code: 'InternalError', message: String(error) } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    authorityHost: base,
    state,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(response: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': randomUUID(), ...headers });
  response.end(body === undefined ? undefined : JSON.stringify(body));
}

function vaultError(response: ServerResponse, status: number, code: string, message: string, inner?: string, headers: Record<string, string> = {}): void {
  send(response, status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } }, headers);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function handle(state: KeyVaultState, base: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', base);
  const record: AzureRequest = { method: request.method ?? 'GET', path: url.pathname, status: 0 };
  state.log.push(record);
  const reply = response.writeHead.bind(response);
  response.writeHead = ((status: number, ...rest: unknown[]) => {
    record.status = status;
    return (reply as (...args: unknown[]) => ServerResponse)(status, ...rest);
  }) as typeof response.writeHead;
  if (state.mode.latencyMs) await new Promise((resolve) => setTimeout(resolve, state.mode.latencyMs));

  // Entra ID: /{tenant}/v2.0/.well-known/openid-configuration and /{tenant}/oauth2/v2.0/token.
  const entra = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(url.pathname);
  if (entra) return handleEntra(state, base, entra[1]!, entra[2]!, request, response);

  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) return vaultError(response, 400, 'BadParameter', "The 'api-version' query parameter is missing.");
  if (!API_VERSIONS.has(apiVersion)) return vaultError(response, 400, 'BadParameter', `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (2025-07-01).`);

  // The challenge: a request without a token learns where to get one. The SDK sends its first request bodiless.
  const authorization = request.headers.authorization;
  const challenge = { 'www-authenticate': `Bearer authorization="${base}/${TENANT}", resource="${RESOURCE}"` };
  if (!authorization?.startsWith('Bearer ')) {
    await readBody(request);
    return vaultError(response, 401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, challenge);
  }
  const token = state.tokens.get(authorization.slice(7));
  // A token whose lifetime ends this very millisecond is expired (the tests issue ones with a lifetime of 0).
  if (!token || token.expiresAt <= Date.now()) {
    await readBody(request);
    return vaultError(response, 401, 'Unauthorized', 'AKV10022: Invalid audience or the token has expired.', undefined, challenge);
  }
  record.clientId = token.clientId;
  if (state.mode.throttle && state.mode.throttle > 0) {
    state.mode.throttle--;
    await readBody(request);
    return vaultError(response, 429, 'Throttled', 'Request was not processed because too many requests were received. Reason: A1000RequestsPer10SecondsPerVault', undefined, { 'retry-after': String(state.mode.retryAfterSeconds ?? 1) });
  }
  if (state.mode.fail500 && state.mode.fail500 > 0) {
    state.mode.fail500--;
    await readBody(request);
    return vaultError(response, 500, 'InternalServerError', 'An unexpected error occurred.');
  }
  const body = await readBody(request);
  const denied = (operation: string, name?: string) => {
    const set = state.denied.get(token.clientId);
    return set !== undefined && (set.has(operation) || (name !== undefined && set.has(`${operation}:${name.toLowerCase()}`)));
  };
  const forbidden = (operation: string) =>
    vaultError(response, 403, 'Forbidden', `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=${token.clientId};oid=${randomUUID()}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/${operation}/action'`, 'ForbiddenByRbac');

  const path = url.pathname.replace(/\/+$/, '');
  const method = request.method ?? 'GET';
  const notFound = (name: string) =>
    vaultError(response, 404, 'SecretNotFound', `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);

  if (path === '/secrets' && method === 'GET') {
    if (denied('list')) return forbidden('readMetadata');
    const maxResults = Number(url.searchParams.get('maxresults') ?? 25);
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 25) return vaultError(response, 400, 'BadParameter', 'invalid maxresults: the value must be between 1 and 25.');
    const live = [...state.secrets.values()].filter((secret) => !secret.deleted);
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
    const page = live.slice(skip, skip + maxResults);
    const next = skip + maxResults < live.length ? `${base}/secrets?api-version=${apiVersion}&$skiptoken=${skip + maxResults}&maxresults=${maxResults}` : null;
    return send(response, 200, {
      value: page.map((secret) => {
        const latest = secret.versions.at(-1)!;
        return { id: `${base}/secrets/${secret.name}`, attributes: attributesOf(latest), ...(latest.tags ? { tags: latest.tags } : {}), ...(latest.contentType ? { contentType: latest.contentType } : {}), ...(secret.managed ? { managed: true } : {}) };
      }),
      nextLink: next,
    });
  }

  const versionsPath = /^\/secrets\/([^/]+)\/versions$/.exec(path);
  if (versionsPath && method === 'GET') {
    const name = decodeURIComponent(versionsPath[1]!);
    if (denied('list', name)) return forbidden('readMetadata');
    const stored = state.get(name);
    if (!stored || stored.deleted) return notFound(name);
    const maxResults = Number(url.searchParams.get('maxresults') ?? 25);
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 25) return vaultError(response, 400, 'BadParameter', 'invalid maxresults: the value must be between 1 and 25.');
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
    const page = stored.versions.slice(skip, skip + maxResults);
    const next = skip + maxResults < stored.versions.length ? `${base}/secrets/${stored.name}/versions?api-version=${apiVersion}&$skiptoken=${skip + maxResults}&maxresults=${maxResults}` : null;
    // Metadata only, disabled versions included: the one way to see a disabled version's tags.
    return send(response, 200, { value: page.map((version) => ({ id: `${base}/secrets/${stored.name}/${version.version}`, attributes: attributesOf(version), ...(version.tags ? { tags: version.tags } : {}), ...(version.contentType ? { contentType: version.contentType } : {}) })), nextLink: next });
  }

  const secretPath = /^\/secrets\/([^/]+)(?:\/([^/]*))?$/.exec(path);
  if (secretPath) {
    const name = decodeURIComponent(secretPath[1]!);
    const version = secretPath[2] ? decodeURIComponent(secretPath[2]) : undefined;
    if (!NAME.test(name)) return vaultError(response, 400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    const stored = state.get(name);
    if (method === 'GET') {
      if (denied('get', name)) return forbidden('getSecret');
      if (!stored || stored.deleted) return notFound(name);
      const found = version ? stored.versions.find((item) => item.version === version) : stored.versions.at(-1);
      if (!found) return vaultError(response, 404, 'SecretNotFound', `A secret with (name/id) ${name}/${version} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`);
      if (!found.attributes.enabled) return vaultError(response, 403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
      // Key Vault returns expired and not-yet-valid secrets; their attributes say so (the client decides).
      return send(response, 200, bundle(base, stored, found));
    }
    if (method === 'PUT' && !version) {
      if (denied('set', name)) return forbidden('setSecret');
      if (stored?.deleted) {
        return vaultError(response, 409, 'Conflict', `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`, 'ObjectIsDeletedButRecoverable');
      }
      let parsed: { value?: unknown; tags?: Record<string, string>; contentType?: string; attributes?: { enabled?: boolean; nbf?: number; exp?: number } };
      try {
        parsed = JSON.parse(body) as typeof parsed;
      } catch {
        return vaultError(response, 400, 'BadParameter', 'The request body is not valid JSON.');
      }
      if (typeof parsed.value !== 'string') return vaultError(response, 400, 'BadParameter', 'Property value is required.');
      if (parsed.tags && Object.keys(parsed.tags).length > 15) return vaultError(response, 400, 'BadParameter', 'The number of tags exceeds the limit of 15.');
      const created = state.put(stored?.name ?? name, parsed.value, {
        ...(parsed.tags ? { tags: parsed.tags } : {}),
        ...(parsed.contentType ? { contentType: parsed.contentType } : {}),
        ...(parsed.attributes?.enabled === false ? { enabled: false } : {}),
        ...(parsed.attributes?.nbf ? { nbf: parsed.attributes.nbf } : {}),
        ...(parsed.attributes?.exp ? { exp: parsed.attributes.exp } : {}),
      });
      return send(response, 200, bundle(base, state.get(name)!, created));
    }
    if (method === 'DELETE' && !version) {
      if (denied('delete', name)) return forbidden('delete');
      if (!stored || stored.deleted) return notFound(name);
      state.softDelete(name);
      return send(response, 200, deletedBundle(base, stored));
    }
  }

  const deletedPath = /^\/deletedsecrets\/([^/]+)(\/recover)?$/.exec(path);
  if (deletedPath) {
    const name = decodeURIComponent(deletedPath[1]!);
    const stored = state.get(name);
    const deletedNotFound = () => vaultError(response, 404, 'DeletedSecretNotFound', `Deleted Secret not found: ${name}`);
    if (method === 'GET' && !deletedPath[2]) {
      if (denied('get', name)) return forbidden('readMetadata');
      return stored?.deleted ? send(response, 200, deletedBundle(base, stored)) : deletedNotFound();
    }
    if (method === 'POST' && deletedPath[2]) {
      if (denied('recover', name)) return forbidden('recover');
      if (!stored?.deleted) return deletedNotFound();
      delete stored.deleted;
      return send(response, 200, bundle(base, stored, stored.versions.at(-1)!, false));
    }
    if (method === 'DELETE' && !deletedPath[2]) {
      if (denied('purge', name)) return forbidden('purge');
      if (!stored?.deleted) return deletedNotFound();
      if (state.purgeProtection) return vaultError(response, 403, 'Forbidden', `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.`, 'PurgeProtectionEnabled');
      state.secrets.delete(name.toLowerCase());
      return send(response, 204);
    }
  }
  return vaultError(response, 400, 'BadParameter', `The request URI is not valid: ${method} ${path}`);
}

function attributesOf(version: Version) {
  return { ...version.attributes, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 };
}

function bundle(base: string, secret: StoredSecret, version: Version, withValue = true) {
  return {
    ...(withValue ? { value: version.value } : {}),
    id: `${base}/secrets/${secret.name}/${version.version}`,
    attributes: attributesOf(version),
    ...(version.tags ? { tags: version.tags } : {}),
    ...(version.contentType ? { contentType: version.contentType } : {}),
    ...(secret.managed ? { managed: true } : {}),
  };
}

function deletedBundle(base: string, secret: StoredSecret) {
  return {
    ...bundle(base, secret, secret.versions.at(-1)!, false),
    recoveryId: `${base}/deletedsecrets/${secret.name}`,
    deletedDate: secret.deleted!.deletedDate,
    scheduledPurgeDate: secret.deleted!.scheduledPurgeDate,
  };
}

async function handleEntra(state: KeyVaultState, base: string, tenant: string, endpoint: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const authority = `${base}/${tenant}`;
  if (endpoint.startsWith('v2.0')) {
    return send(response, 200, {
      token_endpoint: `${authority}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${authority}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${authority}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
      authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${authority}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid'],
      kerberos_endpoint: `${authority}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    });
  }
  state.tokenRequests++;
  const form = new URLSearchParams(await readBody(request));
  const clientId = form.get('client_id') ?? '';
  const entraError = (status: number, error: string, code: number, description: string) =>
    send(response, status, { error, error_description: `AADSTS${code}: ${description} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`, error_codes: [code], timestamp: new Date().toISOString(), trace_id: randomUUID(), correlation_id: randomUUID() });
  if (tenant !== TENANT) return entraError(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
  if (form.get('grant_type') !== 'client_credentials') return entraError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
  const secret = state.clients.get(clientId);
  if (secret === undefined) return entraError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`);
  if (form.get('client_secret') !== secret) return entraError(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
  if (form.get('scope') !== `${RESOURCE}/.default`) return entraError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid.`);
  const lifetime = state.mode.tokenLifetimeSeconds ?? 3599;
  const token = randomBytes(24).toString('base64url');
  state.tokens.set(token, { clientId, expiresAt: Date.now() + lifetime * 1000 });
  return send(response, 200, { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: token });
}
