/**
 * azure_keyvault: secrets of an Azure Key Vault through @azure/keyvault-secrets and @azure/identity (the 4.11 / 4.13
 * lines run on Node 20). Freshness: read live on every lookup; one SecretClient per store configuration, whose
 * credential caches its token. Writes carry the tag `managed-by` (tags travel with each version, so the mark and the
 * value land in one call); a secret we own that sits soft-deleted is recovered before it is written.
 */
import {
  forEachLimit,
  formatReference,
  guardWrite,
  jsonSecretEntry,
  jsonSecretField,
  jsonSecretText,
  parseReference,
  peerLoader,
  readEachOnce,
  rateBudget,
  referencePath,
  SecretbindError,
  validateStoreFields,
  WithheldError,
  type EntryInfo,
  type EntryReference,
  type EntrySettled,
  type ResolveContext,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';

export interface AzureKeyVaultOptions {
  /** @azure/keyvault-secrets itself, instead of importing it. */
  lib?: AzureSecretsModule;
  /** @azure/identity itself, instead of importing it. */
  identity?: AzureIdentityModule;
  /** A credential to use for every store instead of the one the store's fields describe (an `@azure/core-auth` TokenCredential). */
  credential?: unknown;
  /**
   * Accept a challenge whose resource is not `*.vault.azure.net` (a private endpoint under another name, a local
   * stand-in). Default: false, as the SDK: the token is only sent where the challenge is verified.
   */
  disableChallengeResourceVerification?: boolean;
  /** Passed to the identity credentials, e.g. `{ disableInstanceDiscovery: true }` for an authority msal does not know. */
  credentialOptions?: Readonly<Record<string, unknown>>;
  /** Retries inside the SDK on 429 and 5xx before a failure reaches secretbind. Default: 2. */
  maxRetries?: number;
  /** Environment the `*_env` fields are read from. Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The parts of @azure/keyvault-secrets 4.x this provider uses. */
export interface AzureSecretsModule {
  SecretClient: new (vaultUrl: string, credential: unknown, options?: Record<string, unknown>) => SecretClientLike;
}
/** The parts of @azure/identity 4.x this provider uses. */
export interface AzureIdentityModule {
  ClientSecretCredential: new (tenantId: string, clientId: string, secret: string, options?: Record<string, unknown>) => unknown;
  ManagedIdentityCredential: new (options: { clientId: string } & Record<string, unknown>) => unknown;
  DefaultAzureCredential: new (options?: Record<string, unknown>) => unknown;
}
interface SecretProperties {
  name: string;
  version?: string;
  enabled?: boolean;
  notBefore?: Date;
  expiresOn?: Date;
  updatedOn?: Date;
  createdOn?: Date;
  contentType?: string;
  tags?: Record<string, string>;
  managed?: boolean;
}
interface KeyVaultSecret {
  name: string;
  value?: string;
  properties: SecretProperties;
}
interface Poller<T> {
  pollUntilDone(): Promise<T>;
}
interface SecretClientLike {
  getSecret(name: string, options?: { version?: string; abortSignal?: AbortSignal }): Promise<KeyVaultSecret>;
  setSecret(name: string, value: string, options?: { tags?: Record<string, string>; contentType?: string; abortSignal?: AbortSignal }): Promise<KeyVaultSecret>;
  getDeletedSecret(name: string, options?: { abortSignal?: AbortSignal }): Promise<{ properties: SecretProperties & { deletedOn?: Date; scheduledPurgeDate?: Date } }>;
  beginDeleteSecret(name: string, options?: { abortSignal?: AbortSignal; intervalInMs?: number }): Promise<Poller<unknown>>;
  beginRecoverDeletedSecret(name: string, options?: { abortSignal?: AbortSignal; intervalInMs?: number }): Promise<Poller<unknown>>;
  purgeDeletedSecret(name: string, options?: { abortSignal?: AbortSignal }): Promise<void>;
  listPropertiesOfSecrets(options?: { abortSignal?: AbortSignal }): { byPage(settings?: { maxPageSize?: number }): AsyncIterable<SecretProperties[]> };
  listPropertiesOfSecretVersions(name: string, options?: { abortSignal?: AbortSignal }): { byPage(settings?: { maxPageSize?: number }): AsyncIterable<SecretProperties[]> };
}

const TYPE = 'azure_keyvault';
const INSTALL = 'npm install @azure/keyvault-secrets@4 @azure/identity@4';
/** The tag that marks a secret as secretbind's; its value is the owner. */
export const OWNER_TAG = 'managed-by';
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** Secrets a bulk read asks for at once. */
const READS_AT_ONCE = 8;
/**
 * Key Vault's published limits per vault and region: 4,000 secret transactions per 10 s (every call takes a `read`
 * token) and 300 creates per 10 s (writes take a `write` token as well).
 */
const AZURE_QUOTAS = { read: 400, write: 30 } as const;

/**
 * A provider for `azure_keyvault` stores (`azure_vault_url`; `azure_tenant_id`, `azure_client_id` and
 * `azure_client_secret_env` for an app registration, `azure_managed_identity_client_id` for a user-assigned
 * identity, or nothing for DefaultAzureCredential). A reference is `name` or `name/version`, with `#key` into a JSON
 * value: `checkmk-prod`, `checkmk-prod#password`, `checkmk-prod/6f1b0c...`.
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [azureKeyVault()] })
 * // store: { name: 'kv', type: 'azure_keyvault', azure_vault_url: 'https://ops.vault.azure.net' }
 * ```
 */
export function azureKeyVault(options: AzureKeyVaultOptions = {}): SecretProvider {
  const loadSecrets = peerLoader(TYPE, '@azure/keyvault-secrets', options.lib, () => import('@azure/keyvault-secrets') as unknown as Promise<AzureSecretsModule>, INSTALL);
  const loadIdentity = peerLoader(TYPE, '@azure/identity', options.identity, () => import('@azure/identity') as unknown as Promise<AzureIdentityModule>, INSTALL);
  const env = options.env ?? process.env;
  const clients = new Map<string, Promise<{ client: SecretClientLike; identity: string }>>();

  function clientFor(store: SecretStore): Promise<{ client: SecretClientLike; identity: string }> {
    const secretVariable = typeof store.azure_client_secret_env === 'string' ? store.azure_client_secret_env : undefined;
    const clientSecret = typeof store.azure_client_secret === 'string' ? store.azure_client_secret : secretVariable ? env[secretVariable] : undefined;
    const key = JSON.stringify([store.azure_vault_url, store.azure_tenant_id, store.azure_client_id, secretVariable, clientSecret === undefined ? '' : 'secret', store.azure_managed_identity_client_id, store.azure_authority_host]);
    let found = clients.get(key);
    if (!found) {
      found = (async () => {
        const { SecretClient } = await loadSecrets();
        const credentialOptions = { ...(typeof store.azure_authority_host === 'string' ? { authorityHost: store.azure_authority_host } : {}), ...options.credentialOptions };
        let credential = options.credential;
        let identity = 'injected credential';
        if (credential === undefined) {
          const lib = await loadIdentity();
          if (typeof store.azure_client_id === 'string' && typeof store.azure_tenant_id === 'string' && (secretVariable !== undefined || store.azure_client_secret !== undefined)) {
            if (!clientSecret) {
              throw new SecretbindError('CONFIG_INVALID', `Azure Key Vault store ${JSON.stringify(store.name)}: $${secretVariable ?? 'azure_client_secret'} is not set: set the variable to the app registration's client secret.`, { storeType: TYPE });
            }
            credential = new lib.ClientSecretCredential(store.azure_tenant_id, store.azure_client_id, clientSecret, credentialOptions);
            identity = `app ${store.azure_client_id} in tenant ${store.azure_tenant_id}`;
          } else if (typeof store.azure_managed_identity_client_id === 'string') {
            credential = new lib.ManagedIdentityCredential({ clientId: store.azure_managed_identity_client_id, ...credentialOptions });
            identity = `managed identity ${store.azure_managed_identity_client_id}`;
          } else {
            credential = new lib.DefaultAzureCredential(credentialOptions);
            identity = 'DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI)';
          }
        }
        const client = new SecretClient(String(store.azure_vault_url), credential, {
          retryOptions: { maxRetries: options.maxRetries ?? 2 },
          ...(options.disableChallengeResourceVerification ? { disableChallengeResourceVerification: true } : {}),
          // The SDK logs through @azure/logger only when AZURE_LOG_LEVEL asks; request bodies are never logged.
          userAgentOptions: { userAgentPrefix: 'secretbind' },
        });
        return { client, identity };
      })();
      clients.set(key, found);
      found.catch(() => clients.delete(key));
    }
    return found;
  }

  async function call<T>(store: SecretStore, ctx: ResolveContext, what: string, run: (client: SecretClientLike) => Promise<T>, kind: 'read' | 'write' = 'read'): Promise<T> {
    const { client } = await clientFor(store);
    const budget = rateBudget(store, AZURE_QUOTAS);
    await budget.take('read', ctx.signal);
    if (kind === 'write') await budget.take('write', ctx.signal);
    try {
      return await run(client);
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const mapped = mapError(error, what, store);
      if (mapped.code === 'RATE_LIMITED') budget.slow(mapped.retryAfterMs);
      throw mapped;
    }
  }

  /** Reads a secret; a 404 asks whether it sits soft-deleted, so the message can say it can be recovered. */
  async function read(store: SecretStore, ref: EntryReference, ctx: ResolveContext): Promise<KeyVaultSecret> {
    const { name, version } = locate(ref);
    const what = `Secret ${name}${version ? `/${version}` : ''}`;
    let secret: KeyVaultSecret;
    try {
      secret = await call(store, ctx, what, (client) => client.getSecret(name, { ...(version ? { version } : {}), abortSignal: ctx.signal }));
    } catch (error) {
      if ((error as SecretbindError).code === 'ENTRY_NOT_FOUND' && !version) throw await explainMissing(store, name, ctx, error as SecretbindError);
      throw error;
    }
    checkUsable(secret.properties, what);
    return secret;
  }

  async function explainMissing(store: SecretStore, name: string, ctx: ResolveContext, original: SecretbindError): Promise<SecretbindError> {
    try {
      const deleted = await call(store, ctx, `Deleted secret ${name}`, (client) => client.getDeletedSecret(name, { abortSignal: ctx.signal }));
      const when = deleted.properties.deletedOn ? ` on ${deleted.properties.deletedOn.toISOString()}` : '';
      const until = deleted.properties.scheduledPurgeDate ? ` until ${deleted.properties.scheduledPurgeDate.toISOString()}` : '';
      return new SecretbindError('ENTRY_NOT_FOUND', `Secret ${name} was deleted${when} and can be recovered${until}: az keyvault secret recover --vault-name <vault> --name ${name} (secretbind recovers it itself when it writes a secret it owns).`, { storeType: TYPE });
    } catch {
      return original; // not deleted, or we may not look at deleted secrets: the plain 404 stands
    }
  }

  async function current(store: SecretStore, name: string, ctx: ResolveContext): Promise<{ secret?: KeyVaultSecret; deleted?: SecretProperties }> {
    try {
      return { secret: await call(store, ctx, `Secret ${name}`, (client) => client.getSecret(name, { abortSignal: ctx.signal })) };
    } catch (error) {
      const code = (error as SecretbindError).code;
      // A disabled newest version refuses get (403 SecretDisabled); its tags, and so its owner, come from the
      // versions listing, which returns metadata only.
      if (code === 'PERMISSION_DENIED' && /disabled/.test((error as Error).message)) return { secret: { name, properties: (await newestVersion(store, name, ctx)) ?? { name, enabled: false } } };
      if (code !== 'ENTRY_NOT_FOUND') throw error;
    }
    try {
      const deleted = await call(store, ctx, `Deleted secret ${name}`, (client) => client.getDeletedSecret(name, { abortSignal: ctx.signal }));
      return { deleted: deleted.properties };
    } catch (error) {
      if ((error as SecretbindError).code === 'ENTRY_NOT_FOUND') return {};
      throw error;
    }
  }

  async function newestVersion(store: SecretStore, name: string, ctx: ResolveContext): Promise<SecretProperties | undefined> {
    return call(store, ctx, `Secret ${name}`, async (client) => {
      let newest: SecretProperties | undefined;
      for await (const page of client.listPropertiesOfSecretVersions(name, { abortSignal: ctx.signal }).byPage({ maxPageSize: 25 })) {
        for (const version of page) if (!newest || (version.createdOn?.getTime() ?? 0) >= (newest.createdOn?.getTime() ?? 0)) newest = version;
      }
      return newest;
    });
  }

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      const secret = await read(store, ref, ctx);
      return jsonSecretField(secret.value ?? '', ref.field, `Secret ${secret.name}`, TYPE);
    },
    resolveMany(store, refs, ctx) {
      // Each secret (and version) once, however many keys and accounts use it; a few at a time.
      return readEachOnce(refs, (ref) => referencePath(ref).toLowerCase(), (ref) => read(store, ref, ctx), (secret, ref) => jsonSecretField(secret.value ?? '', ref.field, `Secret ${secret.name}`, TYPE), READS_AT_ONCE);
    },
    async readEntries(store, refs, ctx) {
      const answers = new Map<string, EntrySettled>();
      for (const ref of refs) {
        try {
          const secret = await read(store, ref, ctx);
          answers.set(ref.raw, { ok: true, value: jsonSecretEntry(secret.value ?? ''), ...(secret.properties.version ? { version: secret.properties.version } : {}) });
        } catch (error) {
          answers.set(ref.raw, { ok: false, error: mapError(error, `Secret ${ref.raw}`, store) });
        }
      }
      return answers;
    },
    async check(store, ctx) {
      const { identity } = await clientFor(store);
      await call(store, ctx, 'the secrets of the vault', async (client) => {
        for await (const page of client.listPropertiesOfSecrets({ abortSignal: ctx.signal }).byPage({ maxPageSize: 1 })) {
          void page;
          break;
        }
      });
      return { vault: String(store.azure_vault_url), identity };
    },
    async list(store, listOptions, ctx) {
      const prefix = (listOptions.prefix ?? '').toLowerCase();
      const entries: EntryInfo[] = [];
      await call(store, ctx, 'the secrets of the vault', async (client) => {
        for await (const page of client.listPropertiesOfSecrets({ abortSignal: ctx.signal }).byPage({ maxPageSize: 25 })) {
          for (const properties of page) {
            // Secrets Key Vault manages for certificates are not ours to list or sync.
            if (properties.managed || !properties.name.toLowerCase().startsWith(prefix)) continue;
            const owner = properties.tags?.[OWNER_TAG];
            const description = properties.tags?.description ?? properties.contentType;
            entries.push({
              name: formatReference([properties.name]),
              ...(properties.updatedOn ? { updatedAt: properties.updatedOn.toISOString() } : {}),
              owned: owner !== undefined,
              ...(owner !== undefined ? { owner } : {}),
              ...(description ? { description } : {}),
            });
          }
        }
      });
      // The listing carries no version; with metadata each secret's newest version is looked up (a call each), so
      // `ls` shows what --if-version takes.
      if (listOptions.metadata) {
        const positions = entries.map((_entry, index) => index);
        await forEachLimit(positions, READS_AT_ONCE, async (index) => {
          const entry = entries[index]!;
          const newest = await newestVersion(store, parseReference(entry.name).segments[0]!, ctx);
          if (newest?.version) entries[index] = { ...entry, version: newest.version };
        });
      }
      return entries;
    },
    async write(store, ref, value, writeOptions, ctx) {
      const { name } = locate(ref, true);
      const where = `Secret ${name}`;
      const { secret, deleted } = await current(store, name, ctx);
      const existing = secret?.properties ?? deleted;
      guardWrite({ what: deleted ? `${where} (soft-deleted)` : where, exists: existing !== undefined, owner: existing?.tags?.[OWNER_TAG], version: secret?.properties.version, mark: `${OWNER_TAG} tag`, storeType: TYPE, recoverable: deleted !== undefined }, writeOptions);
      if (deleted) {
        // Our own name waits in the recycle bin: bring it back rather than fail until it is purged.
        await call(store, ctx, where, async (client) => (await client.beginRecoverDeletedSecret(name, { abortSignal: ctx.signal, intervalInMs: 500 })).pollUntilDone(), 'write');
      }
      const text = jsonSecretText(value, writeOptions.merge && secret?.value !== undefined ? secret.value : undefined);
      const tags = { ...(existing?.tags ?? {}), [OWNER_TAG]: writeOptions.owner };
      const written = await call(
        store,
        ctx,
        where,
        (client) => client.setSecret(name, text, { tags, ...(typeof value === 'string' ? {} : { contentType: 'application/json' }), abortSignal: ctx.signal }),
        'write',
      );
      return { version: written.properties.version ?? '', created: existing === undefined };
    },
    checkName(_store, ref) {
      locate(ref, true);
    },
    adaptName(rendered) {
      // secretbind/central/apps/db -> secretbind-central-apps-db: Key Vault names hold letters, digits and -.
      return rendered.replace(/[^0-9a-zA-Z-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 127);
    },
    async remove(store, ref, removeOptions, ctx) {
      const { name } = locate(ref, true);
      const where = `Secret ${name}`;
      const { secret } = await current(store, name, ctx);
      if (!secret) throw new SecretbindError('ENTRY_NOT_FOUND', `${where} does not exist in the vault.`, { storeType: TYPE });
      guardWrite({ what: where, exists: true, owner: secret.properties.tags?.[OWNER_TAG], version: secret.properties.version, mark: `${OWNER_TAG} tag`, storeType: TYPE }, removeOptions);
      await call(store, ctx, where, async (client) => (await client.beginDeleteSecret(name, { abortSignal: ctx.signal, intervalInMs: 500 })).pollUntilDone(), 'write');
      // Soft delete keeps it recoverable for the vault's retention; purge only when the store says so.
      if (store.azure_purge_deleted === true) await call(store, ctx, where, (client) => client.purgeDeletedSecret(name, { abortSignal: ctx.signal }), 'write');
    },
    async close() {
      clients.clear();
    },
  };
}

/** `name` or `name/version`; names `[0-9a-zA-Z-]{1,127}`, checked before any call. */
function locate(ref: EntryReference, write = false): { name: string; version?: string } {
  const [name, version, ...rest] = ref.segments as [string, string | undefined, ...string[]];
  if (rest.length > 0 || (write && version !== undefined)) {
    throw new SecretbindError('REFERENCE_INVALID', `An azure_keyvault reference is name or name/version${write ? ' (a write names no version)' : ''}: ${JSON.stringify(ref.raw)} has ${ref.segments.length} path segments.`, { storeType: TYPE });
  }
  if (!NAME.test(name)) {
    throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(name)} is not a valid Key Vault secret name: 1 to 127 letters, digits and "-" ([0-9a-zA-Z-]{1,127}).`, { storeType: TYPE });
  }
  if (version !== undefined && !/^[0-9a-fA-F]{32}$/.test(version)) {
    throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(version)} is not a Key Vault secret version (32 hexadecimal digits).`, { storeType: TYPE });
  }
  return version === undefined ? { name } : { name, version };
}

