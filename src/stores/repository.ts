import { SecretbindError } from '../core/index.js';
import { parseReference } from '../core/index.js';
import { validateStoreFields } from './fields.js';
import type { Account, AccountBinding, BindingConfig, BindingRepository, SecretStore } from './records.js';

/**
 * An in-memory {@link BindingRepository} with the integrity rules a database would enforce: a binding's store must
 * exist, and a store that bindings still use cannot be removed (`STORE_IN_USE`).
 *
 * @example
 * ```ts
 * const repository = MemoryBindingRepository.fromConfig({
 *   stores: [{ name: 'env', type: 'envvar' }],
 *   bindings: [{ account: 'checkmk-prod', store: 'env', entry: 'CMK_PROD_PASSWORD' }],
 * })
 * ```
 */
export class MemoryBindingRepository implements BindingRepository {
  readonly #stores = new Map<string, SecretStore>();
  readonly #bindings = new Map<string, AccountBinding>();
  readonly #accounts = new Map<string, Account>();

  /**
   * Builds a repository from a plain object, validating every store and binding. Bad input is `CONFIG_INVALID`
   * naming the exact place, e.g. `stores[2].vault_url: expected an http(s) URL` or `bindings[0].entry: ...`.
   */
  static fromConfig(config: BindingConfig): MemoryBindingRepository {
    if (typeof config !== 'object' || config === null) throw new SecretbindError('CONFIG_INVALID', 'config: expected an object with stores and bindings');
    const stores = listAt(config.stores, 'stores');
    const bindings = listAt(config.bindings, 'bindings');
    const repository = new MemoryBindingRepository();
    stores.forEach((store, index) => {
      const place = `stores[${index}]`;
      validateStoreFields(store, { place, strict: true });
      if (repository.#stores.has(store.name)) throw new SecretbindError('CONFIG_INVALID', `${place}.name: a store named ${JSON.stringify(store.name)} is already defined`);
      repository.#stores.set(store.name, { ...store });
    });
    bindings.forEach((binding, index) => {
      const place = `bindings[${index}]`;
      checkBinding(binding, place);
      if (!repository.#stores.has(binding.store)) {
        throw new SecretbindError('CONFIG_INVALID', `${place}.store: no store named ${JSON.stringify(binding.store)} is defined`);
      }
      if (repository.#bindings.has(binding.account)) {
        throw new SecretbindError('CONFIG_INVALID', `${place}.account: account ${JSON.stringify(binding.account)} is already bound`);
      }
      repository.#bindings.set(binding.account, { ...binding });
    });
    return repository;
  }

  findBinding(accountName: string): AccountBinding | undefined {
    return this.#bindings.get(accountName);
  }

  findStore(storeName: string): SecretStore | undefined {
    return this.#stores.get(storeName);
  }

  listBindings(): AccountBinding[] {
    return [...this.#bindings.values()];
  }

  listStores(): SecretStore[] {
    return [...this.#stores.values()];
  }

  /** Adds or replaces a store after validating it (`CONFIG_INVALID`). */
  putStore(store: SecretStore): this {
    validateStoreFields(store);
    this.#stores.set(store.name, { ...store });
    return this;
  }

  /** Adds or replaces the binding of `binding.account`. Its store must exist (`STORE_NOT_FOUND`). */
  putBinding(binding: AccountBinding): this {
    checkBinding(binding, `binding of ${JSON.stringify(binding?.account)}`);
    if (!this.#stores.has(binding.store)) {
      throw new SecretbindError('STORE_NOT_FOUND', `Cannot bind account ${JSON.stringify(binding.account)}: no store named ${JSON.stringify(binding.store)}; add it with putStore first.`, {
        account: binding.account,
        store: binding.store,
      });
    }
    this.#bindings.set(binding.account, { ...binding });
    return this;
  }

  /** Removes a store. Refused with `STORE_IN_USE`, naming the bindings, while any binding uses it. */
  removeStore(storeName: string): boolean {
    const users = [...this.#bindings.values()].filter((binding) => binding.store === storeName).map((binding) => binding.account);
    if (users.length > 0) {
      throw new SecretbindError(
        'STORE_IN_USE',
        `Store ${JSON.stringify(storeName)} is still used by the bindings of ${users.map((name) => JSON.stringify(name)).join(', ')}: remove or rebind them first.`,
        { store: storeName },
      );
    }
    return this.#stores.delete(storeName);
  }

  /** Removes an account's binding; the account goes back to its local password. */
  removeBinding(accountName: string): boolean {
    return this.#bindings.delete(accountName);
  }

  /** {@link putBinding}, as {@link BindingRepository.saveBinding}. */
  saveBinding(binding: AccountBinding): void {
    this.putBinding(binding);
  }

  /** Adds or replaces an account (its name and local password token) for migration. */
  putAccount(account: Account): this {
    if (typeof account?.name !== 'string' || account.name.length === 0) throw new SecretbindError('CONFIG_INVALID', 'putAccount: the account needs a non-empty name.');
    this.#accounts.set(account.name, { ...account });
    return this;
  }

  findAccount(accountName: string): Account | undefined {
    const account = this.#accounts.get(accountName);
    return account && { ...account };
  }

  listAccounts(): Account[] {
    return [...this.#accounts.values()].map((account) => ({ ...account }));
  }

  saveAccountPassword(accountName: string, token: string | null): void {
    const account = this.#accounts.get(accountName);
    if (!account) throw new SecretbindError('CONFIG_INVALID', `There is no account named ${JSON.stringify(accountName)}.`, { account: accountName });
    this.#accounts.set(accountName, { ...account, password: token });
  }
}

/**
 * Checks a binding record's shape and its reference; throws `CONFIG_INVALID` naming `place`.
 * Shared by every repository that wants the same rules as {@link MemoryBindingRepository}.
 */
export function checkBinding(binding: unknown, place: string): asserts binding is AccountBinding {
  if (typeof binding !== 'object' || binding === null || Array.isArray(binding)) throw new SecretbindError('CONFIG_INVALID', `${place}: expected an object`);
  const record = binding as Record<string, unknown>;
  for (const field of ['account', 'store', 'entry'] as const) {
    const value = record[field];
    if (typeof value !== 'string' || value.length === 0) throw new SecretbindError('CONFIG_INVALID', `${place}.${field}: expected a non-empty string`);
  }
  if (record.enabled !== undefined && typeof record.enabled !== 'boolean') throw new SecretbindError('CONFIG_INVALID', `${place}.enabled: expected true or false`);
  try {
    parseReference(record.entry as string);
  } catch (error) {
    throw new SecretbindError('CONFIG_INVALID', `${place}.entry: ${(error as Error).message}`, { cause: error });
  }
}

function listAt(value: unknown, place: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new SecretbindError('CONFIG_INVALID', `${place}: expected an array`);
  return value;
}
