/**
 * Argon2 for KDBX 4 key derivation. kdbxweb computes everything else itself but needs an Argon2 implementation
 * registered: @node-rs/argon2 (native, fastest), or hash-wasm where no native build exists.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { missingPeer, peerLoader, SecretbindError } from 'secretbind';
import type { Argon2Inputs } from './database.js';

/** kdbxweb's Argon2 hook: memory in KiB, type 0 (Argon2d) or 2 (Argon2id), version 0x10 or 0x13. */
export type Argon2Function = (
  password: ArrayBuffer,
  salt: ArrayBuffer,
  memoryKiB: number,
  iterations: number,
  length: number,
  parallelism: number,
  type: 0 | 2,
  version: 0x10 | 0x13,
) => Promise<ArrayBuffer>;

/** Which Argon2 to use: the native `@node-rs/argon2`, the WebAssembly `hash-wasm`, or a function of your own. */
export type Argon2Choice = 'auto' | 'node-rs' | 'hash-wasm' | Argon2Function;

interface NodeRsArgon2 {
  hashRaw(password: Uint8Array, options: { salt: Uint8Array; memoryCost: number; timeCost: number; outputLen: number; parallelism: number; algorithm: number; version: number }): Promise<Uint8Array>;
}
interface HashWasm {
  argon2d(options: Record<string, unknown>): Promise<Uint8Array>;
  argon2id(options: Record<string, unknown>): Promise<Uint8Array>;
}

const INSTALL = 'npm install kdbxweb @node-rs/argon2 (or hash-wasm where no native build exists)';
const requirePeer = createRequire(import.meta.url);
// @node-rs/argon2 declares these as const enums, which cannot be imported at run time.
const NODE_RS_ALGORITHM = { 0: 0, 2: 2 } as const;
const NODE_RS_VERSION = { 0x10: 0, 0x13: 1 } as const;

/** Makes the Argon2 function for a choice; libraries load on the first Argon2 file, not before. */
export function argon2For(choice: Argon2Choice, libs: { nodeRs?: unknown; hashWasm?: unknown } = {}): Argon2Function {
  if (typeof choice === 'function') return choice;
  // A CommonJS package with a native addon: require, not import, which would scan its source for exports first.
  const nodeRs = peerLoader('keepass', '@node-rs/argon2', libs.nodeRs as NodeRsArgon2 | undefined, async () => requirePeer('@node-rs/argon2') as NodeRsArgon2, INSTALL);
  const hashWasm = peerLoader('keepass', 'hash-wasm', libs.hashWasm as HashWasm | undefined, () => import('hash-wasm') as Promise<HashWasm>, INSTALL);

  const viaNodeRs: Argon2Function = async (password, salt, memoryKiB, iterations, length, parallelism, type, version) => {
    const lib = await nodeRs();
    const out = await lib.hashRaw(new Uint8Array(password), {
      salt: new Uint8Array(salt),
      memoryCost: memoryKiB,
      timeCost: iterations,
      outputLen: length,
      parallelism,
      algorithm: NODE_RS_ALGORITHM[type],
      version: NODE_RS_VERSION[version],
    });
    return toArrayBuffer(out);
  };
  const viaHashWasm: Argon2Function = async (password, salt, memoryKiB, iterations, length, parallelism, type, version) => {
    if (version !== 0x13) throw new SecretbindError('CONFIG_INVALID', 'This database uses Argon2 version 0x10, which hash-wasm cannot compute: install @node-rs/argon2.');
    const lib = await hashWasm();
    const options = { password: new Uint8Array(password), salt: new Uint8Array(salt), memorySize: memoryKiB, iterations, hashLength: length, parallelism, outputType: 'binary' };
    return toArrayBuffer(await (type === 2 ? lib.argon2id(options) : lib.argon2d(options)));
  };

  if (choice === 'node-rs') return viaNodeRs;
  if (choice === 'hash-wasm') return viaHashWasm;
  // auto: native where it loads, WebAssembly otherwise.
  let picked: Promise<Argon2Function> | undefined;
  const pick = (): Promise<Argon2Function> =>
    (picked ??= nodeRs().then(
      () => viaNodeRs,
      () =>
        hashWasm().then(
          () => viaHashWasm,
          (error: unknown) => {
            picked = undefined;
            throw missingPeer('keepass', '@node-rs/argon2', INSTALL, (error as SecretbindError).cause);
          },
        ),
    ));
  return async (...args) => (await pick())(...args);
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/**
 * Starts a file's Argon2 derivation before kdbxweb has loaded. Every input but the composite key is in the
 * unencrypted header, and for a password-only database the composite key is SHA-256(SHA-256(password)), so the
 * derivation can run in the thread pool while kdbxweb loads on the main thread (about 30 to 100 ms of a cold
 * start). When kdbxweb then asks the hook for the same inputs, it gets the derivation already under way.
 * Entries are keyed by an HMAC of the inputs (never the inputs themselves) and taken once.
 */
export class Argon2HeadStart {
  readonly #pending = new Map<string, Promise<ArrayBuffer>>();
  readonly #mac = randomBytes(32);
  #used = 0;

  /** How many derivations kdbxweb took from a head start. */
  get used(): number {
    return this.#used;
  }

  /** Starts the derivation for a password-only database with these header inputs. */
  start(argon2: Argon2Function, inputs: Argon2Inputs, password: string): void {
    const composite = createHash('sha256').update(createHash('sha256').update(password, 'utf8').digest()).digest();
    const args: Parameters<Argon2Function> = [toArrayBuffer(composite), toArrayBuffer(inputs.salt), inputs.memoryKiB, inputs.iterations, 32, inputs.parallelism, inputs.type, inputs.version];
    const key = this.#keyOf(args);
    if (this.#pending.has(key)) return;
    const derivation = argon2(...args);
    derivation.catch(() => {}); // reported, if at all, by the real call
    this.#pending.set(key, derivation);
    composite.fill(0);
    // An unused head start (the open failed before kdbxweb asked) must not be kept.
    setTimeout(() => this.#pending.delete(key), 60_000).unref();
  }

  /** kdbxweb's hook: a head start with the same inputs if there is one, else the derivation itself. */
  wrap(argon2: Argon2Function): Argon2Function {
    return (...args) => {
      const key = this.#keyOf(args);
      const started = this.#pending.get(key);
      if (!started) return argon2(...args);
      this.#pending.delete(key);
      this.#used++;
      return started;
    };
  }

  clear(): void {
    this.#pending.clear();
  }

  #keyOf([password, salt, memoryKiB, iterations, length, parallelism, type, version]: Parameters<Argon2Function>): string {
    return createHmac('sha256', this.#mac)
      .update(new Uint8Array(password))
      .update(new Uint8Array(salt))
      .update(`${memoryKiB}:${iterations}:${length}:${parallelism}:${type}:${version}`)
      .digest('base64');
  }
}
