/**
 * Resilience benchmark, on fake time: per-entry backoff (1,000 entries, 50 failing, a 1-second interval for 5
 * minutes), stale-if-error through a 60-second outage at 100 lookups/s, and 2,000 writes against a Secrets Manager
 * stand-in that allows 50 writes/s.
 */
import { createSecretResolver, createSyncEngine, MemoryBindingRepository, setBudgetClock, type SecretEvent } from 'secretbind';
import { awsSecrets } from '../../providers/aws_secrets/index.js';
import { memory } from '../../providers/memory/index.js';
import { start as startSecretsManager } from '../servers/secrets-manager/index.js';
import { line } from './harness.js';

export async function benchResilience(): Promise<void> {
  process.stdout.write('\n== resilience\n');
  await failingEntries();
  await outage();
  await throttledWrites();
}

async function failingEntries(): Promise<void> {
  let now = 1_800_000_000_000;
  const seed = Object.fromEntries(Array.from({ length: 1000 }, (_, index) => [`apps/a${index}`, `v${index}`]));
  const run = async (backoff: boolean): Promise<{ failingReads: number; healthyPasses: number }> => {
    const source = memory({ entries: seed });
    const destination = { ...memory(), type: 'memtwo' } as ReturnType<typeof memory>;
    const engine = createSyncEngine({
      repository: new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' }),
      providers: [source, destination],
      definitions: [{ name: 'apps', source: 'src', entries: Object.keys(seed), destination: 'dst' }],
      now: () => now,
      retries: 0,
      // Without backoff: a step shorter than the interval, so every pass reads every entry.
      entryBackoff: backoff ? { baseMs: 1000, capMs: 60_000 } : { baseMs: 1, capMs: 1 },
    });
    for (let index = 0; index < 50; index++) source.failNext(`apps/a${index * 20}`, 'BACKEND_UNAVAILABLE', { times: Number.MAX_SAFE_INTEGER });
    let healthyPasses = 0;
    for (let pass = 0; pass < 300; pass++) {
      const items = await engine.run();
      if (items.filter((item) => item.outcome === 'done').length === 950) healthyPasses++;
      now += 1000;
    }
    await engine.close();
    let failingReads = 0;
    for (let index = 0; index < 50; index++) failingReads += source.reads(`apps/a${index * 20}`);
    return { failingReads, healthyPasses };
  };
  const withBackoff = await run(true);
  const without = await run(false);
  line('50 failing of 1,000, 1 s interval, 5 min: reads of the failing', `${withBackoff.failingReads} with backoff (goal <= 50 x 12 steps = 600), ${without.failingReads} without`);
  line('passes where all 950 healthy entries synced', `${withBackoff.healthyPasses} / 300`);
}

async function outage(): Promise<void> {
  const realNow = Date.now;
  let now = 1_800_000_000_000;
  Date.now = () => now;
  try {
    const store = memory({ entries: { 'apps/db': 'outage-canary' } });
    const events: SecretEvent[] = [];
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore({ name: 'm', type: 'memory' }).putBinding({ account: 'db', store: 'm', entry: 'apps/db' }), providers: [store], cryptographyKey: [], staleIfError: { maxAgeMs: 120_000 }, onEvent: (event) => events.push(event) });
    await resolver.resolvePassword({ name: 'db' });
    store.failNext('apps/db', 'BACKEND_UNAVAILABLE', { times: Number.MAX_SAFE_INTEGER });
    let answered = 0;
    let rightAge = 0;
    const started = now;
    for (let lookup = 0; lookup < 6000; lookup++) {
      now = started + lookup * 10; // 100 lookups a second for 60 s
      if ((await resolver.resolvePassword({ name: 'db' })) === 'outage-canary') answered++;
      const last = events.at(-1);
      if (last?.kind === 'resolution' && last.outcome === 'stale' && last.ageMs === lookup * 10) rightAge++;
    }
    await resolver.close();
    line('60 s outage at 100 lookups/s with staleIfError: answered', `${answered} / 6000 (outcome stale with the right age: ${rightAge}); values in events: ${JSON.stringify(events).includes('outage-canary') ? 'some' : '0'}`);
  } finally {
    Date.now = realNow;
  }
}

async function throttledWrites(): Promise<void> {
  const clock = { now: 0 };
  setBudgetClock({ now: () => clock.now, sleep: async (ms) => void (clock.now += ms) });
  const server = await startSecretsManager();
  try {
    server.state.mode.writeRate = { perSecond: 50, now: () => clock.now };
    const seed = Object.fromEntries(Array.from({ length: 2000 }, (_, index) => [`apps/a${index}`, `v${index}`]));
    const engine = createSyncEngine({
      repository: new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: server.url }),
      providers: [memory({ entries: seed }), awsSecrets({ credentials: { accessKeyId: 'AKIABENCH', secretAccessKey: 'x' }, maxAttempts: 1 })],
      definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'aws' }],
      timeoutMs: 600_000,
    });
    const items = await engine.run();
    await engine.close();
    const limited = items.filter((item) => item.code === 'RATE_LIMITED').length;
    const throttled = server.requests.filter((request) => request.status === 400 && request.operation === 'CreateSecret').length;
    line('2,000 writes against 50 writes/s: RATE_LIMITED surfacing, fake time', `${limited} (throttled answers: ${throttled}), ${(clock.now / 1000).toFixed(1)} s against 40 s (${((clock.now / 40_000 - 1) * 100).toFixed(1)}%)`);
  } finally {
    setBudgetClock(undefined);
    await server.stop();
  }
}
