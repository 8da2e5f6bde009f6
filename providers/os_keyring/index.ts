/**
 * os_keyring: the operating system's credential store through @napi-rs/keyring: the Secret Service on Linux
 * (gnome-keyring, KWallet, KeePassXC), the macOS Keychain and the Windows Credential Manager. Freshness: read live on
 * every lookup. The binding stores a service, an account and a password and nothing else, so secretbind's owner mark
 * is a companion item under the service `<service>:secretbind-owner`, written before the value and removed after it.
 */
import { userInfo } from 'node:os';
import {
  formatReference,
  guardWrite,
  jsonSecretEntry,
  jsonSecretField,
  jsonSecretText,
  peerLoader,
  readEachOnce,
  SecretbindError,
  validateStoreFields,
  WithheldError,
  type EntryInfo,
  type EntryReference,
  type EntrySettled,
  type ResolveContext,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';

export interface OsKeyringOptions {
  /** @napi-rs/keyring itself, instead of importing it. */
  lib?: KeyringModule;
}

/** The parts of @napi-rs/keyring 2.x this provider uses. */
export interface KeyringModule {
  AsyncEntry: new (service: string, account: string, options?: { linux?: { store?: 'secret-service' | 'keyutils' } }) => KeyringEntry;
  findCredentialsAsync(service: string, target?: string | null, signal?: AbortSignal | null): Promise<Array<{ account: string; password: string }>>;
}
interface KeyringEntry {
  getPassword(signal?: AbortSignal | null): Promise<string | null>;
  setPassword(password: string, signal?: AbortSignal | null): Promise<void>;
  deletePassword(signal?: AbortSignal | null): Promise<boolean>;
}

const TYPE = 'os_keyring';
const INSTALL = 'npm install @napi-rs/keyring@2';
/** The service of the keyring's own entries when the store names none. */
export const DEFAULT_KEYRING_SERVICE = 'secretbind';
/** The companion service that holds secretbind's owner marks for `service`: one item per owned account. */
export function ownerMarkService(service: string): string {
  return `${service}:secretbind-owner`;
}

/** Items a bulk read asks for at once. */
const READS_AT_ONCE = 4;
/** Items whose binding entries are kept (each holds no value, only the item's names). */
const MAX_ENTRIES = 1000;
const BACKENDS: Readonly<Record<string, string>> = { linux: 'Secret Service (D-Bus)', darwin: 'macOS Keychain', win32: 'Windows Credential Manager' };

/**
 * A provider for `os_keyring` stores (`keyring_service`, default `secretbind`). A reference is `service/account` or
 * `account` alone (in the store's service), with `#key` into a JSON value: `smtp-relay`, `checkmk/automation#password`.
 *
 * On Linux the Secret Service is pinned: the binding would otherwise fall back silently to the kernel keyring, whose
 * entries do not survive a reboot and which no other program sees.
 *
 * @example
 * ```ts
 * createSecretResolver({ repository, providers: [osKeyring()] })
 * // store: { name: 'desktop', type: 'os_keyring', keyring_service: 'sync-app' }
 * ```
 */
export function osKeyring(options: OsKeyringOptions = {}): SecretProvider {
  const loadKeyring = peerLoader(TYPE, '@napi-rs/keyring', options.lib, () => import('@napi-rs/keyring') as unknown as Promise<KeyringModule>, INSTALL);

  // The binding talks D-Bus synchronously while it makes an entry (up to the bus's 2-second reply timeout when the
  // service hangs), so each item's entry is made once and kept: later calls are asynchronous and can be abandoned.
  const entries = new Map<string, KeyringEntry>();

  async function entry(service: string, account: string): Promise<KeyringEntry> {
    const lib = await loadKeyring();
    const key = `${service}\u0000${account}`;
    let found = entries.get(key);
    if (!found) {
      try {
        found = new lib.AsyncEntry(service, account, { linux: { store: 'secret-service' } });
      } catch (error) {
        throw mapError(error, `${service}/${account}`);
      }
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
      entries.set(key, found);
    }
    return found;
  }

  async function call<T>(what: string, ctx: ResolveContext, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const mapped = mapError(error, what);
      if (mapped.code === 'BACKEND_UNAVAILABLE') entries.clear(); // the service may have restarted: connect again
      throw mapped;
    }
  }

  async function readText(store: SecretStore, ref: EntryReference, ctx: ResolveContext): Promise<{ text: string; where: string }> {
    const { service, account } = locate(store, ref);
    const where = `Keyring item ${service}/${account}`;
    const item = await entry(service, account);
    // No signal for a read: the binding's abort support costs a third of a lookup's time (measured), and the
    // resolver's deadline already answers TIMEOUT without waiting for it.
    const text = await call(where, ctx, () => item.getPassword());
    if (text === null) throw new SecretbindError('ENTRY_NOT_FOUND', `${where} does not exist in the ${backend()}.`, { storeType: TYPE });
    return { text, where };
  }

  async function ownerOf(service: string, account: string, ctx: ResolveContext): Promise<string | undefined> {
    const mark = await entry(ownerMarkService(service), account);
    return (await call(`the owner mark of ${service}/${account}`, ctx, () => mark.getPassword(ctx.signal))) ?? undefined;
  }

  async function guard(store: SecretStore, ref: EntryReference, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }, ctx: ResolveContext, verb: string) {
    const { service, account } = locate(store, ref);
    const where = `Keyring item ${service}/${account}`;
    if (options.ifVersion !== undefined && options.ifVersion !== 'absent') {
      throw new SecretbindError('OPERATION_UNSUPPORTED', `The OS keyring keeps no versions, so a guarded ${verb} of ${where} (ifVersion) is not possible; leave ifVersion out.`, { storeType: TYPE });
    }
    const item = await entry(service, account);
    const current = await call(where, ctx, () => item.getPassword(ctx.signal));
    const owner = await ownerOf(service, account, ctx);
    guardWrite({ what: where, exists: current !== null, owner, version: undefined, mark: `owner mark (an item in ${ownerMarkService(service)})`, storeType: TYPE }, options);
    return { service, account, where, item, current };
  }

  return {
    type: TYPE,
    validateStore(store) {
      validateStoreFields(store);
    },
    async resolve(store, ref, ctx) {
      const { text, where } = await readText(store, ref, ctx);
      return jsonSecretField(text, ref.field, where, TYPE);
    },
    resolveMany(store, refs, ctx) {
      // Each item once, however many fields and accounts use it; a few at a time (each holds a D-Bus call).
      return readEachOnce(refs, (ref) => itemKey(store, ref), (ref) => readText(store, ref, ctx), (found, ref) => jsonSecretField(found.text, ref.field, found.where, TYPE), READS_AT_ONCE);
    },
    async readEntries(store, refs, ctx) {
      const answers = new Map<string, EntrySettled>();
      for (const ref of refs) {
        try {
          answers.set(ref.raw, { ok: true, value: jsonSecretEntry((await readText(store, ref, ctx)).text) });
        } catch (error) {
          answers.set(ref.raw, { ok: false, error: mapError(error, ref.raw) });
        }
      }
      return answers;
    },
    async check(store, ctx) {
      const lib = await loadKeyring();
      const service = serviceOf(store);
      const found = await call(`the items of ${service}`, ctx, () => lib.findCredentialsAsync(service, null, ctx.signal));
      const items = found.length;
      found.length = 0; // the passwords go at once
      return { backend: backend(), service, user: userInfo().username, items };
    },
    async list(store, listOptions, ctx) {
      const lib = await loadKeyring();
      const service = serviceOf(store);
      const accounts = await call(`the items of ${service}`, ctx, async () => (await lib.findCredentialsAsync(service, null, ctx.signal)).map((credential) => credential.account));
      const marks = new Map(
        await call(`the owner marks of ${service}`, ctx, async () => (await lib.findCredentialsAsync(ownerMarkService(service), null, ctx.signal)).map((credential) => [credential.account, credential.password] as const)),
      );
      const prefix = listOptions.prefix ?? '';
      const entries: EntryInfo[] = [];
      for (const account of [...new Set(accounts)].sort()) {
        if (!account.startsWith(prefix)) continue;
        const owner = marks.get(account);
        entries.push({ name: formatReference([account]), owned: owner !== undefined, ...(owner !== undefined ? { owner } : {}) });
      }
      return entries;
    },
    async write(store, ref, value, writeOptions, ctx) {
      const { service, account, where, item, current } = await guard(store, ref, writeOptions, ctx, 'write');
      const text = jsonSecretText(value, writeOptions.merge && current !== null ? current : undefined);
      // The mark first: a process killed between the two leaves a marked (empty or old) item, never an unmarked one.
      const mark = await entry(ownerMarkService(service), account);
      await call(`the owner mark of ${service}/${account}`, ctx, () => mark.setPassword(writeOptions.owner, ctx.signal));
      await call(where, ctx, () => item.setPassword(text, ctx.signal));
      return { version: '', created: current === null };
    },
    checkName(store, ref) {
      const { service } = locate(store, ref);
      // Names come from templates over source data: only the store's service may be named in one.
      if (service !== serviceOf(store)) {
        throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(ref.raw)} would be written in service ${JSON.stringify(service)}; sync and migration write only in the store's service (${JSON.stringify(serviceOf(store))}): change the name template so that a name has no "/".`, { storeType: TYPE });
      }
    },
    adaptName(rendered) {
      // secretbind/central/apps/db -> secretbind-central-apps-db: one account in the store's service.
      return rendered.replace(/\//g, '-');
    },
    async remove(store, ref, removeOptions, ctx) {
      const { service, account, where, item, current } = await guard(store, ref, removeOptions, ctx, 'removal');
      if (current === null) throw new SecretbindError('ENTRY_NOT_FOUND', `${where} does not exist in the ${backend()}.`, { storeType: TYPE });
      // The value first, then the mark: a kill between leaves a mark without a value, which a later write reuses.
      await call(where, ctx, () => item.deletePassword(ctx.signal));
      const mark = await entry(ownerMarkService(service), account);
      await call(`the owner mark of ${service}/${account}`, ctx, () => mark.deletePassword(ctx.signal));
    },
    close() {
      entries.clear();
    },
  };
}

