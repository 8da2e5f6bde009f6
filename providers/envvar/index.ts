/**
 * envvar: entries are environment variables, read from `process.env` (or an injected environment) on every
 * lookup. No peer dependency. An unset variable is ENTRY_NOT_FOUND; a set but empty one is the empty string.
 */
import { SecretbindError, settle, validateStoreFields, type EntryReference, type ProviderSettled, type ResolveContext, type SecretProvider, type SecretStore } from 'secretbind';

export interface EnvvarOptions {
  /** Where variables are read. Default: `process.env`, read at each lookup so changes are seen. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * More variables to refuse, besides {@link REFUSED_VARIABLES} and the `*_env` fields of the resolver's stores.
   * A store's `envvar_allow` still lets one through.
   */
  refuse?: readonly string[];
}

const TYPE = 'envvar';

/**
 * Variables an envvar binding may not read unless its store lists them in `envvar_allow`: the credentials
 * secretbind and its providers' SDKs read themselves. Binding one would hand the resolver's own credentials to a
 * synced system as a password. The resolver adds the variables its stores name (`master_password_env`,
 * `vault_token_env`, ...).
 */
export const REFUSED_VARIABLES: readonly string[] = [
  'CRYPTOGRAPHY_KEY',
  'VAULT_TOKEN',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'GOOGLE_APPLICATION_CREDENTIALS',
];

/**
 * A provider for `envvar` stores: the reference is the variable name (`CMK_PROD_PASSWORD`).
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [envvar()] })
 * ```
 */
export function envvar(options: EnvvarOptions = {}): SecretProvider {
  const refused = new Set([...REFUSED_VARIABLES, ...(options.refuse ?? [])]);
  const guard = (store: SecretStore, ctx: ResolveContext) => (name: string) => checkAllowed(name, store, refused, ctx.credentialVariables);
  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      return read(options.env ?? process.env, store, ref, guard(store, ctx));
    },
    async resolveMany(store, refs, ctx) {
      const env = options.env ?? process.env;
      const allowed = guard(store, ctx);
      const answers = new Map<string, ProviderSettled>();
      for (const ref of refs) answers.set(ref.raw, await settle(() => read(env, store, ref, allowed)));
      return answers;
    },
    async check() {
      return { source: options.env ? 'injected environment' : 'process.env' };
    },
  };
}

/** Refuses the resolver's own credentials and names outside the store's `envvar_prefix`, unless `envvar_allow` lists them. */
function checkAllowed(name: string, store: SecretStore, refused: ReadonlySet<string>, credentials: ReadonlySet<string> | undefined): void {
  const allow = Array.isArray(store.envvar_allow) ? (store.envvar_allow as unknown[]) : [];
  if (allow.includes(name)) return;
  const context = { store: store.name, storeType: TYPE };
  const prefix = typeof store.envvar_prefix === 'string' ? store.envvar_prefix : undefined;
  if (prefix !== undefined && !name.startsWith(prefix)) {
    throw new SecretbindError('PERMISSION_DENIED', `Store ${JSON.stringify(store.name)} reads only variables starting with ${prefix} (envvar_prefix); ${name} does not. Rename the variable, or list it in envvar_allow.`, context);
  }
  if (refused.has(name) || credentials?.has(name)) {
    throw new SecretbindError(
      'PERMISSION_DENIED',
      `Environment variable ${name} holds credentials secretbind itself uses; an envvar binding may not hand it out. If this is really intended, add "${name}" to envvar_allow on store ${JSON.stringify(store.name)}.`,
      context,
    );
  }
}

function read(env: Readonly<Record<string, string | undefined>>, store: SecretStore, ref: EntryReference, allowed: (name: string) => void): string {
  const context = { store: store.name, storeType: TYPE };
  if (ref.segments.length !== 1) {
    throw new SecretbindError('REFERENCE_INVALID', `An envvar reference is one variable name, not a path: ${JSON.stringify(ref.raw)}.`, context);
  }
  const name = ref.segments[0] as string;
  if (ref.field !== undefined) {
    throw new SecretbindError('FIELD_NOT_FOUND', `Environment variables have no fields: drop "#${ref.field}" from the reference to ${name}.`, context);
  }
  allowed(name);
  // Own properties only: a reference such as "toString" must not reach Object.prototype.
  const value = Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
  if (value === undefined) {
    throw new SecretbindError('ENTRY_NOT_FOUND', `Environment variable ${name} is not set in this process: export it before starting the application.`, context);
  }
  return value;
}
