import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SecretbindError } from './errors.js';

/**
 * Fernet (the spec Python's `cryptography` implements) on node:crypto, for the local passwords accounts keep.
 * Verdicts match `cryptography.fernet.Fernet`/`MultiFernet` case for case, including its lenient base64.
 */

/** Seconds since the Unix epoch. */
export type UnixSeconds = number;

/** A Fernet key, or several newest first; a string may also list several keys separated by commas. */
export type FernetKeyInput = string | readonly string[];

export interface FernetDecryptOptions {
  /** Reject tokens older than this many seconds (and tokens more than 60 s in the future). Default: no limit. */
  ttlSeconds?: number;
  /** The clock for `ttlSeconds`. Default: the system clock. */
  now?: () => UnixSeconds;
}

export interface FernetEncryptOptions {
  /** The token's timestamp. Default: now. */
  now?: UnixSeconds;
  /** The 16-byte IV. Default: random. Fixing it is for reproducing known tokens only. */
  iv?: Uint8Array;
}

const VERSION = 0x80;
const MAX_CLOCK_SKEW_SECONDS = 60;
const HEADER_BYTES = 1 + 8 + 16;
const HMAC_BYTES = 32;

/** A parsed key: the HMAC half and the AES half. */
interface FernetKey {
  signing: Buffer;
  encryption: Buffer;
}

/**
 * A new random Fernet key (url-safe base64 of 32 bytes), the format `CRYPTOGRAPHY_KEY` holds.
 *
 * @example
 * ```ts
 * const key = generateFernetKey() // 'IpHYzcMQQR5-wnN4pmHJNRh8B-TVY26bw8QAsnJEuM0='
 * ```
 */
export function generateFernetKey(): string {
  return toUrlsafeBase64(randomBytes(32));
}

/**
 * Encrypts a local password into a Fernet token with the first (newest) key.
 *
 * @example
 * ```ts
 * const token = encryptLocalPassword('hunter2', process.env.CRYPTOGRAPHY_KEY!)
 * ```
 */
export function encryptLocalPassword(plaintext: string | Uint8Array, key: FernetKeyInput, options: FernetEncryptOptions = {}): string {
  const [first] = parseFernetKeys(key);
  if (!first) throw missingKey();
  const iv = options.iv === undefined ? randomBytes(16) : Buffer.from(options.iv);
  if (iv.length !== 16) throw new SecretbindError('CONFIG_INVALID', 'The Fernet IV must be 16 bytes.');
  if (options.now !== undefined) unixSeconds(options.now, 'now');
  const timestamp = Math.floor(options.now ?? Date.now() / 1000);
  const header = Buffer.alloc(9);
  header[0] = VERSION;
  header.writeBigUInt64BE(BigInt(timestamp), 1);
  const cipher = createCipheriv('aes-128-cbc', first.encryption, iv);
  const body = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : Buffer.from(plaintext);
  const signed = Buffer.concat([header, iv, cipher.update(body), cipher.final()]);
  const mac = createHmac('sha256', first.signing).update(signed).digest();
  return toUrlsafeBase64(Buffer.concat([signed, mac]));
}

/**
 * Decrypts a Fernet token to UTF-8 text, trying each key newest first.
 * Throws `LOCAL_KEY_MISSING` without keys, `CONFIG_INVALID` for a malformed key, and `LOCAL_DECRYPT_FAILED`
 * for a wrong key, a tampered or expired token, or a plaintext that is not UTF-8 (use the bytes variant).
 *
 * @example
 * ```ts
 * const password = decryptLocalPassword(account.password, [newKey, oldKey])
 * ```
 */
export function decryptLocalPassword(token: string, key: FernetKeyInput, options: FernetDecryptOptions = {}): string {
  return decryptTextWithKeys(token, parseFernetKeys(key), options);
}

/** @internal */
export function decryptTextWithKeys(token: string, keys: readonly FernetKey[], options: FernetDecryptOptions = {}): string {
  const bytes = decryptWithKeys(token, keys, options);
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new SecretbindError('LOCAL_DECRYPT_FAILED', 'The local password decrypted, but is not UTF-8 text: use decryptLocalPasswordBytes for binary values.');
  }
}

/** {@link decryptLocalPassword} for binary plaintexts: returns the exact bytes. */
export function decryptLocalPasswordBytes(token: string, key: FernetKeyInput, options: FernetDecryptOptions = {}): Uint8Array {
  return decryptWithKeys(token, parseFernetKeys(key), options);
}

/** A fatal decoder: a binary plaintext is an error, never a string with replacement characters. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses keys once so a resolver does not re-parse them per lookup. Throws `CONFIG_INVALID` naming the key's
 * position, never its text.
 * @internal
 */