function backend(): string {
  return BACKENDS[process.platform] ?? `${process.platform} credential store`;
}

function serviceOf(store: SecretStore): string {
  return typeof store.keyring_service === 'string' ? store.keyring_service : DEFAULT_KEYRING_SERVICE;
}

/** `service/account` or `account` in the store's service; both non-empty (`\/` escapes a slash in either). */
function locate(store: SecretStore, ref: EntryReference): { service: string; account: string } {
  if (ref.segments.length > 2 || ref.segments.some((segment) => segment.length === 0)) {
    throw new SecretbindError('REFERENCE_INVALID', `An os_keyring reference is account or service/account (escape a "/" in a name as \\/): ${JSON.stringify(ref.raw)} has ${ref.segments.length} path segments.`, { storeType: TYPE });
  }
  const [first, second] = ref.segments as [string, string | undefined];
  return second === undefined ? { service: serviceOf(store), account: first } : { service: first, account: second };
}

function itemKey(store: SecretStore, ref: EntryReference): string {
  const { service, account } = locate(store, ref);
  return `${service}\u0000${account}`;
}

/**
 * keyring-rs's errors, by the words of their Display form (the binding passes no kind): Platform failure (the
 * store did not answer), No storage access (locked: "Couldn't access platform storage"; a search of a locked
 * collection says IsLocked), Too long / Invalid (the name; Windows and macOS limits), Ambiguous (several items).
 */
