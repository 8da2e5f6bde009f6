/** `secretbind ls STORE [PREFIX]`: a store's entries with versions, update times and an owned flag; never a value. */
import { parseArgs } from 'node:util';
import { loadConfig, resolverFor } from './config.js';
import { CONFIG_OPTIONS, EXIT, table, type Command } from './shared.js';

export const ls: Command = async (args, io) => {
  const { values, positionals } = parseArgs({ args: [...args], options: { ...CONFIG_OPTIONS, recursive: { type: 'boolean', default: false } }, allowPositionals: true });
  if (positionals.length < 1 || positionals.length > 2) throw Object.assign(new Error(`expected STORE [PREFIX], got ${positionals.length} arguments`), { code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' });
  const [store, prefix] = positionals as [string, string | undefined];
  const config = await loadConfig(values.config);
  const resolver = await resolverFor(config, io);
  try {
    const entries = await resolver.listEntries(store, { recursive: values.recursive, metadata: true, ...(prefix ? { prefix } : {}) });
    if (values.json) io.stdout(`${JSON.stringify(entries, null, 2)}\n`);
    else if (entries.length === 0) io.stdout(`no entries in ${store}${prefix ? ` under ${prefix}` : ''}\n`);
    else io.stdout(table([['NAME', 'VERSION', 'UPDATED', 'OWNED'], ...entries.map((entry) => [entry.name, entry.version ?? '-', entry.updatedAt ?? '-', entry.owned === undefined ? '?' : entry.owned ? (entry.owner ?? 'yes') : 'no'])]));
    return EXIT.ok;
  } finally {
    await resolver.close();
  }
};
