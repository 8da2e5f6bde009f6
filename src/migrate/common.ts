import { createHmac } from 'node:crypto';
import type { StoreAccess } from '../access/index.js';
import type { LocalPasswords } from '../resolve/index.js';
import { formatReference, parseFernetKeys, parseReference, SecretbindError, type FernetKeyInput, type SecretbindErrorCode, type SecretEventListener } from '../core/index.js';
import type { Account, BindingRepository, EntryInfo, SecretProvider, SecretStore } from '../stores/index.js';
import type { JournalRecord, MigrationJournal, MigrationStep } from './journal.js';

/** What every part of a migration run shares: its options, stores, journal and keys. @internal */

export interface MigrateOptions {
  /** Where accounts, bindings and local passwords live; needs `saveBinding` (and `saveAccountPassword` to clear or roll back). */
  repository: BindingRepository;
  providers: readonly SecretProvider[];
  /** The Fernet key or keys (newest first) of the local passwords. Default: `process.env.CRYPTOGRAPHY_KEY`. */
  cryptographyKey?: FernetKeyInput;
  /**
   * The store the passwords move into. Required, except with `mode: 'resume'`, which takes each unfinished account's
   * store from the journal (and refuses, changing nothing, when this names another).
   */
  to?: string;
  /**
   * The entry name, a template of `.Account` and `.Store`. Default: `{{ .Account }}`. **On resume the journal's entry
   * wins**: given and rendering to another entry for an unfinished account, the run is refused before any change.
   */
  entry?: string;
  /** Write the password into this field of the entry (`Password`, `password`) rather than as the whole value. On resume, as `entry`. */
  field?: string;
  /** The accounts; default `repository.listAccounts()`. */
  accounts?: readonly Account[];
  /** Only these accounts (by name). */
  only?: readonly string[];
  /** Say what would happen; change nothing (not even the journal). */
  dryRun?: boolean;
  /** Clear each local copy, only after its store entry was read back and matched, and the account bound. */
  clearLocal?: boolean;
  /** Where each step is recorded before it is taken. Default: in memory (no resume after a crash). */
  journal?: MigrationJournal;
  /** `migrate` (default) refuses a journal with unfinished accounts; `resume` finishes them; `rollback` undoes. */
  mode?: 'migrate' | 'resume' | 'rollback';
  onEvent?: SecretEventListener;
  /** Deadline of one store call, in milliseconds. Default: 30000. */
  timeoutMs?: number;
  /** Accounts handled together: their writes share a file store's save and each step's journal fsync. Default: 500. */
  batchSize?: number;
}

/** What migration did, or would do, for one account: names and codes, never a password. */
export interface MigrationItem {
  account: string;
  store: string;
  /** The entry as the binding references it. */
  entry: string;
  action: 'migrate' | 'skip' | 'refuse' | 'rollback';
  outcome: 'planned' | 'done' | 'failed' | 'skipped';
  reason: string;
  /** The last journaled step. */
  step?: MigrationStep;
  /** Dry run: whether the entry exists already, and whether it carries secretbind's owner mark. */
  exists?: boolean;
  owned?: boolean;
  /** Whether this run wrote the entry (a resumed account whose entry is already in place is not written again). */
  written?: boolean;
  code?: SecretbindErrorCode;
}

export const ORDER: readonly MigrationStep[] = ['begin', 'written', 'verified', 'bound', 'cleared', 'done'];
export const after = (last: MigrationStep | undefined, step: MigrationStep): boolean => last !== undefined && ORDER.indexOf(last) >= ORDER.indexOf(step);

export interface Work {
  item: MigrationItem;
  /** The entry without its field, and the field written (journaled accounts keep the journal's). */
  name: string;
  field: string | undefined;
  /** The listing showed no such entry and no earlier run began this account: write without reading first. */
  absent: boolean;
  account: Account;
  password?: string;
  hmac: string;
  last: MigrationStep | undefined;
  clearLocal: boolean;
}


/** One run's shared state: the target store, the journal as read, and how each step is journaled. */
export interface MigrationContext {
  options: MigrateOptions;
  repository: BindingRepository;
  access: StoreAccess;
  local: LocalPasswords;
  keyInput: FernetKeyInput;
  /** An HMAC of a password under the journal's key. */
  hmacOf(value: string): string;
  journal: MigrationJournal;
  /** The journal as it was when the run began, and each account's last record. */
  records: readonly JournalRecord[];
  last: ReadonlyMap<string, JournalRecord>;
  store: SecretStore;
  provider: SecretProvider;
  /** Journals steps (before they count as taken) and moves each work's last step. */
  note(entries: ReadonlyArray<{ work: Work; step: MigrationStep; extra?: Partial<JournalRecord> }>): Promise<void>;
}

export const isUnfinished = (record: JournalRecord): boolean => record.step !== 'done' && record.step !== 'rolled-back' && record.step !== 'failed';

/** The store a run writes into: `to`, or on resume the journal's, which `to` may repeat but not change. */
export function targetStore(to: string | undefined, unfinished: readonly JournalRecord[]): string {
  const journaled = [...new Set(unfinished.map((record) => record.store))];
  if (journaled.length > 1) throw new SecretbindError('CONFIG_INVALID', `The journal has unfinished accounts in several stores (${journaled.join(', ')}): roll them back with --rollback --to STORE for each.`);
  const [from] = journaled;
  if (from !== undefined && to !== undefined && to !== from) {
    throw new SecretbindError('CONFIG_INVALID', `Resume finishes the accounts its journal began in ${JSON.stringify(from)}, not ${JSON.stringify(to)}: run --resume --to ${from} (or without --to), or --rollback.`, { store: to });
  }
  const store = from ?? to;
  if (store === undefined) throw new SecretbindError('CONFIG_INVALID', 'to is required: the store the passwords move into.');
  return store;
}

/** Whether two entry paths name one entry; a KeePass path may give its root group's name or leave it out. */
export function sameEntry(type: string, a: readonly string[], b: readonly string[]): boolean {
  const equal = (x: readonly string[], y: readonly string[]): boolean => x.length === y.length && x.every((segment, index) => segment === y[index]);
  if (equal(a, b)) return true;
  if (type !== 'keepass') return false;
  return (a.length === b.length + 1 && equal(a.slice(1), b)) || (b.length === a.length + 1 && equal(b.slice(1), a));
}

/** The HMAC key of the journal, derived from the first Fernet key: the journal alone cannot confirm a guess. */
export function journalKey(input: FernetKeyInput): Buffer {
  const [first] = parseFernetKeys(input);
  if (!first) throw new SecretbindError('LOCAL_KEY_MISSING', 'Migration needs a Fernet key.');
  return createHmac('sha256', Buffer.concat([first.signing, first.encryption])).update('secretbind migration journal v1').digest();
}

/** The entry without its `#field`. */
export function entryBase(entry: string): string {
  return formatReference(parseReference(entry).segments);
}

/** An entry in a listing, by name; a KeePass listing names entries with the root group, references may leave it out. */
export function findListed(listing: readonly EntryInfo[], name: string): EntryInfo | undefined {
  return listing.find((info) => info.name === name) ?? listing.find((info) => info.name.endsWith(`/${name}`) && parseReference(info.name).segments.length === parseReference(name).segments.length + 1);
}
