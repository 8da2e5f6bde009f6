/**
 * Opening a KeePass file (read-only) and indexing it for lookups. The file is read whole, checked against a
 * stat taken before and after, and parsed by kdbxweb; failures are told apart (wrong credentials, truncated,
 * corrupt, foreign file, unsupported cipher) and never echo a value.
 */
import { readFile, stat } from 'node:fs/promises';
import type * as Kdbxweb from 'kdbxweb';
import { formatReference, SecretbindError, WithheldError, type EntryInfo, type EntryReference } from 'secretbind';

export type KdbxwebModule = typeof Kdbxweb;

/** What identifies one version of the file on disk: a save by rename changes the inode, an in-place write the mtime or size. */
export interface FileSignature {
  mtimeNs: bigint;
  size: bigint;
  ino: bigint;
}

export interface OpenRequest {
  path: string;
  keyfilePath: string | undefined;
  /** The master password, already read from its environment variable; undefined for key-file-only databases. */
  password: string | undefined;
  /** Named in AUTH_FAILED messages. */
  passwordEnv: string | undefined;
}

const TYPE = 'keepass';
const STANDARD_FIELDS = ['Title', 'UserName', 'Password', 'URL', 'Notes'] as const;
const STANDARD_BY_LOWER = new Map<string, string>(STANDARD_FIELDS.map((name) => [name.toLowerCase(), name]));
const CIPHERS: Record<string, string> = {
  '31c1f2e6bf714350be5805216afc5aff': 'AES-256',
  d6038a2b8b6f4cb5a524339a31dbb59a: 'ChaCha20',
  ad68f29f576f4bb9a36ad47af965346c: 'Twofish',
};
const KDFS: Record<string, string> = {
  c9d9f39a628a4460bf740d08c18a4fea: 'AES-KDF',
  '7c02bb8279a74ac0927d114a00648238': 'AES-KDF',
  ef636ddf8c29444b91f7a9a403e30a0c: 'Argon2d',
  '9e298b1956db4773b23dfc3ec6f0a1e6': 'Argon2id',
};

export async function signatureOf(path: string): Promise<FileSignature> {
  try {
    const info = await stat(path, { bigint: true });
    if (!info.isFile()) throw fileProblem(path, 'is not a regular file');
    return { mtimeNs: info.mtimeNs, size: info.size, ino: info.ino };
  } catch (error) {
    throw asFileError(error, path);
  }
}

export function sameSignature(a: FileSignature, b: FileSignature): boolean {
  return a.mtimeNs === b.mtimeNs && a.size === b.size && a.ino === b.ino;
}

/**
 * Reads the file once and checks it did not change while being read; returns the bytes and the signature they
 * belong to, or undefined when the file changed underneath (the caller retries).
 */
export async function readStable(path: string, before: FileSignature): Promise<{ bytes: Buffer; signature: FileSignature } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw asFileError(error, path);
  }
  const after = await signatureOf(path);
  return sameSignature(before, after) && BigInt(bytes.length) === after.size ? { bytes, signature: after } : undefined;
}

/** Decrypts the bytes. Errors are mapped; `transient` marks failures a half-written file could cause. */
export async function decrypt(kdbxweb: KdbxwebModule, bytes: Buffer, request: OpenRequest): Promise<Kdbxweb.Kdbx> {
  const where = { storeType: TYPE };
  if (bytes.length === 0) throw fileProblem(request.path, 'is empty (0 bytes)');
  let keyfile: ArrayBuffer | undefined;
  if (request.keyfilePath !== undefined) {
    try {
      keyfile = toArrayBuffer(await readFile(request.keyfilePath));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new SecretbindError('CONFIG_INVALID', `KeePass key file ${request.keyfilePath} cannot be read (${code ?? 'error'}): check keyfile_path.`, { ...where, cause: error });
    }
  }
  const credentials = new kdbxweb.Credentials(request.password === undefined ? null : kdbxweb.ProtectedValue.fromString(request.password), keyfile ?? null);
  await credentials.ready;
  try {
    return await kdbxweb.Kdbx.load(toArrayBuffer(bytes), credentials);
  } catch (error) {
    throw mapKdbxError(error, bytes, request);
  }
}

