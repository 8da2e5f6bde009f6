/** migrateAccounts: local Fernet passwords into a store, verified, bound, then cleared; refusals, dry run, resume, rollback. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createSecretResolver,
  decryptLocalPassword,
  encryptLocalPassword,
  FileMigrationJournal,
  generateFernetKey,
  MemoryBindingRepository,
  MemoryMigrationJournal,
  migrateAccounts,
  parseReference,
  type JournalRecord,
  type MigrationJournal,
  type SecretEvent,
} from 'secretbind';
import { envvar } from '../../providers/envvar/index.js';
import { keepass } from '../../providers/keepass/index.js';
import { memory } from '../../providers/memory/index.js';
import { failure } from '../helpers.js';
import { copyOf, MASTER } from '../providers/keepass/helpers.js';

const KEY = generateFernetKey();
const PASSWORDS: Record<string, string> = { 'checkmk-prod': 'Ch3ck-MK!prod#2026', netbox: 'pässwörd-Ω-🔑', jira: 'jira-pw-93' };

function world(names = Object.keys(PASSWORDS)) {
  const vaultish = memory();
  const repository = new MemoryBindingRepository().putStore({ name: 'target', type: 'memory' });
  for (const name of names) repository.putAccount({ name, password: encryptLocalPassword(PASSWORDS[name] ?? `pw-${name}`, KEY) });
  const journal = new MemoryMigrationJournal();
  return { vaultish, repository, journal, base: { repository, providers: [vaultish], cryptographyKey: KEY, to: 'target', journal } };
}

async function resolvesAll(repository: MemoryBindingRepository, providers: Parameters<typeof createSecretResolver>[0]['providers'], key = KEY): Promise<Record<string, string>> {
  const resolver = createSecretResolver({ repository, providers, cryptographyKey: key });
  const resolved: Record<string, string> = {};
  for (const account of repository.listAccounts()) resolved[account.name] = (await resolver.resolvePassword(account)) ?? '(none)';
  await resolver.close();
  return resolved;
}

describe('migrateAccounts', () => {
  it('writes, verifies, binds and clears each account; every one resolves to its original password from the store', async () => {
    const { vaultish, repository, journal, base } = world();
    const events: SecretEvent[] = [];
    const items = await migrateAccounts({ ...base, entry: 'migrated/{{ .Account }}', clearLocal: true, onEvent: (event) => events.push(event) });
    expect(items.map((item) => [item.account, item.entry, item.action, item.outcome, item.written])).toEqual([
      ['checkmk-prod', 'migrated/checkmk-prod', 'migrate', 'done', true],
      ['netbox', 'migrated/netbox', 'migrate', 'done', true],
      ['jira', 'migrated/jira', 'migrate', 'done', true],
    ]);
    expect(repository.listAccounts().map((account) => account.password)).toEqual([null, null, null]);
    expect(repository.listBindings()).toEqual([
      { account: 'checkmk-prod', store: 'target', entry: 'migrated/checkmk-prod' },
      { account: 'netbox', store: 'target', entry: 'migrated/netbox' },
      { account: 'jira', store: 'target', entry: 'migrated/jira' },
    ]);
    expect(vaultish.ownerOf('migrated/netbox')).toBe('secretbind');
    expect(await resolvesAll(repository, [vaultish])).toEqual(PASSWORDS);
    expect(journal.records.filter((record) => record.account === 'jira').map((record) => record.step)).toEqual(['begin', 'written', 'verified', 'bound', 'cleared', 'done']);
    const seen = JSON.stringify(items) + JSON.stringify(journal.records) + JSON.stringify(events);
    for (const password of Object.values(PASSWORDS)) expect(seen).not.toContain(password);
    // Run again: everything is done; nothing is written twice.
    expect((await migrateAccounts(base)).map((item) => item.reason)).toEqual(['migrated before (journal)', 'migrated before (journal)', 'migrated before (journal)']);
    expect(vaultish.writes()).toBe(3);
  });

  it('keeps the local copy unless clearLocal, and writes into a field with merge', async () => {
    const { vaultish, repository, base } = world(['jira']);
    await expect(migrateAccounts({ ...base, entry: 'svc/{{ .Account }}', field: 'password' })).resolves.toEqual([expect.objectContaining({ entry: 'svc/jira#password', outcome: 'done', written: true })]);
    expect(repository.findAccount('jira')?.password).toMatch(/^gAAAAA/);
    expect(await resolvesAll(repository, [vaultish])).toEqual({ jira: 'jira-pw-93' });
    const entries = await vaultish.readEntries!({ name: 'target', type: 'memory' }, [parseReference('svc/jira')], { signal: new AbortController().signal, account: undefined, emit: () => {} });
    expect(entries.get('svc/jira')).toMatchObject({ ok: true, value: { password: 'jira-pw-93' } });
  });

  it('refuses, changing nothing for that account: an entry not ours, no local password, a key that cannot decrypt', async () => {
    const { vaultish, repository, journal, base } = world(['checkmk-prod', 'netbox']);
    vaultish.set('checkmk-prod', 'someone else');
    repository.putAccount({ name: 'empty', password: null });
    repository.putAccount({ name: 'foreign', password: encryptLocalPassword('x', generateFernetKey()) });
    const items = await migrateAccounts({ ...base, clearLocal: true });
    expect(items.map((item) => [item.account, item.action, item.code ?? 'ok'])).toEqual([
      ['checkmk-prod', 'refuse', 'ENTRY_NOT_OWNED'],
      ['netbox', 'migrate', 'ok'],
      ['empty', 'refuse', 'CONFIG_INVALID'],
      ['foreign', 'refuse', 'LOCAL_DECRYPT_FAILED'],
    ]);
    expect(items[3]!.reason).toContain('foreign');
    expect(vaultish.writes('checkmk-prod')).toBe(0);
    expect(repository.findAccount('checkmk-prod')?.password).toMatch(/^gAAAAA/);
    expect(repository.findBinding('checkmk-prod')).toBeUndefined();
    expect(new Set(journal.records.map((record) => record.account))).toEqual(new Set(['netbox']));
  });

  it('refuses a store that cannot be written, before anything changes', async () => {
    const { repository, journal } = world();
    repository.putStore({ name: 'env', type: 'envvar' });
    const error = await failure(migrateAccounts({ repository, providers: [envvar({ env: {} })], cryptographyKey: KEY, to: 'env', journal }));
    expect(error).toMatchObject({ code: 'OPERATION_UNSUPPORTED', message: expect.stringContaining('read-only') });
    expect(journal.records).toEqual([]);
    expect(repository.listBindings()).toEqual([]);
  });

  it('dry run: says per account what would happen (entry, exists, ours) and changes nothing', async () => {
    const { vaultish, repository, journal, base } = world();
    await migrateAccounts({ ...base, only: ['jira'] });
    vaultish.resetCounters();
    const before = JSON.stringify([repository.listAccounts(), repository.listBindings(), journal.records]);
    const items = await migrateAccounts({ ...base, dryRun: true, clearLocal: true });
    expect(items.map((item) => [item.account, item.action, item.outcome, item.exists, item.owned])).toEqual([
      ['checkmk-prod', 'migrate', 'planned', false, false],
      ['netbox', 'migrate', 'planned', false, false],
      ['jira', 'skip', 'skipped', undefined, undefined],
    ]);
    expect(vaultish.writes()).toBe(0);
    expect(JSON.stringify([repository.listAccounts(), repository.listBindings(), journal.records])).toBe(before);
  });

  it('resumes after a crash at any journaled step: each account finished once, none left without a password', async () => {
    // A kill before a journal append became durable, and right after it, at each of the six appends of a batch.
    for (const durable of [false, true]) {
      for (let crashAt = 0; crashAt < 6; crashAt++) {
        const { vaultish, repository, journal, base } = world();
        let appends = 0;
        const crashing: MigrationJournal = {
          read: () => journal.read(),
          append(records: readonly JournalRecord[]) {
            if (!durable && appends === crashAt) throw new Error('killed');
            journal.append(records);
            if (durable && appends === crashAt) throw new Error('killed');
            appends++;
          },
        };
        await expect(migrateAccounts({ ...base, journal: crashing, clearLocal: true })).rejects.toThrow('killed');
        // At every point each account has a readable local password or a verified, bound entry.
        for (const account of repository.listAccounts()) {
          const bound = repository.findBinding(account.name);
          expect(account.password != null || (bound !== undefined && journal.records.some((record) => record.account === account.name && record.step === 'verified'))).toBe(true);
        }
        const unfinished = journal.records.length > 0 && journal.records.at(-1)!.step !== 'done';
        if (unfinished) expect(await failure(migrateAccounts(base))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('--resume') });
        await migrateAccounts({ ...base, clearLocal: true, mode: 'resume' });
        expect(await resolvesAll(repository, [vaultish])).toEqual(PASSWORDS);
        expect(repository.listAccounts().every((account) => account.password === null)).toBe(true);
        for (const name of Object.keys(PASSWORDS)) expect(vaultish.writes(name)).toBe(1);
      }
    }
  });

  it('rolls back: local passwords restored byte for byte (Python decrypts them), bindings removed', async () => {
    const { vaultish, repository, base } = world();
    await migrateAccounts({ ...base, clearLocal: true });
    const items = await migrateAccounts({ ...base, mode: 'rollback' });
    expect(items.map((item) => [item.account, item.action, item.outcome])).toEqual(Object.keys(PASSWORDS).map((name) => [name, 'rollback', 'done']));
    expect(repository.listBindings()).toEqual([]);
    const tokens = repository.listAccounts().map((account) => account.password!);
    const decrypted = JSON.parse(
      execFileSync('/usr/bin/python3', ['-c', 'import json,sys\nfrom cryptography.fernet import Fernet\nd=json.load(sys.stdin)\nf=Fernet(d["key"])\nprint(json.dumps([f.decrypt(t.encode()).decode("utf-8") for t in d["tokens"]]))'], { input: JSON.stringify({ key: KEY, tokens }), encoding: 'utf8' }),
    ) as string[];
    expect(decrypted).toEqual(Object.values(PASSWORDS));
    expect(tokens.map((token) => decryptLocalPassword(token, KEY))).toEqual(Object.values(PASSWORDS));
    // A store entry changed since: that account is not restored from it.
    await migrateAccounts({ ...base, mode: 'migrate' });
    vaultish.set('jira', 'changed by hand');
    const second = await migrateAccounts({ ...base, mode: 'rollback' });
    expect(second.find((item) => item.account === 'jira')).toMatchObject({ outcome: 'failed', code: 'CONFLICT' });
    expect(repository.findBinding('jira')).toBeDefined();
  });

  it('migrates 200 accounts into a KeePass file in a bounded number of saves, with a journal file', async () => {
    const names = Array.from({ length: 200 }, (_, index) => `acct-${index}`);
    const repository = new MemoryBindingRepository().putStore({ name: 'kp', type: 'keepass', kdbx_path: copyOf('kdbx4-aeskdf.kdbx'), master_password_env: 'KP' });
    for (const name of names) repository.putAccount({ name, password: encryptLocalPassword(`pw-${name}`, KEY) });
    const provider = keepass({ env: { KP: MASTER } });
    const journal = new FileMigrationJournal(join(mkdtempSync(join(tmpdir(), 'secretbind-migrate-')), 'migrate.journal'));
    const items = await migrateAccounts({ repository, providers: [provider], cryptographyKey: KEY, to: 'kp', entry: 'Migrated/{{ .Account }}', journal, clearLocal: true, batchSize: 100 });
    expect(items.every((item) => item.outcome === 'done')).toBe(true);
    expect(provider.stats().saves).toBe(2);
    expect(journal.fsyncs).toBe(12);
    expect(readFileSync(journal.path, 'utf8')).not.toContain('pw-acct');
    const resolved = await resolvesAll(repository, [keepass({ env: { KP: MASTER } })]);
    expect(Object.values(resolved)).toEqual(names.map((name) => `pw-${name}`));
  });
});
