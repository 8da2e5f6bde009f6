/** `secretbind log ACCOUNT --log-file FILE`: one account's events from a JSON-lines log, newest first. */
import { parseArgs } from 'node:util';
import { formatEvent, readJsonLines, SecretbindError, type SecretEvent } from 'secretbind';
import { EXIT, onlyAccount, type Command } from './shared.js';

export const log: Command = async (args, io) => {
  const { values, positionals } = parseArgs({ args: [...args], options: { 'log-file': { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean', default: false } }, allowPositionals: true });
  const account = onlyAccount(positionals);
  const file = values['log-file'];
  if (!file) throw new SecretbindError('CONFIG_INVALID', '--log-file FILE is required: the JSON-lines file a sink writes (sync --watch --log-file).');
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit > 0) || (limit !== Infinity && !Number.isInteger(limit))) throw new SecretbindError('CONFIG_INVALID', '--limit must be a positive whole number.');
  const lines = readJsonLines(file)
    .filter((line) => (line as { account?: string }).account === account)
    .reverse()
    .slice(0, limit);
  if (values.json) io.stdout(`${JSON.stringify(lines, null, 2)}\n`);
  else if (lines.length === 0) io.stdout(`no events for ${account} in ${file}\n`);
  else for (const line of lines) io.stdout(`${line.time} ${formatEvent(line as SecretEvent)}\n`);
  return EXIT.ok;
};