/** The body's innererror code, where the SDK kept the body as text (its RestError keeps only the outer code). */
function innerCodeOf(error: unknown): string | undefined {
  const text = (error as { response?: { bodyAsText?: unknown } }).response?.bodyAsText;
  if (typeof text !== 'string') return undefined;
  try {
    return (JSON.parse(text) as { error?: { innererror?: { code?: string } } }).error?.innererror?.code;
  } catch {
    return undefined;
  }
}

/** Key Vault returns expired and not-yet-valid secrets; their attributes say they are not to be used. */
function checkUsable(properties: SecretProperties, what: string): void {
  const now = Date.now();
  if (properties.enabled === false) throw new SecretbindError('PERMISSION_DENIED', `${what} is disabled: enable it (az keyvault secret set-attributes --enabled true) or bind another.`, { storeType: TYPE });
  if (properties.expiresOn && properties.expiresOn.getTime() <= now) {
    throw new SecretbindError('ENTRY_NOT_FOUND', `${what} expired on ${properties.expiresOn.toISOString()} (exp): set a new version or move its expiry.`, { storeType: TYPE });
  }
  if (properties.notBefore && properties.notBefore.getTime() > now) {
    throw new SecretbindError('ENTRY_NOT_FOUND', `${what} is not valid before ${properties.notBefore.toISOString()} (nbf): wait, or move its activation date.`, { storeType: TYPE });
  }
}

