/**
 * keepass: entries of a KeePass database file (KDBX 3.1, 4.0, 4.1) kept on the host: read, listed, and written
 * (entries and groups created, fields set, the file saved atomically under a lock; see writer.ts).
 * Peers: kdbxweb, with @node-rs/argon2 (or hash-wasm) for Argon2. Freshness: each lookup stats the file; the
 * decrypted file is reused while unchanged, for at most `cacheTtlMs`, and concurrent lookups share one open.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { stat } from 'node:fs/promises';
import { abortableDelay, fileVersion, peerLoader, runWithTimeout, SecretbindError, settle, untilAborted, validateStoreFields, type EntrySettled, type ProviderSettled, type ResolveContext, type SecretProvider, type SecretStore } from 'secretbind';
import { Argon2HeadStart, argon2For, type Argon2Choice } from './argon2.js';
import { DatabaseCache, type OpenDatabase } from './cache.js';
import { KeepassWriter } from './writer.js';
import {
  checkKdfLimits,
  DatabaseIndex,
  decrypt,
  DEFAULT_KDF_LIMITS,
  readStable,
  sameSignature,
  signatureOf,
  sniffHeader,
  type FileSignature,
  type KdbxwebModule,
  type KdfLimits,
  type OpenRequest,
} from './database.js';

export type { Argon2Choice, Argon2Function } from './argon2.js';
export type { KdfLimits } from './database.js';

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
  /**
   * Caps on the key derivation a file's header may ask for; a file above a cap fails with CONFIG_INVALID before
   * any derivation runs. Defaults: Argon2 memory 1 GiB, 100 iterations, parallelism 64; AES-KDF 100,000,000 rounds.
   */
  kdfLimits?: Partial<KdfLimits>;
  /**
   * How long one shared open (read, key derivation, parse) may take before it is abandoned, in milliseconds. The
   * open belongs to no single lookup: a lookup that times out leaves it running for the next. Default: 60000.
   */
  openTimeoutMs?: number;
  /** How long a write waits for another writer's lock on the file, in milliseconds. Default: 10000. */
  lockTimeoutMs?: number;
  /** kdbxweb itself, instead of importing it. */
  lib?: KdbxwebModule;
}

/** The keepass provider, with counters for tests and monitoring. */
export interface KeepassProvider extends SecretProvider {
  /**
   * Files decrypted (each ran the KDF once), lookups served from the cache, lookups that needed an open, and Argon2
   * derivations started from the header before kdbxweb had loaded.
   */
  stats(): { opens: number; hits: number; misses: number; argon2HeadStarts: number; saves: number };
}