function mapKdbxError(error: unknown, bytes: Buffer, request: OpenRequest): SecretbindError {
  if (error instanceof SecretbindError) return error;
  const code = (error as { code?: unknown }).code;
  const header = sniffHeader(bytes);
  const where = { storeType: TYPE, cause: error };
  switch (code) {
    case 'InvalidKey':
      // kdbxweb also says InvalidKey when the file ends inside the header HMAC: a cut file, not a wrong password.
      if (header.truncated) return fileProblem(request.path, 'is truncated (it ends before its encrypted data)', error);
      return new SecretbindError(
        'AUTH_FAILED',
        `KeePass rejected the credentials for ${request.path}: check ${[request.passwordEnv ? `$${request.passwordEnv}` : request.password !== undefined ? 'the master password (master_password_ref)' : undefined, request.keyfilePath ? `the key file ${request.keyfilePath}` : 'the key file'].filter(Boolean).join(' and ')}.`,
        where,
      );
    case 'BadSignature':
      return fileProblem(request.path, 'is not a KeePass database (bad signature)', error);
    case 'InvalidVersion':
      return fileProblem(request.path, 'has a KDBX version this reader does not support', error);
    case 'Unsupported':
      return fileProblem(request.path, `uses the ${header.cipher ?? 'unknown'} cipher, which this reader (kdbxweb) does not support: re-save it with AES-256 or ChaCha20`, error);
    case 'FileCorrupt':
      return fileProblem(request.path, `is corrupt or truncated (${(error as Error).message.replace(/^Error FileCorrupt:?\s*/, '') || 'integrity check failed'})`, error);
    default:
      return new SecretbindError('BACKEND_UNAVAILABLE', `Opening KeePass file ${request.path} failed unexpectedly (${(error as Error)?.name ?? typeof error}); see error.cause.`, { storeType: TYPE, cause: new WithheldError(error) });
  }
}

export interface HeaderFacts {
  format: string | undefined;
  cipher: string | undefined;
  kdf: string | undefined;
  /** The key derivation's cost as the header states it; read before any derivation runs. */
  kdfParameters: KdfParameters;
  /** A KDBX 4 Argon2 header's complete inputs, so the derivation can start before kdbxweb has loaded. */
  argon2: Argon2Inputs | undefined;
  /** The file ends before the first encrypted block could start. */
  truncated: boolean;
}

/** Key-derivation cost parameters from a file's header (absent where the KDF has no such parameter). */
export interface KdfParameters {
  /** Argon2 memory in bytes. */
  argon2MemoryBytes?: bigint;
  argon2Iterations?: bigint;
  argon2Parallelism?: bigint;
  /** AES-KDF transform rounds (KDBX 3.1 header field, or the KDBX 4 dictionary's `R`). */
  aesRounds?: bigint;
}

/** Everything kdbxweb passes its Argon2 hook for a file, but the composite key. */
export interface Argon2Inputs {
  salt: Buffer;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  type: 0 | 2;
  version: 0x10 | 0x13;
}

/**
 * Caps on the key derivation a file may ask for. The header is not authenticated before the key is derived, so
 * anyone who can write the file (without knowing its credentials) can set these; a cap refuses such a file with
 * CONFIG_INVALID instead of letting it occupy the thread pool for minutes.
 */
export interface KdfLimits {
  /** Default: 1 GiB (KeePassXC's default is 64 MiB). */
  argon2MemoryBytes: number;
  /** Default: 100 (KeePassXC benchmarks about 10 to 40 for one second at 64 MiB). */
  argon2Iterations: number;
  /** Default: 64. */
  argon2Parallelism: number;
  /** Default: 100,000,000 (KeePassXC benchmarks about 6,000,000 for one second). */
  aesRounds: number;
}

