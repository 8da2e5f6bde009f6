/** `secretbind keygen`: a new Fernet key for CRYPTOGRAPHY_KEY. */
import { parseArgs } from 'node:util';
import { generateFernetKey } from 'secretbind';
import { EXIT, type Command } from './shared.js';

export const keygen: Command = async (args, io) => {
  const { values } = parseArgs({ args: [...args], options: { json: { type: 'boolean', default: false } } });
  const key = generateFernetKey();
  io.stdout(values.json ? `${JSON.stringify({ key })}\n` : `${key}\n`);
  return EXIT.ok;
};
