// The records every part of secretbind passes around, and the repository they come from. Types only.

/** An application's account: a name and, optionally, its local Fernet-encrypted password. */
export interface Account {
  name: string;
  /** The local password as a Fernet token; used while the account has no active binding. */
  password?: string | null;
  [field: string]: unknown;
}

/**
 * A configured secret store. Fields are flat and named as DESIGN.md fixes them (`kdbx_path`, `vault_url`, ...);
 * they hold where credentials are (file paths, environment variable names), never the credentials.
 */
export interface SecretStore {
  name: string;
  /** The provider type: `keepass`, `lastpass`, `vault`, `aws_secrets`, `envvar`, `memory` or a custom one. */
  type: string;
  /** A disabled store sends every account bound to it back to its local password. Default: true. */
  enabled?: boolean;
  [field: string]: unknown;
}

/** Binds an account to an entry of a store. */
export interface AccountBinding {
  account: string;
  store: string;
  /** The entry reference, `path#field` (see `parseReference`). */
  entry: string;
  /** A disabled binding sends the account back to its local password. Default: true. */
  enabled?: boolean;
}

/** A value that may come synchronously or as a promise: repositories over a database return promises. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Where bindings and stores live. Any database can implement it; `undefined` means "there is none".
 * The list methods are optional: `check()` and bulk tooling use them where present.
 */
export interface BindingRepository {
  findBinding(accountName: string): MaybePromise<AccountBinding | undefined>;
  findStore(storeName: string): MaybePromise<SecretStore | undefined>;
  listBindings?(): MaybePromise<readonly AccountBinding[]>;
  listStores?(): MaybePromise<readonly SecretStore[]>;
  /** The accounts with their local passwords (Fernet tokens); migration reads them from here when not given them. */
  listAccounts?(): MaybePromise<readonly Account[]>;
  /** Adds or replaces an account's binding (migration binds each account it moved). */
  saveBinding?(binding: AccountBinding): MaybePromise<void>;
  /** Removes an account's binding (migration's rollback). */
  removeBinding?(accountName: string): MaybePromise<unknown>;
  /** Sets (a Fernet token) or clears (`null`) an account's local password. */
  saveAccountPassword?(accountName: string, token: string | null): MaybePromise<void>;
}

/** The plain-object shape `MemoryBindingRepository.fromConfig` accepts (a parsed JSON file, database rows). */
export interface BindingConfig {
  stores?: unknown;
  bindings?: unknown;
}
