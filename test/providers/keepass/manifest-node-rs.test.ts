import { vi } from 'vitest';
import { describeManifest } from './manifest.js';

// hash-wasm unimportable: every Argon2 file below is opened by @node-rs/argon2 alone.
vi.mock('hash-wasm', () => {
  throw Object.assign(new Error("Cannot find package 'hash-wasm'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describeManifest('node-rs');
