/** `secretbind encrypt`: a password from standard input to a Fernet token. */
import { parseArgs } from 'node:util';
import { encryptLocalPassword, SecretbindError } from 'secretbind';
import { EXIT, type Command } from './shared.js';

export const encrypt: Command = async (args, io) => {
  const { values } = parseArgs({ args: [...args], options: { json: { type: 'boolean', default: false }, 'key-env': { type: 'string', default: 'CRYPTOGRAPHY_KEY' } } });
  const keyEnv = values['key-env'];
  const key = io.env[keyEnv];
  if (!key) throw new SecretbindError('LOCAL_KEY_MISSING', `$${keyEnv} is not set: export a key made with \`secretbind keygen\`, or name another variable with --key-env.`);
  // One trailing newline is the end of the typed line, not part of the password.
  const password = (await io.readSecret()).replace(/\r?\n$/, '');
  const token = encryptLocalPassword(password, key);
  io.stdout(values.json ? `${JSON.stringify({ token })}\n` : `${token}\n`);
  return EXIT.ok;
};
