import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretbindError } from '../core/index.js';
import type { SyncEngine } from './engine.js';
import type { SyncMetrics } from './metrics.js';
import type { AssociationRecord as Association } from './state.js';

export interface SyncStatusServerOptions {
  engine: Pick<SyncEngine, 'status' | 'loopState'>;
  /** Served on `/metrics`; without them `/metrics` answers 404 saying why. */
  metrics?: SyncMetrics;
  /** Why there are no metrics (e.g. prom-client is not installed), for the 404 body. */
  metricsUnavailable?: string;
  /** Default: 127.0.0.1. */
  host?: string;
  /** Default: 9464 (0 picks a free port). */
  port?: number;
}

export interface SyncStatusServer {
  /** `http://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the daemon's health: `GET /healthz` (alive), `/readyz` (a pass finished, or standing by; 503 before),
 * `/status` (every association and its status as JSON, never a value) and `/metrics` (Prometheus).
 */
export async function serveSyncStatus(options: SyncStatusServerOptions): Promise<SyncStatusServer> {
  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS }, (request, response) => {
    // Nothing a client sends may throw out of here: the daemon (or the host application) would exit.
    try {
      handle(options, request, response);
    } catch {
      fail(response, 500, 'internal error');
    }
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = MAX_CONNECTIONS;
  // A malformed request line or header, an oversized header, a reset: answer 400 where the socket still takes it.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable && !socket.writableEnded) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    socket.destroy();
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new SecretbindError('CONFIG_INVALID', `Cannot listen on ${host}:${options.port ?? 9464} (${error.code ?? 'error'}).`)));
    server.listen(options.port ?? 9464, host, () => resolve());
  });
  server.on('error', () => {}); // after listening, an error (EMFILE on accept) must not end the process

  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

const MAX_HEADER_BYTES = 8 * 1024;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_CONNECTIONS = 256;
const PATHS = ['/healthz', '/readyz', '/status', '/metrics'];

function handle(options: SyncStatusServerOptions, request: IncomingMessage, response: ServerResponse): void {
  request.resume(); // a body is never read: drain it so the connection stays usable
  response.on('error', () => {});
  const path = requestPath(request.url);
  if (path === undefined) return fail(response, 400, 'bad request target');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    return fail(response, 405, 'only GET and HEAD');
  }
  void answer(options, path, response).catch((error: unknown) => fail(response, 500, error instanceof SecretbindError ? error.code : 'internal error'));
}

async function answer(options: SyncStatusServerOptions, path: string, response: ServerResponse): Promise<void> {
  if (path === '/healthz') return send(response, 200, JSON.stringify({ alive: true }));
  if (path === '/readyz') {
    const loop = options.engine.loopState();
    return send(response, loop.ready ? 200 : 503, JSON.stringify({ ready: loop.ready, role: loop.role, ...(loop.lastPass ? { lastPass: loop.lastPass } : {}) }));
  }
  if (path === '/status') {
    const loop = options.engine.loopState();
    return send(response, 200, JSON.stringify({ loop, associations: publicAssociations(await options.engine.status()) }));
  }
  if (path === '/metrics') {
    if (!options.metrics) return send(response, 404, `${options.metricsUnavailable ?? 'metrics are not enabled'}\n`, 'text/plain');
    return send(response, 200, await options.metrics.metrics(), options.metrics.contentType);
  }
  return send(response, 404, JSON.stringify({ error: 'not found', paths: PATHS }));
}

/** The path of an origin-form target (`/status?x`), or undefined for anything else (`*`, absolute or garbage). */
function requestPath(target: string | undefined): string | undefined {
  if (typeof target !== 'string' || !target.startsWith('/')) return undefined;
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

/** What `/status` shows of an association: everything but the HMAC of the value written. */
function publicAssociations(associations: readonly Association[]): Array<Omit<Association, 'valueHmac'>> {
  return associations.map(({ valueHmac: _omitted, ...rest }) => rest);
}

function send(response: ServerResponse, status: number, body: string, type = 'application/json'): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  response.end(body);
}

function fail(response: ServerResponse, status: number, error: string): void {
  send(response, status, JSON.stringify({ error }));
}
