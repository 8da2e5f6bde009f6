/**
 * Writing a KeePass file. Writes to one file that arrive together are applied in one cycle: open (one key
 * derivation), change every entry, save once, replace the file atomically. A cycle holds the file's lock (in this
 * process and across processes) and refuses with CONFLICT when the file changed on disk after it was read.
 */
import { readFile } from 'node:fs/promises';
import type * as Kdbxweb from 'kdbxweb';
import { fileVersion, guardWrite, SecretbindError, withFileLock, writeFileAtomic, type EntryReference, type EntryValue, type ProviderRemoveOptions, type ProviderWriteOptions, type WriteResult } from 'secretbind';
import { completeForKeePassXC } from './complete.js';
import { fieldText, OWNER_FIELD, sameSignature, signatureOf, type FileSignature, type KdbxwebModule, type OpenRequest } from './database.js';

const TYPE = 'keepass';
const STANDARD = new Map([
  ['password', 'Password'],
  ['username', 'UserName'],
  ['url', 'URL'],
  ['notes', 'Notes'],
]);

/** One write or remove waiting for its cycle. */
interface Operation {
  kind: 'write' | 'remove';
  segments: readonly string[];
  value?: EntryValue;
  options: ProviderWriteOptions | ProviderRemoveOptions;
  signal: AbortSignal;
  resolve(result: WriteResult | undefined): void;
  reject(error: unknown): void;
}

export interface WriterHost {
  kdbxweb(): Promise<KdbxwebModule>;
  /** Decrypts the bytes (KDF caps and head start included). */
  open(request: OpenRequest, bytes: Buffer): Promise<Kdbxweb.Kdbx>;
  /** Tells the reading cache about the file just saved, so the next lookup needs no key derivation. */
  saved(request: OpenRequest, db: Kdbxweb.Kdbx, signature: FileSignature, bytes: Buffer): void;
  /** How long a cycle waits for another writer's lock, in milliseconds. */
  lockTimeoutMs: number;
}

/** Per file, the operations waiting for the next cycle. */
export class KeepassWriter {
  readonly #queues = new Map<string, { operations: Operation[]; scheduled: boolean; request: OpenRequest }>();
  readonly #host: WriterHost;
  /** Cycles run (each saved the file at most once), for tests and benchmarks. */
  saves = 0;

  constructor(host: WriterHost) {
    this.#host = host;
  }

  write(request: OpenRequest, name: EntryReference, value: EntryValue, options: ProviderWriteOptions, signal: AbortSignal): Promise<WriteResult> {
    return this.#enqueue(request, { kind: 'write', segments: name.segments, value, options, signal }) as Promise<WriteResult>;
  }

  async remove(request: OpenRequest, name: EntryReference, options: ProviderRemoveOptions, signal: AbortSignal): Promise<void> {
    await this.#enqueue(request, { kind: 'remove', segments: name.segments, options, signal });
  }

