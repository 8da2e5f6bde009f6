/**
 * Core benchmark: what resolvePassword adds over calling the memory provider directly, and a bulk sync run of
 * 10,000 accounts over 100 distinct references.
 */
import { createSecretLog, createSecretResolver, MemoryBindingRepository, parseReference, type ResolveContext } from 'secretbind';
import { memory } from '../../providers/memory/index.js';
import { compare, line } from './harness.js';

export async function benchCore(): Promise<void> {
  process.stdout.write('\n== core\n');
  const provider = memory({ entries: { 'prod/checkmk': { password: 'value' } } });
  const store = { name: 'mem', type: 'memory' };
  const repository = new MemoryBindingRepository().putStore(store).putBinding({ account: 'cmk', store: 'mem', entry: 'prod/checkmk' });
  const ref = parseReference('prod/checkmk');
  const controller = new AbortController();
  const ctx: ResolveContext = { signal: controller.signal, account: 'cmk', emit: () => {} };
  const account = { name: 'cmk' };

  const direct = () => provider.resolve(store, ref, ctx);
  const quiet = createSecretResolver({ repository, providers: [provider], cryptographyKey: [] });
  const result = await compare(direct, () => quiet.resolvePassword(account), { iterations: 20_000, rounds: 25 });
  line('memory provider called directly', `${(result.baselineNs / 1000).toFixed(2)} µs/lookup`);
  line('resolvePassword, no listener', `${(result.candidateNs / 1000).toFixed(2)} µs/lookup`);
  line('added per resolvePassword (median of 25 rounds)', `${(result.addedNs / 1000).toFixed(2)} µs (limit 2 µs)`);

  let events = 0;
  const logged = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], onEvent: () => void events++ });
  const withEvents = await compare(direct, () => logged.resolvePassword(account), { iterations: 20_000, rounds: 25 });
  line('added per resolvePassword with an onEvent listener', `${(withEvents.addedNs / 1000).toFixed(2)} µs`);

  // The secret log's cost: a resolver logging into it against one with an empty listener, in the same run.
  const log = createSecretLog({ capacity: 10_000, perAccount: 100 });
  const withLog = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], onEvent: log.record });
  const logCost = await compare(() => logged.resolvePassword(account), () => withLog.resolvePassword(account), { iterations: 20_000, rounds: 25 });
  line('secret log: added per resolution over an empty listener', `${(logCost.addedNs / 1000).toFixed(2)} µs (goal 1 µs)`);
  const full = createSecretLog({ capacity: 100_000, perAccount: 100 });
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  for (let index = 0; index < 200_000; index++) full.record({ source: 'Secrets', kind: 'resolution', account: `account-${index % 5000}`, store: 'mem', storeType: 'memory', reference: `sync/entry-${index % 100}`, outcome: 'store', durationMs: 0.5 });
  globalThis.gc?.();
  line('secret log at capacity (100,000 events)', `${full.size} kept, about ${((process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024).toFixed(1)} MiB of heap`);

  const entries = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`sync/entry-${index}`, { password: `value-${index}` }]));
  const bulkProvider = memory({ entries });
  const bulkRepository = new MemoryBindingRepository().putStore(store);
  const accounts = Array.from({ length: 10_000 }, (_, index) => {
    bulkRepository.putBinding({ account: `account-${index}`, store: 'mem', entry: `sync/entry-${index % 100}` });
    return { name: `account-${index}` };
  });
  const bulk = createSecretResolver({ repository: bulkRepository, providers: [bulkProvider], cryptographyKey: [] });
  await bulk.resolvePasswords(accounts); // warm up
  bulkProvider.resetCounters();
  const started = performance.now();
  const results = await bulk.resolvePasswords(accounts);
  const elapsed = performance.now() - started;
  const failures = [...results.values()].filter((entry) => !entry.ok).length;
  line('resolvePasswords: 10,000 accounts over 100 references', `${elapsed.toFixed(1)} ms, ${bulkProvider.reads()} provider reads, ${failures} failures`);
  const single = memory({ entries, bulk: false });
  const oneByOne = createSecretResolver({ repository: bulkRepository, providers: [single], cryptographyKey: [] });
  await oneByOne.resolvePasswords(accounts);
  line('  same, provider without resolveMany', `${single.reads()} provider reads`);
}
