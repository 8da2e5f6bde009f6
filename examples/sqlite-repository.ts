/**
 * A BindingRepository over a real SQLite database: any database can hold the bindings.
 * Foreign keys give the same integrity rules as MemoryBindingRepository: a binding's store must exist
 * (STORE_NOT_FOUND), and a store still in use cannot be removed (STORE_IN_USE).
 *
 * The driver is Node's own `node:sqlite` from Node 24 on, better-sqlite3 before: better-sqlite3 12 (the last release
 * for Node 20) aborts a Node 24 process when the garbage collector frees one of its statements (`Assertion failed:
 * (env) != nullptr` in RemoveEnvironmentCleanupHook), and Node 22 still flags `node:sqlite` experimental. Both
 * drivers share the calls used here (exec, prepare, get, all, run, close).
 */
import { createRequire } from 'node:module';
import { checkBinding, SecretbindError, validateStoreFields, type Account, type AccountBinding, type AssociationRecord, type BindingRepository, type SecretStore, type SyncStateRepository } from 'secretbind';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS secret_stores (
    name    TEXT PRIMARY KEY,
    type    TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    fields  TEXT NOT NULL DEFAULT '{}'   -- kdbx_path, vault_url, ...: never credentials
  );
  CREATE TABLE IF NOT EXISTS account_bindings (
    account TEXT PRIMARY KEY,
    store   TEXT NOT NULL REFERENCES secret_stores(name) ON DELETE RESTRICT,
    entry   TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1
  );
  -- The application's accounts: the local password is a Fernet token, NULL once migration cleared it.
  CREATE TABLE IF NOT EXISTS accounts (
    name       TEXT PRIMARY KEY,
    password   TEXT,
    changed_at TEXT NOT NULL DEFAULT (datetime('now'))
  );
  -- Sync's associations: names, versions and an HMAC of the value, never the value.
  CREATE TABLE IF NOT EXISTS sync_associations (
    sync        TEXT NOT NULL,
    entry       TEXT NOT NULL,
    record      TEXT NOT NULL,          -- the AssociationRecord as JSON
    PRIMARY KEY (sync, entry)
  );
  DROP TABLE IF EXISTS sync_key;        -- the HMAC key an earlier version kept beside the HMACs`;

/** The part of a SQLite driver this example uses, which better-sqlite3 and `node:sqlite` have alike. */
export interface SqliteConnection {
  exec(sql: string): void;
  prepare(sql: string): {
    get(...parameters: Array<string | number | null>): unknown;
    all(...parameters: Array<string | number | null>): unknown[];
    run(...parameters: Array<string | number | null>): { changes: number | bigint };
  };
  close(): void;
}

/** Opens (or creates) a database file with the driver this Node runs best (see the top of this file). */
export function openSqlite(filename: string): SqliteConnection {
  if (Number(process.versions.node.split('.')[0]) >= 24) {
    // Typed here: the project's @types/node is Node 20's, which has no node:sqlite.
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as { DatabaseSync: new (filename: string) => SqliteConnection };
    return new DatabaseSync(filename);
  }
  const Database = createRequire(import.meta.url)('better-sqlite3') as new (filename: string) => SqliteConnection;
  return new Database(filename);
}

/** Runs `work` in one transaction: committed when it returns, rolled back when it throws. */
function inTransaction(db: SqliteConnection, work: () => void): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    work();
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

interface StoreRow {
  name: string;
  type: string;
  enabled: number;
  fields: string;
}
interface BindingRow {
  account: string;
  store: string;
  entry: string;
  enabled: number;
}

export class SqliteBindingRepository implements BindingRepository {
  readonly #db: SqliteConnection;

  constructor(filename: string) {
    this.#db = openSqlite(filename);
    this.#db.exec('PRAGMA foreign_keys = ON'); // SQLite leaves them off unless asked, per connection
    this.#db.exec(SCHEMA);
  }

  findBinding(accountName: string): AccountBinding | undefined {
    const row = this.#db.prepare('SELECT * FROM account_bindings WHERE account = ?').get(accountName) as BindingRow | undefined;
    return row && toBinding(row);
  }

  findStore(storeName: string): SecretStore | undefined {
    const row = this.#db.prepare('SELECT * FROM secret_stores WHERE name = ?').get(storeName) as StoreRow | undefined;
    return row && toStore(row);
  }

  listBindings(): AccountBinding[] {
    return (this.#db.prepare('SELECT * FROM account_bindings ORDER BY account').all() as BindingRow[]).map(toBinding);
  }

  listStores(): SecretStore[] {
    return (this.#db.prepare('SELECT * FROM secret_stores ORDER BY name').all() as StoreRow[]).map(toStore);
  }

  putStore(store: SecretStore): this {
    validateStoreFields(store);
    const { name, type, enabled, ...fields } = store;
    this.#db
      .prepare('INSERT INTO secret_stores (name, type, enabled, fields) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET type = excluded.type, enabled = excluded.enabled, fields = excluded.fields')
      .run(name, type, enabled === false ? 0 : 1, JSON.stringify(fields));
    return this;
  }

  putBinding(binding: AccountBinding): this {
    checkBinding(binding, `binding of ${JSON.stringify(binding.account)}`);
    try {
      this.#db
        .prepare('INSERT INTO account_bindings (account, store, entry, enabled) VALUES (?, ?, ?, ?) ON CONFLICT(account) DO UPDATE SET store = excluded.store, entry = excluded.entry, enabled = excluded.enabled')
        .run(binding.account, binding.store, binding.entry, binding.enabled === false ? 0 : 1);
    } catch (error) {
      if (!isForeignKeyViolation(error)) throw error;
      throw new SecretbindError('STORE_NOT_FOUND', `Cannot bind account ${JSON.stringify(binding.account)}: no store named ${JSON.stringify(binding.store)}; add it with putStore first.`, {
        account: binding.account,
        store: binding.store,
      });
    }
    return this;
  }

  removeStore(storeName: string): boolean {
    try {
      return Number(this.#db.prepare('DELETE FROM secret_stores WHERE name = ?').run(storeName).changes) > 0;
    } catch (error) {
      if (!isForeignKeyViolation(error)) throw error;
      const users = this.#db.prepare('SELECT account FROM account_bindings WHERE store = ? ORDER BY account').all(storeName) as Array<{ account: string }>;
      throw new SecretbindError(
        'STORE_IN_USE',
        `Store ${JSON.stringify(storeName)} is still used by the bindings of ${users.map((user) => JSON.stringify(user.account)).join(', ')}: remove or rebind them first.`,
        { store: storeName },
      );
    }
  }

  removeBinding(accountName: string): boolean {
    return Number(this.#db.prepare('DELETE FROM account_bindings WHERE account = ?').run(accountName).changes) > 0;
  }

  putAccount(account: Account): this {
    this.#db.prepare('INSERT INTO accounts (name, password) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET password = excluded.password').run(account.name, account.password ?? null);
    return this;
  }

  listAccounts(): Account[] {
    return (this.#db.prepare('SELECT name, password FROM accounts ORDER BY name').all() as Array<{ name: string; password: string | null }>).map((row) => ({ name: row.name, password: row.password }));
  }

  /** Migration binds an account: the binding and the account's change time move together, in one transaction. */
  saveBinding(binding: AccountBinding): void {
    inTransaction(this.#db, () => {
      this.putBinding(binding);
      this.#db.prepare("UPDATE accounts SET changed_at = datetime('now') WHERE name = ?").run(binding.account);
    });
  }

  /**
   * Migration clears (or, rolling back, restores) a local password. In one transaction with a check that the account
   * is bound when the password is cleared: the database itself refuses to leave an account with neither.
   */
  saveAccountPassword(accountName: string, token: string | null): void {
    inTransaction(this.#db, () => {
      if (token === null && !this.findBinding(accountName)) throw new SecretbindError('CONFIG_INVALID', `Account ${JSON.stringify(accountName)} has no binding: its local password is its only one and stays.`, { account: accountName });
      const changed = Number(this.#db.prepare("UPDATE accounts SET password = ?, changed_at = datetime('now') WHERE name = ?").run(token, accountName).changes);
      if (changed === 0) throw new SecretbindError('CONFIG_INVALID', `There is no account named ${JSON.stringify(accountName)}.`, { account: accountName });
    });
  }

  /** The connection, for a {@link SqliteSyncState} in the same file. */
  get database(): SqliteConnection {
    return this.#db;
  }

  close(): void {
    this.#db.close();
  }
}

/**
 * Sync's state in the same database: `createSyncEngine({ ..., state: new SqliteSyncState(db) })`. Each put is its
 * own statement, so a process killed mid-pass keeps every association it finished; the next pass converges. It holds
 * no key: pass the engine a `stateKey` kept elsewhere (a variable, a key file).
 */
export class SqliteSyncState implements SyncStateRepository {
  readonly #db: SqliteConnection;

  constructor(db: SqliteConnection) {
    this.#db = db;
    this.#db.exec(SCHEMA);
  }

  list(sync?: string): AssociationRecord[] {
    const rows = (sync === undefined ? this.#db.prepare('SELECT record FROM sync_associations ORDER BY sync, entry').all() : this.#db.prepare('SELECT record FROM sync_associations WHERE sync = ? ORDER BY entry').all(sync)) as Array<{ record: string }>;
    return rows.map((row) => JSON.parse(row.record) as AssociationRecord);
  }

  put(record: AssociationRecord): void {
    this.#db.prepare('INSERT INTO sync_associations (sync, entry, record) VALUES (?, ?, ?) ON CONFLICT(sync, entry) DO UPDATE SET record = excluded.record').run(record.sync, record.entry, JSON.stringify(record));
  }

  remove(sync: string, entry: string): void {
    this.#db.prepare('DELETE FROM sync_associations WHERE sync = ? AND entry = ?').run(sync, entry);
  }
}

// An insert fails with SQLITE_CONSTRAINT_FOREIGNKEY (787), ON DELETE RESTRICT with SQLITE_CONSTRAINT_TRIGGER (1811)
// saying "FOREIGN KEY constraint failed". better-sqlite3 names the code; node:sqlite gives the number as `errcode`.
function isForeignKeyViolation(error: unknown): boolean {
  const { code, errcode, message } = error as { code?: string; errcode?: number; message?: string };
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || errcode === 787) return true;
  return (code === 'SQLITE_CONSTRAINT_TRIGGER' || errcode === 1811) && /FOREIGN KEY constraint failed/.test(message ?? '');
}

function toStore(row: StoreRow): SecretStore {
  return { ...(JSON.parse(row.fields) as Record<string, unknown>), name: row.name, type: row.type, enabled: row.enabled === 1 };
}

function toBinding(row: BindingRow): AccountBinding {
  return { account: row.account, store: row.store, entry: row.entry, enabled: row.enabled === 1 };
}
