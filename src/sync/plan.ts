import { isSecretbindError, SecretbindError, type SecretbindErrorCode } from '../core/index.js';
import type { EntryInfo, EntryValue } from '../stores/index.js';
import type { CheckedDefinition } from './definitions.js';
import { standing, type Marks } from './ownership.js';
import type { AssociationRecord, SyncStatus } from './state.js';

/**
 * Planning, as pure functions: from what a pass observed (the sources' wants, the destination's listing, the state's
 * records and the values looked at) to one action per destination entry. Nothing here reads or writes a store.
 * @internal
 */

/** What sync decided for one destination entry. */
export type SyncAction = 'create' | 'update' | 'delete' | 'unchanged' | 'conflict' | 'not-owned' | 'error';

/** One destination entry in a plan or a run: names, the decision and why; never a value. */
export interface SyncItem {
  sync: string;
  destination: string;
  /** The destination entry (a reference path). */
  entry: string;
  action: SyncAction;
  reason: string;
  source?: string;
  sourceEntry?: string;
  code?: SecretbindErrorCode;
  /** After `run`: whether the action was carried out. */
  outcome?: 'done' | 'failed' | 'planned';
  /** After `run`: the association's status. */
  status?: SyncStatus;
}

/** A destination entry a pass wants, with its value and the value's HMAC. */
export interface Desired {
  entry: string;
  /** Absent when the source entry was not read: its version is the one last synced (`skipped`). */
  value?: EntryValue;
  hmac: string;
  source?: string;
  sourceEntry?: string;
  /** The source entry's version, where its listing gave one. */
  sourceVersion?: string;
  skipped?: true;
}

/** A source entry that could not be read (ENTRY_NOT_FOUND is an answer, not a failure: the entry is gone). */
export interface SourceFailure {
  sourceEntry: string;
  entry: string;
  error: unknown;
}

/** What a destination holds now, for an entry whose records cannot vouch for it: the value's HMAC, looked at. */
export interface LookedAt {
  /** Undefined when the value could not be read. */
  hmac: string | undefined;
  /** The value is the wanted one (or its JSON text, in a store of single values). */
  matches: boolean;
}

/** Everything a pass observed for one definition; the input of {@link decide}. */
export interface Observation {
  definition: CheckedDefinition;
  records: ReadonlyMap<string, AssociationRecord>;
  marks: Marks;
  /** The id of the key the pass's HMACs are made with. */
  keyId: string;
  allowDeletes: number | undefined;
  /** The destination or a source could not be used at all. */
  unusable?: { error: unknown };
  /** What the sources want, in the order they were read. */
  wants: readonly Desired[];
  failures: readonly SourceFailure[];
  /** Entries the destination cannot hold (its `checkName`), by entry. */
  nameProblems: ReadonlyMap<string, unknown>;
  /** The source was listed (prefix or folder) and the listing was empty. */
  listedEmpty: boolean;
  /** The destination's listing, or why it failed. */
  listing: { ok: true; entries: ReadonlyMap<string, EntryInfo> } | { ok: false; error: unknown };
  /** Source entries skipped by version and read after all, because the destination moved. */
  reread?: { sourceEntries: ReadonlySet<string>; wants: readonly Desired[]; failures: readonly SourceFailure[] } | { sourceEntries: ReadonlySet<string>; error: unknown };
  /** Destination values looked at (see {@link needsLook}). */
  lookedAt: ReadonlyMap<string, LookedAt>;
}

/** A definition's plan: the items, and what applying them needs. */
export interface PlannedDefinition {
  items: SyncItem[];
  /** Associations whose entry is gone from both sides: dropped from the state when the pass applies. */
  forget?: string[];
  desired: Map<string, Desired>;
  listed: Map<string, EntryInfo>;
  records: Map<string, AssociationRecord>;
  /** Entries under an earlier version's mark (the deployment's name) that this definition's state names. */
  legacy: Set<string>;
}

/** The entry of an item that concerns a whole definition (its source or destination cannot be used). */
export const WHOLE_DEFINITION = '*';

export const INTERNAL_REASON = "secretbind could not handle the store's answer (an internal error, not the store's); the events say more";

/** The wants by destination entry: more than one means several sources land on one name. */
export function wantsByEntry(wants: readonly Desired[]): Map<string, Desired[]> {
  const byEntry = new Map<string, Desired[]>();
  for (const want of wants) byEntry.set(want.entry, [...(byEntry.get(want.entry) ?? []), want]);
  return byEntry;
}

/** The wants a pass can write: one source per name, a name the destination can hold. */
export function writableWants(byEntry: ReadonlyMap<string, readonly Desired[]>, nameProblems: ReadonlyMap<string, unknown>): Map<string, Desired> {
  const desired = new Map<string, Desired>();
  for (const [entry, wants] of byEntry) if (wants.length === 1 && !nameProblems.has(entry)) desired.set(entry, wants[0]!);
  return desired;
}