export const DEFAULT_KDF_LIMITS: Readonly<KdfLimits> = {
  argon2MemoryBytes: 1024 * 1024 * 1024,
  argon2Iterations: 100,
  argon2Parallelism: 64,
  aesRounds: 100_000_000,
};

const KDF_LIMIT_NAMES: Record<keyof KdfParameters, string> = {
  argon2MemoryBytes: 'Argon2 memory',
  argon2Iterations: 'Argon2 iterations',
  argon2Parallelism: 'Argon2 parallelism',
  aesRounds: 'AES-KDF rounds',
};

/** Refuses a header whose key derivation costs more than the caps allow, naming the parameter and its cap. */
export function checkKdfLimits(path: string, header: HeaderFacts, limits: Readonly<KdfLimits>): void {
  for (const name of Object.keys(KDF_LIMIT_NAMES) as Array<keyof KdfParameters>) {
    const value = header.kdfParameters[name];
    if (value !== undefined && value > BigInt(limits[name])) {
      throw fileProblem(
        path,
        `asks for ${KDF_LIMIT_NAMES[name]} of ${value} in its unauthenticated header, above the cap of ${limits[name]} (kdfLimits.${name}); if you made this file, raise the cap, otherwise someone has tampered with it`,
      );
    }
  }
}

/** Reads the unencrypted header: version, cipher and KDF names, and whether the file is cut short. */
export function sniffHeader(bytes: Buffer): HeaderFacts {
  const facts: HeaderFacts = { format: undefined, cipher: undefined, kdf: undefined, kdfParameters: {}, argon2: undefined, truncated: false };
  if (bytes.length < 12) return { ...facts, truncated: true };
  const minor = bytes.readUInt16LE(8);
  const major = bytes.readUInt16LE(10);
  facts.format = `KDBX ${major}.${minor}`;
  const lengthBytes = major >= 4 ? 4 : 2;
  let offset = 12;
  for (;;) {
    if (offset + 1 + lengthBytes > bytes.length) return { ...facts, truncated: true };
    const id = bytes[offset] as number;
    const length = lengthBytes === 4 ? bytes.readUInt32LE(offset + 1) : bytes.readUInt16LE(offset + 1);
    const start = offset + 1 + lengthBytes;
    if (start + length > bytes.length) return { ...facts, truncated: true };
    const value = bytes.subarray(start, start + length);
    if (id === 2 && length === 16) facts.cipher = CIPHERS[value.toString('hex')] ?? `unknown cipher ${value.toString('hex')}`;
    if (id === 3 && major < 4) facts.kdf = 'AES-KDF';
    if (id === 6 && major < 4 && length === 8) facts.kdfParameters = { aesRounds: value.readBigUInt64LE(0) };
    if (id === 11) {
      facts.kdf = kdfFromDictionary(value);
      const dictionary = kdfDictionary(value);
      facts.kdfParameters = dictionary.parameters;
      facts.argon2 = argon2InputsOf(facts.kdf, dictionary);
    }
    offset = start + length;
    if (id === 0) break;
  }
  // KDBX 4: header SHA-256 and HMAC (64 bytes), then at least one HMAC block (32-byte HMAC, 4-byte length).
  const minimumData = major >= 4 ? 64 + 36 : 16;
  facts.truncated = bytes.length < offset + minimumData;
  return facts;
}

/**
 * The cost parameters of a KDBX 4 KDF dictionary (a VariantDictionary: version, then type, key and value items).
 * Anything malformed yields what was read so far; kdbxweb reports the broken header itself.
 */
