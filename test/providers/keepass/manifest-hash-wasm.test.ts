import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { keepass } from '../../../providers/keepass/index.js';
import { fixture, MASTER } from './helpers.js';
import { describeManifest } from './manifest.js';
import { uninstall } from '../../helpers.js';

// No native build: @node-rs/argon2 cannot be required, so every Argon2 file below is opened by hash-wasm alone.
uninstall('@node-rs/argon2');

describeManifest('hash-wasm');

describe('Provider: keepass choosing Argon2 automatically', () => {
  it("falls back to hash-wasm under 'auto' when @node-rs/argon2 cannot load", async () => {
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'kp', type: 'keepass', kdbx_path: fixture('kdbx4-argon2id-chacha20.kdbx'), master_password_env: 'KEEPASS_MASTER' })
      .putBinding({ account: 'a', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod' });
    const resolver = createSecretResolver({ repository, providers: [keepass({ env: { KEEPASS_MASTER: MASTER }, argon2: 'auto' })], cryptographyKey: [] });
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('Ch3ck-MK!prod#2026');
  });
});