/**
 * The SDK's RestError (status, the body's error code, its innererror) and identity's errors as codes, following the
 * reference table. Messages never quote the service's text (it can echo request details).
 */
function mapError(error: unknown, what: string, store: SecretStore): SecretbindError {
  if (error instanceof SecretbindError) return error;
  const context = { storeType: TYPE, cause: new WithheldError(error) };
  const name = (error as Error)?.name ?? 'Error';
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError') {
    return new SecretbindError('AUTH_FAILED', `No Azure credential is available for store ${JSON.stringify(store.name)}: set azure_tenant_id, azure_client_id and azure_client_secret_env, or azure_managed_identity_client_id, or sign in with az login.`, context);
  }
  if (name === 'AuthenticationError' || name === 'AuthenticationRequiredError') {
    const text = String((error as { errorResponse?: { errorDescription?: string; error?: string } }).errorResponse?.errorDescription ?? (error as Error).message ?? '');
    const code = /AADSTS(\d+)/.exec(text)?.[1];
    const why =
      code === '7000215' ? 'the client secret is wrong (AADSTS7000215): put the secret value, not its id, in the variable'
      : code === '700016' ? 'Entra ID does not know this application in the tenant (AADSTS700016): check azure_client_id and azure_tenant_id'
      : code === '90002' ? 'the tenant does not exist (AADSTS90002): check azure_tenant_id'
      : `Entra ID refused the token request${code ? ` (AADSTS${code})` : ''}`;
    return new SecretbindError('AUTH_FAILED', `Azure sign-in failed for ${what}: ${why}.`, context);
  }
  const status = (error as { statusCode?: unknown }).statusCode;
  const details = (error as { details?: { error?: { code?: string; innererror?: { code?: string } } } }).details;
  const code = (error as { code?: unknown }).code ?? details?.error?.code;
  const inner = details?.error?.innererror?.code ?? innerCodeOf(error);
  const text = String((error as Error)?.message ?? '');
  switch (status) {
    case 400:
      return new SecretbindError('REFERENCE_INVALID', `Key Vault refused the request for ${what} as invalid (400 ${String(code ?? 'BadParameter')}): check the name (letters, digits and "-", at most 127), at most 15 tags, and a value under 25 KB.`, context);
    case 401:
      return new SecretbindError('AUTH_FAILED', `Key Vault rejected the token for ${what} (401): check the credential's tenant and that the token is for https://vault.azure.net.`, context);
    case 403:
      if (inner === 'SecretDisabled' || /disabled secret/.test(text)) return new SecretbindError('PERMISSION_DENIED', `${what} is disabled (403 SecretDisabled): enable it (az keyvault secret set-attributes --enabled true) or bind another.`, context);
      if (inner === 'PurgeProtectionEnabled' || /purge protection/i.test(text)) return new SecretbindError('PERMISSION_DENIED', `${what} cannot be purged: the vault has purge protection; it is purged when its retention ends. Leave azure_purge_deleted off.`, context);
      return new SecretbindError('PERMISSION_DENIED', `The identity may not do this on ${what} (403 ${String(inner ?? code ?? 'Forbidden')}): grant it the Key Vault Secrets User role (reads) or Secrets Officer (writes), or an access policy.`, context);
    case 404:
      return new SecretbindError('ENTRY_NOT_FOUND', `${what} does not exist in the vault (404).`, context);
    case 409:
      if (inner === 'ObjectIsDeletedButRecoverable' || /deleted but recoverable/.test(text)) {
        return new SecretbindError('CONFLICT', `${what} is soft-deleted and its name cannot be reused until it is recovered or purged (409 ObjectIsDeletedButRecoverable).`, { ...context, retryable: false });
      }
      return new SecretbindError('CONFLICT', `${what} is being changed or deleted (409): try again shortly.`, context);
    case 429: {
      const retryAfter = Number((error as { response?: { headers?: { get(name: string): string | undefined } } }).response?.headers?.get('retry-after'));
      return new SecretbindError('RATE_LIMITED', `Key Vault throttled ${what} (429): the vault allows 4,000 secret transactions per 10 s.`, { ...context, ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}) });
    }
    default:
      if (typeof status === 'number' && status >= 500) return new SecretbindError('BACKEND_UNAVAILABLE', `Key Vault failed with ${status} on ${what}.`, context);
      if (name === 'AbortError') return new SecretbindError('TIMEOUT', `The call for ${what} was aborted.`, context);
      return new SecretbindError('BACKEND_UNAVAILABLE', `Key Vault is unreachable or failed (${name}${typeof code === 'string' ? ` ${code}` : ''}) on ${what}.`, { ...context, retryable: true });
  }
}
