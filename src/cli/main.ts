/**
 * The `secretbind` command: check bindings before a sync run, explain and resolve one account, make keys and
 * tokens, list and write a store's entries. `main` takes its streams and environment as arguments so tests run it in-process. The command is the only
 * part of secretbind that imports providers, and it imports only those its configuration uses.
 */
import { isSecretbindError } from 'secretbind';
import { check } from './check.js';
import { encrypt } from './encrypt.js';
import { explain } from './explain.js';
import { HELP } from './help.js';
import { keygen } from './keygen.js';
import { log } from './log.js';
import { ls } from './ls.js';
import { migrate } from './migrate.js';
import { put } from './put.js';
import { resolve } from './resolve.js';
import { sync } from './sync.js';
import { EXIT, usage, type CliIo, type Command } from './shared.js';

export type { CliIo } from './shared.js';

const COMMANDS: Readonly<Record<string, Command>> = { check, explain, resolve, keygen, encrypt, ls, put, log, sync, migrate };

/** Runs the command line; returns the exit status. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(`${HELP.main}\n`);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) return usage(io, `unknown command "${command}"; run secretbind --help`);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${HELP[command]}\n`);
    return EXIT.ok;
  }
  try {
    return await run(rest, io);
  } catch (error) {
    if (isSecretbindError(error)) {
      io.stderr(`error ${error.code}: ${error.message}\n`);
      return error.code === 'CONFIG_INVALID' || error.code === 'REFERENCE_INVALID' ? EXIT.usage : EXIT.failed;
    }
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      return usage(io, (error as Error).message);
    }
    throw error;
  }
}