  #enqueue(request: OpenRequest, operation: Omit<Operation, 'resolve' | 'reject'>): Promise<WriteResult | undefined> {
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(request.path);
      if (!queue) this.#queues.set(request.path, (queue = { operations: [], scheduled: false, request }));
      queue.request = request; // the newest credentials
      queue.operations.push({ ...operation, resolve, reject });
      if (!queue.scheduled) {
        queue.scheduled = true;
        // One turn of the event loop gathers every write issued together (a batch of 1,000 is one cycle).
        const scheduled = queue;
        setImmediate(() => void this.#cycle(request.path, scheduled));
      }
    });
  }

  /**
   * Cycles of one queue may overlap (a refused write settles its caller inside the cycle, and the caller's next write
   * starts another that waits for the lock), so a cycle works on the queue it was scheduled for and only ever removes
   * that queue from the map: never a newer one made after its own was removed.
   */
  async #cycle(path: string, queue: { operations: Operation[]; scheduled: boolean; request: OpenRequest }): Promise<void> {
    queue.scheduled = false;
    const operations = queue.operations.splice(0).filter((operation) => {
      if (!operation.signal.aborted) return true;
      operation.reject(operation.signal.reason);
      return false;
    });
    if (operations.length > 0) {
      try {
        await withFileLock(path, () => this.#apply(queue.request, operations), { signal: AbortSignal.timeout(this.#host.lockTimeoutMs) });
      } catch (error) {
        const failure = isTimeout(error) ? new SecretbindError('TIMEOUT', `Another writer held the lock on ${path} for ${this.#host.lockTimeoutMs} ms.`, { storeType: TYPE }) : error;
        for (const operation of operations) operation.reject(failure);
      }
    }
    if (queue.operations.length > 0 && !queue.scheduled) {
      queue.scheduled = true;
      setImmediate(() => void this.#cycle(path, queue));
    } else if (queue.operations.length === 0 && !queue.scheduled && this.#queues.get(path) === queue) {
      this.#queues.delete(path);
    }
  }

  /** One cycle under the lock: read, change, save once, replace. Per-operation refusals fail only their operation. */
  async #apply(request: OpenRequest, operations: Operation[]): Promise<void> {
    const before = await signatureOf(request.path);
    const bytes = await readFile(request.path);
    if (BigInt(bytes.length) !== before.size) throw new SecretbindError('CONFLICT', `KeePass file ${request.path} changed while it was read; try again.`, { storeType: TYPE });
    const kdbxweb = await this.#host.kdbxweb();
    const db = await this.#host.open(request, bytes);
    const done: Array<{ operation: Operation; created: boolean }> = [];
    const version = fileVersion(before);
    for (const operation of operations) {
      try {
        const created = operation.kind === 'write' ? writeOne(kdbxweb, db, operation, version) : removeOne(db, operation, version);
        done.push({ operation, created });
      } catch (error) {
        operation.reject(error);
      }
    }
    if (done.length === 0) return;
    completeForKeePassXC(kdbxweb, db);
    const saved = Buffer.from(await db.save());
    await writeFileAtomic(request.path, saved, {
      beforeRename: async () => {
        // Someone else (KeePassXC, a sync tool) saved the file after we read it: theirs must not be lost.
        if (!sameSignature(before, await signatureOf(request.path))) {
          throw new SecretbindError('CONFLICT', `KeePass file ${request.path} was changed by someone else while secretbind was writing it; nothing was written. Try again.`, { storeType: TYPE });
        }
      },
    });
    this.saves++;
    const after = await signatureOf(request.path);
    this.#host.saved(request, db, after, saved);
    for (const { operation, created } of done) operation.resolve(operation.kind === 'write' ? { version: fileVersion(after), created } : undefined);
  }
}

/** The group path and title of a name; the root group's name may be given or left out, as in lookups. */
function location(db: Kdbxweb.Kdbx, segments: readonly string[]): { groups: string[]; title: string } {
  const rootName = db.getDefaultGroup().name ?? '';
  const inside = segments.length > 1 && segments[0] === rootName ? segments.slice(1) : [...segments];
  return { groups: inside.slice(0, -1), title: inside.at(-1)! };
}

function recycleBinOf(db: Kdbxweb.Kdbx): string | undefined {
  return db.meta.recycleBinEnabled === false ? undefined : db.meta.recycleBinUuid?.id;
}

/** The group at a path below the root, created when `create` is set; undefined when missing. */
function groupAt(db: Kdbxweb.Kdbx, names: readonly string[], create: boolean): Kdbxweb.KdbxGroup | undefined {
  let group = db.getDefaultGroup();
  const bin = recycleBinOf(db);
  for (const name of names) {
    const matches = group.groups.filter((child) => child.name === name && child.uuid.id !== bin);
    if (matches.length > 1) throw new SecretbindError('ENTRY_AMBIGUOUS', `Several KeePass groups are named ${JSON.stringify(name)} in ${group.name ?? 'the root'}; rename one.`, { storeType: TYPE });
    const next = matches[0] ?? (create ? db.createGroup(group, name) : undefined);
    if (!next) return undefined;
    group = next;
  }
  return group;
}

