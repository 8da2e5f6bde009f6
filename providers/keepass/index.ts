/**
 * keepass: entries of a KeePass database file (KDBX 3.1, 4.0, 4.1) kept on the host, opened read-only.
 * Peers: kdbxweb, with @node-rs/argon2 (or hash-wasm) for Argon2. Freshness: each lookup stats the file; the
 * decrypted file is reused while unchanged, for at most `cacheTtlMs`, and concurrent lookups share one open.
 */
import { abortableDelay, peerLoader, SecretbindError, settle, untilAborted, validateStoreFields, type ProviderSettled, type ResolveContext, type SecretProvider, type SecretStore } from 'secretbind';
import { argon2For, type Argon2Choice } from './argon2.js';
import { DatabaseCache, type OpenDatabase } from './cache.js';
import { DatabaseIndex, decrypt, readStable, sameSignature, signatureOf, sniffHeader, type FileSignature, type KdbxwebModule, type OpenRequest } from './database.js';

export type { Argon2Choice, Argon2Function } from './argon2.js';

export interface KeepassOptions {
  /**
   * How long an unchanged file's decrypted contents are reused, in milliseconds. A changed file (mtime, size or
   * inode) is reopened at once whatever this says. 0 reopens on every lookup, still sharing one open among
   * concurrent lookups. Default: 5000.
   */
  cacheTtlMs?: number;
  /**
   * The Argon2 implementation for KDBX 4 files: `'auto'` (default: @node-rs/argon2, else hash-wasm),
   * `'node-rs'`, `'hash-wasm'`, or a function. **kdbxweb holds one Argon2 hook per process**, so the last
   * keepass provider created decides for all of them.
   */
  argon2?: Argon2Choice;
  /** Where `master_password_env` is looked up, when the file is opened. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The clock for `cacheTtlMs`, in milliseconds. Default: `performance.now`. */
  now?: () => number;
  /** How often a file that changes while being read is read again before failing with CONFIG_INVALID. Default: 5. */
  rewriteAttempts?: number;
  /** The pause before checking whether a failed read met a file being rewritten, in milliseconds. Default: 25. */
  rewritePauseMs?: number;
  /** kdbxweb itself, instead of importing it. */
  lib?: KdbxwebModule;
}

/** The keepass provider, with counters for tests and monitoring. */
export interface KeepassProvider extends SecretProvider {
  /** Files decrypted (each ran the KDF once), lookups served from the cache, and lookups that needed an open. */
  stats(): { opens: number; hits: number; misses: number };
}

const TYPE = 'keepass';
const INSTALL = 'npm install kdbxweb @node-rs/argon2';
const DEFAULT_CACHE_TTL_MS = 5000;

/**
 * A provider for `keepass` stores (`kdbx_path`, `keyfile_path`, `master_password_env`).
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [keepass()] })
 * // binding entry: 'Root/Infrastructure/checkmk-prod#UserName'
 * ```
 */
