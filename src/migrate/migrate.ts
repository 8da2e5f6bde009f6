import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Account, BindingRepository } from '../bindings.js';
import { Engine, valueOf } from '../engine.js';
import { listEntries, writeEntry } from '../entries.js';
import { isSecretbindError, SecretbindError, type SecretbindErrorCode } from '../errors.js';
import type { SecretEventListener } from '../events.js';
import { encryptLocalPassword, parseFernetKeys, type FernetKeyInput } from '../fernet.js';
import { DEFAULT_OWNER, type EntryInfo, type SecretProvider } from '../provider.js';
import { formatReference, parseReference } from '../reference.js';
import { MIGRATION_PLACEHOLDERS, parseTemplate, renderedReference } from '../sync/template.js';
import { MemoryMigrationJournal, type JournalRecord, type MigrationJournal, type MigrationStep } from './journal.js';

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

const ORDER: readonly MigrationStep[] = ['begin', 'written', 'verified', 'bound', 'cleared', 'done'];
const after = (last: MigrationStep | undefined, step: MigrationStep): boolean => last !== undefined && ORDER.indexOf(last) >= ORDER.indexOf(step);

interface Work {
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
  const engine = new Engine({ repository, providers: options.providers, cryptographyKey: keyInput, onEvent: options.onEvent, timeoutMs: options.timeoutMs ?? 30_000, onProviderError: 'throw' });
  const journal = options.journal ?? new MemoryMigrationJournal();
  const mode = options.mode ?? 'migrate';
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new SecretbindError('CONFIG_INVALID', 'batchSize must be a positive whole number.');
  const template = (() => {
    try {
      return parseTemplate(options.entry ?? '{{ .Account }}', MIGRATION_PLACEHOLDERS);
    } catch (error) {
      throw new SecretbindError('CONFIG_INVALID', `entry: ${(error as Error).message}`);
    }
  })();
  if (options.field !== undefined && (typeof options.field !== 'string' || !options.field)) throw new SecretbindError('CONFIG_INVALID', 'field must be a non-empty field name.');

