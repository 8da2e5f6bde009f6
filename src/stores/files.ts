/** Safe writes of whole files, for providers whose store is a file (keepass, dotenv). */
import { randomBytes } from 'node:crypto';
import { chmod, chown, link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { abortableDelay, untilAborted } from '../core/index.js';
import { SecretbindError } from '../core/index.js';

export interface AtomicWriteOptions {
  /** The new file's mode when it does not exist yet. An existing file keeps its own. Default: 0o600. */
  mode?: number;
  /**
   * Runs after the new file is on disk and just before it replaces the old one; a throw abandons the write. For a
   * last check that the file was not changed by someone else meanwhile.
   */
  beforeRename?: () => Promise<void> | void;
}

/**
 * Replaces a file so that a reader, or a crash at any point, sees the old file or the new one, never a mix: the
 * data goes to a temporary file in the same folder, is flushed to disk, and is renamed over the target, and the
 * folder is flushed so the rename survives a power cut. An existing file's mode and group are kept, and its owner
 * where this process may set it (root); a group this process cannot give the new file is refused
 * (`PERMISSION_DENIED`, the file unchanged) rather than silently taking readers' access away.
 *
 * @example
 * ```ts
 * await writeFileAtomic('/srv/sync/.env', text, { mode: 0o600 })
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  let mode = options.mode ?? 0o600;
  let existing: { uid: number; gid: number } | undefined;
  try {
    const info = await stat(path);
    mode = info.mode & 0o7777;
    existing = { uid: info.uid, gid: info.gid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (existing) await keepOwnership(temporary, path, existing);
    await chmod(temporary, mode); // open's mode is narrowed by the umask; chown may clear set-id bits
    await options.beforeRename?.();
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await syncFolder(dirname(path));
}

/** Gives the replacement the old file's owner and group: both as root, the group alone as a member of it. */
async function keepOwnership(temporary: string, path: string, wanted: { uid: number; gid: number }): Promise<void> {
  const made = await stat(temporary);
  if (made.uid === wanted.uid && made.gid === wanted.gid) return;
  try {
    await chown(temporary, wanted.uid, wanted.gid);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
  }
  // Not root: the owner becomes this process (as with any editor's save), but the group must stay.
  if (made.gid === wanted.gid) return;
  try {
    await chown(temporary, made.uid, wanted.gid);
  } catch (error) {
    throw new SecretbindError(
      'PERMISSION_DENIED',
      `Cannot rewrite ${path} keeping its group (gid ${wanted.gid}): this process (uid ${made.uid}) is not a member of that group, and a replacement with another group would lock its readers out. Run the writer as a member of gid ${wanted.gid}, or as the file's owner.`,
      { cause: error },
    );
  }
}

async function syncFolder(folder: string): Promise<void> {
  let handle;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch {
    // Some platforms cannot open or flush a folder; the rename itself is still atomic there.
  } finally {
    await handle?.close();
  }
}

export interface FileLockOptions {
  /** Aborts the wait for the lock (the caller's deadline). */
  signal?: AbortSignal;
  /** How often a held lock is checked again, in milliseconds. Default: 20. */
  pollMs?: number;
}

const heldInProcess = new Map<string, Promise<void>>();

/**
 * Runs `work` holding a lock on `path`, so two writers of one file never interleave, whether they share this
 * process or not. Within a process the lock is a queue; across processes it is `<path>.lock`, created exclusively
 * and holding the owner's pid. A lock whose process no longer exists (a writer that was killed) is taken over.
 *
 * @example
 * ```ts
 * await withFileLock(path, async () => writeFileAtomic(path, next(await readFile(path, 'utf8'))), { signal: ctx.signal })
 * ```
 */
export async function withFileLock<T>(path: string, work: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const previous = heldInProcess.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const queued = previous.then(() => mine);
  heldInProcess.set(path, queued);
  try {
    await (options.signal ? untilAborted(previous, options.signal) : previous);
    const lockPath = `${path}.lock`;
    await acquire(lockPath, options);
    try {
      return await work();
    } finally {
      await releaseLock(lockPath);
    }
  } finally {
    release();
    if (heldInProcess.get(path) === queued) heldInProcess.delete(path);
  }
}

async function acquire(lockPath: string, options: FileLockOptions): Promise<void> {
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SecretbindError('CONFIG_INVALID', `Cannot create the lock file ${lockPath} (${(error as NodeJS.ErrnoException).code ?? 'error'}): the folder must be writable by this process.`, { cause: error });
      }
    }
    if (await isStale(lockPath)) {
      await breakStaleLock(lockPath);
      continue;
    }
    if (options.signal?.aborted) throw options.signal.reason;
    await (options.signal ? abortableDelay(options.pollMs ?? 20, options.signal) : new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 20)));
  }
}

/**
 * Removes a stale lock so that two writers who both saw it stale never both go on: removal happens only while
 * holding `<lock>.break` (created exclusively), and only after checking again, under it, that the lock is still the
 * stale one. Without that, the second writer would remove the lock the first had just made, and both would write.
 */
async function breakStaleLock(lockPath: string): Promise<void> {
  const breaker = `${lockPath}.break`;
  let handle;
  try {
    handle = await open(breaker, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return;
    await clearAbandonedBreaker(breaker);
    return; // someone else is breaking it: the caller tries the lock again
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
    handle = undefined;
    if (await isStale(lockPath)) await unlink(lockPath).catch(() => {});
  } finally {
    await handle?.close();
    await unlink(breaker).catch(() => {});
  }
}

/**
 * A breaker is held for a read and an unlink; one older than this was left by a writer killed in between. It is
 * moved aside under a unique name and removed only if what was moved is that old file (a new breaker is put back).
 */
const ABANDONED_BREAKER_MS = 5000;

async function clearAbandonedBreaker(breaker: string): Promise<void> {
  const seen = await stat(breaker).catch(() => undefined);
  if (!seen || Date.now() - seen.mtimeMs < ABANDONED_BREAKER_MS) return;
  const aside = `${breaker}.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    await rename(breaker, aside);
  } catch {
    return;
  }
  const moved = await stat(aside).catch(() => undefined);
  if (moved && moved.ino !== seen.ino) await link(aside, breaker).catch(() => {});
  await unlink(aside).catch(() => {});
}

/** Removes the lock if it is still this process's (it always should be; a lock is never removed on a guess). */
async function releaseLock(lockPath: string): Promise<void> {
  const holder = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (holder === `${process.pid}\n`) await unlink(lockPath).catch(() => {});
}

/** A lock file whose pid is not a running process (or that holds no pid at all after a while) is stale. */
async function isStale(lockPath: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch {
    return false; // gone already: the next exclusive create decides
  }
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    // Created but not yet written, or cut short by a kill: stale once it is old enough to not be in progress.
    const info = await stat(lockPath).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs > 1000;
  }
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * A file's identity as a version string: modification time, size and inode, so it changes with every save (a save
 * by rename always makes a new inode) and says nothing about the contents.
 *
 * @example
 * ```ts
 * const version = fileVersion(await stat(path, { bigint: true }))
 * ```
 */
export function fileVersion(info: { mtimeNs: bigint; size: bigint; ino: bigint }): string {
  return `${info.mtimeNs.toString(36)}-${info.size.toString(36)}-${info.ino.toString(36)}`;
}
