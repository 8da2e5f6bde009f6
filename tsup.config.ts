import { defineConfig } from 'tsup';

/** Provider entry points: each is its own subpath, `secretbind/providers/<type>`. */
export const PROVIDERS = ['aws_secrets', 'azure_keyvault', 'dotenv', 'envvar', 'gcp_secrets', 'keepass', 'kubernetes', 'lastpass', 'memory', 'os_keyring', 'vault'] as const;

/** Libraries that stay imports: the package itself (one copy of SecretbindError for every entry) and the peers. */
const external = ['secretbind', 'kdbxweb', '@node-rs/argon2', 'hash-wasm', 'execa', 'node-vault', /^@aws-sdk\//, '@kubernetes/client-node', /^@azure\//, '@google-cloud/secret-manager', '@napi-rs/keyring'];

export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      ...Object.fromEntries(PROVIDERS.map((type) => [`providers/${type}/index`, `providers/${type}/index.ts`])),
    },
    format: ['esm', 'cjs'],
    // import.meta.url in the CommonJS build (providers require their CommonJS peers relative to themselves).
    shims: true,
    dts: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    external,
  },
  {
    // The command: ESM only, it uses top-level await. Split, so the bin answers --help before the rest loads.
    entry: { bin: 'src/cli/bin.ts' },
    format: ['esm'],
    splitting: true,
    target: 'node20',
    platform: 'node',
    external: [...external, /^secretbind\//, 'yaml'],
  },
]);
