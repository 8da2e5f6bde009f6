/** `secretbind explain ACCOUNT`: where the password would come from, and why; reads nothing. */
import { parseArgs } from 'node:util';
import { loadConfig, resolverFor } from './config.js';
import { CONFIG_OPTIONS, EXIT, onlyAccount, type Command } from './shared.js';

export const explain: Command = async (args, io) => {
  const { values, positionals } = parseArgs({ args: [...args], options: CONFIG_OPTIONS, allowPositionals: true });
  const name = onlyAccount(positionals);
  const config = await loadConfig(values.config);
  const resolver = await resolverFor(config, io);
  const explanation = await resolver.explain(config.accounts.get(name) ?? { name });
  await resolver.close();
  if (values.json) io.stdout(`${JSON.stringify(explanation, null, 2)}\n`);
  else io.stdout(`${name}: ${explanation.source}\n  ${explanation.reason}\n`);
  return explanation.source === 'error' ? EXIT.failed : EXIT.ok;
};
