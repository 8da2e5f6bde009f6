/** `--log-file PATH`: the command's events as JSON lines, rotated by size, for `secretbind log` and standard tools. */
import { createJsonLinesSink, type JsonLinesSink } from 'secretbind';

export function logSink(path: string | undefined): JsonLinesSink | undefined {
  return path === undefined ? undefined : createJsonLinesSink({ path });
}
