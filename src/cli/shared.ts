/** What every command shares: its streams and environment, exit codes, argument and table helpers. */

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads standard input to its end; on a terminal, without echo. */
  readSecret: () => Promise<string>;
  env: Readonly<Record<string, string | undefined>>;
  /** Whether stderr is a terminal (progress lines are shown only then). */
  stderrIsTerminal: boolean;
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