export function parseFernetKeys(input: FernetKeyInput): FernetKey[] {
  const texts = typeof input === 'string' ? input.split(',').map((part) => part.trim()) : [...input];
  return texts.map((text, index) => {
    const bytes = typeof text === 'string' ? pythonUrlsafeB64decode(text) : undefined;
    if (!bytes || bytes.length !== 32) {
      const which = texts.length > 1 ? `Fernet key ${index + 1} of ${texts.length}` : 'The Fernet key';
      throw new SecretbindError('CONFIG_INVALID', `${which} is malformed: it must be 32 url-safe base64-encoded bytes (make one with \`secretbind keygen\`).`);
    }
    return { signing: bytes.subarray(0, 16), encryption: bytes.subarray(16) };
  });
}

/** @internal */
export function decryptWithKeys(token: string, keys: readonly FernetKey[], options: FernetDecryptOptions = {}): Uint8Array {
  if (keys.length === 0) throw missingKey();
  const data = typeof token === 'string' ? pythonUrlsafeB64decode(token) : undefined;
  if (!data || data.length < 9 || data[0] !== VERSION) throw decryptFailed('it is not a Fernet token');
  if (options.ttlSeconds !== undefined) {
    unixSeconds(options.ttlSeconds, 'ttlSeconds');
    const timestamp = data.readBigUInt64BE(1);
    const now = BigInt(Math.floor(unixSeconds((options.now ?? systemSeconds)(), 'now()')));
    if (timestamp + BigInt(Math.floor(options.ttlSeconds)) < now) throw decryptFailed(`it is older than the ${options.ttlSeconds} s TTL`);
    if (now + BigInt(MAX_CLOCK_SKEW_SECONDS) < timestamp) throw decryptFailed('its timestamp is in the future');
  }
  for (const key of keys) {
    const plaintext = decryptWithKey(data, key);
    if (plaintext) return plaintext;
  }
  throw decryptFailed(keys.length > 1 ? `it does not verify with any of the ${keys.length} configured keys, or was tampered with` : 'it does not verify with the configured key, or was tampered with');
}

function decryptWithKey(data: Buffer, key: FernetKey): Uint8Array | undefined {
  if (data.length < HEADER_BYTES + HMAC_BYTES) return undefined;
  const signedEnd = data.length - HMAC_BYTES;
  const expected = createHmac('sha256', key.signing).update(data.subarray(0, signedEnd)).digest();
  if (!timingSafeEqual(expected, data.subarray(signedEnd))) return undefined;
  const ciphertext = data.subarray(HEADER_BYTES, signedEnd);
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) return undefined;
  try {
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, data.subarray(9, HEADER_BYTES));
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    return undefined; // bad PKCS#7 padding
  }
}

const systemSeconds = (): UnixSeconds => Date.now() / 1000;

/** A count of seconds must be finite and not negative: BigInt() would throw a bare RangeError on NaN or Infinity. */
function unixSeconds(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw new SecretbindError('CONFIG_INVALID', `Fernet option ${option} must be a finite number of seconds, 0 or more (got ${String(value)}).`);
  }
  return value;
}

function toUrlsafeBase64(bytes: Buffer): string {
  // Python keeps the '=' padding; Node's 'base64url' would drop it.
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

const B64_VALUES = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  table['-'.charCodeAt(0)] = 62; // urlsafe_b64decode maps - and _ onto + and /, and keeps + and / valid
  table['_'.charCodeAt(0)] = 63;
  return table;
})();

/**
 * Python's `base64.urlsafe_b64decode` (binascii's non-strict mode): characters outside the alphabet are skipped,
 * a pad ends the data once it completes a quantum, a lone early pad is ignored, and an incomplete final quantum
 * is an error. Node's decoder is more lenient (it accepts missing padding), so it cannot stand in.
 */
function pythonUrlsafeB64decode(text: string): Buffer | undefined {
  const out = Buffer.allocUnsafe(Math.floor((text.length * 3) / 4) + 3);
  let length = 0;
  let quadPos = 0;
  let leftChar = 0;
  let pads = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 127) return undefined; // Python refuses non-ASCII text outright
    if (code === 61 /* = */) {
      if (quadPos >= 2 && quadPos + ++pads >= 4) return out.subarray(0, length);
      continue;
    }
    const value = B64_VALUES[code] as number;
    if (value < 0) continue;
    pads = 0;
    switch (quadPos) {
      case 0:
        quadPos = 1;
        leftChar = value;
        break;
      case 1:
        quadPos = 2;
        out[length++] = ((leftChar << 2) | (value >> 4)) & 0xff;
        leftChar = value & 0x0f;
        break;
      case 2:
        quadPos = 3;
        out[length++] = ((leftChar << 4) | (value >> 2)) & 0xff;
        leftChar = value & 0x03;
        break;
      default:
        quadPos = 0;
        out[length++] = ((leftChar << 6) | value) & 0xff;
        leftChar = 0;
    }
  }
  return quadPos === 0 ? out.subarray(0, length) : undefined;
}

function missingKey(): SecretbindError {
  return new SecretbindError('LOCAL_KEY_MISSING', 'No Fernet key is configured for local passwords: set CRYPTOGRAPHY_KEY or pass cryptographyKey.');
}

function decryptFailed(reason: string): SecretbindError {
  return new SecretbindError('LOCAL_DECRYPT_FAILED', `The local password token could not be decrypted: ${reason}.`);
}
