/**
 * The `secretbind` command: check bindings before a sync run, explain and resolve one account, make keys and
 * tokens. `main` takes its streams and environment as arguments so tests run it in-process.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  createSecretResolver,
  encryptLocalPassword,
  generateFernetKey,
  isSecretbindError,
  MemoryBindingRepository,
  SecretbindError,
  type Account,
  type SecretProvider,
} from 'secretbind';
import { awsSecrets } from 'secretbind/providers/aws_secrets';
import { envvar } from 'secretbind/providers/envvar';
import { keepass } from 'secretbind/providers/keepass';
import { lastpass } from 'secretbind/providers/lastpass';
import { vault } from 'secretbind/providers/vault';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads standard input to its end; on a terminal, without echo. */
  readSecret: () => Promise<string>;
  env: Readonly<Record<string, string | undefined>>;
  /** Whether stderr is a terminal (progress lines are shown only then). */
  stderrIsTerminal: boolean;
}

/** Exit codes: 0 success, 1 a check or resolution failed, 2 a usage or configuration error. */
const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const HELP: Record<string, string> = {
  main: `Usage: secretbind <command> [options]

Commands:
  check --config FILE          check every store and binding (one line per binding)
  explain ACCOUNT --config FILE  where ACCOUNT's password would come from, and why
  resolve ACCOUNT --config FILE  resolve ACCOUNT and say where the value came from (--reveal prints it)
  keygen                       print a new Fernet key for CRYPTOGRAPHY_KEY
  encrypt                      read a password on stdin, print its Fernet token

Every command takes --json and --help. Errors print "error CODE: message" on stderr.
Exit status: 0 success, 1 a check or resolution failed, 2 usage or configuration error.`,
  check: `Usage: secretbind check --config FILE [--json] [--no-read]

Validates the configuration, checks every store (reachability, credentials) and reads every enabled binding's
entry (values are discarded; --no-read skips the reads). Exit 0 when all pass, 1 when any fails.`,
  explain: `Usage: secretbind explain ACCOUNT --config FILE [--json]

Shows binding, store, provider and reference for ACCOUNT, and which source a lookup would use. Reads nothing.`,
  resolve: `Usage: secretbind resolve ACCOUNT --config FILE [--reveal] [--json]

Resolves ACCOUNT and prints where the value came from, never the value. --reveal prints the value alone
followed by a newline, for scripts.`,
  keygen: `Usage: secretbind keygen [--json]

Prints a new random Fernet key (url-safe base64 of 32 bytes).`,
  encrypt: `Usage: secretbind encrypt [--key-env NAME] [--json]

Reads a password from standard input (not echoed on a terminal) and prints its Fernet token, made with the key
in $CRYPTOGRAPHY_KEY or in the variable named by --key-env.`,
};