/** Source entries skipped by version whose destination no longer holds what secretbind wrote: they must be read. */
export function staleSkips(desired: ReadonlyMap<string, Desired>, listed: ReadonlyMap<string, EntryInfo>, records: ReadonlyMap<string, AssociationRecord>, marks: Marks): Set<string> {
  const stale = new Set<string>();
  for (const [entry, want] of desired) {
    const existing = listed.get(entry);
    const record = records.get(entry);
    const inPlace = existing !== undefined && existing.version !== undefined && record?.destinationVersion === existing.version && standing(existing, marks, true) === 'mine';
    if (want.skipped && !inPlace) stale.add(want.sourceEntry!);
  }
  return stale;
}

/** The wants after the stale skips were read: theirs replaced by what the reading gave. */
export function afterReread(desired: ReadonlyMap<string, Desired>, byEntry: ReadonlyMap<string, readonly Desired[]>, reread: Observation['reread']): Map<string, Desired> {
  const next = new Map(desired);
  if (!reread || reread.sourceEntries.size === 0) return next;
  for (const [entry, want] of next) if (want.sourceEntry !== undefined && reread.sourceEntries.has(want.sourceEntry)) next.delete(entry);
  if ('wants' in reread) for (const want of reread.wants) if (!byEntry.has(want.entry) || byEntry.get(want.entry)!.length === 1) next.set(want.entry, want);
  return next;
}

/** Whether the destination's value must be looked at: it exists, is ours to write, and no record vouches for it. */
export function needsLook(existing: EntryInfo | undefined, record: AssociationRecord | undefined, marks: Marks, keyId: string): boolean {
  if (!existing || standing(existing, marks, record !== undefined) === 'foreign') return false;
  const vouched = record?.hmacKeyId === keyId && existing.version !== undefined && record.destinationVersion === existing.version;
  return !vouched;
}

/** The plan of one definition. */
export function decide(seen: Observation): PlannedDefinition {
  const records = new Map(seen.records);
  const legacy = new Set<string>();
  const fail = failer(seen.definition);
  if (seen.unusable) {
    // A destination or source that cannot be used fails every association, or the definition itself when it has none yet.
    const items = records.size > 0 ? [...records.keys()].map((entry) => fail(entry, seen.unusable!.error)) : [fail(WHOLE_DEFINITION, seen.unusable.error)];
    return { items, desired: new Map(), listed: new Map(), records, legacy };
  }
  const items = sourceFailureItems(seen, fail);
  const byEntry = wantsByEntry(seen.wants);
  items.push(...nameItems(byEntry, seen.nameProblems, fail));
  let desired = writableWants(byEntry, seen.nameProblems);
  if (!seen.listing.ok) return { items: [...items, ...[...desired.keys()].map((entry) => fail(entry, seen.listing.ok ? undefined : seen.listing.error))], desired, listed: new Map(), records, legacy };
  const listed = new Map(seen.listing.entries);
  const failures = [...seen.failures];
  if (seen.reread) {
    items.push(...rereadItems(seen, failures, fail));
    desired = afterReread(desired, byEntry, seen.reread);
  }
  for (const [entry, want] of desired) items.push(decideEntry(seen, entry, want, listed.get(entry), legacy));
  const { deletes, forget } = deletions(seen, desired, byEntry, listed, failures, legacy);
  items.push(...deletes);
  return { items, desired, listed, records, forget, legacy };
}

type Fail = (entry: string, error: unknown, extra?: Partial<SyncItem>) => SyncItem;

function failer(definition: CheckedDefinition): Fail {
  const base = { sync: definition.name, destination: definition.destination };
  return (entry, error, extra = {}) => {
    // Anything but a SecretbindError is secretbind failing to handle what it got: no code, status INTERNAL_ERROR.
    if (!isSecretbindError(error)) return { ...base, entry, action: 'error', reason: INTERNAL_REASON, ...extra };
    return { ...base, entry, action: 'error', reason: error.message, code: error.code, ...extra };
  };
}

/** A source entry that failed keeps its associations as they are and reports the failure on each of them. */
function sourceFailureItems(seen: Observation, fail: Fail): SyncItem[] {
  const items: SyncItem[] = [];
  for (const failure of seen.failures) {
    const concerned = [...seen.records.values()].filter((record) => record.sourceEntry === failure.sourceEntry);
    const from = { sourceEntry: failure.sourceEntry, ...(seen.definition.source ? { source: seen.definition.source } : {}) };
    if (concerned.length === 0) items.push(fail(failure.entry, failure.error, from));
    for (const record of concerned) items.push(fail(record.entry, failure.error, from));
  }
  return items;
}

