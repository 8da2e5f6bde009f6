import { fork, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretStore } from 'secretbind';
import { keepass } from '../../../providers/keepass/index.js';
import { describeWritableProvider } from '../../conformance/writes.js';
import { failure, KillWindow, watchWriter } from '../../helpers.js';
import { copyOf, kdbxweb, MASTER } from './helpers.js';

const FILE = 'kdbx4-argon2id-chacha20.kdbx';
const ENV = { KEEPASS_MASTER: MASTER };
const toArrayBuffer = (bytes: Buffer): ArrayBuffer => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

/** Opens the file with kdbxweb directly, as another tool would. */
async function openDirect(path: string) {
  return kdbxweb.Kdbx.load(toArrayBuffer(readFileSync(path)), new kdbxweb.Credentials(kdbxweb.ProtectedValue.fromString(MASTER)));
}

/** Adds an entry without secretbind's mark, as a person in KeePassXC would. */
async function addForeign(path: string, groups: string[], title: string, password: string): Promise<void> {
  const db = await openDirect(path);
  let group = db.getDefaultGroup();
  for (const name of groups) group = group.groups.find((child) => child.name === name) ?? db.createGroup(group, name);
  const entry = db.createEntry(group);
  entry.fields.set('Title', title);
  entry.fields.set('Password', kdbxweb.ProtectedValue.fromString(password));
  writeFileSync(path, Buffer.from(await db.save()));
}

const storeFor = (path: string): SecretStore => ({ name: 'kp', type: 'keepass', kdbx_path: path, master_password_env: 'KEEPASS_MASTER' });

describeWritableProvider({
  name: 'keepass',
  capabilities: { pageSize: 0, objectFields: true, guarded: true },
  setup: () => {
    const path = copyOf(FILE);
    return {
      provider: keepass({ env: ENV }),
      store: storeFor(path),
      seedForeign: async (name, value) => {
        const segments = name.split('/');
        await addForeign(path, segments.slice(0, -1), segments.at(-1)!, value);
      },
      names: ['Sync/folder/name with spaces', 'Sync/web\\#1', 'Sync/ldap\\/bind', 'Gruppe Ü/pässwörd-Ω-🔑'],
      invalidNames: [['', 'empty'], ['Sync//x', 'empty path segment']],
      prefix: 'Conformance/',
    };
  },
});