/** Runs the command line; returns the exit status. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(`${HELP.main}\n`);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  const commands: Record<string, (args: readonly string[], io: CliIo) => Promise<number>> = { check, explain, resolve, keygen, encrypt };
  const run = commands[command];
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
    if ((error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      return usage(io, (error as Error).message);
    }
    throw error;
  }
}

function usage(io: CliIo, problem: string): number {
  io.stderr(`error USAGE: ${problem}\n`);
  return EXIT.usage;
}

const CONFIG_OPTIONS = { config: { type: 'string' }, json: { type: 'boolean', default: false } } as const;

interface LoadedConfig {
  repository: MemoryBindingRepository;
  accounts: Map<string, Account>;
}

/** Reads and validates the configuration file: `{ stores, bindings, accounts? }`. */
async function loadConfig(path: string | undefined): Promise<LoadedConfig> {
  if (!path) throw new SecretbindError('CONFIG_INVALID', '--config FILE is required: a JSON file with stores, bindings and optionally accounts.');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SecretbindError('CONFIG_INVALID', `${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SecretbindError('CONFIG_INVALID', `${path}: not valid JSON (${(error as Error).message}).`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SecretbindError('CONFIG_INVALID', `${path}: expected an object with stores and bindings.`);
  const config = parsed as { stores?: unknown; bindings?: unknown; accounts?: unknown };
  let repository: MemoryBindingRepository;
  try {
    repository = MemoryBindingRepository.fromConfig(config);
  } catch (error) {
    throw new SecretbindError('CONFIG_INVALID', `${path}: ${(error as Error).message}`, { cause: error });
  }
  const accounts = new Map<string, Account>();
  if (config.accounts !== undefined) {
    if (!Array.isArray(config.accounts)) throw new SecretbindError('CONFIG_INVALID', `${path}: accounts: expected an array.`);
    config.accounts.forEach((account: unknown, index) => {
      const record = account as Record<string, unknown> | null;
      if (typeof record?.name !== 'string' || record.name.length === 0) throw new SecretbindError('CONFIG_INVALID', `${path}: accounts[${index}].name: expected a non-empty string.`);
      if (record.password !== undefined && record.password !== null && typeof record.password !== 'string') {
        throw new SecretbindError('CONFIG_INVALID', `${path}: accounts[${index}].password: expected a Fernet token (string).`);
      }
      accounts.set(record.name, record as Account);
    });
  }
  return { repository, accounts };
}

function providers(io: CliIo): SecretProvider[] {
  // Each provider loads its library only when a store of its type is used.
  return [envvar({ env: io.env }), keepass({ env: io.env }), lastpass({ env: io.env }), vault({ env: io.env }), awsSecrets()];
}

function resolverFor(config: LoadedConfig, io: CliIo) {
  return createSecretResolver({ repository: config.repository, providers: providers(io), cryptographyKey: io.env.CRYPTOGRAPHY_KEY ?? [] });
}

async function check(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { ...CONFIG_OPTIONS, 'no-read': { type: 'boolean', default: false } }, allowPositionals: false });
  const config = await loadConfig(values.config);
  const resolver = resolverFor(config, io);
  if (io.stderrIsTerminal) io.stderr(`checking ${config.repository.listStores().length} stores and ${config.repository.listBindings().length} bindings...\n`);
  const report = await resolver.check({ resolveEntries: !values['no-read'] });
  await resolver.close();
  if (values.json) {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const store of report.stores.filter((entry) => !entry.ok)) io.stdout(`store ${store.store} (${store.type}): ${store.code} ${store.message ?? ''}\n`);
    const rows = report.bindings.map((binding) => [binding.account, binding.store, binding.storeType ?? '-', binding.status, binding.code ?? '']);
    io.stdout(table([['ACCOUNT', 'STORE', 'TYPE', 'STATUS', 'CODE'], ...rows]));
  }
  return report.ok ? EXIT.ok : EXIT.failed;
}

async function explain(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], options: CONFIG_OPTIONS, allowPositionals: true });
  const name = onlyAccount(positionals);
  const config = await loadConfig(values.config);
  const explanation = await resolverFor(config, io).explain(config.accounts.get(name) ?? { name });
  if (values.json) io.stdout(`${JSON.stringify(explanation, null, 2)}\n`);
  else io.stdout(`${name}: ${explanation.source}\n  ${explanation.reason}\n`);
  return explanation.source === 'error' ? EXIT.failed : EXIT.ok;
}

async function resolve(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], options: { ...CONFIG_OPTIONS, reveal: { type: 'boolean', default: false } }, allowPositionals: true });
  const name = onlyAccount(positionals);
  const config = await loadConfig(values.config);
  const resolver = resolverFor(config, io);
  const account = config.accounts.get(name) ?? { name };
  const explanation = await resolver.explain(account);
  const value = await resolver.resolvePassword(account);
  await resolver.close();
  const where = explanation.source === 'store' && explanation.binding.found ? { source: 'store', store: explanation.binding.store, storeType: explanation.store?.type, entry: explanation.binding.entry } : { source: 'local' };
  if (values.json) io.stdout(`${JSON.stringify({ account: name, ...where, hasValue: value !== null, ...(values.reveal ? { value } : {}) }, null, 2)}\n`);
  else if (values.reveal) io.stdout(`${value ?? ''}\n`);
  else io.stdout(where.source === 'store' ? `${name}: resolved from ${where.storeType} store ${where.store}, entry ${where.entry}\n` : `${name}: ${value === null ? 'no password (no binding, no local password)' : 'resolved from its local password'}\n`);
  return EXIT.ok;
}

async function keygen(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { json: { type: 'boolean', default: false } } });
  const key = generateFernetKey();
  io.stdout(values.json ? `${JSON.stringify({ key })}\n` : `${key}\n`);
  return EXIT.ok;
}

async function encrypt(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { json: { type: 'boolean', default: false }, 'key-env': { type: 'string', default: 'CRYPTOGRAPHY_KEY' } } });
  const keyEnv = values['key-env'];
  const key = io.env[keyEnv];
  if (!key) throw new SecretbindError('LOCAL_KEY_MISSING', `$${keyEnv} is not set: export a key made with \`secretbind keygen\`, or name another variable with --key-env.`);
  // One trailing newline is the end of the typed line, not part of the password.
  const password = (await io.readSecret()).replace(/\r?\n$/, '');
  const token = encryptLocalPassword(password, key);
  io.stdout(values.json ? `${JSON.stringify({ token })}\n` : `${token}\n`);
  return EXIT.ok;
}

function onlyAccount(positionals: readonly string[]): string {
  if (positionals.length !== 1) throw Object.assign(new Error(`expected exactly one ACCOUNT, got ${positionals.length}`), { code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' });
  return positionals[0] as string;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n';
}
