/**
 * envvar: entries are environment variables, read from `process.env` (or an injected environment) on every
 * lookup. No peer dependency. An unset variable is ENTRY_NOT_FOUND; a set but empty one is the empty string.
 */
import { SecretbindError, settle, validateStoreFields, type EntryReference, type ProviderSettled, type SecretProvider, type SecretStore } from 'secretbind';

export interface EnvvarOptions {
  /** Where variables are read. Default: `process.env`, read at each lookup so changes are seen. */
  env?: Readonly<Record<string, string | undefined>>;
}

const TYPE = 'envvar';

/**
 * A provider for `envvar` stores: the reference is the variable name (`CMK_PROD_PASSWORD`).
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [envvar()] })
 * ```
 */
export function envvar(options: EnvvarOptions = {}): SecretProvider {
  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref) {
      return read(options.env ?? process.env, store, ref);
    },
    async resolveMany(store, refs) {
      const env = options.env ?? process.env;
      const answers = new Map<string, ProviderSettled>();
      for (const ref of refs) answers.set(ref.raw, await settle(() => read(env, store, ref)));
      return answers;
    },
    async check() {
      return { source: options.env ? 'injected environment' : 'process.env' };
    },
  };
}

function read(env: Readonly<Record<string, string | undefined>>, store: SecretStore, ref: EntryReference): string {
  const context = { store: store.name, storeType: TYPE };
  if (ref.segments.length !== 1) {
    throw new SecretbindError('REFERENCE_INVALID', `An envvar reference is one variable name, not a path: ${JSON.stringify(ref.raw)}.`, context);
  }
  const name = ref.segments[0] as string;
  if (ref.field !== undefined) {
    throw new SecretbindError('FIELD_NOT_FOUND', `Environment variables have no fields: drop "#${ref.field}" from the reference to ${name}.`, context);
  }
  // Own properties only: a reference such as "toString" must not reach Object.prototype.
  const value = Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
  if (value === undefined) {
    throw new SecretbindError('ENTRY_NOT_FOUND', `Environment variable ${name} is not set in this process: export it before starting the application.`, context);
  }
  return value;
}
