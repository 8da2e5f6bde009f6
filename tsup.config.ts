import { defineConfig } from 'tsup';

/** Provider entry points: each is its own subpath, `secretbind/providers/<type>`. */
export const PROVIDERS = ['envvar', 'keepass', 'memory'] as const;

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    ...Object.fromEntries(PROVIDERS.map((type) => [`providers/${type}/index`, `providers/${type}/index.ts`])),
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  sourcemap: false,
  splitting: false,
  // Providers import the core by its package name, so every entry shares one copy of SecretbindError.
  external: ['secretbind', 'kdbxweb', '@node-rs/argon2', 'hash-wasm'],
});