export function keepass(options: KeepassOptions = {}): KeepassProvider {
  const cacheTtlMs = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
  if (!Number.isFinite(cacheTtlMs) || cacheTtlMs < 0) throw new SecretbindError('CONFIG_INVALID', 'keepass: cacheTtlMs must be 0 or a positive number of milliseconds.');
  const attempts = options.rewriteAttempts ?? 5;
  const pauseMs = options.rewritePauseMs ?? 25;
  const now = options.now ?? (() => performance.now());
  const cache = new DatabaseCache(cacheTtlMs, now);
  const counters = { opens: 0, hits: 0, misses: 0 };
  const loadKdbxweb = peerLoader(
    TYPE,
    'kdbxweb',
    options.lib,
    () => import('kdbxweb').then((module) => ((module as { default?: KdbxwebModule }).default ?? module) as KdbxwebModule),
    INSTALL,
  );
  let kdbxwebReady: Promise<KdbxwebModule> | undefined;
  const getKdbxweb = (): Promise<KdbxwebModule> =>
    (kdbxwebReady ??= loadKdbxweb().then((kdbxweb) => {
      kdbxweb.CryptoEngine.setArgon2Impl(argon2For(options.argon2 ?? 'auto'));
      return kdbxweb;
    })).catch((error: unknown) => {
      kdbxwebReady = undefined;
      throw error;
    });

  /** Opens the file, reading again while it changes underneath (a save in progress). */
  async function open(store: SecretStore, request: OpenRequest, first: FileSignature, ctx: ResolveContext): Promise<OpenDatabase> {
    const kdbxweb = await getKdbxweb();
    const started = performance.now();
    let signature = first;
    for (let attempt = 1; ; attempt++) {
      const read = await readStable(request.path, signature);
      if (read) {
        try {
          counters.opens++;
          // A decryption that outlives the deadline must not stay shared: later lookups start afresh.
          const db = await untilAborted(decrypt(kdbxweb, read.bytes, request), ctx.signal);
          const index = new DatabaseIndex(db, sniffHeader(read.bytes));
          ctx.emit({ message: 'opened KeePass file', detail: { path: request.path, ...index.facts, attempts: attempt, durationMs: Math.round(performance.now() - started) } });
          return { index, signature: read.signature, openedAt: now() };
        } catch (error) {
          if (attempt >= attempts || (error as SecretbindError).code === 'DEPENDENCY_MISSING') throw error;
          await abortableDelay(pauseMs, ctx.signal);
          const current = await signatureOf(request.path);
          if (sameSignature(current, read.signature)) throw error; // the file is stable: the failure is real
          ctx.emit({ level: 'warn', message: 'KeePass file changed while it was read; reading it again', detail: { path: request.path, attempt } });
          signature = current;
        }
      } else {
        if (attempt >= attempts) throw new SecretbindError('CONFIG_INVALID', `KeePass file ${request.path} kept changing while it was read (${attempts} attempts); is something rewriting it continuously?`, { storeType: TYPE });
        await abortableDelay(pauseMs, ctx.signal);
        signature = await signatureOf(request.path);
      }
    }
  }

  async function database(store: SecretStore, ctx: ResolveContext): Promise<{ database: OpenDatabase; cache: 'hit' | 'miss' }> {
    const request = openRequest(store, options.env ?? process.env);
    const signature = await signatureOf(request.path);
    const key = `${request.path}\u0000${request.keyfilePath ?? ''}\u0000${request.passwordEnv ?? ''}`;
    const result = await cache.get(key, signature, (current) => open(store, request, current, ctx));
    counters[result.cache === 'hit' ? 'hits' : 'misses']++;
    return result;
  }

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      const { database: opened, cache: state } = await database(store, ctx);
      return { value: opened.index.lookup(ref), cache: state };
    },
    async resolveMany(store, refs, ctx) {
      const { database: opened, cache: state } = await database(store, ctx);
      const answers = new Map<string, ProviderSettled>();
      for (const ref of refs) answers.set(ref.raw, await settle(() => opened.index.lookup(ref), state));
      return answers;
    },
    async check(store, ctx) {
      const { database: opened } = await database(store, ctx);
      return { path: String(store.kdbx_path), ...opened.index.facts };
    },
    close() {
      cache.clear();
    },
    stats() {
      return { ...counters };
    },
  };
}

/** Where the file and credentials are; the master password is read from its variable now, never stored. */
function openRequest(store: SecretStore, env: Readonly<Record<string, string | undefined>>): OpenRequest {
  const passwordEnv = typeof store.master_password_env === 'string' ? store.master_password_env : undefined;
  let password: string | undefined;
  if (passwordEnv !== undefined) {
    password = Object.prototype.hasOwnProperty.call(env, passwordEnv) ? env[passwordEnv] : undefined;
    if (password === undefined) {
      throw new SecretbindError('CONFIG_INVALID', `KeePass store ${JSON.stringify(store.name)}: environment variable ${passwordEnv} (master_password_env) is not set in this process.`, { storeType: TYPE });
    }
  }
  return {
    path: String(store.kdbx_path),
    keyfilePath: typeof store.keyfile_path === 'string' ? store.keyfile_path : undefined,
    password,
    passwordEnv,
  };
}
