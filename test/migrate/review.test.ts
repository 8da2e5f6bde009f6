/**
 * Migration's write half as a stranger would break it (review issue items 2-6): resume against its journal, a
 * disabled binding replaced, two accounts on one entry, a password changed before a resume, and YAML aliases.
 * Into a .env store (a real writable store, and fast); the command runs as users run it.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, decryptLocalPassword, encryptLocalPassword, generateFernetKey, MemoryBindingRepository } from 'secretbind';
import { dotenv } from '../../providers/dotenv/index.js';
import { main } from '../../src/cli/main.js';
import { loadConfig } from '../../src/cli/config.js';

const KEY = generateFernetKey();
const ENV = { PATH: process.env.PATH ?? '', CRYPTOGRAPHY_KEY: KEY };
const KILLER = fileURLToPath(new URL('./kill-after-verified-child.ts', import.meta.url));

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const status = await main([...argv, '--json'], { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), readSecret: async () => '', env: ENV, stderrIsTerminal: false });
  return { status, stdout, stderr, items: stdout.startsWith('{') ? (JSON.parse(stdout) as { items: Array<{ account: string; entry: string; outcome: string; code?: string; reason: string }> }).items : [] };
}

function world(format: 'json' | 'yaml', accounts: Record<string, string>, bindings: object[] = [], extraYaml = '') {
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-migrate-review-'));
  const stores = [
    { name: 'dest', type: 'dotenv', dotenv_path: join(dir, 'dest.env') },
    { name: 'other', type: 'dotenv', dotenv_path: join(dir, 'other.env') },
  ];
  for (const store of stores) writeFileSync(store.dotenv_path, '');
  const config = join(dir, `secretbind.${format}`);
  const list = Object.entries(accounts).map(([name, password]) => ({ name, password: encryptLocalPassword(password, KEY) }));
  if (format === 'json') writeFileSync(config, `${JSON.stringify({ stores, bindings, accounts: list }, null, 2)}\n`);
  else {
    const lines = ['stores:', ...stores.map((store) => `  - { name: ${store.name}, type: dotenv, dotenv_path: ${store.dotenv_path} }`), bindings.length ? `bindings:\n${bindings.map((binding) => `  - ${JSON.stringify(binding)}`).join('\n')}` : 'bindings: []'];
    lines.push(extraYaml || `accounts:\n${list.map((account) => `  - { name: ${account.name}, password: "${account.password}" }`).join('\n')}`);
    writeFileSync(config, `${lines.join('\n')}\n`);
  }
  return { dir, config, journal: join(dir, 'journal.jsonl'), dest: join(dir, 'dest.env'), other: join(dir, 'other.env') };
}

async function killAfterVerified(args: string[]): Promise<void> {
  const child = fork(KILLER, args, { execArgv: ['--import', 'tsx'], env: ENV, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const signal = await new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  expect(signal).toBe('SIGKILL');
}

async function resolveAll(config: string): Promise<Record<string, string>> {
  const loaded = await loadConfig(config);
  const resolver = createSecretResolver({ repository: loaded.repository as MemoryBindingRepository, providers: [dotenv()], cryptographyKey: KEY });
  const answers: Record<string, string> = {};
  for (const account of loaded.accounts.values()) {
    try {
      answers[account.name] = (await resolver.resolvePassword(account)) ?? "no password";
    } catch (error) {
      answers[account.name] = `error ${(error as { code: string }).code}`;
    }
  }
  await resolver.close();
  return answers;
}

const snapshot = (paths: string[]): string[] => paths.map((path) => readFileSync(path, 'utf8'));

describe('Migration: migrate --resume trusts the command line over its journal (regression)', () => {
  it('finishes with the journal\'s store and entry when resumed as the README says, without --entry', { timeout: 30_000 }, async () => {
    const w = world('json', { acct: 'acct-pw-1' });
    await killAfterVerified(['migrate', '--config', w.config, '--to', 'dest', '--entry', 'Migrated_{{ .Account }}', '--clear-local', '--journal', w.journal]);
    const resumed = await run(['migrate', '--config', w.config, '--to', 'dest', '--resume', '--journal', w.journal]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.items).toMatchObject([{ account: 'acct', entry: 'Migrated_acct', outcome: 'done' }]);
    const config = JSON.parse(readFileSync(w.config, 'utf8'));
    expect(config.bindings).toEqual([{ account: 'acct', store: 'dest', entry: 'Migrated_acct' }]);
    expect(config.accounts[0].password).toBeNull();
    expect(await resolveAll(w.config)).toEqual({ acct: 'acct-pw-1' });
    // Without --to at all, too: the journal names the store.
    const again = world('json', { acct: 'acct-pw-2' });
    await killAfterVerified(['migrate', '--config', again.config, '--to', 'dest', '--entry', 'Migrated_{{ .Account }}', '--clear-local', '--journal', again.journal]);
    expect((await run(['migrate', '--config', again.config, '--resume', '--journal', again.journal])).status).toBe(0);
    expect(await resolveAll(again.config)).toEqual({ acct: 'acct-pw-2' });
  });

  it('refuses with exit 2, changing nothing, when the command line names another store or entry', { timeout: 30_000 }, async () => {
    const w = world('json', { acct: 'acct-pw-1' });
    await killAfterVerified(['migrate', '--config', w.config, '--to', 'dest', '--entry', 'Migrated_{{ .Account }}', '--clear-local', '--journal', w.journal]);
    const before = snapshot([w.config, w.journal, w.dest, w.other]);
    const otherStore = await run(['migrate', '--config', w.config, '--to', 'other', '--resume', '--journal', w.journal]);
    expect(otherStore).toMatchObject({ status: 2, stderr: expect.stringContaining('Resume finishes the accounts its journal began in "dest", not "other"') });
    const otherEntry = await run(['migrate', '--config', w.config, '--to', 'dest', '--entry', 'Elsewhere_{{ .Account }}', '--resume', '--journal', w.journal]);
    expect(otherEntry).toMatchObject({ status: 2, stderr: expect.stringContaining('acct (journal: Migrated_acct; command line: Elsewhere_acct)') });
    expect(snapshot([w.config, w.journal, w.dest, w.other])).toEqual(before);
    // The same command line as the killed run resumes.
    expect((await run(['migrate', '--config', w.config, '--to', 'dest', '--entry', 'Migrated_{{ .Account }}', '--clear-local', '--resume', '--journal', w.journal])).status).toBe(0);
    expect(await resolveAll(w.config)).toEqual({ acct: 'acct-pw-1' });
  });
});

describe('Migration: resume past verified clears a local password that changed meanwhile (regression)', () => {
  it('compares the local password with the journal and refuses with CONFLICT, keeping the new one', { timeout: 30_000 }, async () => {
    const w = world('json', { acct: 'acct-pw-1' });
    await killAfterVerified(['migrate', '--config', w.config, '--to', 'dest', '--entry', 'Migrated_{{ .Account }}', '--clear-local', '--journal', w.journal]);
    const config = JSON.parse(readFileSync(w.config, 'utf8'));
    config.accounts[0].password = encryptLocalPassword('rotated-meanwhile', KEY);
    writeFileSync(w.config, JSON.stringify(config, null, 2));
    const resumed = await run(['migrate', '--config', w.config, '--to', 'dest', '--resume', '--journal', w.journal]);
    expect(resumed.status).toBe(1);
    expect(resumed.items).toMatchObject([{ account: 'acct', outcome: 'failed', code: 'CONFLICT' }]);
    const after = JSON.parse(readFileSync(w.config, 'utf8'));
    expect(decryptLocalPassword(after.accounts[0].password, KEY)).toBe('rotated-meanwhile');
    expect(await resolveAll(w.config)).toEqual({ acct: 'rotated-meanwhile' });
  });
});

describe('Migration: migrating an account with a disabled binding leaves the account with no password (regression)', () => {
  for (const format of ['json', 'yaml'] as const) {
    it(`${format}: saves the new, active binding with no stale key`, async () => {
      const w = world(format, { acct: 'acct-pw-1' }, [{ account: 'acct', store: 'other', entry: 'OLD', enabled: false, note: 'paused' }]);
      const ran = await run(['migrate', '--config', w.config, '--to', 'dest', '--clear-local']);
      expect(ran.status, ran.stderr).toBe(0);
      const loaded = await loadConfig(w.config);
      expect(loaded.repository.findBinding('acct')).toEqual({ account: 'acct', store: 'dest', entry: 'acct' });
      expect(readFileSync(w.config, 'utf8')).not.toMatch(/enabled|paused/);
      expect(await resolveAll(w.config)).toEqual({ acct: 'acct-pw-1' });
    });
  }
});

describe('Migration: migration overwrites an entry another account was migrated into (regression)', () => {
  const ENTRY = '{{ .Account | replace "-" "_" | uppercase }}';

  it('refuses an entry another account\'s binding or journal references, naming that account', async () => {
    const w = world('json', { 'cmk-prod': 'first-pw' });
    expect((await run(['migrate', '--config', w.config, '--to', 'dest', '--entry', ENTRY, '--clear-local', '--journal', w.journal])).status).toBe(0);
    const config = JSON.parse(readFileSync(w.config, 'utf8'));
    config.accounts.push({ name: 'cmk_prod', password: encryptLocalPassword('second-pw', KEY) });
    writeFileSync(w.config, JSON.stringify(config, null, 2));
    const before = readFileSync(w.dest, 'utf8');
    const second = await run(['migrate', '--config', w.config, '--to', 'dest', '--entry', ENTRY, '--clear-local', '--journal', w.journal]);
    expect(second.status).toBe(1);
    expect(second.items).toEqual([expect.objectContaining({ account: 'cmk-prod', outcome: 'skipped' }), expect.objectContaining({ account: 'cmk_prod', outcome: 'failed', code: 'ENTRY_NOT_OWNED', reason: expect.stringContaining('account "cmk-prod"') })]);
    expect(readFileSync(w.dest, 'utf8')).toBe(before);
    expect(await resolveAll(w.config)).toEqual({ 'cmk-prod': 'first-pw', cmk_prod: 'second-pw' });
    // Without the journal, the binding alone is enough.
    const dry = await run(['migrate', '--config', w.config, '--to', 'dest', '--entry', ENTRY, '--dry-run', '--journal', join(w.dir, 'fresh.jsonl')]);
    expect(dry.items.find((item) => item.account === 'cmk_prod')).toMatchObject({ code: 'ENTRY_NOT_OWNED' });
  });

  it('refuses two accounts of one run that render to one entry, at plan time', async () => {
    const w = world('json', { 'cmk-prod': 'first-pw', cmk_prod: 'second-pw', netbox: 'nb-pw' });
    const ran = await run(['migrate', '--config', w.config, '--to', 'dest', '--entry', ENTRY, '--clear-local']);
    expect(ran.status).toBe(1);
    expect(ran.items.map((item) => [item.account, item.outcome, item.code])).toEqual([
      ['cmk-prod', 'failed', 'REFERENCE_INVALID'],
      ['cmk_prod', 'failed', 'REFERENCE_INVALID'],
      ['netbox', 'done', undefined],
    ]);
    expect(ran.items[0]!.reason).toContain('cmk-prod, cmk_prod');
    expect(readFileSync(w.dest, 'utf8')).not.toContain('CMK_PROD');
    expect(await resolveAll(w.config)).toEqual({ 'cmk-prod': 'first-pw', cmk_prod: 'second-pw', netbox: 'nb-pw' });
  });
});

describe('Migration: --clear-local on YAML clears accounts that share the token through an alias (regression)', () => {
  it('clearing acct1 leaves acct2, which aliases its token, reading the same password', async () => {
    const token = encryptLocalPassword('shared-pw', KEY);
    const w = world('yaml', {}, [], ['accounts:', `  - name: acct1`, `    password: &svc "${token}"`, '  - name: acct2', '    password: *svc'].join('\n'));
    const ran = await run(['migrate', '--config', w.config, '--to', 'dest', '--only', 'acct1', '--clear-local']);
    expect(ran.status, ran.stderr).toBe(0);
    const loaded = await loadConfig(w.config);
    expect(loaded.accounts.get('acct1')?.password).toBeNull();
    expect(decryptLocalPassword(loaded.accounts.get('acct2')!.password!, KEY)).toBe('shared-pw');
    expect(await resolveAll(w.config)).toEqual({ acct1: 'shared-pw', acct2: 'shared-pw' });
  });
});
