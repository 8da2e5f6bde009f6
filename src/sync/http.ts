import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretbindError } from '../errors.js';
import type { SyncEngine } from './engine.js';
import type { SyncMetrics } from './metrics.js';

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
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://status').pathname;
    const send = (status: number, body: string, type = 'application/json'): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, JSON.stringify({ error: 'only GET' }));
    void (async () => {
      try {
        if (path === '/healthz') return send(200, JSON.stringify({ alive: true }));
        if (path === '/readyz') {
          const loop = options.engine.loopState();
          return send(loop.ready ? 200 : 503, JSON.stringify({ ready: loop.ready, role: loop.role, ...(loop.lastPass ? { lastPass: loop.lastPass } : {}) }));
        }
        if (path === '/status') {
          const loop = options.engine.loopState();
          return send(200, JSON.stringify({ loop, associations: await options.engine.status() }));
        }
        if (path === '/metrics') {
          if (!options.metrics) return send(404, `${options.metricsUnavailable ?? 'metrics are not enabled'}\n`, 'text/plain');
          return send(200, await options.metrics.metrics(), options.metrics.contentType);
        }
        return send(404, JSON.stringify({ error: 'not found', paths: ['/healthz', '/readyz', '/status', '/metrics'] }));
      } catch (error) {
        return send(500, JSON.stringify({ error: error instanceof SecretbindError ? error.code : 'internal error' }));
      }
    })();
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new SecretbindError('CONFIG_INVALID', `Cannot listen on ${host}:${options.port ?? 9464} (${error.code ?? 'error'}).`)));
    server.listen(options.port ?? 9464, host, () => resolve());
  });
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
