/**
 * dotenv: a `.env` file as a store and a destination. No peer dependency. Freshness: the file is read on every
 * lookup. Writes keep comments and order, quote as needed, mark owned keys with `# managed-by: <owner>`, and
 * replace the file atomically (mode 0600 for a new file) under a lock.
 */
import { readFile, stat } from 'node:fs/promises';
import {
  fileVersion,
  formatReference,
  guardWrite,
  SecretbindError,
  settle,
  validateStoreFields,
  withFileLock,
  writeFileAtomic,
  type EntryInfo,
  type EntryReference,
  type ProviderSettled,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';
import { formatBinding, parseDotenv, type DotenvBinding } from './parse.js';

export interface DotenvOptions {
  /** How long a write waits for another writer's lock before it fails with TIMEOUT, in milliseconds. Default: 10000. */
  lockTimeoutMs?: number;
}

const TYPE = 'dotenv';
const WRITABLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A provider for `dotenv` stores (`dotenv_path`). A reference is one key: `DB_PASSWORD`.
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [dotenv()] })
 * // store: { name: 'app-env', type: 'dotenv', dotenv_path: '/srv/app/.env' }
 * ```
 */
export function dotenv(options: DotenvOptions = {}): SecretProvider {
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000;

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      return lookup(await load(store, { signal: ctx.signal }), ref);
    },
    async resolveMany(store, refs, ctx) {
      const file = await load(store, { signal: ctx.signal });
      const answers = new Map<string, ProviderSettled>();
      for (const ref of refs) answers.set(ref.raw, await settle(() => lookup(file, ref)));
      return answers;
    },
    async check(store) {
      const file = await load(store);
      return { path: pathOf(store), keys: new Set(file.bindings.map((binding) => binding.key)).size };
    },
    async list(store, listOptions) {
      const file = await load(store);
      const prefix = listOptions.prefix ?? '';
      const latest = new Map<string, DotenvBinding>();
      for (const binding of file.bindings) latest.set(binding.key, binding);
      return [...latest.values()]
        .filter((binding) => binding.key.startsWith(prefix))
        .map((binding): EntryInfo => ({ name: binding.key, version: file.version, updatedAt: file.updatedAt, owned: binding.owner !== undefined, ...(binding.owner ? { owner: binding.owner } : {}) }));
    },
    async write(store, name, value, writeOptions, ctx) {
      const key = writableKey(name);
      if (writeOptions.merge) throw new SecretbindError('OPERATION_UNSUPPORTED', `A .env value has no fields to merge into: write ${key} whole.`, { storeType: TYPE });
      const text = typeof value === 'string' ? value : JSON.stringify(value); // a .env value holds one string
      const line = formatBinding(key, text, writeOptions.owner);
      if (line === undefined) {
        throw new SecretbindError('CONFIG_INVALID', `The value for ${key} holds both ' and \` and also " or a literal \\n; no .env quoting can hold it unchanged.`, { storeType: TYPE });
      }
      const path = pathOf(store);
      return withFileLock(
        path,
        async () => {
          const file = await load(store, { missingIsEmpty: true });
          const same = file.bindings.filter((binding) => binding.key === key);
          const current = same.at(-1);
          guard(key, current, file.version, writeOptions);
          let next: string;
          if (current) {
            // Earlier duplicates are shadowed by the last binding (dotenv's rule): the last is the one replaced.
            next = file.text.slice(0, current.start) + line + file.text.slice(current.end);
          } else {
            next = file.text.length === 0 || file.text.endsWith('\n') ? `${file.text}${line}\n` : `${file.text}\n${line}\n`;
          }
          await writeFileAtomic(path, next, { mode: 0o600 });
          return { version: await versionOf(path), created: !current };
        },
        { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(lockTimeoutMs)]) },
      );
    },
    checkName(_store, name) {
      writableKey(name);
    },
    adaptName(rendered) {
      // secretbind/central/apps/db -> SECRETBIND_CENTRAL_APPS_DB
      const key = rendered.toUpperCase().replace(/[^A-Z0-9_]+/g, '_');
      return /^[0-9]/.test(key) ? `_${key}` : key;
    },
    async remove(store, name, removeOptions, ctx) {
      const key = writableKey(name);
      const path = pathOf(store);
      await withFileLock(
        path,
        async () => {
          const file = await load(store);
          const same = file.bindings.filter((binding) => binding.key === key);
          if (same.length === 0) throw new SecretbindError('ENTRY_NOT_FOUND', `${path} has no key ${key}.`, { storeType: TYPE });
          // Every binding of the key goes, or an earlier duplicate would come back into view.
          for (const binding of same) guard(key, binding, file.version, removeOptions);
          let next = file.text;
          for (const binding of [...same].reverse()) {
            const after = next[binding.end] === '\n' ? binding.end + 1 : binding.end;
            next = next.slice(0, binding.start) + next.slice(after);
          }
          await writeFileAtomic(path, next, { mode: 0o600 });
        },
        { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(lockTimeoutMs)]) },
      );
    },
  };
}

