import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, createSyncEngine, decryptLocalPassword, encryptLocalPassword, generateFernetKey, MemoryMigrationJournal, migrateAccounts } from 'secretbind';
import { memory } from 'secretbind/providers/memory';
import { envvar } from 'secretbind/providers/envvar';
import { SqliteBindingRepository, SqliteSyncState } from './sqlite-repository.js';
import { thrown } from '../test/helpers.js';

const KEY = generateFernetKey();

function repository() {
  return new SqliteBindingRepository(join(mkdtempSync(join(tmpdir(), 'secretbind-sqlite-')), 'bindings.db'));
}


describe('Example: sqlite-repository', () => {
  it('backs a resolver, including disabled bindings and stores', async () => {
    const db = repository()
      .putStore({ name: 'env', type: 'envvar' })
      .putBinding({ account: 'checkmk-prod', store: 'env', entry: 'CMK_PROD_PASSWORD' })
      .putBinding({ account: 'paused', store: 'env', entry: 'CMK_PROD_PASSWORD', enabled: false });
    const resolver = createSecretResolver({ repository: db, providers: [envvar({ env: { CMK_PROD_PASSWORD: 'from-env' } })], cryptographyKey: KEY });
    expect(await resolver.resolvePassword({ name: 'checkmk-prod' })).toBe('from-env');
    expect(await resolver.resolvePassword({ name: 'paused', password: encryptLocalPassword('local', KEY) })).toBe('local');
    expect((await resolver.check({ resolveEntries: true })).ok).toBe(true);
    db.close();
  });

  it('keeps store fields and round-trips them', () => {
    const db = repository().putStore({ name: 'kp', type: 'keepass', kdbx_path: '/srv/ops.kdbx', master_password_env: 'KEEPASS_MASTER', enabled: false });
    expect(db.findStore('kp')).toEqual({ name: 'kp', type: 'keepass', kdbx_path: '/srv/ops.kdbx', master_password_env: 'KEEPASS_MASTER', enabled: false });
    expect(db.findStore('nope')).toBeUndefined();
  });

  it('enforces the same integrity rules as MemoryBindingRepository', () => {
    const db = repository().putStore({ name: 'env', type: 'envvar' });
    expect(thrown(() => db.putBinding({ account: 'a', store: 'missing', entry: 'X' })).code).toBe('STORE_NOT_FOUND');
    expect(thrown(() => db.putStore({ name: 'v', type: 'vault', vault_url: 'ftp://x' })).code).toBe('CONFIG_INVALID');
    expect(thrown(() => db.putBinding({ account: 'a', store: 'env', entry: 'Root/' })).code).toBe('CONFIG_INVALID');
    db.putBinding({ account: 'a', store: 'env', entry: 'A' }).putBinding({ account: 'b', store: 'env', entry: 'B' });
    const inUse = thrown(() => db.removeStore('env'));
    expect(inUse.code).toBe('STORE_IN_USE');
    expect(inUse.message).toContain('"a", "b"');
    db.removeBinding('a');
    db.removeBinding('b');
    expect(db.removeStore('env')).toBe(true);
  });

  it('keeps sync state in the same database: a new engine over it writes nothing that is in place', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'secretbind-sqlite-')), 'app.db');
    const db = new SqliteBindingRepository(file).putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
    const source = memory({ entries: { 'apps/a': 'a-1', 'apps/b': 'b-1' } });
    const destination = { ...memory(), type: 'memtwo' };
    const definitions = [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst' }];
    const first = createSyncEngine({ repository: db, providers: [source, destination], definitions, state: new SqliteSyncState(db.database), stateKey: KEY });
    expect((await first.run()).map((item) => item.action)).toEqual(['create', 'create']);
    db.close();

    const reopened = new SqliteBindingRepository(file);
    const state = new SqliteSyncState(reopened.database);
    expect(state.list().map((record) => [record.entry, record.status])).toEqual([
      ['secretbind/src/apps/a', 'SYNCED'],
      ['secretbind/src/apps/b', 'SYNCED'],
    ]);
    expect(JSON.stringify(state.list())).not.toContain('a-1');
    source.resetCounters();
    const second = createSyncEngine({ repository: reopened, providers: [source, destination], definitions, state, stateKey: KEY });
    expect((await second.run()).map((item) => item.action)).toEqual(['unchanged', 'unchanged']);
    expect(source.reads()).toBe(0);
    reopened.close();
  });

  it('migrates its accounts into a store and back, each bind and clear in a transaction', async () => {
    const db = repository().putStore({ name: 'vaultish', type: 'memory' });
    for (const name of ['a', 'b']) db.putAccount({ name, password: encryptLocalPassword(`${name}-secret`, KEY) });
    const store = memory();
    const journal = new MemoryMigrationJournal();
    const items = await migrateAccounts({ repository: db, providers: [store], cryptographyKey: KEY, to: 'vaultish', entry: 'apps/{{ .Account }}', clearLocal: true, journal });
    expect(items.map((item) => item.outcome)).toEqual(['done', 'done']);
    expect(db.listAccounts()).toEqual([{ name: 'a', password: null }, { name: 'b', password: null }]);
    const resolver = createSecretResolver({ repository: db, providers: [store], cryptographyKey: KEY });
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('a-secret');
    await resolver.close();
    // The database refuses to clear the password of an account that is not bound.
    db.putAccount({ name: 'c', password: encryptLocalPassword('c-secret', KEY) });
    expect(thrown(() => db.saveAccountPassword('c', null)).message).toContain('stays');
    await migrateAccounts({ repository: db, providers: [store], cryptographyKey: KEY, to: 'vaultish', mode: 'rollback', journal });
    expect(db.listBindings()).toEqual([]);
    expect(db.listAccounts().map((account) => decryptLocalPassword(account.password!, KEY))).toEqual(['a-secret', 'b-secret', 'c-secret']);
    db.close();
  });

  it('migrating an account with a disabled binding leaves the account with no password (regression): the saved binding is the new, active one', async () => {
    const db = repository().putStore({ name: 'vaultish', type: 'memory' }).putStore({ name: 'old', type: 'memory' });
    db.putAccount({ name: 'a', password: encryptLocalPassword('a-secret', KEY) });
    db.putBinding({ account: 'a', store: 'old', entry: 'paused/a', enabled: false });
    const store = memory();
    const items = await migrateAccounts({ repository: db, providers: [store], cryptographyKey: KEY, to: 'vaultish', entry: 'apps/{{ .Account }}', clearLocal: true });
    expect(items.map((item) => item.outcome)).toEqual(['done']);
    expect(db.findBinding('a')).toMatchObject({ account: 'a', store: 'vaultish', entry: 'apps/a' });
    expect(db.findBinding('a')?.enabled).not.toBe(false);
    const resolver = createSecretResolver({ repository: db, providers: [store], cryptographyKey: KEY });
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('a-secret');
    await resolver.close();
    db.close();
  });
});
