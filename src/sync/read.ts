import { listEntries, type StoreAccess } from '../access/index.js';
import { isSecretbindError, parseReference, referencePath, SecretbindError, type EntryReference, type SecretbindErrorCode } from '../core/index.js';
import type { EntryInfo, EntrySettled, EntryValue, SecretProvider, SecretStore } from '../stores/index.js';
import type { CheckedDefinition } from './definitions.js';
import { hmacOf, type Marks, type StateKeys } from './ownership.js';
import { afterReread, needsLook, staleSkips, wantsByEntry, writableWants, type Desired, type LookedAt, type Observation, type SourceFailure } from './plan.js';
import type { AssociationRecord, SyncStateRepository } from './state.js';
import { renderedReference, type TemplateValues } from './template.js';

/**
 * Reading, for one definition: the state's records, the destination's listing and the sources' entries (each read
 * once, skipped when its version is the one synced), and the destination values no record vouches for. What is
 * read becomes an {@link Observation} for the planner.
 * @internal
 */

/** Runs a store call again while it fails with a retryable error, within the pass's budget. */
export type Retry = <T>(call: () => Promise<T>) => Promise<T>;

/** What one definition's reading needs. */
export interface ReadContext {
  access: StoreAccess;
  state: SyncStateRepository;
  keys: StateKeys;
  marks: Marks;
  retry: Retry;
  backoff: EntryBackoff;
  allowDeletes: number | undefined;
}

/** Everything the planner needs about one definition, read from its stores and state. */
export async function observe(context: ReadContext, definition: CheckedDefinition): Promise<Observation> {
  const { access, keys, marks, retry } = context;
  const records = new Map((await context.state.list(definition.name)).map((record) => [record.entry, record]));
  const empty = { definition, records, marks, keyId: keys.id, allowDeletes: context.allowDeletes, wants: [], failures: [], nameProblems: new Map(), listedEmpty: false, listing: { ok: true as const, entries: new Map() }, lookedAt: new Map() };
  let target: SecretProvider;
  try {
    ({ provider: target } = await access.storeFor(definition.destination));
  } catch (error) {
    return { ...empty, unusable: { error } };
  }
  const adapt = adapterOf(definition, target);
  // An adapted name may not keep the template's fixed start (SECRETBIND_ for secretbind/): then list everything.
  const prefix = !adapt || adapt(definition.template.fixedPrefix) === definition.template.fixedPrefix ? definition.template.fixedPrefix : '';
  // The destination's listing does not depend on the sources: it runs while they are read.
  const listing = retry(() => listEntries(access, definition.destination, { recursive: true, metadata: true, ...(prefix ? { prefix } : {}) }));
  listing.catch(() => {}); // awaited below; not an unhandled rejection meanwhile

  // A source that fails is never read as "deleted": its associations only fail this pass.
  let gathered: Gathered;
  try {
    gathered = await gather(context, definition, records);
  } catch (error) {
    return { ...empty, unusable: { error } };
  }
  const { store: destinationStore, provider: destinationProvider } = await access.storeFor(definition.destination);
  const byEntry = wantsByEntry(gathered.desired);
  const nameProblems = new Map<string, unknown>();
  for (const [entry, wants] of byEntry) {
    if (wants.length !== 1) continue;
    // A name the destination cannot hold fails here, before anything is written.
    try {
      destinationProvider.checkName?.(destinationStore, parseReference(entry));
    } catch (error) {
      nameProblems.set(entry, error);
    }
  }
  const seen: Observation = { ...empty, wants: gathered.desired, failures: gathered.failures, nameProblems, listedEmpty: gathered.listedEmpty ?? false };
  let listed;
  try {
    listed = new Map((await listing).map((info) => [info.name, info]));
  } catch (error) {
    return { ...seen, listing: { ok: false, error } };
  }
  seen.listing = { ok: true, entries: listed };
  let desired = writableWants(byEntry, nameProblems);
  // A want skipped by source version is unchanged only if the destination still holds what secretbind wrote.
  const stale = staleSkips(desired, listed, records, marks);
  if (stale.size > 0) {
    try {
      const late = await gathered.readSkipped([...stale]);
      seen.reread = { sourceEntries: stale, wants: late.desired, failures: late.failures };
    } catch (error) {
      seen.reread = { sourceEntries: stale, error };
    }
    desired = afterReread(desired, byEntry, seen.reread);
  }
  seen.lookedAt = await lookAt(context, definition, desired, listed, records);
  return seen;
}