const TYPE = 'keepass';
const requirePeer = createRequire(import.meta.url);
const INSTALL = 'npm install kdbxweb @node-rs/argon2';
const DEFAULT_CACHE_TTL_MS = 5000;
const DEFAULT_OPEN_TIMEOUT_MS = 60_000;

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
  const kdfLimits = limitsOf(options.kdfLimits);
  const openTimeoutMs = options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
  if (!Number.isFinite(openTimeoutMs) || openTimeoutMs <= 0) throw new SecretbindError('CONFIG_INVALID', 'keepass: openTimeoutMs must be a positive number of milliseconds.');
  const cache = new DatabaseCache(cacheTtlMs, now);
  // Keys the master password into the cache key, so a changed password reopens; never kept in plain text.
  const passwordKey = randomBytes(32);
  const counters = { opens: 0, hits: 0, misses: 0 };
  const loadKdbxweb = peerLoader(
    TYPE,
    'kdbxweb',
    options.lib,
    // A CommonJS package: require skips the ESM loader's export scan of its 270 kB (half of its load time).
    async () => requirePeer('kdbxweb') as KdbxwebModule,
    INSTALL,
  );
  const argon2 = argon2For(options.argon2 ?? 'auto');
  const headStart = new Argon2HeadStart();
  let kdbxwebReady: Promise<KdbxwebModule> | undefined;
  const getKdbxweb = (): Promise<KdbxwebModule> =>
    (kdbxwebReady ??= loadKdbxweb().then((kdbxweb) => {
      kdbxweb.CryptoEngine.setArgon2Impl(headStart.wrap(argon2));
      return kdbxweb;
    })).catch((error: unknown) => {
      kdbxwebReady = undefined;
      throw error;
    });

  /**
   * Opens the file, reading again while it changes underneath (a save in progress). Runs under its own deadline,
   * not a caller's: see {@link DatabaseCache.get}.
   */
  async function open(request: OpenRequest, first: FileSignature, ctx: Pick<ResolveContext, 'signal' | 'emit'>): Promise<OpenDatabase> {
    const started = performance.now();
    let signature = first;
    for (let attempt = 1; ; attempt++) {
      const read = await readStable(request.path, signature);
      if (read) {
        try {
          const header = sniffHeader(read.bytes);
          checkKdfLimits(request.path, header, kdfLimits);
          // The derivation can start before kdbxweb loads (see Argon2HeadStart); with a key file kdbxweb hashes it.
          if (header.argon2 && request.password !== undefined && request.keyfilePath === undefined) headStart.start(argon2, header.argon2, request.password);
          const kdbxweb = await getKdbxweb();
          counters.opens++;
          const db = await untilAborted(decrypt(kdbxweb, read.bytes, request), ctx.signal);
          const index = new DatabaseIndex(db, header);
          ctx.emit({ message: 'opened KeePass file', detail: { path: request.path, ...index.facts, attempts: attempt, durationMs: Math.round(performance.now() - started) } });
          return { index, signature: read.signature, openedAt: now() };
        } catch (error) {
          if (attempt >= attempts || ctx.signal.aborted || (error as SecretbindError).code === 'DEPENDENCY_MISSING') throw error;
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

  const writer = new KeepassWriter({
    kdbxweb: getKdbxweb,
    lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
    async open(request, bytes) {
      const header = sniffHeader(bytes);
      checkKdfLimits(request.path, header, kdfLimits);
      if (header.argon2 && request.password !== undefined && request.keyfilePath === undefined) headStart.start(argon2, header.argon2, request.password);
      const kdbxweb = await getKdbxweb();
      counters.opens++;
      return decrypt(kdbxweb, bytes, request);
    },
    saved(request, db, signature, bytes) {
      void cacheKey(request, passwordKey).then(
        (key) => cache.store(key, { index: new DatabaseIndex(db, sniffHeader(bytes)), signature, openedAt: now() }),
        () => {},
      );
    },
  });

  async function database(store: SecretStore, ctx: ResolveContext): Promise<{ database: OpenDatabase; cache: 'hit' | 'miss' }> {
    const request = openRequest(store, options.env ?? process.env);
    const signature = await signatureOf(request.path);
    const key = await cacheKey(request, passwordKey);
    const result = await cache.get(key, signature, ctx.signal, (current) =>
      runWithTimeout(openTimeoutMs, `Opening KeePass file ${request.path} took longer than ${openTimeoutMs} ms (openTimeoutMs).`, (signal) => open(request, current, { signal, emit: (notice) => ctx.emit(notice) }), TYPE),
    );
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
    async readEntries(store, refs, ctx) {
      const { database: opened } = await database(store, ctx);
      const version = fileVersion(opened.signature);
      const answers = new Map<string, EntrySettled>();
      for (const ref of refs) {
        try {
          answers.set(ref.raw, { ok: true, value: opened.index.fieldsOf(ref), version });
        } catch (error) {
          answers.set(ref.raw, { ok: false, error: error as SecretbindError });
        }
      }
      return answers;
    },
    async check(store, ctx) {
      const { database: opened } = await database(store, ctx);
      return { path: String(store.kdbx_path), ...opened.index.facts };
    },
    async list(store, listOptions, ctx) {
      const { database: opened } = await database(store, ctx);
      return opened.index.list(listOptions.prefix ?? '', listOptions.recursive !== false, fileVersion(opened.signature));
    },
    async write(store, name, value, writeOptions, ctx) {
      return writer.write(openRequest(store, options.env ?? process.env), name, value, writeOptions, ctx.signal);
    },
    async remove(store, name, removeOptions, ctx) {
      await writer.remove(openRequest(store, options.env ?? process.env), name, removeOptions, ctx.signal);
    },
    close() {
      cache.clear();
      headStart.clear();
    },
    stats() {
      return { ...counters, argon2HeadStarts: headStart.used, saves: writer.saves };
    },
  };
}

function limitsOf(given: Partial<KdfLimits> | undefined): KdfLimits {
  const limits = { ...DEFAULT_KDF_LIMITS };
  for (const [name, value] of Object.entries(given ?? {}) as Array<[keyof KdfLimits, unknown]>) {
    if (!Object.hasOwn(DEFAULT_KDF_LIMITS, name)) throw new SecretbindError('CONFIG_INVALID', `keepass: kdfLimits.${String(name)} is not a known cap (known: ${Object.keys(DEFAULT_KDF_LIMITS).join(', ')}).`);
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new SecretbindError('CONFIG_INVALID', `keepass: kdfLimits.${name} must be a positive integer.`);
    limits[name] = value;
  }
  return limits;
}

/**
 * What one cached database is valid for: the file path, the key file's identity (a replaced or edited key file
 * reopens) and a keyed hash of the master password (a changed password reopens), never the password itself.
 */
async function cacheKey(request: OpenRequest, passwordKey: Buffer): Promise<string> {
  let keyfile = '';
  if (request.keyfilePath !== undefined) {
    try {
      const info = await stat(request.keyfilePath, { bigint: true });
      keyfile = `${request.keyfilePath}:${info.ino}:${info.size}:${info.mtimeNs}`;
    } catch {
      keyfile = `${request.keyfilePath}:unreadable`; // the open reports why, with the path
    }
  }
  const password = request.password === undefined ? '' : createHmac('sha256', passwordKey).update(request.password).digest('base64');
  return `${request.path}\u0000${keyfile}\u0000${password}`;
}

/** Where the file and credentials are; the master password is read from its variable now, never stored. */
function openRequest(store: SecretStore, env: Readonly<Record<string, string | undefined>>): OpenRequest {
  const passwordEnv = typeof store.master_password_env === 'string' ? store.master_password_env : undefined;
  // master_password is filled in by the resolver from master_password_ref; it wins over the variable.
  let password: string | undefined = typeof store.master_password === 'string' ? store.master_password : undefined;
  if (password === undefined && passwordEnv !== undefined) {
    password = Object.prototype.hasOwnProperty.call(env, passwordEnv) ? env[passwordEnv] : undefined;
    if (password === undefined) {
      throw new SecretbindError('CONFIG_INVALID', `KeePass store ${JSON.stringify(store.name)}: environment variable ${passwordEnv} (master_password_env) is not set in this process.`, { storeType: TYPE });
    }
  }
  return {
    path: String(store.kdbx_path),
    keyfilePath: typeof store.keyfile_path === 'string' ? store.keyfile_path : undefined,
    password,
    passwordEnv: typeof store.master_password === 'string' ? undefined : passwordEnv,
  };
}
