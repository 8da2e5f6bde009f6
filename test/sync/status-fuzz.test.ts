/**
 * The status server against whatever a stranger sends, over raw sockets: malformed request lines (the `GET //[`
 * that ended the daemon), odd methods and targets, huge headers, bodies, slow and half-closed connections, random
 * bytes and a flood. The server runs in a child process beside a sync loop: the child must stay alive, keep
 * passing, and still answer /healthz afterwards.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let child: ChildProcess;
let port: number;
let exitCode: number | null | undefined;

beforeAll(async () => {
  child = fork(fileURLToPath(new URL('./status-fuzz-child.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  child.once('exit', (code) => (exitCode = code));
  const ready = await new Promise<{ url: string }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { url: string }));
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before serving`)));
  });
  port = Number(new URL(ready.url).port);
});

afterAll(() => {
  child?.kill('SIGKILL');
});

/** Sends bytes (in pieces, optionally half-closing), and collects what comes back until the server ends it or a timeout. */
function exchange(pieces: readonly (string | Buffer)[], options: { halfClose?: boolean; gapMs?: number; waitMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(finish, options.waitMs ?? 400);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', async () => {
      for (const piece of pieces) {
        if (socket.destroyed) return;
        socket.write(piece);
        if (options.gapMs) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
      }
      if (options.halfClose && !socket.destroyed) socket.end();
    });
  });
}

const statusLine = (reply: string) => reply.split('\r\n')[0] ?? '';

async function passes(): Promise<number> {
  child.send('passes');
  const reply = await new Promise<{ passes: number }>((resolve) => child.once('message', (message) => resolve(message as { passes: number })));
  return reply.passes;
}

async function expectAliveAndSyncing(): Promise<void> {
  expect(exitCode).toBeUndefined();
  const before = await passes();
  const health = await exchange(['GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  expect(statusLine(health)).toBe('HTTP/1.1 200 OK');
  await new Promise((resolve) => setTimeout(resolve, 150));
  expect(await passes()).toBeGreaterThan(before);
}

describe('Status server: one request stops the sync daemon (regression)', () => {
  it('answers GET //[ with 404 and keeps serving', async () => {
    const reply = await exchange(['GET //[ HTTP/1.1\r\nHost: x\r\n\r\n']);
    expect(statusLine(reply)).toMatch(/^HTTP\/1\.1 404 /);
    await expectAliveAndSyncing();
  });
});

describe('Status server: fuzzed over raw sockets', () => {
  it('answers malformed targets, methods and headers with 400/404/405 and keeps syncing', async () => {
    const cases: Array<[string, RegExp]> = [
      ['GET //[ HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 (400|404) /],
      ['GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['GET * HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['GET /%zz%00/../status?%% HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 404 /],
      ['GET /status?x=[ HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 200 /],
      ['DELETE /status HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 405 /],
      ['POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello', /^HTTP\/1\.1 405 /],
      ['BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['GET /healthz HTTP/9.9\r\n\r\n', /^HTTP\/1\.1 (400|505) /],
      ['GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /^HTTP\/1\.1 (200|400) /],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
      [`GET /${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`, /^HTTP\/1\.1 431 /],
    ];
    for (const [request, expected] of cases) {
      const reply = await exchange([request]);
      // A closed connection without an answer is also acceptable; an answer must be the expected one.
      if (reply !== '') expect(statusLine(reply), JSON.stringify(request.slice(0, 60))).toMatch(expected);
    }
    await expectAliveAndSyncing();
  });

  it('survives random bytes, half-closed and slow connections', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), fc.boolean(), async (bytes, halfClose) => {
        await exchange([Buffer.from(bytes)], { halfClose, waitMs: 60 });
      }),
      { numRuns: 120 },
    );
    await Promise.all([
      exchange(['GET /hea', 'lthz HT', 'TP/1.1\r\n', 'Host: x\r\n\r\n'], { gapMs: 40, halfClose: true }),
      exchange(['GET /status HTTP/1.1\r\nHost: x\r\n'], { halfClose: true }),
      exchange(['GET /status HTTP/1.1\r\nHost'], { waitMs: 300 }),
      exchange([''], { halfClose: true }),
    ]);
    await expectAliveAndSyncing();
  });

  it('survives a flood of parallel connections', { timeout: 30_000 }, async () => {
    const replies = await Promise.all(Array.from({ length: 400 }, (_, index) => exchange([index % 2 ? 'GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' : 'GET //[ HTTP/1.1\r\n\r\n'], { waitMs: 2000 })));
    expect(replies.filter((reply) => reply.startsWith('HTTP/1.1 200')).length).toBeGreaterThan(0);
    for (const reply of replies) expect(reply).not.toContain('canary-fuzz');
    await expectAliveAndSyncing();
  });
});
