import { describe, expect, it } from 'vitest';
import { MemoryBindingRepository, validateStoreFields } from 'secretbind';
import { thrown } from './helpers.js';


const stores = [
  { name: 'env', type: 'envvar' },
  { name: 'kp', type: 'keepass', kdbx_path: '/srv/secrets.kdbx', master_password_env: 'KEEPASS_MASTER' },
  { name: 'vault', type: 'vault', vault_url: 'https://vault.example.test:8200', vault_kv_version: 2 },
  { name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1' },
  { name: 'lp', type: 'lastpass', lastpass_username: 'ops@example.test' },
];

describe('Class: MemoryBindingRepository', () => {
  describe('Method: fromConfig', () => {
    it('loads valid stores and bindings', () => {
      const repository = MemoryBindingRepository.fromConfig({ stores, bindings: [{ account: 'cmk', store: 'kp', entry: 'Root/cmk' }] });
      expect(repository.listStores().map((store) => store.name)).toEqual(['env', 'kp', 'vault', 'aws', 'lp']);
      expect(repository.findBinding('cmk')).toEqual({ account: 'cmk', store: 'kp', entry: 'Root/cmk' });
      expect(repository.findBinding('other')).toBeUndefined();
    });

    it.each([
      [{ stores: [...stores.slice(0, 2), { name: 'v', type: 'vault', vault_url: 'ftp://x' }] }, 'stores[2].vault_url: expected an http(s) URL'],
      [{ stores: [{ name: 'kp', type: 'keepass', kdbx_path: '/x.kdbx' }] }, 'stores[0].master_password_env: a keepass store needs master_password_env (or master_password_ref), keyfile_path, or both'],
      [{ stores: [{ name: 'kp', type: 'keepass', master_password_env: 'K' }] }, 'stores[0].kdbx_path: required'],
      [{ stores: [{ name: 'kp', type: 'keepass', kdbx_path: '/x', master_password_env: 'not a name' }] }, 'stores[0].master_password_env: expected an environment variable name'],
      [{ stores: [{ name: 'v', type: 'vault', vault_url: 'http://v', vault_kv_version: 3 }] }, 'stores[0].vault_kv_version: expected one of 1, 2'],
      [{ stores: [{ name: 'v', type: 'vault', vault_url: 'http://v', vault_auth_method: 'approle' }] }, 'stores[0].vault_role_id_env: required (or vault_role_id_ref) when vault_auth_method is "approle"'],
      [{ stores: [{ name: 'v', type: 'vault', vault_urll: 'http://v' }] }, 'stores[0].vault_urll: unknown field for a vault store'],
      [{ stores: [{ name: 'a', type: 'aws_secrets', aws_role_arn: 'role' }] }, 'stores[0].aws_role_arn: expected an IAM role ARN'],
      [{ stores: [{ name: '', type: 'envvar' }] }, 'stores[0].name: expected a non-empty string'],
      [{ stores: [{ name: 'e', type: 'envvar' }, { name: 'e', type: 'envvar' }] }, 'stores[1].name: a store named "e" is already defined'],
      [{ stores: [{ name: 'e', type: 'envvar', enabled: 'no' }] }, 'stores[0].enabled: expected true or false'],
      [{ stores: 'x' }, 'stores: expected an array'],
      [{ stores, bindings: [{ account: 'a', store: 'nope', entry: 'X' }] }, 'bindings[0].store: no store named "nope" is defined'],
      [{ stores, bindings: [{ account: 'a', store: 'env', entry: 'X' }, { account: 'a', store: 'env', entry: 'Y' }] }, 'bindings[1].account: account "a" is already bound'],
      [{ stores, bindings: [{ account: 'a', store: 'env', entry: 'Root/' }] }, 'bindings[0].entry: Invalid entry reference "Root/" at column 6'],
      [{ stores, bindings: [{ account: 'a', store: 'env' }] }, 'bindings[0].entry: expected a non-empty string'],
    ])('rejects %j with CONFIG_INVALID: %s', (config, message) => {
      const error = thrown(() => MemoryBindingRepository.fromConfig(config));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain(message);
    });

    it('accepts stores of custom types with any fields', () => {
      expect(() => MemoryBindingRepository.fromConfig({ stores: [{ name: 'c', type: 'custom', anything: 1 }] })).not.toThrow();
    });
  });

  describe('Method: removeStore', () => {
    it('refuses with STORE_IN_USE naming the bindings, then removes once they are gone', () => {
      const repository = MemoryBindingRepository.fromConfig({
        stores,
        bindings: [
          { account: 'a', store: 'env', entry: 'A' },
          { account: 'b', store: 'env', entry: 'B' },
        ],
      });
      const error = thrown(() => repository.removeStore('env'));
      expect(error.code).toBe('STORE_IN_USE');
      expect(error.message).toContain('"a", "b"');
      expect(repository.findStore('env')).toBeDefined();
      repository.removeBinding('a');
      repository.removeBinding('b');
      expect(repository.removeStore('env')).toBe(true);
      expect(repository.findStore('env')).toBeUndefined();
    });
  });

  describe('Method: putBinding', () => {
    it('refuses a binding to a store that does not exist', () => {
      const error = thrown(() => new MemoryBindingRepository().putBinding({ account: 'a', store: 'missing', entry: 'X' }));
      expect(error.code).toBe('STORE_NOT_FOUND');
    });

    it('keeps its own copies, so later edits of the input change nothing', () => {
      const store = { name: 'env', type: 'envvar', enabled: true };
      const repository = new MemoryBindingRepository().putStore(store);
      store.enabled = false;
      expect(repository.findStore('env')?.enabled).toBe(true);
    });
  });
});

describe('Function: validateStoreFields', () => {
  it('treats null fields as absent (database rows)', () => {
    expect(() => validateStoreFields({ name: 'kp', type: 'keepass', kdbx_path: '/x', keyfile_path: null, master_password_env: 'K' })).not.toThrow();
    expect(() => validateStoreFields({ name: 'kp', type: 'keepass', kdbx_path: '/x', keyfile_path: null, master_password_env: null })).toThrow(/needs master_password_env/);
  });
});
