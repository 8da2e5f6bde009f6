/**
 * LastPass benchmark: 500 accounts over 500 entries (default field) through the lpass stand-in; lpass processes
 * and time with the provider's bulk path, against one process per account in the same run.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretResolver, MemoryBindingRepository, type SecretProvider } from 'secretbind';
import { lastpass } from '../../providers/lastpass/index.js';
import { line } from './harness.js';

const ACCOUNTS = 500;

export async function benchLastpass(): Promise<void> {
  process.stdout.write('\n== lastpass\n');
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-bench-lpass-'));
  const vault = join(dir, 'vault.json');
  const entries = Array.from({ length: ACCOUNTS }, (_, index) => ({ id: String(2_000_000_000 + index), name: `entry-${index}`, group: 'Sync', password: `value-${index}` }));
  writeFileSync(vault, JSON.stringify({ state: 'logged-in', user: 'ops@example.test', entries }));
  const repository = new MemoryBindingRepository().putStore({ name: 'lp', type: 'lastpass' });
  const accounts = entries.map((entry, index) => {
    repository.putBinding({ account: `account-${index}`, store: 'lp', entry: `Sync/${entry.name}` });
    return { name: `account-${index}` };
  });

  const measure = async (label: string, provider: SecretProvider, log: string) => {
    const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs: 120_000 });
    const started = performance.now();
    const results = await resolver.resolvePasswords(accounts);
    const elapsed = performance.now() - started;
    const processes = readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
    const failures = [...results.values()].filter((result) => !result.ok).length;
    line(label, `${processes} processes, ${elapsed.toFixed(0)} ms, ${failures} failures`);
  };
  const provider = (log: string) => lastpass({ lpassPath: join(process.cwd(), 'test/bin/lpass'), env: { LPASS_STANDIN_VAULT: vault, LPASS_STANDIN_LOG: log } });
  const bulkLog = join(dir, 'bulk.log');
  const singleLog = join(dir, 'single.log');
  writeFileSync(bulkLog, '');
  writeFileSync(singleLog, '');
  await measure(`resolvePasswords, ${ACCOUNTS} accounts (goal: at most 5)`, provider(bulkLog), bulkLog);
  // The same provider without resolveMany: the resolver reads entry by entry, 8 at a time.
  const { resolveMany: _bulk, ...oneByOne } = provider(singleLog);
  await measure('one lpass process per account (baseline)', oneByOne, singleLog);
}