describe('Provider: keepass writes', () => {
  function setup(file = FILE) {
    const path = copyOf(file);
    const provider = keepass({ env: ENV });
    const repository = new MemoryBindingRepository().putStore(storeFor(path));
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs: 30_000 });
    return { path, provider, resolver };
  }

  it('writes files that keepassxc-cli opens, with the values written', async () => {
    const { path, resolver } = setup();
    await resolver.writeEntry('kp', 'Sync/checkmk-new', 'written-by-secretbind');
    await resolver.writeEntry('kp', 'Sync/netbox', { username: 'svc-netbox', password: 'pässwörd Ω', api_key: 'k-123' });
    const show = (entry: string, attribute: string) =>
      spawnSync('keepassxc-cli', ['show', '-q', '-s', '-a', attribute, path, entry], { input: `${MASTER}\n`, encoding: 'utf8' });
    expect(show('Sync/checkmk-new', 'Password').stdout).toBe('written-by-secretbind\n');
    expect(show('Sync/netbox', 'UserName').stdout).toBe('svc-netbox\n');
    expect(show('Sync/netbox', 'Password').stdout).toBe('pässwörd Ω\n');
    expect(show('Sync/netbox', 'api_key').stdout).toBe('k-123\n');
    expect(show('Sync/netbox', 'secretbind-owner').stdout).toBe('secretbind\n');
  });

  it('saves 1,000 entries written together in one cycle (one save), and reads them back', async () => {
    const { path, provider, resolver } = setup();
    await Promise.all(Array.from({ length: 1000 }, (_, index) => resolver.writeEntry('kp', `Bulk/entry-${index}`, `value-${index}`)));
    expect(provider.stats().saves).toBe(1);
    const db = await openDirect(path);
    const bulk = db.getDefaultGroup().groups.find((group) => group.name === 'Bulk')!;
    expect(bulk.entries).toHaveLength(1000);
    const listed = await resolver.listEntries('kp', { prefix: 'Bulk/' });
    expect(listed).toHaveLength(1000);
  });

  it('keeps the previous value in the entry history and removes into the recycle bin', async () => {
    const { path, resolver } = setup();
    await resolver.writeEntry('kp', 'Sync/rotated', 'old');
    await resolver.writeEntry('kp', 'Sync/rotated', 'new');
    let db = await openDirect(path);
    const entry = db.getDefaultGroup().groups.find((group) => group.name === 'Sync')!.entries[0]!;
    expect(entry.history.map((old) => (old.fields.get('Password') as { getText(): string }).getText())).toEqual(['old']);
    await resolver.removeEntry('kp', 'Sync/rotated');
    db = await openDirect(path);
    const bin = db.getGroup(db.meta.recycleBinUuid!)!;
    expect(bin.entries.map((removed) => removed.fields.get('Title'))).toContain('rotated');
    expect((await failure(resolver.removeEntry('kp', 'Sync/rotated'))).code).toBe('ENTRY_NOT_FOUND');
  });

  it('refuses with CONFLICT when someone else saves the file while a write is under way, and loses neither change', async () => {
    const { path, resolver } = setup();
    await resolver.writeEntry('kp', 'Sync/a', 'ours-1');
    // Another tool saves the file after our read and before our rename.
    const { writeFileAtomic } = await import('secretbind');
    const original = readFileSync(path);
    const theirs = await (async () => {
      const db = await openDirect(path);
      const entry = db.createEntry(db.getDefaultGroup());
      entry.fields.set('Title', 'theirs');
      return Buffer.from(await db.save());
    })();
    let swapped = false;
    const swap = setInterval(() => {
      // As soon as our cycle has read the file (its lock file exists), replace the file.
      try {
        statSync(`${path}.lock`);
        if (!swapped) {
          swapped = true;
          void writeFileAtomic(path, theirs);
        }
      } catch {
        // not yet
      }
    }, 1);
    const error = await failure(resolver.writeEntry('kp', 'Sync/a', 'ours-2'));
    clearInterval(swap);
    expect(error.code).toBe('CONFLICT');
    expect(error.retryable).toBe(true);
    expect(readFileSync(path).equals(theirs)).toBe(true);
    expect(readFileSync(path).equals(original)).toBe(false);
    // Retried after a re-read, the write lands and their entry stays.
    await resolver.writeEntry('kp', 'Sync/a', 'ours-2');
    const db = await openDirect(path);
    expect(db.getDefaultGroup().entries.map((entry) => entry.fields.get('Title'))).toContain('theirs');
  });

  it('settles every write issued right after a refused one (a finished cycle never drops a newer queue)', { timeout: 120_000 }, async () => {
    const { resolver } = setup();
    const first = await resolver.writeEntry('kp', 'Sync/refusals', 'v0');
    // A refusal settles its caller inside the cycle, before the cycle lets go of the file: the caller's next write
    // starts a new cycle while the old one is still finishing.
    let timer: NodeJS.Timeout | undefined;
    const run = (async () => {
      for (let round = 0; round < 40; round++) {
        await resolver.writeEntry('kp', 'Sync/refusals', 'stale', { ifVersion: first.version }).catch(() => undefined);
        await resolver.writeEntry('kp', 'Sync/refusals', 'absent', { ifVersion: 'absent' }).catch(() => undefined);
        await resolver.writeEntry('kp', `Sync/after-${round % 4}`, `v${round}`);
      }
      return 'all settled';
    })();
    const outcome = await Promise.race([run, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('a write never settled'), 100_000)))]);
    clearTimeout(timer);
    expect(outcome).toBe('all settled');
  });

  it('is seen by the next lookup at once, without another key derivation', async () => {
    const { path, provider } = setup();
    const repository = new MemoryBindingRepository().putStore(storeFor(path)).putBinding({ account: 'fresh', store: 'kp', entry: 'Sync/fresh' });
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [] });
    await resolver.writeEntry('kp', 'Sync/fresh', 'v1');
    const opens = provider.stats().opens;
    expect(await resolver.resolvePassword({ name: 'fresh' })).toBe('v1');
    await resolver.writeEntry('kp', 'Sync/fresh', 'v2');
    expect(await resolver.resolvePassword({ name: 'fresh' })).toBe('v2');
    expect(provider.stats().opens).toBe(opens + 1); // the second write's open; no lookup needed one
  });

  it('leaves the old or the new file when the writing process is killed at a random point (50 kills)', { timeout: 180_000 }, async () => {
    const { path } = setup();
    const worker = fileURLToPath(new URL('./writer-child.ts', import.meta.url));
    const values = new Set<string>();
    const window = new KillWindow(120);
    for (let round = 0; round < 50; round++) {
      const child = fork(worker, [path, String(round)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      const writer = watchWriter(child);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await writer.ready;
      await new Promise((resolve) => setTimeout(resolve, window.delay()));
      child.kill('SIGKILL');
      await exited;
      window.observe(writer.firstWriteMs());
      // Whole and decryptable, with its original entries.
      const db = await openDirect(path);
      const all = [...db.getDefaultGroup().allEntries()];
      expect(all.some((entry) => entry.fields.get('Title') === 'checkmk-prod')).toBe(true);
      const counter = all.find((entry) => entry.fields.get('Title') === 'counter');
      if (counter) values.add((counter.fields.get('Password') as { getText(): string }).getText());
    }
    expect(values.size).toBeGreaterThan(1);
    for (const value of values) expect(value).toMatch(/^\d+-\d+$/);
    // The lock a killed writer left behind does not stop the next one.
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(storeFor(path)), providers: [keepass({ env: ENV })], cryptographyKey: [] });
    await resolver.writeEntry('kp', 'counter', 'final', { adopt: true });
    expect(((await openDirect(path)).getDefaultGroup().entries.find((entry) => entry.fields.get('Title') === 'counter')!.fields.get('Password') as { getText(): string }).getText()).toBe('final');
  });
});
