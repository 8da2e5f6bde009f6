import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretStore } from 'secretbind';
import { lastpass, type LastpassOptions } from '../../providers/lastpass/index.js';
import { describeProvider } from '../conformance/provider.js';
import { describeWritableProvider } from '../conformance/writes.js';
import { failure } from '../helpers.js';

const STAND_IN = fileURLToPath(new URL('../bin/lpass', import.meta.url));
const CANARY = 'canary-lastpass-5e1f0a';

interface StandInVault {
  state: 'logged-in' | 'logged-out';
  user?: string;
  mode?: 'normal' | 'hang' | 'prompt' | 'slow';
  entries: Array<Record<string, unknown>>;
}

const ENTRIES = [
  { id: '1000000001', name: 'checkmk-prod', group: 'Infrastructure', username: 'automation', password: 'Ch3ck-MK!prod#2026', url: 'https://cmk.example.test', note: 'line one\nline two', fields: { api_secret: 's3cr3t-api-key' } },
  { id: '1000000002', name: 'same-title', group: 'Team A', password: 'dup-a' },
  { id: '1000000003', name: 'same-title', group: 'Team B', password: 'dup-b' },
  { id: '1000000004', name: '-dash-first', password: 'dash-value' },
  { id: '1000000005', name: 'with space "and" \'quotes\'', password: 'quoted-value' },
  { id: '1000000006', name: 'canary', password: CANARY },
  { id: '1000000007', name: 'hangs', password: 'never', hang: true },
  { id: '1000000008', name: 'protected', password: 'reprompt', reprompt: true },
  { id: '1000000009', name: 'trailing', password: 'ends with newline\n' },
];

/** A vault file and a log for the stand-in, and a provider pointed at it. */
function standIn(vault: Partial<StandInVault> = {}, options: LastpassOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-lpass-'));
  const vaultFile = join(dir, 'vault.json');
  const log = join(dir, 'argv.log');
  const write = (next: Partial<StandInVault>) => writeFileSync(vaultFile, JSON.stringify({ state: 'logged-in', user: 'ops@example.test', entries: ENTRIES, ...vault, ...next }));
  write({});
  writeFileSync(log, '');
  const provider = lastpass({ lpassPath: STAND_IN, env: { LPASS_STANDIN_VAULT: vaultFile, LPASS_STANDIN_LOG: log }, ...options });
  const runs = () =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { pid: number; argv: string[]; pinentryDisabled: boolean; stdinIsTTY: boolean; stdinKind: string });
  return { provider, write, runs, vaultFile };
}

const STORE: SecretStore = { name: 'lp', type: 'lastpass', lastpass_username: 'ops@example.test' };

function resolverOver(provider: ReturnType<typeof lastpass>, bindings: Record<string, string>, store: SecretStore = STORE, timeoutMs = 5000) {
  const repository = new MemoryBindingRepository().putStore(store);
  for (const [account, entry] of Object.entries(bindings)) repository.putBinding({ account, store: store.name, entry });
  return createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs });
}

/** An lpass that starts and never finishes, whatever it is asked (the stand-in's `hang` mode). */
const hungLpass = () => ({ provider: standIn({ mode: 'hang' }).provider, store: STORE, reference: 'Conformance/hung', stop: () => undefined });

describeProvider({
  name: 'lastpass',
  hangingStore: hungLpass,
  capabilities: { bulk: true, check: true, hang: true },
  setup: () => ({
    provider: standIn().provider,
    store: STORE,
    known: { reference: 'Infrastructure/checkmk-prod', value: 'Ch3ck-MK!prod#2026' },
    knownField: { reference: 'checkmk-prod#username', value: 'automation' },
    missingEntry: 'Infrastructure/nothing-here',
    missingField: 'checkmk-prod#no_such_field',
    badStores: [{ name: 'lp', type: 'lastpass', lastpass_username: '' }, { name: '', type: 'lastpass' }],
    canary: { reference: 'canary', value: CANARY, missingFieldReference: 'canary#nope' },
    hang: () => 'hangs',
  }),
});

