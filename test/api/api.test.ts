import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { exportsOf } from './exports.js';

// Every export of `secretbind` and of each `secretbind/providers/*` entry, with each function's and constant's
// signature, pinned in public-api.txt: moving files must not change what users import. A deliberate change to the
// public API is made by running `UPDATE_API=1 npx vitest run test/api` and committing the new file with a CHANGELOG line.
const root = fileURLToPath(new URL('../..', import.meta.url));
const pinned = fileURLToPath(new URL('./public-api.txt', import.meta.url));

function report(): string {
  const files = ['src/index.ts', ...readdirSync(`${root}providers`).sort().map((type) => `providers/${type}/index.ts`)];
  const found = exportsOf(files.map((file) => `${root}${file}`));
  return [...found].map(([file, names]) => `## ${file.slice(root.length)}\n${names.join('\n')}`).join('\n') + '\n';
}

describe('public API', () => {
  it('exports exactly what public-api.txt pins, for the package and every provider entry point', { timeout: 60_000 }, () => {
    const current = report();
    if (process.env.UPDATE_API === '1') writeFileSync(pinned, current);
    expect(current).toBe(readFileSync(pinned, 'utf8'));
  });
});
