/**
 * aws_secrets: secrets from AWS Secrets Manager through the AWS SDK v3. Peers: @aws-sdk/client-secrets-manager, and
 * @aws-sdk/credential-providers for profiles and roles. Freshness: read live on every lookup; one SDK client per
 * store configuration; bulk lookups use BatchGetSecretValue, 20 secrets a call.
 */
import {
  credentialFingerprint as fingerprint,
  rateBudget,
  forEachLimit,
  jsonSecretEntry,
  jsonSecretField,
  peerLoader,
  referencePath,
  SecretbindError,
  settle,
  validateStoreFields,
  type EntryReference,
  type EntrySettled,
  type EntryValue,
  type ProviderSettled,
  type ResolveContext,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';
import { randomBytes } from 'node:crypto';
import { deletedSecret, isInvalidRequest, mapError } from './errors.js';
import { checkedName, listSecrets, removeSecret, writeSecret, type Send, type WriteCommands } from './writes.js';

export interface AwsSecretsOptions {
  /** Credentials to use instead of the store's profile, role or the SDK's default chain (an identity or a provider). */
  credentials?: unknown;
  /** Where `aws_role_arn` is assumed (an STS endpoint). Default: STS of the store's region. */
  stsEndpoint?: string;
  /** SDK attempts per call, throttling included (the SDK's backoff, inside the resolver's deadline). Default: 3. */
  maxAttempts?: number;
  /** Single reads at once when the batch call is denied. Default: 8. */
  concurrency?: number;
  /** The SDK modules themselves, instead of importing them. */
  lib?: { clientSecretsManager?: unknown; credentialProviders?: unknown };
}

/** The parts of the SDK this provider uses. */
interface SdkModule extends WriteCommands {
  SecretsManagerClient: new (config: Record<string, unknown>) => SdkClient;
  BatchGetSecretValueCommand: new (input: Record<string, unknown>) => unknown;
}
interface SdkClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<Record<string, unknown>>;
  destroy(): void;
  config: { credentials(): Promise<{ accessKeyId: string }> };
}
interface CredentialProvidersModule {
  fromIni(init: { profile: string }): unknown;
  fromNodeProviderChain(init?: Record<string, unknown>): unknown;
  fromTemporaryCredentials(init: Record<string, unknown>): unknown;
}
interface SecretValue {
  ARN?: string;
  Name?: string;
  VersionId?: string;
  SecretString?: string;
  SecretBinary?: Uint8Array;
}

/**
 * The SDK's default logger has an `info` that discards, yet the SDK still builds a redacted copy of every request and
 * response for it (listing 1,000 secrets: 65 ms with it, 51 ms without). Without `info` it builds none; its
 * warnings and errors are dropped too, as a library must not print (what matters reaches the caller as an error).
 */
const QUIET_SDK_LOGGER = { debug: () => {}, warn: () => {}, error: () => {} };
const TYPE = 'aws_secrets';
const BATCH_LIMIT = 20;

/**
 * A provider for `aws_secrets` stores (`aws_region`, `aws_profile`, `aws_endpoint`, `aws_role_arn`).
 * References: a secret name or ARN, `?stage=AWSPREVIOUS` or `?versionId=...` for another version, `#key` into a JSON
 * secret: `prod/checkmk#password`, `prod/checkmk?stage=AWSPREVIOUS#password`.
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [awsSecrets()] })
 * ```
 */
