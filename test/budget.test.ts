/** One rate budget per store (shared across the process), slowed by throttling; per-entry backoff in sync. */
import { afterEach, describe, expect, it } from 'vitest';
import { createSecretResolver, createSyncEngine, MemoryBindingRepository, rateBudget, RateBudget, setBudgetClock, type SecretStore } from 'secretbind';
import { awsSecrets } from '../providers/aws_secrets/index.js';
import { memory } from '../providers/memory/index.js';
import { vault } from '../providers/vault/index.js';
import { start as startSecretsManager } from './servers/secrets-manager/index.js';
import { start as startVault } from './servers/vault/index.js';

/** Fake time for budgets: a wait moves the clock instead of sleeping. */
function fakeClock() {
  const clock = { now: 0, sleeps: [] as number[] };
  setBudgetClock({
    now: () => clock.now,
    sleep: async (ms) => {
      clock.sleeps.push(ms);
      clock.now += ms;
    },
  });
  return clock;
}
afterEach(() => setBudgetClock(undefined));

describe('Rate budget', () => {
  it('spaces calls at the rate after a one-second burst, per kind; unlimited kinds never wait', async () => {
    const clock = fakeClock();
    const budget = new RateBudget({ read: 10, write: 2 });
    for (let call = 0; call < 30; call++) await budget.take('read');
    expect(clock.now).toBeCloseTo(2000, 0); // 10 at once, then 20 more at 10/s
    const afterReads = clock.now;
    for (let call = 0; call < 4; call++) await budget.take('write');
    expect(clock.now - afterReads).toBeCloseTo(1000, 0); // 2 at once, then 2 at 2/s
    const before = clock.now;
    for (let call = 0; call < 1000; call++) await budget.take('list');
    expect(clock.now).toBe(before);
    expect(budget.stats.calls.get('read')).toBe(30);
  });

  it('a throttling answer pauses every kind of the store for Retry-After, then halves the rate for 30 s', async () => {
    const clock = fakeClock();
    const budget = new RateBudget({ read: 10, write: 10 });
    budget.slow(2500);
    await budget.take('write');
    expect(clock.now).toBe(2500);
    for (let call = 0; call < 25; call++) await budget.take('read');
    // Half rate (5/s) while slowed: 5 from the burst, 20 more take 4 s.
    expect(clock.now - 2500).toBeCloseTo(4000, -1);
    clock.now += 30_000;
    const recovered = clock.now;
    for (let call = 0; call < 20; call++) await budget.take('read');
    expect(clock.now - recovered).toBeCloseTo(1000, -1);
  });

  it('is one budget per store for the whole process: a resolver and a sync engine with their own providers share it', async () => {
    fakeClock();
    const server = await startSecretsManager();
    try {
      for (let index = 0; index < 10; index++) server.state.put(`apps/s${index}`, `v${index}`);
      const store: SecretStore = { name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: server.url, rate_limit: { reads_per_second: 4 } };
      const credentials = { accessKeyId: 'AKIABUDGET', secretAccessKey: 'x' };
      const repository = new MemoryBindingRepository().putStore(store).putStore({ name: 'dst', type: 'memtwo' });
      for (let index = 0; index < 10; index++) repository.putBinding({ account: `a${index}`, store: 'aws', entry: `apps/s${index}` });
      const resolver = createSecretResolver({ repository, providers: [awsSecrets({ credentials })], cryptographyKey: [] });
      for (let index = 0; index < 10; index++) await resolver.resolvePassword({ name: `a${index}` });
      const engine = createSyncEngine({ repository, providers: [awsSecrets({ credentials }), { ...memory(), type: 'memtwo' }], definitions: [{ name: 'copy', source: 'aws', entries: ['apps/s0', 'apps/s1'], destination: 'dst' }] });
      await engine.run();
      const budget = rateBudget(store, {});
      expect(budget.stats.calls.get('read')).toBe(10);
      expect(budget.stats.calls.get('batch')).toBe(1);
      // Reads at 4/s after a burst of 4: the 6 reads past the burst waited 1.5 s; the batch read has its own bucket.
      expect(budget.stats.waitedMs).toBe(1500);
      await resolver.close();
      await engine.close();
    } finally {
      await server.stop();
    }
  });

  it('Vault: a 429 with Retry-After slows the store for every caller in the process', async () => {
    const clock = fakeClock();
    const server = await startVault();
    try {
      server.state.addMount('secret', 2);
      server.state.putSecret('secret', 'apps/db', { password: 'p' });
      const token = server.state.createToken({ policies: ['root'] });
      const store: SecretStore = { name: 'v', type: 'vault', vault_url: server.url };
      const repository = new MemoryBindingRepository().putStore(store).putBinding({ account: 'db', store: 'v', entry: 'apps/db' });
      const first = createSecretResolver({ repository, providers: [vault({ env: { VAULT_TOKEN: token }, retries: 0 })], cryptographyKey: [] });
      const second = createSecretResolver({ repository, providers: [vault({ env: { VAULT_TOKEN: token }, retries: 0 })], cryptographyKey: [] });
      server.state.mode.rateLimit = { times: 1, retryAfterSeconds: 7 };
      await expect(first.resolvePassword({ name: 'db' })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      const before = clock.now;
      expect(await second.resolvePassword({ name: 'db' })).toBe('p');
      expect(clock.now - before).toBe(7000);
      await first.close();
      await second.close();
    } finally {
      await server.stop();
    }
  });

  it('Azure Key Vault: the default budget is the vault quota (4,000 transactions per 10 s, 300 creates per 10 s); a 429 slows every caller', async () => {
    const clock = fakeClock();
    const { start, TENANT } = await import('./servers/azure/index.js');
    const { azureKeyVault } = await import('../providers/azure_keyvault/index.js');
    const server = await start();
    try {
      server.state.clients.set('app', 'secret');
      server.state.put('db', 'p');
      const store: SecretStore = { name: 'kv-budget', type: 'azure_keyvault', azure_vault_url: server.url, azure_tenant_id: TENANT, azure_client_id: 'app', azure_client_secret_env: 'S', azure_authority_host: server.authorityHost };
      const repository = new MemoryBindingRepository().putStore(store).putBinding({ account: 'db', store: 'kv-budget', entry: 'db' });
      const provider = () => azureKeyVault({ env: { S: 'secret' }, disableChallengeResourceVerification: true, credentialOptions: { disableInstanceDiscovery: true }, maxRetries: 0 });
      const first = createSecretResolver({ repository, providers: [provider()], cryptographyKey: [] });
      const second = createSecretResolver({ repository, providers: [provider()], cryptographyKey: [] });
      // 800 lookups: a burst of 400, then 400 more at 400/s take one second of (fake) time.
      for (let call = 0; call < 800; call++) await first.resolvePassword({ name: 'db' });
      expect(clock.now).toBeCloseTo(1000, -1);
      server.state.mode.throttle = 1;
      server.state.mode.retryAfterSeconds = 4;
      await expect(first.resolvePassword({ name: 'db' })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      const before = clock.now;
      expect(await second.resolvePassword({ name: 'db' })).toBe('p');
      expect(clock.now - before).toBeGreaterThanOrEqual(4000);
      // Writes also take a create token: 30 a second.
      const writes = rateBudget(store, {});
      const waited = writes.stats.waitedMs;
      clock.now += 60_000;
      for (let call = 0; call < 60; call++) await writes.take('write');
      expect(writes.stats.waitedMs - waited).toBeCloseTo(1000, -1);
      await first.close();
      await second.close();
    } finally {
      await server.stop();
    }
  });

  it('Google Secret Manager: 1,500 accesses a second, 10 other reads and 10 writes; RESOURCE_EXHAUSTED slows every caller', async () => {
    const clock = fakeClock();
    const { keyFile, providerFor } = await import('./providers/gcp_secrets/world.js');
    const { start, PROJECT_ID } = await import('./servers/gcp/index.js');
    const server = await start();
    try {
      const key = keyFile(server);
      server.state.put('db', 'p');
      const store: SecretStore = { name: 'gsm-budget', type: 'gcp_secrets', gcp_project: PROJECT_ID, gcp_credentials_file: key.path };
      const repository = new MemoryBindingRepository().putStore(store).putBinding({ account: 'db', store: 'gsm-budget', entry: 'db' });
      const first = createSecretResolver({ repository, providers: [providerFor(server)], cryptographyKey: [] });
      const second = createSecretResolver({ repository, providers: [providerFor(server)], cryptographyKey: [] });
      await first.resolvePassword({ name: 'db' });
      // Listing (10 reads a second): 30 listings after the burst of 10 take 2 s.
      const start_ = clock.now;
      for (let call = 0; call < 30; call++) await first.listEntries('gsm-budget', {});
      expect(clock.now - start_).toBeCloseTo(2000, -1);
      server.state.mode.exhausted = 1;
      await expect(first.resolvePassword({ name: 'db' })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      const before = clock.now;
      expect(await second.resolvePassword({ name: 'db' })).toBe('p');
      expect(clock.now - before).toBeGreaterThanOrEqual(1000); // no Retry-After: a one-second pause
      expect(rateBudget(store, {}).stats.calls.get('access')).toBe(3);
      await first.close();
      await second.close();
    } finally {
      await server.stop();
    }
  });

  it('refuses a bad rate_limit field', () => {
    expect(() => MemoryBindingRepository.fromConfig({ stores: [{ name: 'a', type: 'aws_secrets', rate_limit: { reads_per_second: 0 } }] })).toThrow(/rate_limit: reads_per_second must be a positive number/);
    expect(() => MemoryBindingRepository.fromConfig({ stores: [{ name: 'a', type: 'aws_secrets', rate_limit: { per_hour: 3 } }] })).toThrow(/unknown key per_hour/);
  });
});

describe('Sync: per-entry backoff', () => {
  it('reads an entry that keeps failing once per backoff step, while the healthy ones sync every pass', async () => {
    let now = 1_800_000_000_000;
    const seed = Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`apps/a${index}`, `v${index}`]));
    const source = memory({ entries: seed });
    const destination = { ...memory(), type: 'memtwo' } as ReturnType<typeof memory>;
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
    const engine = createSyncEngine({ repository, providers: [source, destination], definitions: [{ name: 'apps', source: 'src', entries: Object.keys(seed), destination: 'dst' }], now: () => now, entryBackoff: { baseMs: 1000, capMs: 60_000 }, retries: 0 });
    source.failNext('apps/a0', 'PERMISSION_DENIED', { times: 1_000_000 });
    source.failNext('apps/a1', 'BACKEND_UNAVAILABLE', { times: 1_000_000 });
    let healthyEveryPass = true;
    for (let pass = 0; pass < 300; pass++) {
      source.rotate('apps/a5', `v5-${pass}`);
      const items = await engine.run();
      healthyEveryPass &&= items.find((item) => item.sourceEntry === 'apps/a5')?.outcome === 'done';
      const waiting = items.find((item) => item.sourceEntry === 'apps/a0')!;
      expect(waiting).toMatchObject({ action: 'error', code: 'PERMISSION_DENIED' });
      now += 1000;
    }
    expect(healthyEveryPass).toBe(true);
    // 300 s with steps of about 1, 2, 4 ... 60 s (capped): far fewer reads than 300.
    expect(source.reads('apps/a0')).toBeLessThanOrEqual(12);
    expect(source.reads('apps/a1')).toBeLessThanOrEqual(12);
    expect(source.reads('apps/a5')).toBe(300);
    // A dry run neither reads a waiting entry nor moves its schedule.
    const reads = source.reads('apps/a0');
    await engine.run({ dryRun: true });
    expect(source.reads('apps/a0')).toBe(reads);
  });
});
