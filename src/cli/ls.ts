/**
 * `secretbind ls STORE [PREFIX]`: a store's entries with versions, update times and an owned flag; never a value.
 * Without --recursive one level is shown, its folders with a trailing `/` (as `vault kv list` and `keepassxc-cli ls`
 * show them); PREFIX names a folder with or without its trailing `/`.
 */
import { parseArgs } from 'node:util';
import type { EntryInfo } from 'secretbind';
import { loadConfig, resolverFor } from './config.js';
import { CONFIG_OPTIONS, EXIT, table, type Command } from './shared.js';

/** A line of `ls`: an entry, or a folder (`folder: true`, its name ending in `/`). */
type Listed = EntryInfo | { name: string; folder: true };

export const ls: Command = async (args, io) => {
  const { values, positionals } = parseArgs({ args: [...args], options: { ...CONFIG_OPTIONS, recursive: { type: 'boolean', default: false } }, allowPositionals: true });
  if (positionals.length < 1 || positionals.length > 2) throw Object.assign(new Error(`expected STORE [PREFIX], got ${positionals.length} arguments`), { code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' });
  const [store, given] = positionals as [string, string | undefined];
  // `kv` and `kv/` are the same folder.
  const folder = given ? `${given.replace(/\/+$/, '')}/` : '';
  const config = await loadConfig(values.config);
  const resolver = await resolverFor(config, io);
  try {
    let listed: Listed[];
    if (values.recursive) listed = await resolver.listEntries(store, { recursive: true, metadata: true, ...(folder ? { prefix: folder } : {}) });
    else {
      // One level: the store's own listing of it (with metadata), and the folders under it from a listing of
      // everything below (names only), since not every store lists its folders.
      const [level, below] = await Promise.all([
        resolver.listEntries(store, { recursive: false, metadata: true, ...(folder ? { prefix: folder } : {}) }),
        resolver.listEntries(store, { recursive: true, ...(folder ? { prefix: folder } : {}) }),
      ]);
      listed = oneLevel(folder, level, below);
    }
    if (values.json) io.stdout(`${JSON.stringify(listed, null, 2)}\n`);
    else if (listed.length === 0) io.stdout(`no entries in ${store}${given ? ` under ${folder}` : ''}\n`);
    else {
      const row = (item: Listed): string[] => ('folder' in item ? [item.name, '', '', ''] : [item.name, item.version ?? '-', item.updatedAt ?? '-', item.owned === undefined ? '?' : item.owned ? (item.owner ?? 'yes') : 'no']);
      io.stdout(table([['NAME', 'VERSION', 'UPDATED', 'OWNED'], ...listed.map(row)]));
    }
    return EXIT.ok;
  } finally {
    await resolver.close();
  }
};

/** The entries directly in `folder` and its sub-folders (once each, sorted), from a level's listing and everything below. */
function oneLevel(folder: string, level: readonly EntryInfo[], below: readonly EntryInfo[]): Listed[] {
  const entries = new Map<string, EntryInfo>();
  const folders = new Set<string>();
  for (const entry of [...level, ...below]) {
    if (!entry.name.startsWith(folder)) continue;
    const slash = firstSlash(entry.name, folder.length);
    if (slash === -1) {
      if (!entries.has(entry.name)) entries.set(entry.name, entry);
    } else folders.add(entry.name.slice(0, slash + 1));
  }
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...[...folders].map((name) => ({ name, folder: true as const })).sort(byName), ...[...entries.values()].sort(byName)];
}

/** The first `/` at or after `from` that is not escaped (`\/` is a slash inside a name). */
function firstSlash(name: string, from: number): number {
  for (let index = from; index < name.length; index++) {
    if (name[index] === '\\') index++;
    else if (name[index] === '/') return index;
  }
  return -1;
}