/** Names the destination cannot hold, and names two sources both land on (failing both, naming each other). */
function nameItems(byEntry: ReadonlyMap<string, readonly Desired[]>, nameProblems: ReadonlyMap<string, unknown>, fail: Fail): SyncItem[] {
  const items: SyncItem[] = [];
  for (const [entry, wants] of byEntry) {
    if (wants.length === 1) {
      if (!nameProblems.has(entry)) continue;
      const want = wants[0]!;
      items.push(fail(entry, nameProblems.get(entry), { ...(want.source ? { source: want.source } : {}), ...(want.sourceEntry ? { sourceEntry: want.sourceEntry } : {}) }));
    } else {
      items.push(fail(entry, new SecretbindError('REFERENCE_INVALID', `Several sources land on ${entry}: ${wants.map((want) => `${want.source}:${want.sourceEntry}`).join(' and ')}; change name_template so that each gets its own name.`)));
    }
  }
  return items;
}

/** Failures of the late reads of skipped source entries; they join the pass's failures. */
function rereadItems(seen: Observation, failures: SourceFailure[], fail: Fail): SyncItem[] {
  const reread = seen.reread!;
  const items: SyncItem[] = [];
  if (reread.sourceEntries.size === 0) return items;
  if ('wants' in reread) {
    for (const failure of reread.failures) for (const record of seen.records.values()) if (record.sourceEntry === failure.sourceEntry) items.push(fail(record.entry, failure.error, { sourceEntry: failure.sourceEntry }));
    failures.push(...reread.failures);
  } else {
    for (const record of seen.records.values()) if (record.sourceEntry !== undefined && reread.sourceEntries.has(record.sourceEntry)) items.push(fail(record.entry, reread.error, { sourceEntry: record.sourceEntry }));
    for (const sourceEntry of reread.sourceEntries) failures.push({ sourceEntry, entry: sourceEntry, error: reread.error });
  }
  return items;
}

/** One wanted entry: create, update, unchanged, not-owned or a drift conflict. */
function decideEntry(seen: Observation, entry: string, want: Desired, existing: EntryInfo | undefined, legacy: Set<string>): SyncItem {
  const { definition, marks } = seen;
  const record = seen.records.get(entry);
  const about = itemAbout(definition, entry, want.source, want.sourceEntry);
  const stands = existing ? standing(existing, marks, record !== undefined) : 'mine';
  if (stands === 'legacy') legacy.add(entry);
  // HMACs made with another key (a restart without a configured stateKey) say nothing: the value is compared instead.
  const known = record?.hmacKeyId === seen.keyId;
  if (!existing) return { ...about, action: 'create', reason: record ? 'missing from the destination; recreated' : 'new' };
  if (stands === 'foreign') {
    const whose = existing.owner === undefined ? "without this definition's owner mark" : `with the owner mark ${JSON.stringify(existing.owner)}, not this definition's (${JSON.stringify(marks.mine)})`;
    return definition.adopt ? { ...about, action: 'update', reason: 'taken over (adopt)' } : { ...about, action: 'not-owned', reason: `${entry} exists ${whose}; set adopt: true to take it over`, code: 'ENTRY_NOT_OWNED' };
  }
  if (known && record && record.valueHmac === want.hmac && existing.version !== undefined && record.destinationVersion === existing.version) return { ...about, action: 'unchanged', reason: 'unchanged' };
  if (known && record && record.destinationVersion === existing.version && existing.version !== undefined) return { ...about, action: 'update', reason: 'the source changed' };
  // The destination moved since secretbind wrote it (or no record says what it wrote): its value was looked at.
  const looked = seen.lookedAt.get(entry);
  if (looked?.matches) return { ...about, action: 'unchanged', reason: 'already in place' };
  if (known && record && looked?.hmac !== undefined && looked.hmac !== record.valueHmac) {
    return definition.on_drift === 'report' ? { ...about, action: 'conflict', reason: `${entry} was changed outside secretbind (drift); on_drift is "report"`, code: 'CONFLICT' } : { ...about, action: 'update', reason: 'changed outside secretbind (drift); overwritten' };
  }
  return { ...about, action: 'update', reason: record ? 'the source changed' : 'differs from the source' };
}

