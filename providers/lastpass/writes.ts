/**
 * LastPass as a destination, through the lpass CLI as its source (cmd-ls.c, cmd-add.c, cmd-edit.c, edit.c) behaves:
 * `lpass ls --format` lists ids and full names; `lpass add` / `lpass edit --non-interactive --FIELD` read the value on
 * standard input (lpass drops one trailing newline, so one is always sent), never in argv; `lpass rm` removes. lpass
 * cannot set custom fields on site entries, so the owner mark is the last line of the notes: `managed-by: <owner>`.
 */
import { randomUUID } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatReference,
  guardWrite,
  referencePath,
  SecretbindError,
  type EntryInfo,
  type EntryReference,
  type EntryValue,
  type ListOptions,
  type ProviderRemoveOptions,
  type ProviderWriteOptions,
  type ResolveContext,
  type WriteResult,
} from 'secretbind';

const TYPE = 'lastpass';
const OWNER_LINE = /(?:^|\n)managed-by: ([A-Za-z0-9][A-Za-z0-9._-]*)$/;
const WRITABLE = new Map([
  ['password', 'password'],
  ['username', 'username'],
  ['url', 'url'],
  ['notes', 'notes'],
]);
// Keeps one lpass command line well under Linux's argument limits.
const MAX_IDS_PER_RUN = 200;

/** What the writes need from the provider: lpass runs (with optional standard input) and its error mapping. */
export interface Lpass {
  /** `input`: text sent through a pipe, or an open file descriptor that becomes lpass's standard input. */
  run(args: readonly string[], ctx: ResolveContext, input?: string | number): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  sync: string;
  failure(stderr: string, exitCode: number, name: string): SecretbindError;
}

interface JsonEntry {
  id: string;
  fullname: string;
  note: string;
  last_modified_gmt?: string;
}