/** The destination's values for the wanted entries no record vouches for, as HMACs (never kept as values). */
async function lookAt(context: ReadContext, definition: CheckedDefinition, desired: ReadonlyMap<string, Desired>, listed: ReadonlyMap<string, EntryInfo>, records: ReadonlyMap<string, AssociationRecord>): Promise<Map<string, LookedAt>> {
  const { key } = context.keys;
  const looked = new Map<string, LookedAt>();
  for (const [entry, want] of desired) {
    const existing = listed.get(entry);
    if (!needsLook(existing, records.get(entry), context.marks, context.keys.id)) continue;
    const ref = parseReference(entry);
    const current = await context.retry(() => readWhole(context.access, definition.destination, [ref])).catch(() => undefined);
    const answer = current?.get(ref.raw);
    const hmac = answer?.ok ? hmacOf(key, answer.value) : undefined;
    // A store of single values holds an object as its JSON text: that is the same value.
    const matches = hmac === want.hmac || (answer?.ok === true && typeof answer.value === 'string' && typeof want.value === 'object' && hmac === hmacOf(key, JSON.stringify(want.value)));
    looked.set(entry, { hmac, matches });
  }
  return looked;
}

interface Gathered {
  desired: Desired[];
  failures: SourceFailure[];
  /** The source was listed (prefix or folder) and the listing was empty. */
  listedEmpty?: boolean;
  /** Reads source entries that were skipped by version, for the wants that turn out to need their value. */
  readSkipped(sourceEntries: readonly string[]): Promise<Pick<Gathered, 'desired' | 'failures'>>;
}

/** Renders a destination entry's name from template values. */
type Namer = (values: TemplateValues) => string;

/** ENTRY_NOT_FOUND is an answer (the entry is gone); anything else is a failure. */
const isFailure = (error: unknown): boolean => !(isSecretbindError(error) && error.code === 'ENTRY_NOT_FOUND');

/**
 * The entries a definition wants in its destination, from its sources. Throws when a source cannot be listed. A
 * listed source entry whose version is the one every association of it was synced from is not read: its wants carry
 * the recorded HMAC and no value, and are read only if the destination moved.
 */
async function gather(context: ReadContext, definition: CheckedDefinition, records: ReadonlyMap<string, AssociationRecord>): Promise<Gathered> {
  const { store: destination, provider: destinationProvider } = await context.access.storeFor(definition.destination);
  const adapt = adapterOf(definition, destinationProvider);
  const names: Namer = (values) => {
    const rendered = definition.template.render({ DestinationType: destination.type, DestinationName: destination.name, ...values });
    return renderedReference(adapt ? adapt(rendered) : rendered, 'name template');
  };
  return definition.mapped ? gatherMapped(context, definition, names) : gatherSource(context, definition, records, names);
}

/** A `map` definition: each destination entry assembled from its parts, each part one field of a store. */
async function gatherMapped(context: ReadContext, definition: CheckedDefinition, names: Namer): Promise<Gathered> {
  const desired: Desired[] = [];
  const failures: SourceFailure[] = [];
  for (const [target, parts] of definition.mapped!) {
    const values: Record<string, string> = {};
    let problem: unknown;
    let gone = false;
    for (const part of parts) {
      const ref = parseReference(part.reference);
      const answer = (await context.retry(() => readFields(context.access, part.store, [ref]))).get(ref.raw);
      if (answer?.ok) values[part.jsonKey ?? ''] = answer.value;
      else if (isFailure(answer?.error)) problem ??= answer?.error;
      else gone = true;
    }
    const entry = names({ SecretPath: target, SecretBaseName: target });
    if (problem !== undefined) failures.push({ sourceEntry: target, entry, error: problem });
    else if (!gone) {
      const value: EntryValue = parts[0]!.jsonKey === undefined ? values['']! : values;
      desired.push({ entry, value, hmac: hmacOf(context.keys.key, value), sourceEntry: target });
    }
  }
  return { desired, failures, readSkipped: async () => ({ desired: [], failures: [] }) };
}