  try {
    const records = await journal.read();
    const last = new Map<string, JournalRecord>();
    for (const record of records) last.set(record.account, record);
    const unfinished = [...last.values()].filter(isUnfinished);
    if (mode === 'migrate' && unfinished.length > 0 && !options.dryRun) {
      throw new SecretbindError('CONFIG_INVALID', `The journal has ${unfinished.length} unfinished account(s) (${unfinished.slice(0, 3).map((record) => record.account).join(', ')}${unfinished.length > 3 ? ', ...' : ''}): finish them with --resume or undo them with --rollback.`);
    }
    const { store, provider } = await engine.storeFor(targetStore(options.to, mode === 'resume' ? unfinished : []));
    const now = (): string => new Date().toISOString();
    const note = async (entries: ReadonlyArray<{ work: Work; step: MigrationStep; extra?: Partial<JournalRecord> }>): Promise<void> => {
      await journal.append(entries.map(({ work, step, extra }) => ({ at: now(), account: work.account.name, step, store: store.name, entry: work.item.entry, hmac: work.hmac, ...(work.clearLocal ? { clearLocal: true } : {}), ...extra })));
      for (const { work, step } of entries) work.last = step;
    };

    if (mode === 'rollback') return await rollback();

    if (!provider.write) throw new SecretbindError('OPERATION_UNSUPPORTED', `Store ${JSON.stringify(store.name)} (${store.type}) is read-only in secretbind: migrate into a store that can be written.`, { store: store.name, storeType: store.type });
    if (typeof repository.saveBinding !== 'function') throw new SecretbindError('OPERATION_UNSUPPORTED', 'The binding repository cannot save bindings (no saveBinding): migration needs one that can.');
    if (options.clearLocal && typeof repository.saveAccountPassword !== 'function') throw new SecretbindError('OPERATION_UNSUPPORTED', 'The binding repository cannot clear local passwords (no saveAccountPassword): run without clearLocal.');

    const accounts = await selectedAccounts();
    const listing = await listEntries(engine, store.name, { recursive: true, metadata: true }).catch((error: unknown) => {
      // A store that cannot list still gets its ownership checked by each write; a dry run says it could not tell.
      if (isSecretbindError(error) && error.code === 'OPERATION_UNSUPPORTED') return undefined;
      throw error;
    });
    const items: MigrationItem[] = [];
    const work: Work[] = [];
    const mismatched: string[] = [];
    const claims = await entryClaims();
    for (const account of accounts) {
      const prior = last.get(account.name);
      const base = { account: account.name, store: store.name };
      const journaled = prior !== undefined && isUnfinished(prior) ? prior : undefined;
      let name: string;
      let entry: string;
      try {
        name = renderedReference(template.render({ Account: account.name, Store: store.name }), 'entry template');
        provider.checkName?.(store, parseReference(name));
        entry = options.field === undefined ? name : `${name}#${formatReference([options.field])}`;
      } catch (error) {
        if (!journaled) {
          items.push({ ...base, entry: '', action: 'refuse', outcome: 'failed', reason: (error as Error).message, code: isSecretbindError(error) ? error.code : 'REFERENCE_INVALID' });
          continue;
        }
        name = entry = '';
      }
      let field = options.field;
      if (journaled) {
        // The journal says where this account's password went: the command line may repeat it, never change it.
        if ((options.entry !== undefined || options.field !== undefined) && entry !== journaled.entry) {
          mismatched.push(`${account.name} (journal: ${journaled.entry}; command line: ${entry || 'an entry the template cannot render'})`);
        }
        entry = journaled.entry;
        field = parseReference(entry).field;
        name = entryBase(entry);
      }
      const item: MigrationItem = { ...base, entry, action: 'migrate', outcome: options.dryRun ? 'planned' : 'done', reason: 'moved into the store' };
      if (prior?.step === 'done') {
        items.push({ ...item, action: 'skip', outcome: 'skipped', reason: 'migrated before (journal)', step: 'done' });
        continue;
      }
      const resuming = prior !== undefined && prior.step !== 'rolled-back' && prior.step !== 'failed';
      const binding = await repository.findBinding(account.name);
      if (!resuming && binding && binding.enabled !== false) {
        items.push({ ...item, action: 'skip', outcome: 'skipped', reason: `already bound to ${binding.store}:${binding.entry}` });
        continue;
      }
      const claimant = journaled ? undefined : claimedBy(account.name, name);
      if (claimant) {
        items.push({ ...item, action: 'refuse', outcome: 'failed', reason: `${name} in ${store.name} is the entry of account ${JSON.stringify(claimant)} (its binding or its migration references it): choose an --entry template that gives ${account.name} an entry of its own`, code: 'ENTRY_NOT_OWNED', exists: true, owned: false });
        continue;
      }
      const listed = listing && findListed(listing, name);
      if (listed && (listed.owned === false || (listed.owner !== undefined && listed.owner !== DEFAULT_OWNER))) {
        items.push({ ...item, action: 'refuse', outcome: 'failed', reason: `${name} exists in ${store.name} without secretbind's owner mark; choose another --entry or remove it`, code: 'ENTRY_NOT_OWNED', exists: true, owned: false });
        continue;
      }
      let password: string | undefined;
      // Past `verified` the local copy may already be cleared (the journal's HMAC stands in), but while it is there
      // it is read and compared: a password changed since must not be cleared.
      const mayBeCleared = resuming && after(prior.step, 'verified');
      {
        try {
          password = engine.local(account) ?? undefined;
        } catch (error) {
          const failure = error as SecretbindError;
          items.push({ ...item, action: 'refuse', outcome: 'failed', reason: `Account ${JSON.stringify(account.name)}: ${failure.message}`, code: failure.code });
          continue;
        }
        if (password === undefined && !mayBeCleared) {
          items.push({ ...item, action: 'refuse', outcome: 'failed', reason: `Account ${JSON.stringify(account.name)} has no local password to migrate.`, code: 'CONFIG_INVALID' });
          continue;
        }
      }
      const hmac = password !== undefined ? hmacOf(password) : prior!.hmac!;
      if (resuming && prior.hmac !== undefined && prior.hmac !== hmac) {
        items.push({ ...item, action: 'refuse', outcome: 'failed', reason: `The local password of ${account.name} changed since the journaled migration began: roll it back first.`, code: 'CONFLICT', step: prior.step });
        continue;
      }
      const planned: MigrationItem = { ...item, ...(listing ? { exists: listed !== undefined, owned: listed !== undefined } : {}), ...(resuming ? { step: prior.step, reason: `resumed after ${prior.step}` } : {}) };
      items.push(planned);
      work.push({ item: planned, name, field, absent: listing !== undefined && listed === undefined && !resuming, account, ...(password !== undefined ? { password } : {}), hmac, last: resuming ? prior.step : undefined, clearLocal: options.clearLocal === true || prior?.clearLocal === true });
    }
    if (mismatched.length > 0) {
      throw new SecretbindError('CONFIG_INVALID', `Resume finishes each account with the entry its journal names; the command line names others for ${mismatched.slice(0, 3).join(', ')}${mismatched.length > 3 ? ', ...' : ''}. Run --resume without --entry and --field (or with the same ones), or --rollback.`);
    }
    refuseSharedEntries(work);
    if (options.dryRun) return items;

    for (let start = 0; start < work.length; start += batchSize) await migrateBatch(work.slice(start, start + batchSize));
    return items;

    async function migrateBatch(batch: Work[]): Promise<void> {
      const live = (): Work[] => batch.filter((one) => one.item.outcome !== 'failed');
      const fail = async (one: Work, error: unknown): Promise<void> => {
        const failure = isSecretbindError(error) ? error : new SecretbindError('BACKEND_UNAVAILABLE', 'A store call failed unexpectedly.');
        Object.assign(one.item, { outcome: 'failed', reason: failure.message, code: failure.code });
        await note([{ work: one, step: 'failed', extra: { code: failure.code } }]);
      };
      await note(live().filter((one) => one.last === undefined).map((one) => ({ work: one, step: 'begin' as const })));

      // Write (all at once: a file store saves them together), unless the entry already holds this password.
      const toWrite = live().filter((one) => !after(one.last, 'written'));
      const written: Array<{ work: Work; step: MigrationStep; extra?: Partial<JournalRecord> }> = [];
      await Promise.all(
        toWrite.map(async (one) => {
          try {
            if (one.absent || (await readHmac(one)) !== one.hmac) {
              if (one.password === undefined) throw new SecretbindError('CONFLICT', `The local password of ${one.account.name} is gone and ${one.item.entry} does not hold the journaled one: roll it back or restore the password.`, { account: one.account.name, store: store.name });
              const value = one.field === undefined ? one.password : { [one.field]: one.password };
              // A new entry must stay new: someone creating it meanwhile is a CONFLICT, never overwritten.
              const result = await writeEntry(engine, store.name, one.name, value, { owner: DEFAULT_OWNER, ...(one.field !== undefined ? { merge: true } : {}), ...(one.absent && one.field === undefined ? { ifVersion: 'absent' } : {}) });
              one.item.written = true;
              written.push({ work: one, step: 'written', extra: { version: result.version } });
            } else written.push({ work: one, step: 'written' });
          } catch (error) {
            await fail(one, error);
          }
        }),
      );
      await note(written);

      // Verify: read back through the provider and compare HMACs in constant time.
      const verified: Work[] = [];
      await Promise.all(
        live()
          .filter((one) => !after(one.last, 'verified'))
          .map(async (one) => {
            try {
              const read = await readHmac(one);
              if (read === undefined || !timingSafeEqual(Buffer.from(read), Buffer.from(one.hmac))) throw new SecretbindError('CONFLICT', `Reading ${one.item.entry} back from ${store.name} gave a different value than was written: the account stays on its local password.`, { account: one.account.name, store: store.name });
              verified.push(one);
            } catch (error) {
              await fail(one, error);
            }
          }),
      );
      await note(verified.map((one) => ({ work: one, step: 'verified' as const })));

      // Bind, then clear: the local copy goes only once the account resolves from the store.
      for (const step of ['bound', 'cleared'] as const) {
        const done: Work[] = [];
        for (const one of live().filter((candidate) => !after(candidate.last, step))) {
          try {
            if (step === 'bound') await repository.saveBinding!({ account: one.account.name, store: store.name, entry: one.item.entry });
            else if (one.clearLocal) await repository.saveAccountPassword!(one.account.name, null);
            done.push(one);
          } catch (error) {
            await fail(one, error);
          }
        }
        await note(done.map((one) => ({ work: one, step })));
      }
      await note(live().map((one) => ({ work: one, step: 'done' as const })));
      for (const one of live()) if (one.clearLocal) one.item.reason = 'moved into the store; local copy cleared';
    }

    /** The HMAC of what the entry holds now; undefined when it does not exist. */
    async function readHmac(one: Work): Promise<string | undefined> {
      const ref = parseReference(one.item.entry);
      try {
        const answer = await engine.withDeadline(store, one.account.name, (ctx) => provider.resolve(store, ref, ctx));
        return hmacOf(valueOf(answer).value);
      } catch (error) {
        if (isSecretbindError(error) && (error.code === 'ENTRY_NOT_FOUND' || error.code === 'FIELD_NOT_FOUND')) return undefined;
        throw error;
      }
    }

    async function selectedAccounts(): Promise<readonly Account[]> {
      let accounts = options.accounts;
      if (!accounts) {
        if (typeof repository.listAccounts !== 'function') throw new SecretbindError('CONFIG_INVALID', 'Pass accounts, or use a repository with listAccounts().');
        accounts = await repository.listAccounts();
      }
      if (!options.only) return accounts;
      for (const name of options.only) if (!accounts.some((account) => account.name === name)) throw new SecretbindError('CONFIG_INVALID', `There is no account named ${JSON.stringify(name)}.`);
      return accounts.filter((account) => options.only!.includes(account.name));
    }

    /**
     * Which account an entry of the target store already belongs to, by binding or by a journaled migration: every
     * entry secretbind writes carries the same owner mark, so the mark alone cannot tell one account's from another's.
     */
    async function entryClaims(): Promise<Array<{ account: string; segments: readonly string[] }>> {
      const claims: Array<{ account: string; segments: readonly string[] }> = [];
      const claim = (account: string, entry: string): void => {
        try {
          claims.push({ account, segments: parseReference(entry).segments });
        } catch {
          // an unparsable binding names no entry of ours
        }
      };
      let bindings = await repository.listBindings?.();
      if (!bindings) {
        const known = options.accounts ?? (await repository.listAccounts?.()) ?? [];
        bindings = (await Promise.all(known.map((account) => repository.findBinding(account.name)))).filter((binding) => binding !== undefined);
      }
      for (const binding of bindings) if (binding.store === store.name) claim(binding.account, binding.entry);
      for (const record of last.values()) if (record.store === store.name && record.step !== 'rolled-back' && record.step !== 'failed') claim(record.account, record.entry);
      return claims;
    }

    function claimedBy(account: string, name: string): string | undefined {
      const segments = parseReference(name).segments;
      return claims.find((claim) => claim.account !== account && sameEntry(store.type, claim.segments, segments))?.account;
    }

    /** Two accounts of this run that would land on one entry: both are refused, naming each other. */
    function refuseSharedEntries(planned: Work[]): void {
      const segmentsOf = planned.map((one) => parseReference(one.name).segments);
      const clashing = new Set<number>();
      for (let i = 0; i < planned.length; i++) {
        for (let j = i + 1; j < planned.length; j++) {
          if (!sameEntry(store.type, segmentsOf[i]!, segmentsOf[j]!)) continue;
          clashing.add(i).add(j);
        }
      }
      for (const index of clashing) {
        const one = planned[index]!;
        const sharing = [...clashing].filter((other) => sameEntry(store.type, segmentsOf[other]!, segmentsOf[index]!)).map((other) => planned[other]!.account.name);
        Object.assign(one.item, { action: 'refuse', outcome: 'failed', reason: `${one.name} in ${store.name} is the entry of more than one account (${sharing.join(', ')}): choose an --entry template that keeps them apart`, code: 'REFERENCE_INVALID' });
      }
      for (const index of [...clashing].sort((a, b) => b - a)) planned.splice(index, 1);
    }

    /** Puts local passwords back from the store, verified, and removes the bindings the journal says migration made. */
    async function rollback(): Promise<MigrationItem[]> {
      if (typeof repository.saveAccountPassword !== 'function' || typeof repository.removeBinding !== 'function') {
        throw new SecretbindError('OPERATION_UNSUPPORTED', 'Rollback needs a repository with saveAccountPassword and removeBinding.');
      }
      const items: MigrationItem[] = [];
      for (const record of last.values()) {
        if (record.step === 'rolled-back' || (options.only && !options.only.includes(record.account))) continue;
        const item: MigrationItem = { account: record.account, store: record.store, entry: record.entry, action: 'rollback', outcome: options.dryRun ? 'planned' : 'done', reason: 'local password restored from the store; binding removed', step: record.step };
        items.push(item);
        const one: Work = { item, name: entryBase(record.entry), field: parseReference(record.entry).field, absent: false, account: { name: record.account }, hmac: record.hmac!, last: record.step, clearLocal: false };
        if (!records.some((earlier) => earlier.account === record.account && earlier.step === 'bound')) {
          item.reason = 'never bound: the local password was never touched';
          if (!options.dryRun) await note([{ work: one, step: 'rolled-back' }]);
          continue;
        }
        if (options.dryRun) continue;
        try {
          const ref = parseReference(record.entry);
          const answer = valueOf(await engine.withDeadline(store, record.account, (ctx) => provider.resolve(store, ref, ctx))).value;
          if (!timingSafeEqual(Buffer.from(hmacOf(answer)), Buffer.from(record.hmac!))) {
            throw new SecretbindError('CONFLICT', `${record.entry} in ${store.name} no longer holds the password migration wrote: restore ${record.account} by hand.`, { account: record.account, store: store.name });
          }
          const token = encryptLocalPassword(answer, keyInput!);
          if (!timingSafeEqual(Buffer.from(hmacOf(engine.local({ name: record.account, password: token })!)), Buffer.from(record.hmac!))) {
            throw new SecretbindError('CONFLICT', `The re-encrypted password of ${record.account} does not decrypt to the stored one; nothing was changed.`, { account: record.account });
          }
          await repository.saveAccountPassword(record.account, token);
          await repository.removeBinding(record.account);
          await note([{ work: one, step: 'rolled-back' }]);
        } catch (error) {
          const failure = isSecretbindError(error) ? error : new SecretbindError('BACKEND_UNAVAILABLE', 'Rollback failed unexpectedly.');
          Object.assign(item, { outcome: 'failed', reason: failure.message, code: failure.code });
        }
      }
      return items;
    }
  } finally {
    await engine.close();
  }
}

