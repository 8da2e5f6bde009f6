/**
 * The configuration file and what it needs: the repository, the accounts, and the providers of the store types it
 * uses. Providers are imported only for those types, so a KeePass-only configuration never loads the AWS SDK.
 */
import { readFile } from 'node:fs/promises';
import { createSecretResolver, MemoryBindingRepository, SecretbindError, type Account, type SecretProvider, type SecretResolver } from 'secretbind';
import type { CliIo } from './shared.js';

export interface LoadedConfig {
  repository: MemoryBindingRepository;
  accounts: Map<string, Account>;
  /** The `sync` section as written (checked by the sync engine). */
  sync: unknown[];
  /** The deployment's name in sync's owner marks (`owner`), checked by the sync engine. */
  owner?: string;
  path: string;
}

/** Reads and validates the configuration file: `{ stores, bindings, accounts? }`. */
export async function loadConfig(path: string | undefined): Promise<LoadedConfig> {
  if (!path) throw new SecretbindError('CONFIG_INVALID', '--config FILE is required: a JSON or YAML file with stores, bindings and optionally accounts and sync.');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SecretbindError('CONFIG_INVALID', `${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: error });
  }
  let parsed: unknown;
  if (/\.ya?ml$/i.test(path)) {
    // Only configurations that are YAML load the parser.
    const { parse } = await import('yaml');
    try {
      parsed = parse(text);
    } catch (error) {
      throw new SecretbindError('CONFIG_INVALID', `${path}: not valid YAML (${(error as Error).message.split('\n')[0]}).`);
    }
  } else {
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SecretbindError('CONFIG_INVALID', `${path}: not valid JSON (${(error as Error).message}).`);
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SecretbindError('CONFIG_INVALID', `${path}: expected an object with stores and bindings.`);
  const config = parsed as { stores?: unknown; bindings?: unknown; accounts?: unknown; sync?: unknown; owner?: unknown };
  if (config.owner !== undefined && typeof config.owner !== 'string') throw new SecretbindError('CONFIG_INVALID', `${path}: owner: expected the deployment's name, such as prod.`);
  if (config.sync !== undefined && !Array.isArray(config.sync)) throw new SecretbindError('CONFIG_INVALID', `${path}: sync: expected a list of sync definitions.`);
  let repository: MemoryBindingRepository;
  try {
    repository = MemoryBindingRepository.fromConfig(config);
  } catch (error) {
    throw new SecretbindError('CONFIG_INVALID', `${path}: ${(error as Error).message}`, { cause: error });
  }
  const accounts = new Map<string, Account>();
  if (config.accounts !== undefined) {
    if (!Array.isArray(config.accounts)) throw new SecretbindError('CONFIG_INVALID', `${path}: accounts: expected an array.`);
    config.accounts.forEach((account: unknown, index) => {
      const record = account as Record<string, unknown> | null;
      if (typeof record?.name !== 'string' || record.name.length === 0) throw new SecretbindError('CONFIG_INVALID', `${path}: accounts[${index}].name: expected a non-empty string.`);
      if (record.password !== undefined && record.password !== null && typeof record.password !== 'string') {
        throw new SecretbindError('CONFIG_INVALID', `${path}: accounts[${index}].password: expected a Fernet token (string).`);
      }
      accounts.set(record.name, record as Account);
    });
  }
  return { repository, accounts, sync: (config.sync as unknown[] | undefined) ?? [], ...(typeof config.owner === 'string' ? { owner: config.owner } : {}), path };
}

/** How the command makes each store type's provider; memory is for tests and has no place in a file. */
const PROVIDER_LOADERS: Readonly<Record<string, (io: CliIo) => Promise<SecretProvider>>> = {
  envvar: async (io) => (await import('secretbind/providers/envvar')).envvar({ env: io.env }),
  keepass: async (io) => (await import('secretbind/providers/keepass')).keepass({ env: io.env }),
  lastpass: async (io) => (await import('secretbind/providers/lastpass')).lastpass({ env: io.env }),
  vault: async (io) => (await import('secretbind/providers/vault')).vault({ env: io.env }),
  aws_secrets: async () => (await import('secretbind/providers/aws_secrets')).awsSecrets(),
  dotenv: async () => (await import('secretbind/providers/dotenv')).dotenv(),
  kubernetes: async () => (await import('secretbind/providers/kubernetes')).kubernetes(),
  azure_keyvault: async (io) => (await import('secretbind/providers/azure_keyvault')).azureKeyVault({ env: io.env }),
  gcp_secrets: async () => (await import('secretbind/providers/gcp_secrets')).gcpSecrets(),
  os_keyring: async () => (await import('secretbind/providers/os_keyring')).osKeyring(),
};

/** The providers of the store types the configuration uses, each entry point imported only when needed. */
export async function providersFor(config: LoadedConfig, io: CliIo): Promise<SecretProvider[]> {
  const types = new Set(config.repository.listStores().map((store) => store.type));
  const loaders = [...types].flatMap((type) => (Object.hasOwn(PROVIDER_LOADERS, type) ? [PROVIDER_LOADERS[type]!] : []));
  return Promise.all(loaders.map((load) => load(io)));
}

export async function resolverFor(config: LoadedConfig, io: CliIo): Promise<SecretResolver> {
  return createSecretResolver({ repository: config.repository, providers: await providersFor(config, io), cryptographyKey: io.env.CRYPTOGRAPHY_KEY ?? [] });
}
