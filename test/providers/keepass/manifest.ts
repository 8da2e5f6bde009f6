/**
 * Every case of the fixtures' manifest (files made by keepassxc-cli and pykeepass), run through the resolver.
 * Called once per Argon2 implementation, each from its own test file (kdbxweb's Argon2 hook is per process).
 */
import { describe, expect, it } from 'vitest';
import { createSecretResolver, SecretbindError, type AccountBinding, type SecretStore } from 'secretbind';
import { keepass, type Argon2Choice } from '../../../providers/keepass/index.js';
import { fixture, manifest, MASTER } from './helpers.js';

const ENV = { KEEPASS_MASTER: MASTER, WRONG_MASTER: 'wrong master password' };

function storeFor(file: string, options: { password: boolean | string; keyfile: string | null | undefined }): SecretStore {
  const store: SecretStore = { name: file, type: 'keepass', kdbx_path: fixture(file) };
  if (options.password === true) store.master_password_env = 'KEEPASS_MASTER';
  if (typeof options.password === 'string') store.master_password_env = options.password === MASTER ? 'KEEPASS_MASTER' : 'WRONG_MASTER';
  if (options.keyfile) store.keyfile_path = fixture(options.keyfile);
  return store;
}

/** A repository of one store and one binding, written as any database-backed repository would be. */
function resolverFor(store: SecretStore, entry: string, argon2: Argon2Choice, provider = keepass({ env: ENV, argon2 })) {
  const binding: AccountBinding = { account: 'account', store: store.name, entry };
  return createSecretResolver({ repository: { findBinding: () => binding, findStore: () => store }, providers: [provider], cryptographyKey: [] });
}

async function outcome(promise: Promise<string | null>): Promise<{ value: string | null } | { error: string; message: string }> {
  try {
    return { value: await promise };
  } catch (error) {
    expect(error).toBeInstanceOf(SecretbindError);
    return { error: (error as SecretbindError).code, message: (error as SecretbindError).message };
  }
}

export function describeManifest(argon2: Argon2Choice): void {
  describe(`KeePass fixtures (Argon2 via ${String(argon2)})`, () => {
    for (const file of manifest.files) {
      describe(`${file.file} (${file.format}, ${file.kdf}, ${file.cipher})`, () => {
        const store = storeFor(file.file, { password: file.password, keyfile: file.keyfile });
        const provider = keepass({ env: ENV, argon2 });
        const unsupported = file.cipher === 'Twofish';
        it.each(file.cases.map((testCase) => [testCase.ref, testCase] as const))('%j', async (_, testCase) => {
          const result = await outcome(resolverFor(store, testCase.ref, argon2, provider).resolvePassword({ name: 'account' }));
          if (unsupported && !('error' in testCase.expect && testCase.expect.error === 'REFERENCE_INVALID')) {
            // kdbxweb has no Twofish: every case fails the same way, naming the cipher.
            expect(result).toMatchObject({ error: 'CONFIG_INVALID', message: expect.stringContaining('Twofish') });
          } else {
            expect(result).toMatchObject(testCase.expect);
          }
        });
      });
    }

    describe('bad files', () => {
      it.each(manifest.bad_files.map((bad) => [`${bad.file}: ${bad.why}`, bad] as const))('%s', async (_, bad) => {
        const store = storeFor(bad.file, { password: bad.password, keyfile: bad.keyfile ?? manifest.files.find((file) => file.file === bad.file)?.keyfile });
        if (bad.keyfile === null) delete store.keyfile_path;
        const result = await outcome(resolverFor(store, 'Root/Infrastructure/checkmk-prod', argon2).resolvePassword({ name: 'account' }));
        expect(result).toMatchObject({ error: bad.expect_error });
        if ('message' in result) {
          expect(result.message).not.toContain(MASTER);
          if (bad.expect_error === 'CONFIG_INVALID') expect(result.message).toContain(fixture(bad.file));
          if (bad.expect_error === 'AUTH_FAILED') expect(result.message).toContain('KeePass rejected the credentials');
        }
      });
    });
  });
}
