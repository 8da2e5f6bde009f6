/**
 * Stores that never answer, for the conformance checks of providers with a network or process backend: a call ends
 * with TIMEOUT at the deadline, and after close() nothing of the provider's keeps the process alive (no socket, timer
 * or child process). "Keeps the process alive" is what `process.getActiveResourcesInfo()` lists: ref'd handles,
 * requests and timers only, so an idle unref'd connection does not count and a pending answer does.
 */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { expect } from 'vitest';
import type { SecretProvider, SecretStore } from 'secretbind';

/** The deadline the checks run under. */
export const HANG_DEADLINE_MS = 300;
/** How late after the deadline a call may end: generous for a loaded CI machine (two test files at once), and still far below a hung call's 30 to 60 s. */
export const HANG_SLACK_MS = 1000;

/** A backend that takes the connection (or starts the process) and never answers. */
export interface HangingStore {
  /** A provider of the type under test, for this check alone: the check closes it. */
  provider: SecretProvider;
  /** A store of that type whose backend never answers. */
  store: SecretStore;
  /** An entry to read there, and (write section) to write and remove. */
  reference: string;
  /** Stops the backend, after the checks. */
  stop(): Promise<void> | void;
}

/** Builds the hanging backend, inside the test; what the process holds once it runs (its listener) is the baseline. */
export type HangingStoreSetup = () => Promise<HangingStore> | HangingStore;

/** What keeps the process alive now, counted by type (`TCPSocketWrap`, `Timeout`, `ProcessWrap`...). */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** The types of which more are held than in `before`, with how many more. */
function heldSince(before: Map<string, number>): Record<string, number> {
  const more: Record<string, number> = {};
  for (const [type, count] of activeResources()) if (count > (before.get(type) ?? 0)) more[type] = count - (before.get(type) ?? 0);
  return more;
}

/**
 * Expects that within `withinMs` the process holds nothing beyond `before` (the backend itself included in it):
 * sockets and processes close a few ticks after close() asks them to, so this waits for that, not for a late answer.
 */
export async function expectNothingHeld(before: Map<string, number>, withinMs = 500): Promise<void> {
  const until = performance.now() + withinMs;
  let more = heldSince(before);
  while (Object.keys(more).length > 0 && performance.now() < until) {
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 10).unref());
    more = heldSince(before);
  }
  expect(more, 'resources that keep the process alive after close()').toEqual({});
}

/** Expects a call to have ended at the deadline: not before it, and not much after. */
export function expectEndedAtDeadline(elapsedMs: number): void {
  expect(elapsedMs).toBeGreaterThanOrEqual(HANG_DEADLINE_MS - 5);
  expect(elapsedMs).toBeLessThan(HANG_DEADLINE_MS + HANG_SLACK_MS);
}

/**
 * A TCP server on 127.0.0.1 that accepts connections and never sends a byte (no TLS handshake, no HTTP answer), as a
 * hung service or a black-holed proxy does. `url` is `http://` or `https://`; `connections` counts what it accepted.
 */
export async function startSilentServer(scheme: 'http' | 'https' = 'http'): Promise<{ url: string; port: number; connections: () => number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined); // a client that gives up resets the connection
    // Read and drop what arrives: unread bytes would hold back the end of a client that closed, and keep this open.
    socket.resume();
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
