import { defineConfig } from 'tsup';

/** Provider entry points: each is its own subpath, `secretbind/providers/<type>`. */
export const PROVIDERS = ['aws_secrets', 'envvar', 'keepass', 'lastpass', 'memory', 'vault'] as const;

/** Libraries that stay imports: the package itself (one copy of SecretbindError for every entry) and the peers. */
const external = ['secretbind', 'kdbxweb', '@node-rs/argon2', 'hash-wasm', 'execa', 'node-vault', /^@aws-sdk\//];

export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      ...Object.fromEntries(PROVIDERS.map((type) => [`providers/${type}/index`, `providers/${type}/index.ts`])),
    },
    format: ['esm', 'cjs'],
    dts: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    external,
  },
  {
    // The command: ESM only, it uses top-level await.
    entry: { bin: 'src/bin.ts' },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    external: [...external, /^secretbind\//],
  },
]);
