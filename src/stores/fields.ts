import { SecretbindError } from '../core/index.js';
import type { SecretStore } from './records.js';
import { checkRateLimit } from './budget.js';

/** Checks one field's value; returns what was expected when it is wrong. */
export type FieldCheck = (value: unknown) => string | undefined;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const text: FieldCheck = (value) => (typeof value === 'string' && value.trim().length > 0 ? undefined : 'expected a non-empty string');
const envName: FieldCheck = (value) =>
  typeof value === 'string' && ENV_NAME.test(value) ? undefined : 'expected an environment variable name (letters, digits, _)';
const httpUrl: FieldCheck = (value) => {
  if (typeof value !== 'string') return 'expected an http(s) URL';
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : 'expected an http(s) URL';
  } catch {
    return 'expected an http(s) URL';
  }
};
const httpsUrl: FieldCheck = (value) => (httpUrl(value) === undefined && String(value).startsWith('https:') ? undefined : 'expected an https URL');
const gcpProject: FieldCheck = (value) => (typeof value === 'string' && /^[a-z0-9][-a-z0-9]{4,28}[a-z0-9]$|^\d+$/.test(value) ? undefined : 'expected a project id (6 to 30 lowercase letters, digits and -) or number');
const envNames: FieldCheck = (value) =>
  Array.isArray(value) && value.every((name) => typeof name === 'string' && ENV_NAME.test(name)) ? undefined : 'expected a list of environment variable names';