export function awsSecrets(options: AwsSecretsOptions = {}): SecretProvider {
  const loadSdk = peerLoader(TYPE, '@aws-sdk/client-secrets-manager', options.lib?.clientSecretsManager as SdkModule | undefined, () => import('@aws-sdk/client-secrets-manager') as unknown as Promise<SdkModule>, 'npm install @aws-sdk/client-secrets-manager @aws-sdk/credential-providers');
  const loadCredentials = peerLoader(TYPE, '@aws-sdk/credential-providers', options.lib?.credentialProviders as CredentialProvidersModule | undefined, () => import('@aws-sdk/credential-providers') as unknown as Promise<CredentialProvidersModule>, 'npm install @aws-sdk/credential-providers');
  const clients = new Map<string, Promise<{ sdk: SdkModule; client: SdkClient }>>();
  // Stores whose credentials may not call BatchGetSecretValue: their bulk lookups read one by one from then on.
  const batchDenied = new Set<string>();
  // Keys the idempotent ClientRequestToken of writes; random per provider, so no token lets a value be guessed.
  const tokenKey = randomBytes(32);
  const sender = (store: SecretStore, ctx: ResolveContext): Send => (make, what) => send(store, make as (sdk: SdkModule) => unknown, ctx, what);

  function clientFor(store: SecretStore): Promise<{ sdk: SdkModule; client: SdkClient }> {
    const key = configKey(store);
    let found = clients.get(key);
    if (!found) {
      found = makeClient(store);
      clients.set(key, found);
      found.catch(() => clients.delete(key));
    }
    return found;
  }

  async function makeClient(store: SecretStore): Promise<{ sdk: SdkModule; client: SdkClient }> {
    const sdk = await loadSdk();
    const region = typeof store.aws_region === 'string' ? store.aws_region : undefined;
    let credentials = options.credentials;
    // Keys filled in by the resolver from aws_access_key_id_ref / aws_secret_access_key_ref (kept in another store).
    const keys =
      typeof store.aws_access_key_id === 'string' && typeof store.aws_secret_access_key === 'string'
        ? { accessKeyId: store.aws_access_key_id, secretAccessKey: store.aws_secret_access_key, ...(typeof store.aws_session_token === 'string' ? { sessionToken: store.aws_session_token } : {}) }
        : undefined;
    if (credentials === undefined && keys && typeof store.aws_role_arn !== 'string') credentials = keys;
    else if (credentials === undefined && (typeof store.aws_profile === 'string' || typeof store.aws_role_arn === 'string')) {
      const providers = await loadCredentials();
      const base = keys ? async () => keys : typeof store.aws_profile === 'string' ? providers.fromIni({ profile: store.aws_profile }) : providers.fromNodeProviderChain();
      credentials =
        typeof store.aws_role_arn === 'string'
          ? providers.fromTemporaryCredentials({
              params: { RoleArn: store.aws_role_arn, RoleSessionName: 'secretbind' },
              masterCredentials: base,
              clientConfig: { ...(region ? { region } : {}), ...(options.stsEndpoint ? { endpoint: options.stsEndpoint } : {}) },
            })
          : base;
    }
    const client = new sdk.SecretsManagerClient({
      ...(region ? { region } : {}),
      ...(typeof store.aws_endpoint === 'string' ? { endpoint: store.aws_endpoint } : {}),
      ...(credentials === undefined ? {} : { credentials }),
      maxAttempts: options.maxAttempts ?? 3,
      logger: QUIET_SDK_LOGGER,
    });
    return { sdk, client };
  }

  async function send(store: SecretStore, make: (sdk: SdkModule) => unknown, ctx: ResolveContext, what: string): Promise<Record<string, unknown>> {
    const { sdk, client } = await clientFor(store);
    const command = make(sdk);
    const budget = rateBudget(store, AWS_QUOTAS);
    await budget.take(kindOf(command), ctx.signal);
    try {
      return await client.send(command, { abortSignal: ctx.signal });
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const mapped = mapError(error, what, store);
      if (mapped.code === 'RATE_LIMITED') budget.slow(mapped.retryAfterMs);
      throw mapped;
    }
  }

  /**
   * The secrets of many targets, each read once: the current versions 20 a batch (BatchGetSecretValue), other stages
   * and versions one by one, and one by one from the first time the batch permission turns out to be missing.
   */
  async function fetchValues(store: SecretStore, targets: readonly SecretTarget[], ctx: ResolveContext): Promise<Map<string, SecretValue | SecretbindError>> {
    const values = new Map<string, SecretValue | SecretbindError>();
    const current = [...new Set(targets.filter((target) => !target.stage && !target.versionId).map((target) => target.secretId))];
    let single = [...new Map(targets.filter((target) => target.stage || target.versionId).map((target) => [lookupKey(target), target])).values()];
    const storeKey = configKey(store);
    if (batchDenied.has(storeKey)) {
      single = [...single, ...current.map((secretId) => ({ secretId, key: undefined }))];
    } else {
      for (let start = 0; start < current.length; start += BATCH_LIMIT) {
        const chunk = current.slice(start, start + BATCH_LIMIT);
        try {
          const result = await send(store, (sdk) => new sdk.BatchGetSecretValueCommand({ SecretIdList: chunk }), ctx, `${chunk.length} secrets`);
          settleBatch(chunk, result, values, store);
          for (const secretId of chunk) {
            const key = lookupKey({ secretId });
            const answer = values.get(key);
            if (isInvalidRequest(answer)) values.set(key, (await deletedOrInvalid(store, secretId, answer, ctx)) as SecretbindError);
          }
        } catch (error) {
          // Denied as a whole (per-secret denials come in Errors): the batch permission is missing. Read one by one,
          // for this chunk and every later bulk lookup.
          if ((error as SecretbindError).code !== 'PERMISSION_DENIED') throw error;
          batchDenied.add(storeKey);
          ctx.emit({ level: 'warn', message: 'BatchGetSecretValue is denied; reading secrets one by one', detail: { store: store.name } });
          single = [...single, ...current.slice(start).map((secretId) => ({ secretId, key: undefined }))];
          break;
        }
      }
    }
    await forEachLimit(single, options.concurrency ?? 8, async (target) => {
      try {
        values.set(lookupKey(target), await getOne(store, target, ctx));
      } catch (error) {
        values.set(lookupKey(target), error as SecretbindError);
      }
    });
    return values;
  }

  async function getOne(store: SecretStore, target: SecretTarget, ctx: ResolveContext): Promise<SecretValue> {
    try {
      return await send(store, (sdk) => new sdk.GetSecretValueCommand({ SecretId: target.secretId, ...(target.versionId ? { VersionId: target.versionId } : { VersionStage: target.stage ?? 'AWSCURRENT' }) }), ctx, target.secretId);
    } catch (error) {
      throw await deletedOrInvalid(store, target.secretId, error, ctx);
    }
  }

  /**
   * An InvalidRequestException is how every implementation refuses to read a secret scheduled for deletion, each in
   * its own words; DescribeSecret's DeletedDate says whether that is the reason, whatever the wording. Asked only on
   * that error, so a healthy read costs nothing extra.
   */
  async function deletedOrInvalid(store: SecretStore, secretId: string, error: unknown, ctx: ResolveContext): Promise<unknown> {
    if (!isInvalidRequest(error)) return error;
    try {
      const described = await send(store, (sdk) => new sdk.DescribeSecretCommand({ SecretId: secretId }), ctx, secretId);
      const deletedDate = described.DeletedDate;
      if (deletedDate === undefined || deletedDate === null) return new SecretbindError('CONFIG_INVALID', `Secrets Manager refused the request for ${secretId} as invalid; the secret is not scheduled for deletion.`, { storeType: TYPE, cause: (error as SecretbindError).cause });
      return deletedSecret(secretId, deletedDate instanceof Date ? deletedDate : new Date(Number(deletedDate) * 1000), (error as SecretbindError).cause);
    } catch (describeError) {
      if (ctx.signal.aborted) throw describeError;
      return error; // DescribeSecret not allowed or failing: keep the wording-based answer
    }
  }

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      const target = targetOf(ref);
      return valueFor(await getOne(store, target, ctx), target);
    },
    async resolveMany(store, refs, ctx) {
      const targets = refs.map((ref) => ({ ref, target: targetOf(ref) }));
      const values = await fetchValues(store, targets.map(({ target }) => target), ctx);
      const answers = new Map<string, ProviderSettled>();
      for (const { ref, target } of targets) answers.set(ref.raw, await settle(() => valueFor(found(values, target), target)));
      return answers;
    },
    async readEntries(store, refs, ctx) {
      // Whole secrets: a JSON object's keys as fields, anything else as one string.
      const targets = refs.map((ref) => ({ ref, target: targetOf(ref) }));
      const values = await fetchValues(store, targets.map(({ target }) => target), ctx);
      const answers = new Map<string, EntrySettled>();
      for (const { ref, target } of targets) {
        try {
          const value = found(values, target);
          answers.set(ref.raw, { ok: true, value: wholeValue(value, target.secretId), ...(value.VersionId ? { version: value.VersionId } : {}) });
        } catch (error) {
          answers.set(ref.raw, { ok: false, error: error as SecretbindError });
        }
      }
      return answers;
    },
    async check(store, ctx) {
      const { client } = await clientFor(store);
      try {
        await client.config.credentials();
      } catch (error) {
        throw mapError(error, 'credentials', store);
      }
      const source = typeof store.aws_role_arn === 'string' ? 'role' : typeof store.aws_access_key_id === 'string' ? 'keys from aws_access_key_id_ref' : typeof store.aws_profile === 'string' ? 'profile' : options.credentials !== undefined ? 'provided' : process.env.AWS_ACCESS_KEY_ID ? 'env' : 'default chain';
      await send(store, (sdk) => new sdk.ListSecretsCommand({ MaxResults: 1 }), ctx, 'ListSecrets');
      return { credentials: source, region: String(store.aws_region ?? process.env.AWS_REGION ?? 'default') };
    },
    async list(store, listOptions, ctx) {
      return listSecrets(sender(store, ctx), listOptions);
    },
    async write(store, name, value, writeOptions, ctx) {
      return writeSecret(sender(store, ctx), store, name, value, writeOptions, tokenKey);
    },
    checkName(_store, name) {
      checkedName(name);
    },
    adaptName(rendered) {
      return rendered.replace(/[^A-Za-z0-9/_+=.@-]+/g, '-').slice(0, 512);
    },
    async remove(store, name, removeOptions, ctx) {
      await removeSecret(sender(store, ctx), store, name, removeOptions);
    },
    reauthenticate(store) {
      // A new client resolves its credentials again (a new role session, a refreshed profile).
      const key = configKey(store);
      const old = clients.get(key);
      clients.delete(key);
      old?.then(({ client }) => client.destroy(), () => {});
    },
    async close() {
      const open = [...clients.values()];
      clients.clear();
      for (const pending of open) pending.then(({ client }) => client.destroy(), () => {});
    },
  };
}

