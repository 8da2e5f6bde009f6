/**
 * `secretbind put STORE NAME`: writes the value read on standard input (no echo on a terminal; one trailing newline
 * removed) with secretbind's owner mark, and prints the new version. Never prints the value.
 */
import { parseArgs } from 'node:util';
import { SecretbindError } from 'secretbind';
import { loadConfig, resolverFor } from './config.js';
import { CONFIG_OPTIONS, EXIT, type Command } from './shared.js';

export const put: Command = async (args, io) => {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { ...CONFIG_OPTIONS, field: { type: 'string' }, 'if-version': { type: 'string' }, adopt: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (positionals.length !== 2) throw Object.assign(new Error(`expected STORE NAME, got ${positionals.length} arguments`), { code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' });
  const [store, name] = positionals as [string, string];
  const config = await loadConfig(values.config);
  const text = (await io.readSecret()).replace(/\r?\n$/, '');
  if (text.length === 0) throw new SecretbindError('CONFIG_INVALID', 'No value on standard input: pipe it in or type it at the prompt.');
  const resolver = await resolverFor(config, io);
  try {
    const value = values.field === undefined ? text : { [values.field]: text };
    const result = await resolver.writeEntry(store, name, value, {
      adopt: values.adopt,
      ...(values.field === undefined ? {} : { merge: true }),
      ...(values['if-version'] === undefined ? {} : { ifVersion: values['if-version'] }),
    });
    if (values.json) io.stdout(`${JSON.stringify({ store, entry: name, ...(values.field ? { field: values.field } : {}), ...result })}\n`);
    // A store without versions (the OS keyring) says so rather than printing an empty one.
    else io.stdout(`${result.created ? 'created' : 'updated'} ${name} in ${store}${result.version ? `: version ${result.version}` : ' (this store keeps no versions)'}\n`);
    return EXIT.ok;
  } finally {
    await resolver.close();
  }
};
