/**
 * lastpass: entries read through the LastPass CLI, `lpass`, which holds the session. Peer: execa (ESM-only, loaded
 * with a real dynamic import). Freshness: lpass is asked on every lookup; bulk lookups share one process.
 */
import {
  forEachLimit,
  peerLoader,
  referencePath,
  runWithTimeout,
  SecretbindError,
  settle,
  untilAborted,
  validateStoreFields,
  type EntryReference,
  type ProviderSettled,
  type ResolveContext,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';
import { listEntries, removeEntry, writeEntry, type Lpass } from './writes.js';

export interface LastpassOptions {
  /** The lpass executable. Default: `lpass` on the PATH. */
  lpassPath?: string;
  /** How long one lpass process may run before it is killed and the lookup fails with TIMEOUT, in ms. Default: 10000. */
  timeoutMs?: number;
  /**
   * Extra environment for lpass, e.g. `{ LPASS_HOME: '/var/lib/sync/.lpass' }`. `LPASS_DISABLE_PINENTRY=1` is always
   * set. **lpass does not inherit this process's environment**: only `PATH`, `HOME`, `LANG`, `LC_*`, `XDG_*`,
   * `LPASS_*` and `TMPDIR` pass through, so credentials such as `AWS_SECRET_ACCESS_KEY`, `CRYPTOGRAPHY_KEY` or
   * `VAULT_TOKEN` never reach it. Anything else lpass needs goes here.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** `--sync`: `auto` (default) may contact LastPass first; `now` always does; `no` answers from the local cache. */
  sync?: 'auto' | 'now' | 'no';
  /** lpass processes at once for custom fields in a bulk lookup. Default: 4. */
  concurrency?: number;
  /** execa itself, instead of importing it. */
  lib?: ExecaModule;
}

/** The part of execa 9 this provider uses. */
export interface ExecaModule {
  execa(file: string, args: readonly string[], options: Record<string, unknown>): Promise<ExecaResult>;
}
interface ExecaResult {
  stdout: unknown;
  stderr: unknown;
  exitCode?: number | undefined;
  failed?: boolean;
  timedOut?: boolean;
  isCanceled?: boolean;
  code?: string;
}

const TYPE = 'lastpass';
const STANDARD_FIELDS: Record<string, { flag: string; json: 'password' | 'username' | 'url' | 'note' }> = {
  password: { flag: '--password', json: 'password' },
  username: { flag: '--username', json: 'username' },
  url: { flag: '--url', json: 'url' },
  notes: { flag: '--notes', json: 'note' },
};
// Keeps one lpass command line well under Linux's argument limits.
const MAX_ARGUMENT_BYTES = 64 * 1024;
const MULTIPLE_MATCHES = 'Multiple matches found.\n';

/**
 * A provider for `lastpass` stores (`lastpass_username`).
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [lastpass({ env: { LPASS_HOME: '/srv/sync/.lpass' } })] })
 * // binding entry: 'Infrastructure/checkmk-prod#username'
 * ```
 */
export function lastpass(options: LastpassOptions = {}): SecretProvider {
  const lpassPath = options.lpassPath ?? 'lpass';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const sync = `--sync=${options.sync ?? 'auto'}`;
  const loadExeca = peerLoader(TYPE, 'execa', options.lib, () => import('execa') as Promise<ExecaModule>, 'npm install execa@9');
  // The session is checked once per store (and again after an AUTH_FAILED), not once per lookup.
  const sessions = new Map<string, Promise<string>>();
  // Session checks outlive the lookup that started them (they are shared); close() still ends them.
  let closing = new AbortController();

  async function run(args: readonly string[], ctx: Pick<ResolveContext, 'signal'>, input?: string | number): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const { execa } = await loadExeca();
    const result = await execa(lpassPath, args, {
      reject: false,
      // A password prompt must fail, not wait for input that never comes; a write's value arrives on stdin, never argv.
      ...(input === undefined ? { stdin: 'ignore' } : typeof input === 'number' ? { stdin: input } : { input }),
      extendEnv: false,
      env: { ...allowedEnvironment(process.env), ...definedOnly(options.env), LPASS_DISABLE_PINENTRY: '1' },
      timeout: timeoutMs,
      cancelSignal: ctx.signal,
      forceKillAfterDelay: 1000,
      stripFinalNewline: false,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.code === 'ENOENT') {
      throw new SecretbindError(
        'DEPENDENCY_MISSING',
        `lpass was not found (${lpassPath}): install the LastPass CLI (Debian/Ubuntu: apt-get install lastpass-cli; macOS: brew install lastpass-cli) or set lpassPath.`,
        { storeType: TYPE },
      );
    }
    if (result.timedOut || result.isCanceled) {
      throw new SecretbindError('TIMEOUT', `lpass did not answer within ${result.timedOut ? `${timeoutMs} ms (timeoutMs)` : 'the deadline'}; it was killed. Is it waiting for a master password?`, {
        storeType: TYPE,
      });
    }
    return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode ?? 1 };
  }

  /**
   * The logged-in user, checked once per store. The check is shared by every lookup waiting for it, so it runs
   * under lpass's own timeout, not the first caller's signal; each caller waits only as long as its own deadline.
   */
  function ensureSession(store: SecretStore, ctx: ResolveContext): Promise<string> {
    let checked = sessions.get(store.name);
    if (!checked) {
      const closed = closing.signal;
      checked = runWithTimeout(timeoutMs + 2000, `lpass status did not answer within ${timeoutMs} ms (timeoutMs).`, (signal) => checkSession(store, { signal: AbortSignal.any([signal, closed]) }), TYPE);
      sessions.set(store.name, checked);
      const forget = checked;
      checked.catch(() => {
        if (sessions.get(store.name) === forget) sessions.delete(store.name);
      });
    }
    return untilAborted(checked, ctx.signal);
  }

  async function checkSession(store: SecretStore, ctx: Pick<ResolveContext, 'signal'>): Promise<string> {
    const { stdout, exitCode } = await run(['status', '--color=never'], ctx);
    const user = /^Logged in as (.*)\.\n?$/.exec(stdout)?.[1];
    if (exitCode !== 0 || user === undefined) throw notLoggedIn();
    const expected = typeof store.lastpass_username === 'string' ? store.lastpass_username : undefined;
    if (expected !== undefined && expected.toLowerCase() !== user.toLowerCase()) {
      throw new SecretbindError('AUTH_FAILED', `lpass is logged in as ${user}, but store ${JSON.stringify(store.name)} expects ${expected}: run \`lpass logout\` and \`lpass login ${expected}\` as the user this process runs as.`, {
        storeType: TYPE,
      });
    }
    return user;
  }

  /** One entry's field in its own process. */
  async function show(store: SecretStore, ref: EntryReference, ctx: ResolveContext): Promise<string> {
    await ensureSession(store, ctx);
    const name = referencePath(ref);
    const field = (ref.field ?? 'password').toLowerCase();
    const flag = STANDARD_FIELDS[field]?.flag ?? `--field=${ref.field}`;
    const { stdout, stderr, exitCode } = await run(['show', sync, '--color=never', flag, '--', name], ctx);
    if (exitCode === 0 && stdout.startsWith(MULTIPLE_MATCHES)) throw ambiguous(name, stdout.slice(MULTIPLE_MATCHES.length));
    if (exitCode !== 0) throw failure(stderr, exitCode, name, ref.field, () => sessions.delete(store.name));
    return stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout; // exactly one newline is lpass's, the rest is the value's
  }

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      return show(store, ref, ctx);
    },
    async resolveMany(store, refs, ctx) {
      await ensureSession(store, ctx);
      const answers = new Map<string, ProviderSettled>();
      const standard = refs.filter((ref) => STANDARD_FIELDS[(ref.field ?? 'password').toLowerCase()]);
      const custom = refs.filter((ref) => !STANDARD_FIELDS[(ref.field ?? 'password').toLowerCase()]);
      const names = [...new Set(standard.map(referencePath))];
      const entries = new Map<string, JsonEntry[]>();
      for (const chunk of chunks(names)) {
        const matched = await showJson(chunk, ctx, store);
        for (const name of chunk) entries.set(name, matched.filter((entry) => entry.id === name || entry.name === name || entry.fullname === name));
      }
      for (const ref of standard) {
        answers.set(ref.raw, await settle(() => {
          const name = referencePath(ref);
          const found = entries.get(name) ?? [];
          if (found.length === 0) throw notFound(name);
          if (found.length > 1) throw ambiguous(name, found.map((entry) => `${entry.fullname} [id: ${entry.id}]\n`).join(''));
          return (found[0] as JsonEntry)[STANDARD_FIELDS[(ref.field ?? 'password').toLowerCase()]!.json];
        }));
      }
      await forEachLimit(custom, options.concurrency ?? 4, async (ref) => {
        answers.set(ref.raw, await settle(() => show(store, ref, ctx)));
      });
      return answers;
    },
    async check(store, ctx) {
      sessions.delete(store.name); // check asks lpass afresh
      return { loggedInAs: await ensureSession(store, ctx), lpass: lpassPath };
    },
    async list(store, listOptions, ctx) {
      await ensureSession(store, ctx);
      return listEntries(lpassFor(store), listOptions, ctx);
    },
    async write(store, name, value, writeOptions, ctx) {
      await ensureSession(store, ctx);
      return writeEntry(lpassFor(store), name, value, writeOptions, ctx);
    },
    async remove(store, name, removeOptions, ctx) {
      await ensureSession(store, ctx);
      await removeEntry(lpassFor(store), name, removeOptions, ctx);
    },
    close() {
      // A session check still running (a hung lpass) is killed, not left to run out its timeoutMs.
      closing.abort(new SecretbindError('BACKEND_UNAVAILABLE', 'The lastpass provider was closed while lpass status was running.', { storeType: TYPE }));
      closing = new AbortController();
      sessions.clear();
    },
  };

  function lpassFor(store: SecretStore): Lpass {
    return { run, sync, failure: (stderr, exitCode, name) => failure(stderr, exitCode, name, undefined, () => sessions.delete(store.name)) };
  }

  /** Every entry matching any of the names, from one `lpass show -x --json` process. */
  async function showJson(names: readonly string[], ctx: ResolveContext, store: SecretStore): Promise<JsonEntry[]> {
    const { stdout, stderr, exitCode } = await run(['show', sync, '--color=never', '-x', '--json', '--', ...names], ctx);
    if (exitCode !== 0) {
      if (stderr.startsWith('Error: Could not find specified account(s).')) return []; // none of them exists
      throw failure(stderr, exitCode, `${names.length} entries`, undefined, () => sessions.delete(store.name));
    }
    try {
      return JSON.parse(stdout) as JsonEntry[];
    } catch {
      // Never echo the output: it holds passwords.
      throw new SecretbindError('BACKEND_UNAVAILABLE', 'lpass show --json printed something that is not JSON; is this lpass 1.3 or later?', { storeType: TYPE });
    }
  }
}

