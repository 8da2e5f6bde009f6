import { closeSync, fstatSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { SecretbindError } from '../core/index.js';
import type { SecretEvent } from '../core/index.js';

/**
 * The secret log as a JSON-lines file for long-running processes: one object a line (`time` plus the event), rotated
 * by size (`path` becomes `path.1`, `path.1` becomes `path.2`, ...), so one account's history can be filtered with
 * standard tools or `secretbind log ACCOUNT --log-file PATH`. Events never hold a value, so neither does the file.
 */

export interface JsonLinesSinkOptions {
  path: string;
  /** Size at which the file is rotated, in bytes. Default: 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept beside the current one (`path.1` ... `path.N`). Default: 5. */
  maxFiles?: number;
  /** The clock for each line's `time`, in milliseconds since the epoch. Default: `Date.now`. */
  now?: () => number;
}

export interface JsonLinesSink {
  /** Appends one event; an `onEvent` listener. */
  readonly record: (event: SecretEvent) => void;
  close(): void;
}

/** One line of the file. */
export type LoggedLine = SecretEvent & { time: string };

/**
 * Creates a JSON-lines file sink. The file is created with mode 0600.
 *
 * @example
 * ```ts
 * const sink = createJsonLinesSink({ path: '/var/log/secretbind/events.jsonl', maxBytes: 50_000_000 })
 * createSecretResolver({ repository, providers, onEvent: sink.record })
 * ```
 */
export function createJsonLinesSink(options: JsonLinesSinkOptions): JsonLinesSink {
  const maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
  const maxFiles = options.maxFiles ?? 5;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new SecretbindError('CONFIG_INVALID', 'createJsonLinesSink: maxBytes must be a positive integer.');
  if (!Number.isInteger(maxFiles) || maxFiles < 0) throw new SecretbindError('CONFIG_INVALID', 'createJsonLinesSink: maxFiles must be 0 or a positive integer.');
  const now = options.now ?? Date.now;
  let fd: number | undefined = openSync(options.path, 'a', 0o600);
  let size = fstatSync(fd).size;

  function rotate(): void {
    closeSync(fd!);
    for (let index = maxFiles - 1; index >= 1; index--) renameQuietly(`${options.path}.${index}`, `${options.path}.${index + 1}`);
    if (maxFiles > 0) renameSync(options.path, `${options.path}.1`);
    fd = openSync(options.path, maxFiles > 0 ? 'a' : 'w', 0o600);
    size = 0;
  }

  return {
    record(event) {
      if (fd === undefined) return;
      const line = `${JSON.stringify({ time: new Date(now()).toISOString(), ...event })}\n`;
      const bytes = Buffer.byteLength(line);
      if (size > 0 && size + bytes > maxBytes) rotate();
      writeSync(fd!, line);
      size += bytes;
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/** Every line of a log file and its rotated predecessors, oldest first; lines that do not parse are skipped. */
export function readJsonLines(path: string, maxFiles = 20): LoggedLine[] {
  const lines: LoggedLine[] = [];
  for (let index = maxFiles; index >= 0; index--) {
    let text: string;
    try {
      text = readFileSync(index === 0 ? path : `${path}.${index}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        lines.push(JSON.parse(line) as LoggedLine);
      } catch {
        // a line cut by a crash mid-write: the rest of the file still reads
      }
    }
  }
  return lines;
}

function renameQuietly(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