function entryIn(group: Kdbxweb.KdbxGroup | undefined, title: string): Kdbxweb.KdbxEntry | undefined {
  if (!group) return undefined;
  const matches = group.entries.filter((entry) => fieldText(entry.fields.get('Title')) === title);
  if (matches.length > 1) throw new SecretbindError('ENTRY_AMBIGUOUS', `Several KeePass entries are titled ${JSON.stringify(title)} in ${group.name ?? 'the root'}; rename one.`, { storeType: TYPE });
  return matches[0];
}

/** The shared rules (guardWrite); the version is the file's as this cycle read it. */
function guard(entry: Kdbxweb.KdbxEntry | undefined, where: string, options: ProviderWriteOptions | ProviderRemoveOptions, version: string): void {
  const owner = entry ? fieldText(entry.fields.get(OWNER_FIELD)) : '';
  guardWrite({ what: `KeePass entry ${where}`, exists: entry !== undefined, owner: owner === '' ? undefined : owner, version, mark: `${OWNER_FIELD} field`, storeType: TYPE }, options);
}

/** Applies one write; returns whether it created the entry. */
function writeOne(kdbxweb: KdbxwebModule, db: Kdbxweb.Kdbx, operation: Operation, version: string): boolean {
  const options = operation.options as ProviderWriteOptions;
  const { groups, title } = location(db, operation.segments);
  const where = [...groups, title].join('/');
  let entry = entryIn(groupAt(db, groups, false), title);
  guard(entry, where, options, version);
  const created = !entry;
  if (entry) {
    entry.pushHistory(); // KeePass keeps the previous version in the entry's history, as KeePassXC does
  } else {
    entry = db.createEntry(groupAt(db, groups, true)!);
    entry.fields.set('Title', title);
  }
  const value = operation.value!;
  if (typeof value === 'string') {
    entry.fields.set('Password', kdbxweb.ProtectedValue.fromString(value));
  } else {
    if (!options.merge) {
      // The object is the entry's whole value: fields it does not name go (the title and our mark stay).
      for (const field of [...entry.fields.keys()]) {
        if (!['Title', 'UserName', 'Password', 'URL', 'Notes', OWNER_FIELD].includes(field)) entry.fields.delete(field);
      }
      for (const standard of STANDARD.values()) entry.fields.set(standard, standard === 'Password' ? kdbxweb.ProtectedValue.fromString('') : '');
    }
    for (const [key, fieldValue] of Object.entries(value)) {
      const standard = STANDARD.get(key.toLowerCase());
      if (key.toLowerCase() === 'title' || key === OWNER_FIELD) throw new SecretbindError('CONFIG_INVALID', `The field ${JSON.stringify(key)} cannot be written: the title is the entry's name, ${OWNER_FIELD} is secretbind's mark.`, { storeType: TYPE });
      const name = standard ?? key;
      entry.fields.set(name, name === 'UserName' || name === 'URL' || name === 'Notes' ? fieldValue : kdbxweb.ProtectedValue.fromString(fieldValue));
    }
  }
  entry.fields.set(OWNER_FIELD, options.owner);
  entry.times.update();
  return created;
}

function removeOne(db: Kdbxweb.Kdbx, operation: Operation, version: string): boolean {
  const { groups, title } = location(db, operation.segments);
  const where = [...groups, title].join('/');
  const entry = entryIn(groupAt(db, groups, false), title);
  if (!entry) throw new SecretbindError('ENTRY_NOT_FOUND', `No KeePass entry at ${JSON.stringify(where)} (outside the recycle bin).`, { storeType: TYPE });
  guard(entry, where, operation.options, version);
  db.remove(entry); // into the recycle bin where the database has one enabled, as KeePass does
  return false;
}

function isTimeout(error: unknown): boolean {
  return (error as { name?: string })?.name === 'TimeoutError';
}
