import { formatReference, isSecretbindError, parseReference, SecretbindError } from '../core/index.js';
import { DEFAULT_OWNER, type Account, type EntryInfo } from '../stores/index.js';
import { renderedReference, type NameTemplate } from '../sync/index.js';
import { after, entryBase, findListed, isUnfinished, sameEntry, type MigrationContext, type MigrationItem, type Work } from './common.js';
import type { JournalRecord } from './journal.js';

/**
 * Planning a migration: for each account, the entry it goes to (the journal's on resume), and whether it may go:
 * not bound already, an entry no other account claims and that is ours or new, a local password that is there (or
 * cleared past `verified`) and unchanged since the journal began it.
 * @internal
 */

/** The items of a run, and the work of the accounts that may go. */
export async function planMigration(context: MigrationContext, template: NameTemplate, accounts: readonly Account[], listing: readonly EntryInfo[] | undefined): Promise<{ items: MigrationItem[]; work: Work[] }> {
  const items: MigrationItem[] = [];
  const work: Work[] = [];
  const mismatched: string[] = [];
  const claims = await entryClaims(context);
  for (const account of accounts) {
    const target = targetOf(context, template, account, mismatched);
    if ('refused' in target) {
      items.push(target.refused);
      continue;
    }
    const planned = await planAccount(context, account, target, claims, listing);
    items.push(planned.item);
    if (planned.work) work.push(planned.work);
  }
  if (mismatched.length > 0) {
    throw new SecretbindError('CONFIG_INVALID', `Resume finishes each account with the entry its journal names; the command line names others for ${mismatched.slice(0, 3).join(', ')}${mismatched.length > 3 ? ', ...' : ''}. Run --resume without --entry and --field (or with the same ones), or --rollback.`);
  }
  refuseSharedEntries(context, work);
  return { items, work };
}

interface Target {
  /** The entry without its field, the entry as bound, and the field written. */
  name: string;
  entry: string;
  field: string | undefined;
  prior: JournalRecord | undefined;
  journaled: JournalRecord | undefined;
}

/** Where an account's password goes: the rendered entry, or the journal's for an account it began. */
function targetOf(context: MigrationContext, template: NameTemplate, account: Account, mismatched: string[]): Target | { refused: MigrationItem } {
  const { options, store, provider } = context;
  const prior = context.last.get(account.name);
  const journaled = prior !== undefined && isUnfinished(prior) ? prior : undefined;
  let name: string;
  let entry: string;
  try {
    name = renderedReference(template.render({ Account: account.name, Store: store.name }), 'entry template');
    provider.checkName?.(store, parseReference(name));
    entry = options.field === undefined ? name : `${name}#${formatReference([options.field])}`;
  } catch (error) {
    if (!journaled) return { refused: { account: account.name, store: store.name, entry: '', action: 'refuse', outcome: 'failed', reason: (error as Error).message, code: isSecretbindError(error) ? error.code : 'REFERENCE_INVALID' } };
    name = entry = '';
  }
  if (!journaled) return { name, entry, field: options.field, prior, journaled };
  // The journal says where this account's password went: the command line may repeat it, never change it.
  if ((options.entry !== undefined || options.field !== undefined) && entry !== journaled.entry) {
    mismatched.push(`${account.name} (journal: ${journaled.entry}; command line: ${entry || 'an entry the template cannot render'})`);
  }
  return { name: entryBase(journaled.entry), entry: journaled.entry, field: parseReference(journaled.entry).field, prior, journaled };
}

type Claims = ReadonlyArray<{ account: string; segments: readonly string[] }>;

