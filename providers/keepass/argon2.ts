/**
 * Argon2 for KDBX 4 key derivation. kdbxweb computes everything else itself but needs an Argon2 implementation
 * registered: @node-rs/argon2 (native, fastest), or hash-wasm where no native build exists.
 */
import { missingPeer, peerLoader, SecretbindError } from 'secretbind';

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
// @node-rs/argon2 declares these as const enums, which cannot be imported at run time.
const NODE_RS_ALGORITHM = { 0: 0, 2: 2 } as const;
const NODE_RS_VERSION = { 0x10: 0, 0x13: 1 } as const;

/** Makes the Argon2 function for a choice; libraries load on the first Argon2 file, not before. */
export function argon2For(choice: Argon2Choice, libs: { nodeRs?: unknown; hashWasm?: unknown } = {}): Argon2Function {
  if (typeof choice === 'function') return choice;
  const nodeRs = peerLoader('keepass', '@node-rs/argon2', libs.nodeRs as NodeRsArgon2 | undefined, () => import('@node-rs/argon2') as Promise<NodeRsArgon2>, INSTALL);
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
