/**
 * The decrypted-file cache: one per provider, keyed by store file and credentials. An entry is served while the
 * file's signature (mtime, size, inode) is unchanged and it is younger than the TTL; concurrent lookups that find
 * no usable entry share one open, so a KDF runs once however many lookups arrive together.
 */
import { untilAborted } from 'secretbind';
import { sameSignature, type DatabaseIndex, type FileSignature } from './database.js';

export interface OpenDatabase {
  index: DatabaseIndex;
  /** The signature of the bytes that were decrypted. */
  signature: FileSignature;
  openedAt: number;
}

export class DatabaseCache {
  readonly #open = new Map<string, OpenDatabase>();
  readonly #opening = new Map<string, { signature: FileSignature; promise: Promise<OpenDatabase> }>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(ttlMs: number, now: () => number) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /**
   * The database for a file whose current signature is `signature`, opening it with `open` when needed. The open
   * belongs to no caller: it runs to completion and fills the cache even when the caller that started it gives up
   * at its deadline (`signal`), and later callers join it instead of starting another key derivation.
   */
  async get(key: string, signature: FileSignature, signal: AbortSignal, open: (signature: FileSignature) => Promise<OpenDatabase>): Promise<{ database: OpenDatabase; cache: 'hit' | 'miss' }> {
    const cached = this.#open.get(key);
    if (cached && sameSignature(cached.signature, signature) && this.#now() - cached.openedAt < this.#ttlMs) return { database: cached, cache: 'hit' };
    let pending = this.#opening.get(key);
    if (!pending || !sameSignature(pending.signature, signature)) {
      const promise = open(signature).then((database) => {
        // A newer file may have been opened meanwhile; keep whichever was opened last.
        const current = this.#open.get(key);
        if (!current || current.openedAt <= database.openedAt) this.#open.set(key, database);
        return database;
      });
      const entry = { signature, promise };
      pending = entry;
      this.#opening.set(key, entry);
      const forget = (): void => {
        if (this.#opening.get(key) === entry) this.#opening.delete(key);
      };
      promise.then(forget, forget);
    }
    return { database: await untilAborted(pending.promise, signal), cache: 'miss' };
  }

  /** Puts a database just saved by this process, so the next lookup of the new file needs no key derivation. */
  store(key: string, database: OpenDatabase): void {
    const current = this.#open.get(key);
    if (!current || current.openedAt <= database.openedAt) this.#open.set(key, database);
  }

  clear(): void {
    this.#open.clear();
    this.#opening.clear();
  }
}
