/** `secretbind check`: every store and binding, one line per binding; values are read and discarded. */
import { parseArgs } from 'node:util';
import { loadConfig, resolverFor } from './config.js';
import { CONFIG_OPTIONS, EXIT, table, type Command } from './shared.js';

export const check: Command = async (args, io) => {
  const { values } = parseArgs({ args: [...args], options: { ...CONFIG_OPTIONS, 'no-read': { type: 'boolean', default: false } }, allowPositionals: false });
  const config = await loadConfig(values.config);
  const resolver = await resolverFor(config, io);
  if (io.stderrIsTerminal) io.stderr(`checking ${config.repository.listStores().length} stores and ${config.repository.listBindings().length} bindings...\n`);
  const report = await resolver.check({ resolveEntries: !values['no-read'] });
  await resolver.close();
  if (values.json) {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const store of report.stores) {
      // Who we are at each store (identity, backend, server) as the provider reports it: facts, never a value.
      if (store.ok && store.details && Object.keys(store.details).length > 0) {
        io.stdout(`store ${store.store} (${store.type}): ${Object.entries(store.details).map(([key, value]) => `${key}=${Array.isArray(value) ? value.join(',') : String(value)}`).join(', ')}\n`);
      } else if (!store.ok) io.stdout(`store ${store.store} (${store.type}): ${store.code} ${store.message ?? ''}\n`);
    }
    const rows = report.bindings.map((binding) => [binding.account, binding.store, binding.storeType ?? '-', binding.status, binding.code ?? '']);
    io.stdout(table([['ACCOUNT', 'STORE', 'TYPE', 'STATUS', 'CODE'], ...rows]));
  }
  return report.ok ? EXIT.ok : EXIT.failed;
};