const oneOf =
  (...allowed: readonly unknown[]): FieldCheck =>
  (value) =>
    allowed.includes(value) ? undefined : `expected one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
const mountPath: FieldCheck = (value) =>
  typeof value === 'string' && /^[^/\s][^\s]*$/.test(value) && !value.endsWith('/') && !value.split('/').some((part) => part === '' || part === '.' || part === '..')
    ? undefined
    : 'expected a mount path without leading or trailing /, empty, "." or ".." segments';
const dnsName: FieldCheck = (value) => (typeof value === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) && value.length <= 63 ? undefined : 'expected a namespace name (lowercase letters, digits and -)');
const recoveryWindow: FieldCheck = (value) => (Number.isInteger(value) && (value as number) >= 7 && (value as number) <= 30 ? undefined : 'expected a whole number of days from 7 to 30');
const roleArn: FieldCheck = (value) =>
  typeof value === 'string' && /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(value) ? undefined : 'expected an IAM role ARN (arn:aws:iam::123456789012:role/name)';

/** The fields each built-in store type accepts, besides `name`, `type` and `enabled`. */
export const STORE_FIELDS: Readonly<Record<string, Readonly<Record<string, FieldCheck>>>> = {
  envvar: { envvar_prefix: envName, envvar_allow: envNames },
  memory: {},
  keepass: { kdbx_path: text, keyfile_path: text, master_password_env: envName, master_password: text },
  lastpass: { lastpass_username: text },
  vault: {
    vault_url: httpUrl,
    vault_token_env: envName,
    vault_token: text,
    vault_role_id: text,
    vault_secret_id: text,
    vault_namespace: text,
    vault_mount_point: mountPath,
    vault_kv_version: oneOf(1, 2),
    vault_auth_method: oneOf('token', 'approle', 'kubernetes'),
    vault_auth_mount: mountPath,
    vault_role_id_env: envName,
    vault_secret_id_env: envName,
    vault_role: text,
    vault_jwt_path: text,
    vault_ca_path: text,
    vault_delete_mode: oneOf('metadata', 'latest'),
    rate_limit: checkRateLimit,
  },
  aws_secrets: {
    aws_region: text,
    aws_profile: text,
    aws_endpoint: httpUrl,
    aws_role_arn: roleArn,
    aws_recovery_window_days: recoveryWindow,
    aws_access_key_id: text,
    aws_secret_access_key: text,
    aws_session_token: text,
    rate_limit: checkRateLimit,
  },
  dotenv: { dotenv_path: text },
  kubernetes: { kubernetes_namespace: dnsName, kubeconfig_path: text, kubernetes_context: text, rate_limit: checkRateLimit },
  azure_keyvault: {
    azure_vault_url: httpsUrl,
    azure_tenant_id: text,
    azure_client_id: text,
    azure_client_secret_env: envName,
    azure_client_secret: text,
    azure_managed_identity_client_id: text,
    azure_authority_host: httpsUrl,
    azure_purge_deleted: oneOf(true, false),
    rate_limit: checkRateLimit,
  },
  gcp_secrets: { gcp_project: gcpProject, gcp_credentials_file: text, gcp_location: text, rate_limit: checkRateLimit },
  os_keyring: { keyring_service: text },
};

/**
 * Fields that hold a credential itself. A configuration file may not spell them out: it names where they are kept,
 * `<field>_ref: store:reference`, and the resolver fills them in before the store is used.
 */
export const SECRET_STORE_FIELDS: ReadonlySet<string> = new Set(['master_password', 'vault_token', 'vault_role_id', 'vault_secret_id', 'aws_access_key_id', 'aws_secret_access_key', 'aws_session_token', 'azure_client_secret']);

/** The suffix of a field whose value comes from another store: `vault_token_ref: ops-keepass:Root/vault-token`. */
export const REF_SUFFIX = '_ref';

/** `store:reference`, as a `<field>_ref` holds it; undefined when the text is not of that form. */
export function parseStoreRef(value: unknown): { store: string; reference: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) return undefined;
  return { store: value.slice(0, colon), reference: value.slice(colon + 1) };
}

/** Whether a store field is set, directly or through `<field>_ref`. */
const has = (store: Record<string, unknown>, field: string): boolean => store[field] != null || store[`${field}${REF_SUFFIX}`] != null;

/** Fields a store of the type cannot do without, and combinations that must hold. */
const STORE_RULES: Readonly<Record<string, (store: Record<string, unknown>) => [field: string, problem: string] | undefined>> = {
  keepass: (store) => {
    if (store.kdbx_path == null) return ['kdbx_path', 'required: the path of the .kdbx file'];
    if (store.keyfile_path == null && store.master_password_env == null && !has(store, 'master_password')) {
      return ['master_password_env', 'a keepass store needs master_password_env (or master_password_ref), keyfile_path, or both'];
    }
    return undefined;
  },
  aws_secrets: (store) => (has(store, 'aws_access_key_id') !== has(store, 'aws_secret_access_key') ? ['aws_secret_access_key', 'aws_access_key_id and aws_secret_access_key go together'] : undefined),
  azure_keyvault: (store) => {
    if (store.azure_vault_url == null) return ['azure_vault_url', 'required: the vault URL, https://<name>.vault.azure.net'];
    const secret = store.azure_client_secret_env != null || has(store, 'azure_client_secret');
    if (secret && (store.azure_tenant_id == null || store.azure_client_id == null)) return ['azure_client_secret_env', 'a client secret needs azure_tenant_id and azure_client_id'];
    if (secret && store.azure_managed_identity_client_id != null) return ['azure_managed_identity_client_id', 'choose a client secret or a managed identity, not both'];
    return undefined;
  },
  gcp_secrets: (store) => (store.gcp_project == null ? ['gcp_project', 'required: the project id or number'] : undefined),
  dotenv: (store) => (store.dotenv_path == null ? ['dotenv_path', 'required: the path of the .env file'] : undefined),
  vault: (store) => {
    if (store.vault_url == null) return ['vault_url', 'required: expected an http(s) URL'];
    const method = store.vault_auth_method ?? 'token';
    if (method === 'approle') {
      if (store.vault_role_id_env == null && !has(store, 'vault_role_id')) return ['vault_role_id_env', 'required (or vault_role_id_ref) when vault_auth_method is "approle"'];
      if (store.vault_secret_id_env == null && !has(store, 'vault_secret_id')) return ['vault_secret_id_env', 'required (or vault_secret_id_ref) when vault_auth_method is "approle"'];
    }
    if (method === 'kubernetes' && store.vault_role == null) return ['vault_role', 'required when vault_auth_method is "kubernetes"'];
    return undefined;
  },
};

/** The store types secretbind ships a provider for. */
export const BUILT_IN_STORE_TYPES: readonly string[] = Object.keys(STORE_FIELDS);

export interface ValidateStoreOptions {
  /** How the store is named in messages, e.g. `stores[2]`. Default: `store "<name>"`. */
  place?: string;
  /**
   * Reject fields the store type does not know (typos), and credentials spelt out (`vault_token`: a configuration
   * file names where it is kept instead, `vault_token_ref`). Default: false.
   */
  strict?: boolean;
}

/**
 * Checks a store record: `name`, `type`, `enabled`, and for the built-in types every field DESIGN.md names.
 * Throws `CONFIG_INVALID` naming the exact place, e.g. `stores[2].vault_url: expected an http(s) URL`.
 * Stores of other types get only the common checks; their provider's `validateStore` does the rest.
 *
 * @example
 * ```ts
 * validateStoreFields({ name: 'vault-prod', type: 'vault', vault_url: 'ftp://x' })
 * // throws CONFIG_INVALID: store "vault-prod".vault_url: expected an http(s) URL
 * ```
 */
export function validateStoreFields(store: unknown, options: ValidateStoreOptions = {}): asserts store is SecretStore {
  const fallbackPlace = isRecord(store) && typeof store.name === 'string' ? `store ${JSON.stringify(store.name)}` : 'store';
  const place = options.place ?? fallbackPlace;
  if (!isRecord(store)) throw configInvalid(place, 'expected an object');
  const nameProblem = text(store.name);
  if (nameProblem) throw configInvalid(`${place}.name`, nameProblem);
  const typeProblem = text(store.type);
  if (typeProblem) throw configInvalid(`${place}.type`, typeProblem);
  if (store.enabled !== undefined && typeof store.enabled !== 'boolean') throw configInvalid(`${place}.enabled`, 'expected true or false');

  // Own properties only: a store type or field named like an Object.prototype member (`constructor`,
  // `__proto__`) must not find an inherited function.
  const fields = Object.hasOwn(STORE_FIELDS, store.type as string) ? STORE_FIELDS[store.type as string] : undefined;
  if (!fields) return;
  for (const [field, value] of Object.entries(store)) {
    if (field === 'name' || field === 'type' || field === 'enabled') continue;
    if (field.endsWith(REF_SUFFIX) && !Object.hasOwn(fields, field)) {
      const target = field.slice(0, -REF_SUFFIX.length);
      if (!Object.hasOwn(fields, target)) throw configInvalid(`${place}.${field}`, `${target} is not a field of a ${store.type as string} store`);
      if (store[target] != null) throw configInvalid(`${place}.${field}`, `${target} is given both directly and by reference; keep one`);
      if (!parseStoreRef(value)) throw configInvalid(`${place}.${field}`, 'expected store:reference, e.g. ops-keepass:Root/Vault token');
      if (parseStoreRef(value)!.store === store.name) throw configInvalid(`${place}.${field}`, 'a store cannot hold its own credentials');
      continue;
    }
    if (options.strict && SECRET_STORE_FIELDS.has(field) && value != null) {
      throw configInvalid(`${place}.${field}`, `a credential does not belong in a configuration file: keep it in a store and write ${field}${REF_SUFFIX}: store:reference${Object.hasOwn(fields, `${field}_env`) ? `, or name a variable with ${field}_env` : ''}`);
    }
    const check = Object.hasOwn(fields, field) ? fields[field] : undefined;
    if (!check) {
      if (options.strict) {
        const known = Object.keys(fields);
        throw configInvalid(`${place}.${field}`, `unknown field for a ${store.type as string} store${known.length ? ` (known: ${known.join(', ')})` : ''}`);
      }
      continue;
    }
    if (value === undefined || value === null) continue;
    const problem = check(value);
    if (problem) throw configInvalid(`${place}.${field}`, problem);
  }
  const broken = Object.hasOwn(STORE_RULES, store.type as string) ? STORE_RULES[store.type as string]?.(store) : undefined;
  if (broken) throw configInvalid(`${place}.${broken[0]}`, broken[1]);
}

function configInvalid(place: string, problem: string): SecretbindError {
  return new SecretbindError('CONFIG_INVALID', `${place}: ${problem}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