/** A `source` definition: its entries (listed by prefix or folder, or named), read unless skipped by version. */
async function gatherSource(context: ReadContext, definition: CheckedDefinition, records: ReadonlyMap<string, AssociationRecord>, names: Namer): Promise<Gathered> {
  const sourceName = definition.source!;
  const { store: source } = await context.access.storeFor(sourceName);
  const versions = new Map<string, string | undefined>();
  if (definition.entries) for (const entry of definition.entries) versions.set(entry, undefined);
  else {
    const prefix = definition.folder !== undefined ? (definition.folder.endsWith('/') ? definition.folder : `${definition.folder}/`) : definition.prefix!;
    for (const info of await context.retry(() => listEntries(context.access, sourceName, { prefix, recursive: true }))) versions.set(info.name, info.version);
  }
  const bySource = new Map<string, AssociationRecord[]>();
  for (const record of records.values()) if (record.sourceEntry !== undefined) bySource.set(record.sourceEntry, [...(bySource.get(record.sourceEntry) ?? []), record]);
  const read = (sourceEntries: readonly string[]) => readSourceEntries(context, definition, source, versions, names, sourceEntries);

  const desired: Desired[] = [];
  const toRead: string[] = [];
  for (const [sourceEntry, version] of versions) {
    const synced = bySource.get(sourceEntry) ?? [];
    const unchanged = version !== undefined && synced.length > 0 && synced.every((record) => record.sourceVersion === version && record.status === 'SYNCED' && record.valueHmac !== undefined && record.hmacKeyId === context.keys.id);
    if (!unchanged) {
      toRead.push(sourceEntry);
      continue;
    }
    for (const record of synced) desired.push({ entry: record.entry, hmac: record.valueHmac!, source: source.name, sourceEntry, sourceVersion: version, skipped: true });
  }
  const first = await read(toRead);
  desired.push(...first.desired);
  return { desired, failures: first.failures, readSkipped: read, listedEmpty: !definition.entries && versions.size === 0 };
}

/** Reads source entries in one batch and turns each into its wants (one per field with `secret-key` granularity). */
async function readSourceEntries(context: ReadContext, definition: CheckedDefinition, source: SecretStore, versions: ReadonlyMap<string, string | undefined>, names: Namer, sourceEntries: readonly string[]): Promise<Pick<Gathered, 'desired' | 'failures'>> {
  const { backoff, keys } = context;
  const wanted: Desired[] = [];
  const failing: SourceFailure[] = [];
  const commonOf = (ref: EntryReference): TemplateValues => ({ SourceName: source.name, SourceType: source.type, SecretPath: referencePath(ref), SecretBaseName: ref.segments.at(-1)!, ...(source.type === 'vault' ? { MountPath: typeof source.vault_mount_point === 'string' ? source.vault_mount_point : 'secret' } : {}) });
  const entryOf = (ref: EntryReference): string => (definition.granularity === 'secret-key' ? ref.raw : names(commonOf(ref)));
  // An entry that keeps failing is read once per backoff step, not every pass; the others go on.
  const refs: EntryReference[] = [];
  for (const ref of sourceEntries.map((entry) => parseReference(entry))) {
    const waiting = backoff.waiting(`${definition.name}\u0000${ref.raw}`);
    if (!waiting) refs.push(ref);
    else failing.push({ sourceEntry: ref.raw, entry: entryOf(ref), error: new SecretbindError(waiting.code, `Not read this pass: it failed ${waiting.failures} time(s) in a row (last ${waiting.code}); next try at ${new Date(waiting.until).toISOString()}.`) });
  }
  const answers = refs.length > 0 ? await context.retry(() => readWhole(context.access, definition.source!, refs)) : new Map<string, EntrySettled>();
  for (const ref of refs) {
    const answer = answers.get(ref.raw) ?? { ok: false as const, error: new SecretbindError('BACKEND_UNAVAILABLE', `No answer for ${ref.raw}.`) };
    const backoffKey = `${definition.name}\u0000${ref.raw}`;
    if (!answer.ok) {
      if (isFailure(answer.error)) {
        backoff.failed(backoffKey, answer.error.code);
        failing.push({ sourceEntry: ref.raw, entry: entryOf(ref), error: answer.error });
      } else backoff.succeeded(backoffKey);
      continue;
    }
    backoff.succeeded(backoffKey);
    const common = commonOf(ref);
    const sourceVersion = versions.get(ref.raw);
    const about = { source: source.name, sourceEntry: ref.raw, ...(sourceVersion !== undefined ? { sourceVersion } : {}) };
    if (definition.granularity === 'secret-key') {
      const fields = typeof answer.value === 'string' ? { value: answer.value } : answer.value;
      for (const [field, text] of Object.entries(fields)) wanted.push({ entry: names({ ...common, SecretKey: field }), value: text, hmac: hmacOf(keys.key, text), ...about });
    } else {
      wanted.push({ entry: names(common), value: answer.value, hmac: hmacOf(keys.key, answer.value), ...about });
    }
  }
  return { desired: wanted, failures: failing };
}

