/**
 * KeePass writes leave files that KeePassXC cannot open (review issue item 12): every readable fixture, written by
 * secretbind (create, update, remove; a sync pass and a migration into the pykeepass-made one), is read back by the
 * real `keepassxc-cli show` and by the real pykeepass (Debian's python3-pykeepass). kdbxweb used to save the values
 * pykeepass leaves out of a group as empty elements, which keepassxc-cli 2.7.4 refuses ("Invalid EnableSearching value").
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, createSyncEngine, encryptLocalPassword, generateFernetKey, MemoryBindingRepository, migrateAccounts, type SecretStore } from 'secretbind';
import { keepass } from '../../../providers/keepass/index.js';
import { memory } from '../../../providers/memory/index.js';
import { copyOf, fixture, manifest, MASTER, type ManifestFile } from './helpers.js';

/** The fixtures kdbxweb can open and write (it has no Twofish). */
const WRITABLE = manifest.files.filter((file) => file.cipher !== 'Twofish');
// Deadlines are not under test here: a write of an AES-KDF file (many rounds, twice) on a loaded CI machine can take
// longer than the default 5 s.
const WRITE_DEADLINE_MS = 30_000;
const ENV = { KEEPASS_MASTER: MASTER };

function storeFor(file: ManifestFile, path: string): SecretStore {
  return { name: 'kp', type: 'keepass', kdbx_path: path, ...(file.password ? { master_password_env: 'KEEPASS_MASTER' } : {}), ...(file.keyfile ? { keyfile_path: fixture(file.keyfile) } : {}) };
}

/** Every entry's password by `group/.../title` (under the root group), as keepassxc-cli exports it, or its error. */
function keepassxcAll(file: ManifestFile, path: string): Record<string, string> | string {
  const args = ['export', '-q', '-f', 'csv', ...(file.keyfile ? ['-k', fixture(file.keyfile)] : []), ...(file.password ? [] : ['--no-password']), path];
  const result = spawnSync('keepassxc-cli', args, { input: file.password ? `${MASTER}\n` : '', encoding: 'utf8' });
  if (result.status !== 0) return `keepassxc-cli failed: ${result.stderr.trim()}`;
  const all: Record<string, string> = {};
  for (const line of result.stdout.trim().split('\n').slice(1)) {
    const [group, title, , password] = csvFields(line);
    all[[...group!.split('/').slice(1), title].join('/')] = password!;
  }
  return all;
}

/** The fields of one line of keepassxc-cli's CSV (every field quoted, `""` for a quote). */
function csvFields(line: string): string[] {
  return [...line.matchAll(/"((?:[^"]|"")*)"/g)].map((match) => match[1]!.replaceAll('""', '"'));
}

/** Every entry's password by `group/.../title` (under the root group), as pykeepass reads the file, or its error. */
function pykeepassAll(file: ManifestFile, path: string): Record<string, string> | string {
  const script = [
    'import json, sys',
    'from pykeepass import PyKeePass',
    'path, password, keyfile = sys.argv[1:4]',
    'db = PyKeePass(path, password=password or None, keyfile=keyfile or None)',
    'recycle = db.recyclebin_group',
    'print(json.dumps({"/".join(entry.path): entry.password for entry in db.entries if not (recycle and entry.group.uuid == recycle.uuid)}))',
  ].join('\n');
  const result = spawnSync('/usr/bin/python3', ['-c', script, path, file.password ? MASTER : '', file.keyfile ? fixture(file.keyfile) : ''], { encoding: 'utf8' });
  return result.status === 0 ? (JSON.parse(result.stdout) as Record<string, string>) : `pykeepass failed: ${result.stderr.trim().split('\n').at(-1)}`;
}

/** An entry the fixture had before, from its first case naming a whole password, without the root group. */
function original(file: ManifestFile): { entry: string; value: string } {
  const known = file.cases.find((one) => !one.ref.includes('#') && 'value' in one.expect)!;
  const entry = known.ref.startsWith(`${file.root_group}/`) ? known.ref.slice(file.root_group.length + 1) : known.ref;
  return { entry, value: (known.expect as { value: string }).value };
}

/** What both readers say of these entries (undefined where an entry is absent). */
function readBoth(file: ManifestFile, path: string, entries: readonly string[]): Array<Record<string, string | undefined> | string> {
  return [keepassxcAll(file, path), pykeepassAll(file, path)].map((all) => (typeof all === 'string' ? all : Object.fromEntries(entries.map((entry) => [entry, all[entry]]))));
}

describe('KeePass: writes leave files that KeePassXC cannot open (regression)', () => {
  it('has a pykeepass-made fixture with minimal groups among the ones tested', () => {
    expect(WRITABLE.map((file) => file.file)).toContain('kdbx4-pykeepass-minimal.kdbx');
  });

  for (const file of WRITABLE) {
    it(`${file.file} (${file.kdf}): create, update and remove each leave a file keepassxc-cli and pykeepass open`, { timeout: 60_000 }, async () => {
      const path = copyOf(file.file);
      const known = original(file);
      const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(storeFor(file, path)), providers: [keepass({ env: ENV })], cryptographyKey: [], timeoutMs: WRITE_DEADLINE_MS });
      try {
        const created = 'Secretbind/compat/created';
        const both = (value: string | undefined) => Array(2).fill({ [created]: value, [known.entry]: known.value });
        // KeePassXC's own AES-KDF files take seconds a read in pykeepass: they are read once, after all three writes.
        const everyStep = file.kdf !== 'AES-KDF';
        await resolver.writeEntry('kp', created, 'created-pw');
        if (everyStep) expect(readBoth(file, path, [created, known.entry])).toEqual(both('created-pw'));
        await resolver.writeEntry('kp', created, 'updated-pw');
        if (everyStep) expect(readBoth(file, path, [created, known.entry])).toEqual(both('updated-pw'));
        await resolver.removeEntry('kp', created);
        expect(readBoth(file, path, [created, known.entry])).toEqual(both(undefined));
      } finally {
        await resolver.close();
      }
    });
  }

  it('a sync pass and a migration into the pykeepass-made file leave it open in both', { timeout: 60_000 }, async () => {
    const file = WRITABLE.find((one) => one.file === 'kdbx4-pykeepass-minimal.kdbx')!;
    const path = copyOf(file.file);
    const store = storeFor(file, path);
    const engine = createSyncEngine({ repository: new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore(store), providers: [memory({ entries: { 'apps/db': 'synced-pw' } }), keepass({ env: ENV })], definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'kp', name_template: 'Synced/{{ .SecretBaseName }}' }] });
    expect((await engine.run()).map((item) => item.outcome)).toEqual(['done']);
    await engine.close();
    expect(readBoth(file, path, ['Synced/db'])).toEqual(Array(2).fill({ 'Synced/db': 'synced-pw' }));
    const key = generateFernetKey();
    const repository = new MemoryBindingRepository().putStore(store).putAccount({ name: 'cmk', password: encryptLocalPassword('migrated-pw', key) });
    expect((await migrateAccounts({ repository, providers: [keepass({ env: ENV })], cryptographyKey: key, to: 'kp', entry: 'Migrated/{{ .Account }}' })).map((item) => item.outcome)).toEqual(['done']);
    expect(readBoth(file, path, ['Migrated/cmk', 'Synced/db', 'Team/Monitoring/grafana'])).toEqual(Array(2).fill({ 'Migrated/cmk': 'migrated-pw', 'Synced/db': 'synced-pw', 'Team/Monitoring/grafana': 'gr4fana-pw' }));
  });
});