function kdfDictionary(dictionary: Buffer): { parameters: KdfParameters; raw: Map<string, bigint | Buffer> } {
  const parameters: KdfParameters = {};
  const raw = new Map<string, bigint | Buffer>();
  let offset = 2;
  while (offset + 9 <= dictionary.length) {
    const type = dictionary[offset] as number;
    if (type === 0) break;
    const keyLength = dictionary.readInt32LE(offset + 1);
    if (keyLength < 0 || offset + 5 + keyLength + 4 > dictionary.length) break;
    const key = dictionary.toString('latin1', offset + 5, offset + 5 + keyLength);
    const valueLength = dictionary.readInt32LE(offset + 5 + keyLength);
    const start = offset + 9 + keyLength;
    if (valueLength < 0 || start + valueLength > dictionary.length) break;
    const number = type === 0x05 && valueLength === 8 ? dictionary.readBigUInt64LE(start) : type === 0x04 && valueLength === 4 ? BigInt(dictionary.readUInt32LE(start)) : undefined;
    raw.set(key, number ?? dictionary.subarray(start, start + valueLength));
    if (number !== undefined) {
      if (key === 'M') parameters.argon2MemoryBytes = number;
      else if (key === 'I') parameters.argon2Iterations = number;
      else if (key === 'P') parameters.argon2Parallelism = number;
      else if (key === 'R') parameters.aesRounds = number;
    }
    offset = start + valueLength;
  }
  return { parameters, raw };
}

/** The Argon2 inputs, only when every one is present and as kdbxweb would accept them; otherwise kdbxweb decides. */
function argon2InputsOf(kdf: string | undefined, { raw }: { raw: Map<string, bigint | Buffer> }): Argon2Inputs | undefined {
  if (kdf !== 'Argon2d' && kdf !== 'Argon2id') return undefined;
  const [salt, memory, iterations, parallelism, version] = ['S', 'M', 'I', 'P', 'V'].map((key) => raw.get(key));
  if (!Buffer.isBuffer(salt) || salt.length !== 32 || raw.has('K') || raw.has('A')) return undefined;
  if (typeof memory !== 'bigint' || typeof iterations !== 'bigint' || typeof parallelism !== 'bigint' || typeof version !== 'bigint') return undefined;
  if (memory % 1024n !== 0n || memory < 1024n || iterations < 1n || parallelism < 1n || (version !== 0x10n && version !== 0x13n)) return undefined;
  return {
    salt: Buffer.from(salt),
    memoryKiB: Number(memory / 1024n),
    iterations: Number(iterations),
    parallelism: Number(parallelism),
    type: kdf === 'Argon2id' ? 2 : 0,
    version: version === 0x13n ? 0x13 : 0x10,
  };
}

function kdfFromDictionary(dictionary: Buffer): string | undefined {
  const at = dictionary.indexOf('$UUID');
  if (at < 0 || at + 5 + 4 + 16 > dictionary.length) return undefined;
  const uuid = dictionary.subarray(at + 5 + 4, at + 5 + 4 + 16).toString('hex');
  return KDFS[uuid] ?? `unknown KDF ${uuid}`;
}

/** One entry as lookups see it; values stay in kdbxweb's protected form until read. */
interface IndexedEntry {
  path: string;
  /** Group names below the root, then the title: the entry's name as a reference without the root. */
  segments: readonly string[];
  uuid: string;
  fields: ReadonlyMap<string, string | Kdbxweb.ProtectedValue>;
  modified: Date | undefined;
}

/** The custom field that marks an entry as secretbind's; its value is the owner. */
export const OWNER_FIELD = 'secretbind-owner';



/** Everything a lookup needs, built once per open: no tree walk per lookup. */
export class DatabaseIndex {
  readonly #byPath = new Map<string, IndexedEntry[]>();
  readonly #byUuid = new Map<string, IndexedEntry>();
  readonly #ordered: IndexedEntry[] = [];
  readonly rootName: string;
  readonly facts: { format: string; kdf: string; cipher: string; entries: number };

