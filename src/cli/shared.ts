/** What every command shares: its streams and environment, exit codes, argument and table helpers. */
import { SecretbindError } from 'secretbind';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads standard input to its end; on a terminal, without echo. */
  readSecret: () => Promise<string>;
  env: Readonly<Record<string, string | undefined>>;
  /** Whether stderr is a terminal (progress lines are shown only then). */
  stderrIsTerminal: boolean;
  /** Long-running commands (`sync --watch`) hear SIGTERM, SIGINT and SIGHUP here; returns the unsubscribe. */
  onSignal?: (handler: (signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP') => void) => () => void;
  /** Ends the process at once (a second SIGTERM during shutdown). */
  exit?: (code: number) => void;
}

/** Exit codes: 0 success, 1 a check, resolution or operation failed, 2 a usage or configuration error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** One command: its arguments after the command name, and the process's streams. */
export type Command = (args: readonly string[], io: CliIo) => Promise<number>;

export const CONFIG_OPTIONS = { config: { type: 'string' }, json: { type: 'boolean', default: false } } as const;

export function usage(io: CliIo, problem: string): number {
  io.stderr(`error USAGE: ${problem}\n`);
  return EXIT.usage;
}

export function onlyAccount(positionals: readonly string[]): string {
  if (positionals.length !== 1) throw Object.assign(new Error(`expected exactly one ACCOUNT, got ${positionals.length}`), { code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' });
  return positionals[0] as string;
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** `30s`, `2m`, `500ms`, `1h` or plain seconds, in milliseconds. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new SecretbindError('CONFIG_INVALID', `${option}: expected a duration such as 30s, 2m or 500ms, not ${JSON.stringify(text)}.`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const value = Number(match[1]) * unit;
  if (value <= 0) throw new SecretbindError('CONFIG_INVALID', `${option}: must be more than zero.`);
  return value;
}