const isUnfinished = (record: JournalRecord): boolean => record.step !== 'done' && record.step !== 'rolled-back' && record.step !== 'failed';

/** The store a run writes into: `to`, or on resume the journal's, which `to` may repeat but not change. */
function targetStore(to: string | undefined, unfinished: readonly JournalRecord[]): string {
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
function sameEntry(type: string, a: readonly string[], b: readonly string[]): boolean {
  const equal = (x: readonly string[], y: readonly string[]): boolean => x.length === y.length && x.every((segment, index) => segment === y[index]);
  if (equal(a, b)) return true;
  if (type !== 'keepass') return false;
  return (a.length === b.length + 1 && equal(a.slice(1), b)) || (b.length === a.length + 1 && equal(b.slice(1), a));
}

/** The HMAC key of the journal, derived from the first Fernet key: the journal alone cannot confirm a guess. */
function journalKey(input: FernetKeyInput): Buffer {
  const [first] = parseFernetKeys(input);
  if (!first) throw new SecretbindError('LOCAL_KEY_MISSING', 'Migration needs a Fernet key.');
  return createHmac('sha256', Buffer.concat([first.signing, first.encryption])).update('secretbind migration journal v1').digest();
}

/** The entry without its `#field`. */
function entryBase(entry: string): string {
  return formatReference(parseReference(entry).segments);
}

/** An entry in a listing, by name; a KeePass listing names entries with the root group, references may leave it out. */
function findListed(listing: readonly EntryInfo[], name: string): EntryInfo | undefined {
  return listing.find((info) => info.name === name) ?? listing.find((info) => info.name.endsWith(`/${name}`) && parseReference(info.name).segments.length === parseReference(name).segments.length + 1);
}