  constructor(db: Kdbxweb.Kdbx, header: HeaderFacts) {
    const root = db.getDefaultGroup();
    this.rootName = root.name ?? '';
    const recycleBin = db.meta.recycleBinEnabled === false ? undefined : db.meta.recycleBinUuid?.id;
    const walk = (group: Kdbxweb.KdbxGroup, segments: string[], display: string[]): void => {
      if (recycleBin && group.uuid.id === recycleBin && group !== root) return; // never match deleted entries
      for (const entry of group.entries) {
        const title = fieldText(entry.fields.get('Title'));
        const indexed: IndexedEntry = {
          path: [...display, title].join('/'),
          segments: [...segments, title],
          uuid: Buffer.from(entry.uuid.id, 'base64').toString('hex'),
          fields: entry.fields,
          modified: entry.times.lastModTime,
        };
        const key = [...segments, title].join('\u0000');
        const same = this.#byPath.get(key);
        if (same) same.push(indexed);
        else this.#byPath.set(key, [indexed]);
        this.#byUuid.set(indexed.uuid, indexed);
        this.#ordered.push(indexed);
      }
      for (const child of group.groups) walk(child, [...segments, child.name ?? ''], [...display, child.name ?? '']);
    };
    walk(root, [], [this.rootName]);
    this.facts = {
      format: `KDBX ${db.header.versionMajor}.${db.header.versionMinor}`,
      kdf: header.kdf ?? 'unknown',
      cipher: header.cipher ?? 'unknown',
      entries: this.#ordered.length,
    };
  }

  /** Every entry outside the recycle bin, in tree order: names (without the root) and metadata, never values. */
  /**
   * Every entry's version is the file's (`fileVersion` of the signature that was decrypted): KeePass keeps times to
   * the second only, too coarse to tell two writes apart, so a guarded write refuses when anything in the file changed.
   */
  list(prefix: string, recursive: boolean, version: string): EntryInfo[] {
    const found: EntryInfo[] = [];
    for (const entry of this.#ordered) {
      const name = formatReference(entry.segments);
      if (!name.startsWith(prefix)) continue;
      if (!recursive && name.slice(prefix.length).replace(/^\//, '').includes('/')) continue;
      const owner = entry.fields.get(OWNER_FIELD);
      const ownerText = owner === undefined ? undefined : fieldText(owner);
      found.push({
        name,
        version,
        ...(entry.modified ? { updatedAt: entry.modified.toISOString() } : {}),
        owned: ownerText !== undefined && ownerText !== '',
        ...(ownerText ? { owner: ownerText } : {}),
        fields: [...entry.fields.keys()].filter((field) => field !== OWNER_FIELD && field !== 'Title'),
      });
    }
    return found;
  }

  /** Every field of an entry, references resolved, without secretbind's mark; empty standard fields left out. */
  fieldsOf(ref: EntryReference): Record<string, string> {
    const entry = this.#entry(ref);
    const fields: Record<string, string> = {};
    for (const name of entry.fields.keys()) {
      if (name === 'Title' || name === OWNER_FIELD) continue;
      const value = this.#field(entry, name, new Set());
      if (value !== '' || !STANDARD_BY_LOWER.has(name.toLowerCase())) fields[name] = value;
    }
    return fields;
  }

  /** The value of a reference's field; the root group's name may be given or left out. */
  lookup(ref: EntryReference): string {
    return this.#field(this.#entry(ref), ref.field ?? 'Password', new Set());
  }

  #entry(ref: EntryReference): IndexedEntry {
    const matches = new Set(this.#byPath.get(ref.segments.join('\u0000')) ?? []);
    if (ref.segments.length > 1 && ref.segments[0] === this.rootName) {
      for (const entry of this.#byPath.get(ref.segments.slice(1).join('\u0000')) ?? []) matches.add(entry);
    }
    if (matches.size === 0) throw new SecretbindError('ENTRY_NOT_FOUND', `No KeePass entry at ${JSON.stringify(ref.segments.join('/'))} (outside the recycle bin).`, { storeType: TYPE });
    if (matches.size > 1) {
      const listed = [...matches].map((entry) => `${entry.path} [${entry.uuid}]`).join(', ');
      throw new SecretbindError('ENTRY_AMBIGUOUS', `${matches.size} KeePass entries share the path ${JSON.stringify(ref.segments.join('/'))}: ${listed}. Rename one or move it.`, { storeType: TYPE });
    }
    const [entry] = matches as Set<IndexedEntry> & { size: 1 };
    return entry!;
  }

  #field(entry: IndexedEntry, requested: string, visiting: Set<string>): string {
    const name = STANDARD_BY_LOWER.get(requested.toLowerCase()) ?? requested;
    const raw = entry.fields.get(name);
    if (raw === undefined) {
      if (STANDARD_BY_LOWER.has(requested.toLowerCase())) return ''; // KeePass treats an absent standard field as empty
      const custom = [...entry.fields.keys()].filter((key) => !STANDARD_BY_LOWER.has(key.toLowerCase()));
      throw new SecretbindError('FIELD_NOT_FOUND', `KeePass entry ${entry.path} has no field ${JSON.stringify(requested)} (custom fields: ${custom.join(', ') || 'none'}).`, { storeType: TYPE });
    }
    const text = fieldText(raw);
    return text.includes('{REF:') ? this.#resolveReferences(entry, name, text, visiting) : text;
  }

  /** KeePass field references, `{REF:<wanted>@<search in>:<text>}`; cycles are refused, not followed. */
  #resolveReferences(entry: IndexedEntry, field: string, text: string, visiting: Set<string>): string {
    const key = `${entry.uuid}/${field}`;
    if (visiting.has(key)) throw new SecretbindError('CONFIG_INVALID', `The field references of KeePass entry ${entry.path} form a cycle.`, { storeType: TYPE });
    const next = new Set(visiting).add(key);
    return text.replace(/\{REF:([TUPANI])@([TUPANIO]):([^}]*)\}/gi, (_placeholder, wanted: string, searchIn: string, term: string) => {
      const target = this.#findReferenced(searchIn.toUpperCase(), term);
      // Name the fields only: the search text of {REF:P@P:...} is itself a password.
      if (!target) {
        throw new SecretbindError('ENTRY_NOT_FOUND', `KeePass entry ${entry.path} has a field reference in ${field} ({REF:${wanted.toUpperCase()}@${searchIn.toUpperCase()}:…}) that matches no entry.`, { storeType: TYPE });
      }
      const code = wanted.toUpperCase();
      return code === 'I' ? target.uuid.toUpperCase() : this.#field(target, REFERENCE_FIELDS[code] as string, next);
    });
  }

