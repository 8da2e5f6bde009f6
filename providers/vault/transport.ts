/**
 * The HTTP transport node-vault is given (its `request-promise` option): node:http(s) with keep-alive, a per-call
 * AbortSignal, a private CA, and the response headers kept. node-vault's own axios transport offers no per-call
 * signal and drops headers, and `Retry-After` lives in a header.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { SecretbindError } from 'secretbind';

/** What node-vault hands a transport, and what it expects back. */
interface TransportRequest {
  method: string;
  uri: string;
  headers?: Record<string, string>;
  json?: unknown;
  signal?: AbortSignal;
}
interface TransportResponse {
  statusCode: number;
  body: unknown;
  request: { path: string };
}

const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i;

/** `Retry-After` of a 429, by the body object node-vault keeps on its error (it copies status and body only). */
export const retryAfterOf = new WeakMap<object, number>();

export interface Transport {
  defaults(): (request: TransportRequest) => Promise<TransportResponse>;
  close(): void;
}

export function createTransport(options: { ca?: Buffer | undefined }): Transport {
  const httpAgent = new HttpAgent({ keepAlive: true });
  const httpsAgent = new HttpsAgent({ keepAlive: true, ...(options.ca ? { ca: options.ca } : {}) });
  const send = (request: TransportRequest): Promise<TransportResponse> =>
    new Promise((resolve, reject) => {
      // Defence in depth behind kvPath's check: a dot segment would be resolved away by URL parsing.
      if (DOT_SEGMENT.test(request.uri.replace(/[?#].*$/s, ''))) {
        reject(new SecretbindError('REFERENCE_INVALID', 'Refused a Vault request whose path has a "." or ".." segment.', { storeType: 'vault' }));
        return;
      }
      const url = new URL(request.uri);
      const https = url.protocol === 'https:';
      const payload = request.json === undefined ? undefined : JSON.stringify(request.json);
      const outgoing = (https ? httpsRequest : httpRequest)(
        url,
        {
          method: request.method,
          agent: https ? httpsAgent : httpAgent,
          headers: {
            // A content type node-vault set (merge-patch for update) stays: Vault answers PATCH with another one 415.
            ...(payload === undefined || Object.keys(request.headers ?? {}).some((name) => name.toLowerCase() === 'content-type') ? {} : { 'content-type': 'application/json' }),
            ...request.headers,
            'X-Vault-Request': 'true',
            ...(payload === undefined ? {} : { 'content-length': Buffer.byteLength(payload) }),
          },
          ...(request.signal ? { signal: request.signal } : {}),
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('error', reject);
          incoming.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              body = undefined; // a proxy's HTML error page: the status says enough
            }
            const retryAfter = Number(incoming.headers['retry-after']);
            if (body && typeof body === 'object' && Number.isFinite(retryAfter)) retryAfterOf.set(body, retryAfter * 1000);
            resolve({ statusCode: incoming.statusCode ?? 0, body, request: { path: url.pathname } });
          });
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
  return {
    defaults: () => send,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