/** A target's secret from fetchValues, or the error it settled with. */
function found(values: ReadonlyMap<string, SecretValue | SecretbindError>, target: SecretTarget): SecretValue {
  const value = values.get(lookupKey(target));
  if (value === undefined) throw new SecretbindError('BACKEND_UNAVAILABLE', `Secrets Manager gave no answer for ${target.secretId} in a batch.`, { storeType: TYPE });
  if (value instanceof SecretbindError) throw value;
  return value;
}

/** What a reference asks for: `name-or-arn[?stage=S|?versionId=V][#key]`. */
interface SecretTarget {
  secretId: string;
  stage?: string;
  versionId?: string;
  key?: string | undefined;
}

function targetOf(ref: EntryReference): SecretTarget {
  const path = referencePath(ref);
  const query = path.lastIndexOf('?'); // '?' cannot occur in a secret name or ARN
  const target: SecretTarget = { secretId: query === -1 ? path : path.slice(0, query), key: ref.field };
  if (query !== -1) {
    for (const [name, value] of new URLSearchParams(path.slice(query + 1))) {
      if (name === 'stage') target.stage = value;
      else if (name === 'versionId') target.versionId = value;
      else throw new SecretbindError('REFERENCE_INVALID', `Unknown option ?${name} in ${JSON.stringify(ref.raw)}: use ?stage=AWSPREVIOUS or ?versionId=<id>.`, { storeType: TYPE });
    }
  }
  return target;
}

