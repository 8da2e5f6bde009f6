import { open, readFile } from 'node:fs/promises';
import type { MaybePromise } from '../stores/index.js';
import type { SecretbindErrorCode } from '../core/index.js';

/** The steps of one account's migration, in order. */
export type MigrationStep = 'begin' | 'written' | 'verified' | 'bound' | 'cleared' | 'done' | 'failed' | 'rolled-back';

/** One journal line: names, versions and an HMAC of the password (keyed from the Fernet key), never the password. */
export interface JournalRecord {
  /** When it was written, ISO 8601. */
  at: string;
  account: string;
  step: MigrationStep;
  store: string;
  /** The entry written, as the binding will reference it. */
  entry: string;
  /** The store's version after the write, where it has one. */
  version?: string;
  /** HMAC-SHA256 of the password under a key derived from the Fernet key: without that key it cannot be guessed. */
  hmac?: string;
  /** Whether this run also clears the local copy. */
  clearLocal?: boolean;
  code?: SecretbindErrorCode;
}

/**
 * Where migration records its steps. `append` must make the records durable before it returns: migration writes
 * each step's records before it takes the step, so a process killed at any point can be resumed.
 */
export interface MigrationJournal {
  read(): MaybePromise<readonly JournalRecord[]>;
  append(records: readonly JournalRecord[]): MaybePromise<void>;
}

/** A journal in memory, for tests and the library's dry runs. */
export class MemoryMigrationJournal implements MigrationJournal {
  readonly records: JournalRecord[] = [];

  read(): JournalRecord[] {
    return [...this.records];
  }

  append(records: readonly JournalRecord[]): void {
    this.records.push(...records.map((record) => ({ ...record })));
  }
}

/**
 * A JSON-lines journal file, each append written and fsynced before it returns (one fsync per append, however many
 * lines). A torn last line, from a process killed mid-write, is ignored when read: its step had not started.
 */
export class FileMigrationJournal implements MigrationJournal {
  readonly path: string;
  /** How many times the file was fsynced (the migration bench reports it). */
  fsyncs = 0;

  constructor(path: string) {
    this.path = path;
  }

  async read(): Promise<JournalRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const records: JournalRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        records.push(JSON.parse(line) as JournalRecord);
      } catch {
        // a line cut short by a kill: the step it announced never began
      }
    }
    return records;
  }

  async append(records: readonly JournalRecord[]): Promise<void> {
    if (records.length === 0) return;
    const handle = await open(this.path, 'a', 0o600);
    try {
      // A torn line is only ever the last one: starting each append on a new line keeps the next ones whole.
      await handle.write(`\n${records.map((record) => JSON.stringify(record)).join('\n')}\n`);
      await handle.sync();
      this.fsyncs++;
    } finally {
      await handle.close();
    }
  }
}
