import { createHmac } from 'node:crypto';
import { listEntries, StoreAccess } from '../access/index.js';
import { LocalPasswords } from '../resolve/index.js';
import { isSecretbindError, SecretbindError } from '../core/index.js';
import type { Account, EntryInfo } from '../stores/index.js';
import { MIGRATION_PLACEHOLDERS, parseTemplate, type NameTemplate } from '../sync/index.js';
import { isUnfinished, journalKey, targetStore, type MigrateOptions, type MigrationContext, type MigrationItem } from './common.js';
import { MemoryMigrationJournal, type JournalRecord } from './journal.js';
import { planMigration } from './plan.js';
import { rollback } from './rollback.js';
import { migrateBatch } from './steps.js';

export type { MigrateOptions, MigrationItem } from './common.js';

/**
 * Moves accounts' local passwords into a store without ever losing one: for each account, write the entry with the
 * owner mark, read it back and compare, bind the account, and only then (with `clearLocal`) clear the local copy.
 * Every step is journaled before it is taken; a killed run is finished with `mode: 'resume'` and undone with
 * `mode: 'rollback'`. No account ever has neither a readable local password nor a verified entry.
 *
 * @example
 * ```ts
 * const items = await migrateAccounts({ repository, providers: [keepass()], to: 'ops-keepass', entry: 'Migrated/{{ .Account }}', journal: new FileMigrationJournal('migrate.journal') })
 * ```
 */
export async function migrateAccounts(options: MigrateOptions): Promise<MigrationItem[]> {
  const { repository } = options;
  const keyInput = options.cryptographyKey ?? process.env.CRYPTOGRAPHY_KEY;
  if (keyInput === undefined || keyInput === '' || (Array.isArray(keyInput) && keyInput.length === 0)) {
    throw new SecretbindError('LOCAL_KEY_MISSING', 'Migration decrypts local passwords: set CRYPTOGRAPHY_KEY or pass cryptographyKey.');
  }
  const hmacKey = journalKey(keyInput);
  const hmacOf = (value: string): string => createHmac('sha256', hmacKey).update(value).digest('base64url');
  const local = new LocalPasswords(keyInput);
  const access = new StoreAccess({ repository, providers: options.providers, onEvent: options.onEvent, timeoutMs: options.timeoutMs ?? 30_000 });
  const journal = options.journal ?? new MemoryMigrationJournal();
  const mode = options.mode ?? 'migrate';
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new SecretbindError('CONFIG_INVALID', 'batchSize must be a positive whole number.');
  const template = entryTemplate(options.entry);
  if (options.field !== undefined && (typeof options.field !== 'string' || !options.field)) throw new SecretbindError('CONFIG_INVALID', 'field must be a non-empty field name.');

  try {
    const records = await journal.read();
    const last = new Map<string, JournalRecord>();
    for (const record of records) last.set(record.account, record);
    const unfinished = [...last.values()].filter(isUnfinished);
    if (mode === 'migrate' && unfinished.length > 0 && !options.dryRun) {
      throw new SecretbindError('CONFIG_INVALID', `The journal has ${unfinished.length} unfinished account(s) (${unfinished.slice(0, 3).map((record) => record.account).join(', ')}${unfinished.length > 3 ? ', ...' : ''}): finish them with --resume or undo them with --rollback.`);
    }
    const { store, provider } = await access.storeFor(targetStore(options.to, mode === 'resume' ? unfinished : []));
    const context: MigrationContext = {
      options, repository, access, local, keyInput, hmacOf, journal, records, last, store, provider,
      async note(entries) {
        await journal.append(entries.map(({ work, step, extra }) => ({ at: new Date().toISOString(), account: work.account.name, step, store: store.name, entry: work.item.entry, hmac: work.hmac, ...(work.clearLocal ? { clearLocal: true } : {}), ...extra })));
        for (const { work, step } of entries) work.last = step;
      },
    };
    if (mode === 'rollback') return await rollback(context);
    return await migrate(context, template, batchSize);
  } finally {
    await access.close();
  }
}

/** A migrate or resume run: checks, plan, then the batches. */
async function migrate(context: MigrationContext, template: NameTemplate, batchSize: number): Promise<MigrationItem[]> {
  const { store, provider, repository, options } = context;
  if (!provider.write) throw new SecretbindError('OPERATION_UNSUPPORTED', `Store ${JSON.stringify(store.name)} (${store.type}) is read-only in secretbind: migrate into a store that can be written.`, { store: store.name, storeType: store.type });
  if (typeof repository.saveBinding !== 'function') throw new SecretbindError('OPERATION_UNSUPPORTED', 'The binding repository cannot save bindings (no saveBinding): migration needs one that can.');
  if (options.clearLocal && typeof repository.saveAccountPassword !== 'function') throw new SecretbindError('OPERATION_UNSUPPORTED', 'The binding repository cannot clear local passwords (no saveAccountPassword): run without clearLocal.');
  const accounts = await selectedAccounts(options);
  const listing: readonly EntryInfo[] | undefined = await listEntries(context.access, store.name, { recursive: true, metadata: true }).catch((error: unknown) => {
    // A store that cannot list still gets its ownership checked by each write; a dry run says it could not tell.
    if (isSecretbindError(error) && error.code === 'OPERATION_UNSUPPORTED') return undefined;
    throw error;
  });
  const { items, work } = await planMigration(context, template, accounts, listing);
  if (options.dryRun) return items;
  for (let start = 0; start < work.length; start += batchSize) await migrateBatch(context, work.slice(start, start + batchSize));
  return items;
}

function entryTemplate(entry: string | undefined): NameTemplate {
  try {
    return parseTemplate(entry ?? '{{ .Account }}', MIGRATION_PLACEHOLDERS);
  } catch (error) {
    throw new SecretbindError('CONFIG_INVALID', `entry: ${(error as Error).message}`);
  }
}

async function selectedAccounts(options: MigrateOptions): Promise<readonly Account[]> {
  const { repository } = options;
  let accounts = options.accounts;
  if (!accounts) {
    if (typeof repository.listAccounts !== 'function') throw new SecretbindError('CONFIG_INVALID', 'Pass accounts, or use a repository with listAccounts().');
    accounts = await repository.listAccounts();
  }
  if (!options.only) return accounts;
  for (const name of options.only) if (!accounts.some((account) => account.name === name)) throw new SecretbindError('CONFIG_INVALID', `There is no account named ${JSON.stringify(name)}.`);
  return accounts.filter((account) => options.only!.includes(account.name));
}