interface JsonEntry {
  id: string;
  name: string;
  fullname: string;
  username: string;
  password: string;
  url: string;
  note: string;
}

/** lpass's stderr, mapped to a code and a message of ours; its text is never passed on as it is. */
function failure(stderr: string, exitCode: number, name: string, field: string | undefined, sessionLost: () => void): SecretbindError {
  const line = stderr.trim().split('\n').pop() ?? '';
  if (line.startsWith('Error: Could not find specified account(s).')) return notFound(name);
  if (line.startsWith('Error: Could not find specified field')) {
    return new SecretbindError('FIELD_NOT_FOUND', `LastPass entry ${JSON.stringify(name)} has no field ${JSON.stringify(field)}.`, { storeType: TYPE });
  }
  if (line.startsWith('Error: Could not find decryption key')) {
    sessionLost();
    return notLoggedIn();
  }
  if (line.includes('Failed to enter correct password')) {
    sessionLost();
    return new SecretbindError('AUTH_FAILED', 'lpass asked for the master password (its agent has expired) and none can be typed here: run `lpass login` again, or raise LPASS_AGENT_TIMEOUT.', { storeType: TYPE });
  }
  if (line.startsWith('Error: Could not authenticate for protected entry')) {
    return new SecretbindError('PERMISSION_DENIED', `LastPass entry ${JSON.stringify(name)} requires a password reprompt, which an unattended process cannot answer: turn reprompt off for it.`, { storeType: TYPE });
  }
  if (line.startsWith('Error: Multiple matches found for')) {
    return new SecretbindError('ENTRY_AMBIGUOUS', `Several LastPass entries match ${JSON.stringify(name)}: use the full name (Folder/Name) or the id.`, { storeType: TYPE });
  }
  if (line.startsWith('Error: Could not find specified account')) return notFound(name);
  if (line.startsWith('Error: Editing fields of entries that are not secure notes')) {
    return new SecretbindError('OPERATION_UNSUPPORTED', `lpass cannot set custom fields on the site entry ${JSON.stringify(name)}.`, { storeType: TYPE });
  }
  if (line.startsWith('Error: No such file or directory: mkdir()')) {
    return new SecretbindError('CONFIG_INVALID', 'lpass cannot create its state directory: LPASS_HOME is set but empty, or not writable.', { storeType: TYPE });
  }
  return new SecretbindError('BACKEND_UNAVAILABLE', `lpass failed with exit status ${exitCode} while reading ${JSON.stringify(name)}; run \`lpass status\` as this user to see why.`, { storeType: TYPE });
}