/** Entries gone from a source that answered in full: removed where secretbind owns them, within the delete guard. */
function deletions(seen: Observation, desired: ReadonlyMap<string, Desired>, byEntry: ReadonlyMap<string, readonly Desired[]>, listed: ReadonlyMap<string, EntryInfo>, failures: readonly SourceFailure[], legacy: Set<string>): { deletes: SyncItem[]; forget: string[] } {
  const { definition, marks, records } = seen;
  const base = { sync: definition.name, destination: definition.destination };
  const failedSources = new Set(failures.map((failure) => failure.sourceEntry));
  const failedEntries = new Set(failures.map((failure) => failure.entry));
  const deletes: SyncItem[] = [];
  const forget: string[] = [];
  for (const [entry, record] of records) {
    if (desired.has(entry) || byEntry.has(entry) || (record.sourceEntry !== undefined && failedSources.has(record.sourceEntry))) continue;
    const existing = listed.get(entry);
    const stands = existing && standing(existing, marks, true);
    if (stands === 'mine' || stands === 'legacy') {
      if (stands === 'legacy') legacy.add(entry);
      deletes.push({ ...base, entry, action: 'delete', reason: 'gone from the source', ...(record.source ? { source: record.source } : {}), ...(record.sourceEntry ? { sourceEntry: record.sourceEntry } : {}) });
    } else {
      forget.push(entry);
    }
  }
  // Entries under this definition's own mark that nothing maps to are orphans whatever the state holds: a new
  // replica's empty state must not keep them forever. (Only an exact mark: the listing must show owners.)
  for (const [entry, existing] of listed) {
    if (existing.owner !== marks.mine || records.has(entry) || desired.has(entry) || byEntry.has(entry) || failedEntries.has(entry)) continue;
    deletes.push({ ...base, entry, action: 'delete', reason: "carries this definition's owner mark and no source entry maps to it" });
  }
  return { deletes: guardDeletes(seen, deletes, listed), forget };
}

/**
 * A source that lists nothing where entries were synced has more likely failed than been emptied; a pass that would
 * remove more than max_deletes is more likely wrong than meant. Either way nothing is removed until an operator
 * confirms the count with allowDeletes (--allow-deletes N).
 */
function guardDeletes(seen: Observation, deletes: SyncItem[], listed: ReadonlyMap<string, EntryInfo>): SyncItem[] {
  const owned = new Set([...seen.records.keys(), ...[...listed].filter(([, info]) => info.owner === seen.marks.mine).map(([entry]) => entry)]).size;
  const maxDeletes = seen.definition.max_deletes ?? Math.max(1, Math.floor(owned / 10));
  const confirmed = seen.allowDeletes !== undefined && seen.allowDeletes >= deletes.length;
  const guard = seen.listedEmpty && deletes.length > 0 ? `the source listed no entries where ${owned} were synced` : deletes.length > maxDeletes ? `this pass would remove ${deletes.length} entries, more than max_deletes (${maxDeletes})` : undefined;
  if (!guard || confirmed) return deletes;
  return deletes.map((item) => ({ ...item, action: 'error', code: 'DELETE_GUARD', reason: `${guard}: nothing was removed; if that is meant, confirm with --allow-deletes ${deletes.length} (allowDeletes: ${deletes.length})` }));
}

/** Entries that two planned definitions both want in one destination: refused in both, naming each other. */
export function refuseSharedEntries(plans: ReadonlyArray<{ definition: CheckedDefinition; planned: PlannedDefinition }>): void {
  const wanted = new Map<string, CheckedDefinition[]>();
  for (const { definition, planned } of plans) {
    for (const entry of planned.desired.keys()) {
      const key = `${definition.destination}\u0000${entry}`;
      wanted.set(key, [...(wanted.get(key) ?? []), definition]);
    }
  }
  for (const { definition, planned } of plans) {
    for (const entry of [...planned.desired.keys()]) {
      const sharing = wanted.get(`${definition.destination}\u0000${entry}`)!;
      if (sharing.length < 2) continue;
      planned.desired.delete(entry);
      const at = planned.items.findIndex((item) => item.entry === entry);
      const reason = `Sync definitions ${sharing.map((other) => JSON.stringify(other.name)).join(' and ')} both write ${entry} in ${definition.destination}: give each its own name_template or destination.`;
      const refused: SyncItem = { ...(at === -1 ? itemAbout(definition, entry, undefined, undefined) : planned.items[at]!), action: 'error', code: 'REFERENCE_INVALID', reason };
      if (at === -1) planned.items.push(refused);
      else planned.items[at] = refused;
    }
  }
}

/**
 * What names an item: its definition, entry, and source where known. Built by assignment, not conditional spreads,
 * which cost V8 several times more and ran once per association per pass.
 */
export function itemAbout(definition: { name: string; destination: string }, entry: string, source: string | undefined, sourceEntry: string | undefined): Pick<SyncItem, 'sync' | 'destination' | 'entry' | 'source' | 'sourceEntry'> {
  const about: Pick<SyncItem, 'sync' | 'destination' | 'entry' | 'source' | 'sourceEntry'> = { sync: definition.name, destination: definition.destination, entry };
  if (source) about.source = source;
  if (sourceEntry) about.sourceEntry = sourceEntry;
  return about;
}