  #findReferenced(searchIn: string, term: string): IndexedEntry | undefined {
    if (searchIn === 'I') return this.#byUuid.get(term.toLowerCase());
    // Matching as KeePassXC does: the first entry, in tree order, whose field equals the text.
    return this.#ordered.find((candidate) => {
      if (searchIn === 'O') return [...candidate.fields].some(([name, value]) => !STANDARD_BY_LOWER.has(name.toLowerCase()) && fieldText(value) === term);
      return fieldText(candidate.fields.get(REFERENCE_FIELDS[searchIn] as string)) === term;
    });
  }
}

const REFERENCE_FIELDS: Record<string, string> = { T: 'Title', U: 'UserName', P: 'Password', A: 'URL', N: 'Notes' };

/** A field's text, protected or not; an absent field is the empty string. */
export function fieldText(value: string | Kdbxweb.ProtectedValue | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.getText();
}

function fileProblem(path: string, problem: string, cause?: unknown): SecretbindError {
  return new SecretbindError('CONFIG_INVALID', `KeePass file ${path} ${problem}.`, { storeType: TYPE, cause });
}

function asFileError(error: unknown, path: string): SecretbindError {
  if (error instanceof SecretbindError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const problem =
    code === 'ENOENT'
      ? 'does not exist: check kdbx_path'
      : code === 'EACCES' || code === 'EPERM'
        ? 'cannot be read by this process (permission denied)'
        : code === 'EISDIR'
          ? 'is a directory, not a file'
          : `cannot be read (${code ?? 'error'})`;
  return fileProblem(path, problem, error);
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