export async function listEntries(lpass: Lpass, options: ListOptions & { metadata?: boolean }, ctx: ResolveContext): Promise<EntryInfo[]> {
  const { stdout, stderr, exitCode } = await lpass.run(['ls', lpass.sync, '--color=never', '--format=%ai\t%aN'], ctx);
  if (exitCode !== 0) throw lpass.failure(stderr, exitCode, 'the entry list');
  const prefix = options.prefix ?? '';
  const listed: Array<{ id: string; name: string }> = [];
  for (const line of stdout.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab === -1) continue;
    const id = line.slice(0, tab);
    const display = line.slice(tab + 1);
    const name = display.startsWith('(none)/') ? display.slice('(none)/'.length) : display;
    // Shared folders are listed as "Folder/" entries without a name; entries with empty path parts cannot be referenced.
    if (name === '' || name.split('/').some((part) => part === '')) continue;
    if (!name.startsWith(prefix)) continue;
    if (options.recursive === false && name.slice(prefix.length).replace(/^\//, '').includes('/')) continue;
    listed.push({ id, name });
  }
  const details = options.metadata ? await showMany(lpass, listed.map((entry) => entry.id), ctx) : new Map<string, JsonEntry>();
  return listed.map(({ id, name }): EntryInfo => {
    const entry = details.get(id);
    if (!entry) return { name: formatReference(name.split('/')) };
    const owner = ownerOf(entry.note);
    const modified = Number(entry.last_modified_gmt);
    return {
      name: formatReference(name.split('/')),
      ...(Number.isFinite(modified) && modified > 0 ? { updatedAt: new Date(modified * 1000).toISOString() } : {}),
      owned: owner !== undefined,
      ...(owner ? { owner } : {}),
    };
  });
}

export async function writeEntry(lpass: Lpass, ref: EntryReference, value: EntryValue, options: ProviderWriteOptions, ctx: ResolveContext): Promise<WriteResult> {
  const name = referencePath(ref);
  if (options.ifVersion !== undefined && options.ifVersion !== 'absent') {
    throw new SecretbindError('OPERATION_UNSUPPORTED', `LastPass keeps an entry's modification time to the second only, so a guarded write of ${JSON.stringify(name)} (ifVersion) is not possible; leave ifVersion out.`, { storeType: TYPE });
  }
  const fields = fieldsOf(value, name);
  const existing = await findOne(lpass, name, ctx);
  guard(name, existing, options);
  const baseNote = fields.notes ?? (existing ? withoutMark(existing.note) : '');
  const note = `${baseNote ? `${baseNote}\n` : ''}managed-by: ${options.owner}`;
  // The mark goes first (with the notes): a crash after it leaves an owned entry that the next write completes.
  let target = existing?.id;
  if (!existing) {
    await changeNotes(lpass, ['add', lpass.sync, '--non-interactive', '--notes', '--', name], note, name, ctx);
    target = (await findOne(lpass, name, ctx))?.id ?? name;
  } else if (existing.note !== note) {
    await changeNotes(lpass, ['edit', lpass.sync, '--non-interactive', '--notes', '--', existing.id], note, name, ctx);
  }
  for (const field of ['password', 'username', 'url'] as const) {
    const text = fields[field];
    if (text !== undefined) await change(lpass, ['edit', lpass.sync, '--non-interactive', `--${field}`, '--', target!], text, name, ctx);
  }
  const written = await findOne(lpass, target!, ctx);
  return { version: written?.last_modified_gmt ?? '0', created: !existing };
}

export async function removeEntry(lpass: Lpass, ref: EntryReference, options: ProviderRemoveOptions, ctx: ResolveContext): Promise<void> {
  const name = referencePath(ref);
  if (options.ifVersion !== undefined) {
    throw new SecretbindError('OPERATION_UNSUPPORTED', `LastPass has no reliable version to guard the removal of ${JSON.stringify(name)} with; leave ifVersion out.`, { storeType: TYPE });
  }
  const existing = await findOne(lpass, name, ctx);
  if (!existing) throw new SecretbindError('ENTRY_NOT_FOUND', `No LastPass entry named ${JSON.stringify(name)} (matched by id, name or full name).`, { storeType: TYPE });
  guard(name, existing, options);
  const { stderr, exitCode } = await lpass.run(['rm', lpass.sync, '--color=never', '--', existing.id], ctx);
  if (exitCode !== 0) throw lpass.failure(stderr, exitCode, name);
}

/** The one entry a name matches (by id, name or full name, as lpass matches), or undefined. */
async function findOne(lpass: Lpass, name: string, ctx: ResolveContext): Promise<JsonEntry | undefined> {
  const { stdout, stderr, exitCode } = await lpass.run(['show', lpass.sync, '--color=never', '-x', '--json', '--', name], ctx);
  if (exitCode !== 0) {
    if (stderr.includes('Could not find specified account(s).')) return undefined;
    throw lpass.failure(stderr, exitCode, name);
  }
  const entries = parseJson(stdout);
  if (entries.length > 1) {
    throw new SecretbindError('ENTRY_AMBIGUOUS', `Several LastPass entries match ${JSON.stringify(name)}: ${entries.map((entry) => `${entry.fullname} [id: ${entry.id}]`).join(', ')}. Use the full name or the id.`, { storeType: TYPE });
  }
  return entries[0];
}

async function showMany(lpass: Lpass, ids: readonly string[], ctx: ResolveContext): Promise<Map<string, JsonEntry>> {
  const found = new Map<string, JsonEntry>();
  for (let start = 0; start < ids.length; start += MAX_IDS_PER_RUN) {
    const chunk = ids.slice(start, start + MAX_IDS_PER_RUN);
    const { stdout, stderr, exitCode } = await lpass.run(['show', lpass.sync, '--color=never', '-x', '--json', '--', ...chunk], ctx);
    if (exitCode !== 0) throw lpass.failure(stderr, exitCode, `${chunk.length} entries`);
    for (const entry of parseJson(stdout)) found.set(entry.id, entry);
  }
  return found;
}

/**
 * lpass writes one value per run, with the value on standard input and one newline after it (lpass drops one). For a
 * one-line field lpass reads a line: if this process dies before writing it, lpass reads none and changes nothing.
 */
async function change(lpass: Lpass, args: string[], value: string, name: string, ctx: ResolveContext): Promise<void> {
  const { stderr, exitCode } = await lpass.run(args, ctx, `${value}\n`);
  if (exitCode !== 0) throw lpass.failure(stderr, exitCode, name);
}

/**
 * Notes (which carry the owner mark) are read to the end of input, and an empty input is saved as empty notes: from a
 * pipe, a writer killed before it wrote would leave the entry without its mark. So lpass reads the notes from a file
 * that is whole before lpass starts and that it reads on its own. As lpass does for its own editor, the file is made
 * in memory where there is a /dev/shm, new and private (exclusive create, mode 0600), and unlinked before the notes are
 * written into it (at its start, without moving the offset lpass shares), so a kill at any point leaves no notes behind.
 */
async function changeNotes(lpass: Lpass, args: string[], notes: string, name: string, ctx: ResolveContext): Promise<void> {
  const path = join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `secretbind-lpass-${randomUUID()}`);
  const file = await open(path, 'wx+', 0o600);
  const bytes = Buffer.from(`${notes}\n`, 'utf8');
  try {
    await unlink(path);
    await file.write(bytes, 0, bytes.length, 0);
    const { stderr, exitCode } = await lpass.run(args, ctx, file.fd);
    if (exitCode !== 0) throw lpass.failure(stderr, exitCode, name);
  } finally {
    bytes.fill(0);
    await file.close();
  }
}