describe('Provider: lastpass against the real lpass', () => {
  const real = spawnSync('lpass', ['--version'], { encoding: 'utf8' });

  it('has the real lpass installed (Debian lastpass-cli), so the comparison below runs', () => {
    expect(real.error).toBeUndefined();
    expect(real.stdout).toBe('LastPass CLI v1.3.7-1~deb12u1\n');
  });

  it.each([['--version'], ['status'], ['status', '-q'], ['show', 'NAME'], ['show', '--password', 'NAME'], ['show'], ['ls'], ['sync'], ['logout', '-f'], ['show', '--sync=no', '--', '-x']])(
    'prints what the real lpass prints when logged out: lpass %s',
    (...args) => {
      const home = mkdtempSync(join(tmpdir(), 'secretbind-lpass-home-'));
      mkdirSync(join(home, '.lpass'));
      const dir = mkdtempSync(join(tmpdir(), 'secretbind-lpass-vault-'));
      writeFileSync(join(dir, 'vault.json'), JSON.stringify({ state: 'logged-out', entries: [] }));
      const env = { PATH: process.env.PATH, HOME: home, LPASS_STANDIN_VAULT: join(dir, 'vault.json') };
      const theirs = spawnSync('lpass', args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
      const ours = spawnSync(STAND_IN, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
      expect({ stdout: ours.stdout, stderr: ours.stderr, status: ours.status }).toEqual({ stdout: theirs.stdout, stderr: theirs.stderr, status: theirs.status });
    },
  );
});

describe('Provider: lastpass', () => {
  it('says lpass is not logged in, with what to run', async () => {
    const { provider } = standIn({ state: 'logged-out' });
    const error = await failure(resolverOver(provider, { a: 'checkmk-prod' }).resolvePassword({ name: 'a' }));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', message: 'lpass is not logged in: run `lpass login <user>` as the user this process runs as' });
  });

  it('refuses a session of another user, naming both', async () => {
    const { provider } = standIn({ user: 'intruder@example.test' });
    const error = await failure(resolverOver(provider, { a: 'checkmk-prod' }).resolvePassword({ name: 'a' }));
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.message).toContain('logged in as intruder@example.test');
    expect(error.message).toContain('expects ops@example.test');
  });

  it('reports "Multiple matches found." (exit 0) as ENTRY_AMBIGUOUS with names and ids, never as a value', async () => {
    const { provider } = standIn();
    const resolver = resolverOver(provider, { a: 'same-title', b: 'Team A/same-title' });
    const error = await failure(resolver.resolvePassword({ name: 'a' }));
    expect(error.code).toBe('ENTRY_AMBIGUOUS');
    expect(error.message).toContain('Team A/same-title [id: 1000000002], Team B/same-title [id: 1000000003]');
    expect(error.message).not.toMatch(/dup-a|dup-b|Multiple matches/);
    expect(await resolver.resolvePassword({ name: 'b' })).toBe('dup-a');
    const bulk = await resolver.resolvePasswords([{ name: 'a' }, { name: 'b' }]);
    expect(bulk.get('a')).toMatchObject({ ok: false, error: { code: 'ENTRY_AMBIGUOUS' } });
    expect(bulk.get('b')).toEqual({ ok: true, value: 'dup-a', source: 'store' });
  });

  it('kills a hanging lpass at the deadline and leaves no process behind', async () => {
    const { provider, runs } = standIn({}, { timeoutMs: 60_000 });
    // The deadline leaves room for `lpass status` and the hanging `lpass show` to start on a loaded CI machine
    // (each is a Node process); a shorter one can expire before the hanging process exists.
    const deadlineMs = 2000;
    const started = performance.now();
    const error = await failure(resolverOver(provider, { h: 'hangs' }, STORE, deadlineMs).resolvePassword({ name: 'h' }));
    expect(error.code).toBe('TIMEOUT');
    expect(performance.now() - started).toBeLessThan(deadlineMs + 500);
    const hung = runs().find((run) => run.argv.includes('hangs'))!;
    await expect.poll(() => alive(hung.pid), { timeout: 2000 }).toBe(false);
  });

  it('kills lpass at its own timeoutMs too', async () => {
    const { provider } = standIn({}, { timeoutMs: 200 });
    const error = await failure(resolverOver(provider, { h: 'hangs' }).resolvePassword({ name: 'h' }));
    expect(error).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('200 ms') });
  });

  it('fails instead of waiting when lpass asks for the master password', async () => {
    const { provider, runs } = standIn({ mode: 'prompt' });
    const error = await failure(resolverOver(provider, { a: 'checkmk-prod' }).resolvePassword({ name: 'a' }));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringContaining('asked for the master password') });
    expect(runs().every((run) => run.pinentryDisabled && !run.stdinIsTTY)).toBe(true);
  });

  it('passes names as arguments after --, whatever they contain', async () => {
    const { provider, runs } = standIn();
    const resolver = resolverOver(provider, { dash: '-dash-first', quoted: 'with space "and" \'quotes\'' });
    expect(await resolver.resolvePassword({ name: 'dash' })).toBe('dash-value');
    expect(await resolver.resolvePassword({ name: 'quoted' })).toBe('quoted-value');
    const shows = runs().filter((run) => run.argv[0] === 'show');
    expect(shows.map((run) => run.argv.slice(-2))).toEqual([
      ['--', '-dash-first'],
      ['--', 'with space "and" \'quotes\''],
    ]);
  });

  it('keeps inner newlines and removes exactly one trailing newline', async () => {
    const { provider } = standIn();
    const resolver = resolverOver(provider, { notes: 'checkmk-prod#notes', trailing: 'trailing', custom: 'checkmk-prod#api_secret' });
    expect(await resolver.resolvePassword({ name: 'notes' })).toBe('line one\nline two');
    expect(await resolver.resolvePassword({ name: 'trailing' })).toBe('ends with newline\n');
    expect(await resolver.resolvePassword({ name: 'custom' })).toBe('s3cr3t-api-key');
    const bulk = await resolver.resolvePasswords([{ name: 'notes' }, { name: 'trailing' }, { name: 'custom' }]);
    expect([...bulk.values()].map((result) => result.ok && result.value)).toEqual(['line one\nline two', 'ends with newline\n', 's3cr3t-api-key']);
  });

  it('maps a reprompt-protected entry to PERMISSION_DENIED', async () => {
    const { provider } = standIn();
    expect((await failure(resolverOver(provider, { p: 'protected' }).resolvePassword({ name: 'p' }))).code).toBe('PERMISSION_DENIED');
  });

  it('reads many entries in one process, by name, full name and id; custom fields one process each', async () => {
    const { provider, runs } = standIn();
    const resolver = resolverOver(provider, { byName: 'checkmk-prod', byFull: 'Infrastructure/checkmk-prod#url', byId: '1000000004', user: 'checkmk-prod#username', missing: 'nobody', custom: 'checkmk-prod#api_secret' });
    const results = await resolver.resolvePasswords(['byName', 'byFull', 'byId', 'user', 'missing', 'custom'].map((name) => ({ name })));
    expect(Object.fromEntries([...results].map(([name, result]) => [name, result.ok ? result.value : result.error.code]))).toEqual({
      byName: 'Ch3ck-MK!prod#2026',
      byFull: 'https://cmk.example.test',
      byId: 'dash-value',
      user: 'automation',
      missing: 'ENTRY_NOT_FOUND',
      custom: 's3cr3t-api-key',
    });
    const commands = runs().map((run) => run.argv.filter((arg) => !arg.startsWith('--sync') && arg !== '--color=never'));
    expect(commands).toEqual([['status'], ['show', '-x', '--json', '--', 'checkmk-prod', 'Infrastructure/checkmk-prod', '1000000004', 'nobody'], ['show', '--field=api_secret', '--', 'checkmk-prod']]);
  });

  it('says DEPENDENCY_MISSING with the package names when lpass is not installed', async () => {
    const provider = lastpass({ lpassPath: '/nonexistent/lpass' });
    const error = await failure(resolverOver(provider, { a: 'x' }).resolvePassword({ name: 'a' }));
    expect(error.code).toBe('DEPENDENCY_MISSING');
    expect(error.message).toContain('apt-get install lastpass-cli');
    expect(error.message).toContain('brew install lastpass-cli');
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describeWritableProvider({
  name: 'lastpass',
  hangingStore: hungLpass,
  capabilities: { pageSize: 0, objectFields: true, guarded: false },
  setup: () => {
    const { provider, vaultFile } = standIn({ entries: [...ENTRIES] });
    return {
      provider,
      store: STORE,
      // An entry made in the LastPass app: no "managed-by:" line in its notes.
      seedForeign: (name, value) => {
        const current = JSON.parse(readFileSync(vaultFile, 'utf8')) as StandInVault;
        const slash = name.lastIndexOf('/');
        current.entries.push({ id: String(2_000_000_000 + current.entries.length), name: slash === -1 ? name : name.slice(slash + 1), ...(slash === -1 ? {} : { group: name.slice(0, slash) }), password: value, note: 'made by hand' });
        writeFileSync(vaultFile, JSON.stringify(current));
      },
      names: ['Sync/name with spaces', 'Sync/web\\#1', 'Gruppe/pässwörd-Ω'],
      invalidNames: [['', 'empty'], ['Sync//x', 'empty path segment']],
      prefix: 'Conformance/',
    };
  },
});

describe('Provider: lastpass writes', () => {
  it('stand-in: as edit.c, a one-line field given no line changes nothing (getline fails), while empty notes are saved', () => {
    const { vaultFile } = standIn({ entries: [{ id: '1000000100', name: 'kept', password: 'before', note: 'old notes' }] });
    const lpass = (args: string[]) => spawnSync(STAND_IN, args, { input: '', env: { ...process.env, LPASS_STANDIN_VAULT: vaultFile }, encoding: 'utf8' });
    const noLine = lpass(['edit', '--non-interactive', '--password', '--', 'kept']);
    expect([noLine.status, noLine.stderr]).toEqual([1, 'Error: getline: Success\n']);
    expect(lpass(['add', '--non-interactive', '--password', '--', 'never-made']).status).toBe(1);
    expect(lpass(['edit', '--non-interactive', '--notes', '--', 'kept']).status).toBe(0);
    const entries = (JSON.parse(readFileSync(vaultFile, 'utf8')) as StandInVault).entries;
    expect(entries.find((entry) => entry.name === 'kept')).toMatchObject({ password: 'before', note: '' });
    expect(entries.some((entry) => entry.name === 'never-made')).toBe(false);
  });

  it('sends every value on standard input, never in argv, and marks the notes first', async () => {
    const { provider, runs, vaultFile } = standIn({ entries: [...ENTRIES] });
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(STORE), providers: [provider], cryptographyKey: [] });
    await resolver.writeEntry('lp', 'Sync/new-entry', { username: 'svc-argv-canary', password: 'pw-argv-canary' });
    const writes = runs().filter((run) => run.argv[0] === 'add' || run.argv[0] === 'edit');
    expect(writes.map((run) => run.argv.find((arg) => arg.startsWith('--') && arg !== '--' && !arg.startsWith('--sync') && arg !== '--non-interactive'))).toEqual(['--notes', '--password', '--username']);
    expect(JSON.stringify(runs().map((run) => run.argv))).not.toMatch(/argv-canary/);
    const stored = (JSON.parse(readFileSync(vaultFile, 'utf8')) as StandInVault).entries.find((entry) => entry.name === 'new-entry')!;
    expect(stored).toMatchObject({ group: 'Sync', username: 'svc-argv-canary', password: 'pw-argv-canary', note: 'managed-by: secretbind' });
  });

  it('refuses custom fields on site entries and line breaks in one-line fields (lpass cannot keep either), before running lpass', async () => {
    const { provider, runs } = standIn({ entries: [...ENTRIES] });
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(STORE), providers: [provider], cryptographyKey: [] });
    expect((await failure(resolver.writeEntry('lp', 'Sync/custom', { api_key: 'x' }))).code).toBe('OPERATION_UNSUPPORTED');
    const newline = await failure(resolver.writeEntry('lp', 'Sync/newline', 'ends with newline\n'));
    expect(newline).toMatchObject({ code: 'OPERATION_UNSUPPORTED', message: expect.stringContaining('as one line') });
    expect(newline.message).not.toContain('ends with');
    expect((await failure(resolver.writeEntry('lp', 'Sync/newline', { username: 'two\nlines', password: 'x' }))).code).toBe('OPERATION_UNSUPPORTED');
    expect(runs().filter((run) => run.argv[0] === 'add' || run.argv[0] === 'edit')).toEqual([]);
  });

  it('keeps several lines in notes, and a trailing newline of notes', async () => {
    const { provider } = standIn({ entries: [...ENTRIES] });
    const repository = new MemoryBindingRepository().putStore(STORE).putBinding({ account: 'n', store: 'lp', entry: 'Sync/multi#notes' });
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [] });
    await resolver.writeEntry('lp', 'Sync/multi', { password: 'pw', notes: 'first\nsecond\n' });
    expect(await resolver.resolvePassword({ name: 'n' })).toBe('first\nsecond\n\nmanaged-by: secretbind');
  });

  it('feeds notes (and their owner mark) from an unlinked file, so a writer killed before lpass reads cannot empty them; other fields through a pipe', async () => {
    const { provider, runs, vaultFile } = standIn({ entries: [...ENTRIES] });
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(STORE), providers: [provider], cryptographyKey: [] });
    // Other test files write notes at the same time: what matters is that no file holds these notes afterwards.
    const folder = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const holds = (name: string) => {
      try {
        return readFileSync(join(folder, name), 'utf8').includes('notes-canary');
      } catch {
        return false; // unlinked between the listing and the read
      }
    };
    const notesLeft = () => readdirSync(folder).filter((name) => name.startsWith('secretbind-lpass-') && holds(name));
    await resolver.writeEntry('lp', 'Sync/fd', { password: 'pw-1', notes: 'notes-canary one' });
    await resolver.writeEntry('lp', 'Sync/fd', { password: 'pw-2', notes: 'notes-canary two' });
    const writes = runs().filter((run) => run.argv[0] === 'add' || run.argv[0] === 'edit');
    // Node's pipes to a child are socket pairs; a regular file is what survives the writer.
    const kinds = writes.map((run) => [run.argv.find((arg) => ['--notes', '--password'].includes(arg)), run.stdinKind === 'file' ? 'file' : 'stream']);
    expect(kinds).toEqual([['--notes', 'file'], ['--password', 'stream'], ['--notes', 'file'], ['--password', 'stream']]);
    const stored = (JSON.parse(readFileSync(vaultFile, 'utf8')) as StandInVault).entries.find((entry) => entry.name === 'fd')!;
    expect(stored).toMatchObject({ password: 'pw-2', note: 'notes-canary two\nmanaged-by: secretbind' });
    expect(notesLeft()).toEqual([]);
  });

  it('keeps the notes of an adopted entry and adds the mark as their last line', async () => {
    const { provider, vaultFile } = standIn({ entries: [...ENTRIES] });
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(STORE), providers: [provider], cryptographyKey: [] });
    await resolver.writeEntry('lp', 'Infrastructure/checkmk-prod', 'rotated', { adopt: true });
    const stored = (JSON.parse(readFileSync(vaultFile, 'utf8')) as StandInVault).entries.find((entry) => entry.name === 'checkmk-prod')!;
    expect(stored).toMatchObject({ password: 'rotated', note: 'line one\nline two\nmanaged-by: secretbind' });
    const listed = await resolver.listEntries('lp', { prefix: 'Infrastructure/', metadata: true });
    expect(listed).toEqual([expect.objectContaining({ name: 'Infrastructure/checkmk-prod', owned: true, owner: 'secretbind' })]);
  });
});
