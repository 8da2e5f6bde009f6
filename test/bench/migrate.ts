/**
 * Migration benchmark: 1,000 accounts into the memory store and into a KeePass file (the AES-KDF fixture), against
 * writing the same 1,000 values directly with `resolver.writeEntry` (issued together, as migration's batches are) in
 * the same run. Reports the ratio, the KeePass saves and the journal's fsyncs.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretResolver, encryptLocalPassword, FileMigrationJournal, generateFernetKey, MemoryBindingRepository, migrateAccounts, type SecretProvider } from 'secretbind';
import { keepass } from '../../providers/keepass/index.js';
import { memory } from '../../providers/memory/index.js';
import { line, median } from './harness.js';

const ACCOUNTS = 1000;
const KEY = generateFernetKey();
const MASTER = 'correct horse battery staple';

export async function benchMigrate(): Promise<void> {
  process.stdout.write('\n== migrate\n');
  const names = Array.from({ length: ACCOUNTS }, (_, index) => `acct-${index}`);
  const tokens = names.map((name) => encryptLocalPassword(`pw-${name}`, KEY));

  for (const target of ['memory', 'keepass'] as const) {
    const ours: number[] = [];
    const direct: number[] = [];
    let saves = 0;
    let fsyncs = 0;
    for (let round = 0; round < 3; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'secretbind-bench-migrate-'));
      const make = (): { store: Record<string, unknown>; provider: SecretProvider & { stats?: () => { saves: number } } } => {
        if (target === 'memory') return { store: { name: 'to', type: 'memory' }, provider: memory() };
        const kdbx = join(mkdtempSync(join(dir, 'kp-')), 'ops.kdbx');
        copyFileSync(join(process.cwd(), 'test/fixtures/keepass/kdbx4-aeskdf.kdbx'), kdbx);
        return { store: { name: 'to', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KP' }, provider: keepass({ env: { KP: MASTER } }) };
      };

      // Baseline: the same values written directly, all issued together.
      const plain = make();
      const writer = createSecretResolver({ repository: new MemoryBindingRepository().putStore(plain.store as never), providers: [plain.provider], cryptographyKey: [] });
      let started = performance.now();
      await Promise.all(names.map((name) => writer.writeEntry('to', `Migrated/${name}`, `pw-${name}`)));
      direct.push(performance.now() - started);
      await writer.close();

      // Migration: decrypt, write, read back, bind, journal with fsync.
      const migrated = make();
      const repository = new MemoryBindingRepository().putStore(migrated.store as never);
      names.forEach((name, index) => repository.putAccount({ name, password: tokens[index]! }));
      const journal = new FileMigrationJournal(join(dir, 'journal.jsonl'));
      started = performance.now();
      const items = await migrateAccounts({ repository, providers: [migrated.provider], cryptographyKey: KEY, to: 'to', entry: 'Migrated/{{ .Account }}', journal, clearLocal: true });
      ours.push(performance.now() - started);
      if (items.some((item) => item.outcome !== 'done')) throw new Error('a migration failed');
      saves = migrated.provider.stats?.().saves ?? 0;
      fsyncs = journal.fsyncs;
    }
    line(`${target}: migrating ${ACCOUNTS} / writing them directly`, `${median(ours).toFixed(0)} ms / ${median(direct).toFixed(0)} ms = ${(median(ours) / median(direct)).toFixed(2)}`);
    if (target === 'keepass') line('keepass: file saves for 1,000 accounts (batches of 500)', String(saves));
    line(`${target}: journal fsyncs`, `${fsyncs} (6 per batch of 500)`);
  }
}
