import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests and examples import the package by its public names; point those at the sources.
    alias: [
      { find: /^secretbind$/, replacement: here('./src/index.ts') },
      { find: /^secretbind\/providers\/([a-z_]+)$/, replacement: here('./providers/$1/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Two test files at a time on the two cores CI has (vitest's default there is one): the long files mostly wait
    // (the 60 s soak, the kill tests' child processes), and the kill tests size their kill windows to the load.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