interface LoadedFile {
  text: string;
  bindings: DotenvBinding[];
  /** The file's identity as a version: it changes with every write, and says nothing about the values. */
  version: string;
  updatedAt: string | undefined;
}

async function load(store: SecretStore, options: { missingIsEmpty?: boolean; signal?: AbortSignal } = {}): Promise<LoadedFile> {
  const path = pathOf(store);
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.missingIsEmpty) return { text: '', bindings: [], version: 'absent', updatedAt: undefined };
    throw new SecretbindError('CONFIG_INVALID', `The .env file ${path} ${code === 'ENOENT' ? 'does not exist: check dotenv_path' : `cannot be read (${code ?? 'error'})`}.`, { storeType: TYPE, cause: error });
  }
  // Writes keep the file's own line breaks out of the picture: spans refer to the text with \r\n folded.
  const normalised = text.replace(/\r\n?/g, '\n');
  const info = await stat(path, { bigint: true }).catch(() => undefined);
  return {
    text: normalised,
    bindings: parseDotenv(normalised),
    version: info ? fileVersion(info) : 'unknown',
    updatedAt: info ? new Date(Number(info.mtimeMs)).toISOString() : undefined,
  };
}

async function versionOf(path: string): Promise<string> {
  return fileVersion(await stat(path, { bigint: true }));
}

function lookup(file: LoadedFile, ref: EntryReference): string {
  if (ref.segments.length !== 1) throw new SecretbindError('REFERENCE_INVALID', `A dotenv reference is one key, not a path: ${JSON.stringify(ref.raw)}.`, { storeType: TYPE });
  if (ref.field !== undefined) throw new SecretbindError('FIELD_NOT_FOUND', `A .env value has no fields: drop "#${ref.field}".`, { storeType: TYPE });
  const key = ref.segments[0]!;
  let found: DotenvBinding | undefined;
  for (const binding of file.bindings) if (binding.key === key) found = binding;
  if (!found) throw new SecretbindError('ENTRY_NOT_FOUND', `The .env file has no key ${key}.`, { storeType: TYPE });
  return found.value;
}

/** A key secretbind may write: `[A-Za-z_][A-Za-z0-9_]*`, what shells and every dotenv loader accept. */
function writableKey(name: EntryReference): string {
  const key = formatReference(name.segments);
  if (name.segments.length !== 1 || !WRITABLE_KEY.test(key)) {
    throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(key)} is not a .env key secretbind writes: keys match [A-Za-z_][A-Za-z0-9_]* (letters, digits and _, not starting with a digit).`, { storeType: TYPE });
  }
  return key;
}

/** The shared rules (guardWrite); a .env file's version is the whole file's. */
function guard(key: string, current: DotenvBinding | undefined, version: string, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }): void {
  guardWrite({ what: key, exists: current !== undefined, owner: current?.owner, version, mark: '"# managed-by:" mark', storeType: TYPE }, options);
}

function pathOf(store: SecretStore): string {
  return String(store.dotenv_path);
}