function fieldsOf(value: EntryValue, name: string): { password?: string; username?: string; url?: string; notes?: string } {
  const given = typeof value === 'string' ? { password: value } : value;
  const fields: Record<string, string> = {};
  for (const [key, text] of Object.entries(given)) {
    const field = WRITABLE.get(key.toLowerCase());
    if (!field) throw new SecretbindError('OPERATION_UNSUPPORTED', `lpass cannot set the custom field ${JSON.stringify(key)} on the site entry ${JSON.stringify(name)}; it writes password, username, url and notes.`, { storeType: TYPE });
    // lpass reads a C string: a NUL byte would end the value early.
    if (text.includes('\0')) throw new SecretbindError('CONFIG_INVALID', `The value for ${key} of ${JSON.stringify(name)} holds a NUL byte, which lpass cannot store.`, { storeType: TYPE });
    // lpass reads these with getline: a line break would end the value there and the rest would be lost.
    if (field !== 'notes' && text.includes('\n')) throw new SecretbindError('OPERATION_UNSUPPORTED', `lpass reads the ${field} of ${JSON.stringify(name)} as one line, so a value with a line break cannot be written there; only notes can hold several lines.`, { storeType: TYPE });
    fields[field] = text;
  }
  return fields;
}

function parseJson(stdout: string): JsonEntry[] {
  try {
    return (JSON.parse(stdout) as JsonEntry[]).map((entry) => ({ id: String(entry.id), fullname: String(entry.fullname), note: String(entry.note ?? ''), ...(entry.last_modified_gmt ? { last_modified_gmt: String(entry.last_modified_gmt) } : {}) }));
  } catch {
    // Never echo the output: it holds passwords.
    throw new SecretbindError('BACKEND_UNAVAILABLE', 'lpass show --json printed something that is not JSON; is this lpass 1.3 or later?', { storeType: TYPE });
  }
}

/** The shared rules (guardWrite); lpass has no version, so only 'absent' and ownership apply here. */
function guard(name: string, existing: JsonEntry | undefined, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }): void {
  guardWrite({ what: `LastPass entry ${JSON.stringify(name)}`, exists: existing !== undefined, owner: existing ? ownerOf(existing.note) : undefined, version: undefined, mark: '"managed-by:" line in its notes', storeType: TYPE }, options);
}

function ownerOf(note: string): string | undefined {
  return OWNER_LINE.exec(note)?.[1];
}

function withoutMark(note: string): string {
  return note.replace(OWNER_LINE, '');
}