function mapError(error: unknown, what: string): SecretbindError {
  if (error instanceof SecretbindError) return error;
  const message = String((error as Error)?.message ?? '');
  const context = { storeType: TYPE, cause: new WithheldError(error) };
  if (message.startsWith("Couldn't access platform") || message.includes('IsLocked')) {
    return new SecretbindError('AUTH_FAILED', `The ${backend()} is locked or refused access to ${what}: unlock the keyring (on Linux, the login collection) for the user this process runs as.`, context);
  }
  if (/is longer than platform limit|is invalid/.test(message)) {
    return new SecretbindError('REFERENCE_INVALID', `The ${backend()} cannot hold the name of ${what} (too long or not allowed on this platform).`, context);
  }
  if (message.startsWith('Entry is matched by')) {
    return new SecretbindError('ENTRY_AMBIGUOUS', `Several items in the ${backend()} match ${what}: remove the duplicates (on Linux: secret-tool search service S username U).`, context);
  }
  if (message.startsWith('Platform failure') || message.includes('DBus error')) {
    return new SecretbindError('BACKEND_UNAVAILABLE', `The ${backend()} did not answer for ${what}${process.platform === 'linux' ? ': no Secret Service on the session bus (start gnome-keyring-daemon or KeePassXC\'s Secret Service, and check DBUS_SESSION_BUS_ADDRESS)' : ''}.`, { ...context, retryable: true });
  }
  return new SecretbindError('BACKEND_UNAVAILABLE', `The ${backend()} failed (${(error as Error)?.name ?? 'error'}) on ${what}.`, { ...context, retryable: true });
}