function lookupKey(target: SecretTarget): string {
  return `${target.secretId}\u0000${target.stage ?? ''}\u0000${target.versionId ?? ''}`;
}

/** A secret's field by the shared one-string rule (`jsonSecretField`). */
function valueFor(secret: SecretValue, target: SecretTarget): string {
  return jsonSecretField(secretText(secret, target.secretId), target.key, `Secret ${target.secretId}`, TYPE);
}

/** A secret as a whole: a JSON object's keys (non-string values as JSON text), or its text. */
function wholeValue(secret: SecretValue, secretId: string): EntryValue {
  return jsonSecretEntry(secretText(secret, secretId));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function secretText(secret: SecretValue, secretId: string): string {
  if (typeof secret.SecretString === 'string') return secret.SecretString;
  if (secret.SecretBinary) {
    try {
      return UTF8.decode(secret.SecretBinary);
    } catch {
      throw new SecretbindError('CONFIG_INVALID', `Secret ${secretId} is binary and not UTF-8 text; it cannot serve as a password.`, { storeType: TYPE });
    }
  }
  throw new SecretbindError('ENTRY_NOT_FOUND', `Secret ${secretId} has no value in this version.`, { storeType: TYPE });
}

/** Puts a batch's values and per-secret errors under each requested id (name, full or partial ARN). */
function settleBatch(requested: readonly string[], result: Record<string, unknown>, values: Map<string, SecretValue | SecretbindError>, store: SecretStore): void {
  const byAlias = new Map<string, SecretValue>();
  for (const value of (result.SecretValues as SecretValue[] | undefined) ?? []) {
    for (const alias of [value.Name, value.ARN, value.ARN?.slice(0, -7)]) if (alias) byAlias.set(alias, value);
  }
  const errors = new Map(((result.Errors as Array<{ SecretId: string; ErrorCode: string; Message?: string }> | undefined) ?? []).map((error) => [error.SecretId, error]));
  for (const id of requested) {
    const value = byAlias.get(id);
    const key = `${id}\u0000\u0000`;
    if (value) values.set(key, value);
    else {
      const error = errors.get(id);
      values.set(key, mapError(Object.assign(new Error(error?.Message ?? 'missing from the batch'), { name: error?.ErrorCode ?? 'ResourceNotFoundException' }), id, store));
    }
  }
}

/** Secrets Manager's published quotas, per second: GetSecretValue, BatchGetSecretValue, and writes combined. */
const AWS_QUOTAS = { read: 10_000, batch: 100, write: 50 } as const;
const WRITE_COMMANDS = new Set(['CreateSecretCommand', 'PutSecretValueCommand', 'TagResourceCommand', 'DeleteSecretCommand', 'RestoreSecretCommand']);

function kindOf(command: unknown): 'read' | 'batch' | 'write' {
  const name = (command as { constructor?: { name?: string } })?.constructor?.name ?? '';
  return name === 'BatchGetSecretValueCommand' ? 'batch' : WRITE_COMMANDS.has(name) ? 'write' : 'read';
}

function configKey(store: SecretStore): string {
  return JSON.stringify([store.aws_region, store.aws_profile, store.aws_endpoint, store.aws_role_arn, fingerprint(store.aws_access_key_id, store.aws_secret_access_key, store.aws_session_token)]);
}
