import { readFileSync } from 'node:fs';
import type { MaybePromise } from '../stores/index.js';
import type { SecretbindErrorCode } from '../core/index.js';
import { writeFileAtomic } from '../stores/index.js';

/** Vault secrets sync's association statuses. */
export const SYNC_STATUSES = ['UNKNOWN', 'PENDING', 'SYNCED', 'UNSYNCED', 'INTERNAL_ERROR', 'CLIENT_SIDE_ERROR', 'EXTERNAL_SERVICE_ERROR'] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];

/** What sync remembers of one destination entry: names, versions and an HMAC of the value, never the value. */
export interface AssociationRecord {
  sync: string;
  destination: string;
  /** The destination entry's name (a reference path). */
  entry: string;
  source?: string;
  sourceEntry?: string;
  /** The destination's version after secretbind's last write. */
  destinationVersion?: string;
  /** The source entry's version when it was last synced, where the source's listing has versions. */
  sourceVersion?: string;
  /**
   * HMAC-SHA256 of the value last written, under the engine's `stateKey`, which is never kept with the state: a short
   * password cannot be guessed from the state alone.
   */
  valueHmac?: string;
  /** Which key `valueHmac` was made with (an HMAC of a fixed text, not the key): another key's HMACs are not compared. */
  hmacKeyId?: string;
  status: SyncStatus;
  /** When secretbind last wrote the entry, ISO 8601 (for min_update_interval). */
  writtenAt?: string;
  /** When the status last changed, ISO 8601. */
  changedAt: string;
  errorCode?: SecretbindErrorCode;
}

/**
 * Where sync keeps its associations. Any database can implement it; writes may be buffered until `flush`. It holds
 * no key: the HMACs of values are keyed by the engine's `stateKey`, which the operator keeps elsewhere.
 */
export interface SyncStateRepository {
  list(sync?: string): MaybePromise<readonly AssociationRecord[]>;
  put(record: AssociationRecord): MaybePromise<void>;
  remove(sync: string, entry: string): MaybePromise<void>;
  /** Makes what was put durable (a file state writes here). */
  flush?(): MaybePromise<void>;
}

/** Associations in memory: the library's default, and what tests use. */
export class MemorySyncState implements SyncStateRepository {
  readonly #records = new Map<string, AssociationRecord>();

  list(sync?: string): AssociationRecord[] {
    return [...this.#records.values()].filter((record) => sync === undefined || record.sync === sync).map((record) => ({ ...record }));
  }

  put(record: AssociationRecord): void {
    this.#records.set(`${record.sync}\u0000${record.entry}`, { ...record });
  }

  remove(sync: string, entry: string): void {
    this.#records.delete(`${sync}\u0000${entry}`);
  }
}

/**
 * Associations in a JSON file, written atomically on `flush` (the command flushes after every definition). A missing
 * file starts empty; a process killed before a flush loses only what the next pass re-derives. The file holds no key
 * (a key left there by an earlier version is dropped on the next flush).
 */
export class JsonFileSyncState extends MemorySyncState {
  readonly #path: string;
  // Whether the file lags behind memory: a pass that changed nothing does not rewrite it.
  #dirty: boolean;

  constructor(path: string) {
    let stored: { key?: string; associations?: AssociationRecord[] } = {};
    try {
      stored = JSON.parse(readFileSync(path, 'utf8')) as typeof stored;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    super();
    this.#path = path;
    for (const record of stored.associations ?? []) super.put(record);
    // A key an earlier version kept beside the HMACs leaves the file with the first flush, even if nothing else changes.
    this.#dirty = stored.key !== undefined;
  }

  override put(record: AssociationRecord): void {
    super.put(record);
    this.#dirty = true;
  }

  override remove(sync: string, entry: string): void {
    super.remove(sync, entry);
    this.#dirty = true;
  }

  async flush(): Promise<void> {
    if (!this.#dirty) return;
    // Cleared before the snapshot, so a put during the write marks it again.
    this.#dirty = false;
    const body = { version: 2, associations: this.list() };
    try {
      await writeFileAtomic(this.#path, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }
}