/** The default template is adapted to the destination's character set; a template the operator wrote is kept. */
function adapterOf(definition: CheckedDefinition, provider: SecretProvider): ((rendered: string) => string) | undefined {
  const adaptName = provider.adaptName;
  return definition.name_template === undefined && !definition.mapped && adaptName ? (rendered) => adaptName.call(provider, rendered) : undefined;
}

/** Whole entries of a store: `readEntries` where the provider has it, else the reference's default field. */
async function readWhole(access: StoreAccess, storeName: string, refs: readonly EntryReference[]): Promise<ReadonlyMap<string, EntrySettled>> {
  const { store, provider } = await access.storeFor(storeName);
  const readEntries = provider.readEntries;
  if (readEntries) return access.withDeadline(store, undefined, (ctx) => readEntries.call(provider, store, refs, ctx));
  const answers = await readFields(access, storeName, refs);
  return new Map([...answers].map(([raw, answer]) => [raw, answer.ok ? { ok: true, value: answer.value } : answer]));
}

type FieldAnswer = { ok: true; value: string } | { ok: false; error: SecretbindError };

/** Single fields (`ref#field`) of a store, through `resolveMany` or `resolve`. */
async function readFields(access: StoreAccess, storeName: string, refs: readonly EntryReference[]): Promise<ReadonlyMap<string, FieldAnswer>> {
  const { store, provider } = await access.storeFor(storeName);
  if (provider.resolveMany) return access.resolveEntries(provider, store, refs);
  const answers = new Map<string, FieldAnswer>();
  for (const ref of refs) {
    try {
      const answer = await access.withDeadline(store, undefined, (ctx) => provider.resolve(store, ref, ctx));
      answers.set(ref.raw, { ok: true, value: typeof answer === 'string' ? answer : answer.value });
    } catch (error) {
      answers.set(ref.raw, { ok: false, error: error as SecretbindError });
    }
  }
  return answers;
}

type Waiting = { failures: number; until: number; code: SecretbindErrorCode };

/** Per source entry: how often it failed in a row, and when it may be read again. */
export class EntryBackoff {
  readonly #entries: Map<string, Waiting>;
  readonly #now: () => number;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #frozen: boolean;

  constructor(now: () => number, options: { baseMs?: number; capMs?: number } = {}, entries = new Map<string, Waiting>(), frozen = false) {
    this.#now = now;
    this.#baseMs = options.baseMs ?? 1000;
    this.#capMs = options.capMs ?? 300_000;
    this.#entries = entries;
    this.#frozen = frozen;
  }

  /** The same schedule, read-only: a plan or dry run must not move it. */
  view(): EntryBackoff {
    return new EntryBackoff(this.#now, { baseMs: this.#baseMs, capMs: this.#capMs }, this.#entries, true);
  }

  waiting(key: string): Waiting | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.until > this.#now() ? entry : undefined;
  }

  failed(key: string, code: SecretbindErrorCode): void {
    if (this.#frozen) return;
    const failures = (this.#entries.get(key)?.failures ?? 0) + 1;
    const delay = Math.min(this.#capMs, this.#baseMs * 2 ** (failures - 1)) * (0.8 + 0.4 * Math.random());
    this.#entries.set(key, { failures, until: this.#now() + delay, code });
  }

  succeeded(key: string): void {
    if (!this.#frozen) this.#entries.delete(key);
  }
}