function notFound(name: string): SecretbindError {
  return new SecretbindError('ENTRY_NOT_FOUND', `No LastPass entry named ${JSON.stringify(name)} (matched by id, name or full name).`, { storeType: TYPE });
}

function notLoggedIn(): SecretbindError {
  return new SecretbindError('AUTH_FAILED', 'lpass is not logged in: run `lpass login <user>` as the user this process runs as', { storeType: TYPE });
}

/** ENTRY_AMBIGUOUS from lpass's `Folder/Name [id: N]` lines: names and ids only. */
function ambiguous(name: string, listing: string): SecretbindError {
  const matches = listing
    .split('\n')
    .filter((line) => /\[id: [^\]]+\]$/.test(line))
    .join(', ');
  return new SecretbindError('ENTRY_AMBIGUOUS', `Several LastPass entries match ${JSON.stringify(name)}: ${matches}. Use the full name (Folder/Name) or the id.`, { storeType: TYPE });
}

const INHERITED_NAMES = new Set(['PATH', 'HOME', 'LANG', 'TMPDIR']);
const INHERITED_PREFIXES = ['LC_', 'XDG_', 'LPASS_'];

/** The part of this process's environment lpass may see: what it needs to run and find its session, nothing else. */
export function allowedEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const allowed: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (INHERITED_NAMES.has(name) || INHERITED_PREFIXES.some((prefix) => name.startsWith(prefix))) allowed[name] = value;
  }
  return allowed;
}

function definedOnly(env: Readonly<Record<string, string | undefined>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).filter((pair): pair is [string, string] => pair[1] !== undefined));
}

/** Splits names into groups whose command line stays under the argument limit. */
function chunks(names: readonly string[]): string[][] {
  const groups: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const name of names) {
    const size = Buffer.byteLength(name) + 1;
    if (current.length > 0 && bytes + size > MAX_ARGUMENT_BYTES) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(name);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
