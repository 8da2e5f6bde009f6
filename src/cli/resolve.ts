/** `secretbind resolve ACCOUNT`: resolves and says where the value came from; `--reveal` prints the value. */
import { parseArgs } from 'node:util';
import { loadConfig, resolverFor } from './config.js';
import { CONFIG_OPTIONS, EXIT, onlyAccount, type Command } from './shared.js';

export const resolve: Command = async (args, io) => {
  const { values, positionals } = parseArgs({ args: [...args], options: { ...CONFIG_OPTIONS, reveal: { type: 'boolean', default: false } }, allowPositionals: true });
  const name = onlyAccount(positionals);
  const config = await loadConfig(values.config);
  const resolver = await resolverFor(config, io);
  const account = config.accounts.get(name) ?? { name };
  const explanation = await resolver.explain(account);
  const value = await resolver.resolvePassword(account);
  await resolver.close();
  const where = explanation.source === 'store' && explanation.binding.found ? { source: 'store', store: explanation.binding.store, storeType: explanation.store?.type, entry: explanation.binding.entry } : { source: 'local' };
  if (values.json) io.stdout(`${JSON.stringify({ account: name, ...where, hasValue: value !== null, ...(values.reveal ? { value } : {}) }, null, 2)}\n`);
  else if (values.reveal) io.stdout(`${value ?? ''}\n`);
  else io.stdout(where.source === 'store' ? `${name}: resolved from ${where.storeType} store ${where.store}, entry ${where.entry}\n` : `${name}: ${value === null ? 'no password (no binding, no local password)' : 'resolved from its local password'}\n`);
  return EXIT.ok;
};