/** One account's item, and its work when it may go. */
async function planAccount(context: MigrationContext, account: Account, target: Target, claims: Claims, listing: readonly EntryInfo[] | undefined): Promise<{ item: MigrationItem; work?: Work }> {
  const { options, store } = context;
  const { name, entry, prior, journaled } = target;
  const item: MigrationItem = { account: account.name, store: store.name, entry, action: 'migrate', outcome: options.dryRun ? 'planned' : 'done', reason: 'moved into the store' };
  const refuse = (reason: string, code: MigrationItem['code'], extra: Partial<MigrationItem> = {}): { item: MigrationItem } => ({ item: { ...item, action: 'refuse', outcome: 'failed', reason, code, ...extra } });
  if (prior?.step === 'done') return { item: { ...item, action: 'skip', outcome: 'skipped', reason: 'migrated before (journal)', step: 'done' } };
  const resuming = prior !== undefined && prior.step !== 'rolled-back' && prior.step !== 'failed';
  const binding = await context.repository.findBinding(account.name);
  if (!resuming && binding && binding.enabled !== false) return { item: { ...item, action: 'skip', outcome: 'skipped', reason: `already bound to ${binding.store}:${binding.entry}` } };
  const claimant = journaled ? undefined : claimedBy(context, claims, account.name, name);
  if (claimant) return refuse(`${name} in ${store.name} is the entry of account ${JSON.stringify(claimant)} (its binding or its migration references it): choose an --entry template that gives ${account.name} an entry of its own`, 'ENTRY_NOT_OWNED', { exists: true, owned: false });
  const listed = listing && findListed(listing, name);
  if (listed && (listed.owned === false || (listed.owner !== undefined && listed.owner !== DEFAULT_OWNER))) {
    return refuse(`${name} exists in ${store.name} without secretbind's owner mark; choose another --entry or remove it`, 'ENTRY_NOT_OWNED', { exists: true, owned: false });
  }
  let password: string | undefined;
  try {
    password = context.local.decrypt(account) ?? undefined;
  } catch (error) {
    const failure = error as SecretbindError;
    return refuse(`Account ${JSON.stringify(account.name)}: ${failure.message}`, failure.code);
  }
  // Past `verified` the local copy may already be cleared (the journal's HMAC stands in), but while it is there
  // it is read and compared: a password changed since must not be cleared.
  const mayBeCleared = resuming && after(prior.step, 'verified');
  if (password === undefined && !mayBeCleared) return refuse(`Account ${JSON.stringify(account.name)} has no local password to migrate.`, 'CONFIG_INVALID');
  const hmac = password !== undefined ? context.hmacOf(password) : prior!.hmac!;
  if (resuming && prior.hmac !== undefined && prior.hmac !== hmac) return refuse(`The local password of ${account.name} changed since the journaled migration began: roll it back first.`, 'CONFLICT', { step: prior.step });
  const planned: MigrationItem = { ...item, ...(listing ? { exists: listed !== undefined, owned: listed !== undefined } : {}), ...(resuming ? { step: prior.step, reason: `resumed after ${prior.step}` } : {}) };
  const work: Work = { item: planned, name, field: target.field, absent: listing !== undefined && listed === undefined && !resuming, account, ...(password !== undefined ? { password } : {}), hmac, last: resuming ? prior.step : undefined, clearLocal: options.clearLocal === true || prior?.clearLocal === true };
  return { item: planned, work };
}

/**
 * Which account an entry of the target store already belongs to, by binding or by a journaled migration: every
 * entry secretbind writes carries the same owner mark, so the mark alone cannot tell one account's from another's.
 */
async function entryClaims(context: MigrationContext): Promise<Claims> {
  const { repository, options, store } = context;
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
  for (const record of context.last.values()) if (record.store === store.name && record.step !== 'rolled-back' && record.step !== 'failed') claim(record.account, record.entry);
  return claims;
}

function claimedBy(context: MigrationContext, claims: Claims, account: string, name: string): string | undefined {
  const segments = parseReference(name).segments;
  return claims.find((claim) => claim.account !== account && sameEntry(context.store.type, claim.segments, segments))?.account;
}

/** Two accounts of this run that would land on one entry: both are refused, naming each other. */
function refuseSharedEntries(context: MigrationContext, planned: Work[]): void {
  const { store } = context;
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
