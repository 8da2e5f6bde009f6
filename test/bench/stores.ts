/**
 * Azure Key Vault, Google Secret Manager and the OS keyring: reads for 1,000 accounts over 100 secrets (the bulk
 * path must read each once), and the time of one lookup through secretbind against the SDK's own call on the same
 * stand-in (or the same gnome-keyring) in the same run.
 *
 * The cloud stand-ins speak TLS and their clients trust the test CA only through variables read at process start,
 * so this part runs in a child process that has them.
 */
import { spawnSync } from 'node:child_process';
import { createSecretResolver, MemoryBindingRepository, type SecretProvider, type SecretStore } from 'secretbind';
import setupTestCa from '../global-setup.js';
import { compare, line } from './harness.js';

export async function benchStores(): Promise<void> {
  if (!process.env.SECRETBIND_TEST_TLS_DIR) {
    const cleanup = setupTestCa(); // sets the variables on process.env for the child
    try {
      const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, 'stores'], { stdio: 'inherit', env: process.env });
      if (child.status !== 0) throw new Error(`the stores benchmark failed (${child.status})`);
    } finally {
      cleanup();
    }
    return;
  }
  process.stdout.write('\n== stores (azure_keyvault, gcp_secrets, os_keyring)\n');
  await benchAzure();
  await benchGcp();
  await benchKeyring();
}

async function bulk(label: string, store: SecretStore, provider: SecretProvider, entry: (index: number) => string, reads: () => number): Promise<void> {
  const repository = new MemoryBindingRepository().putStore(store);
  const accounts = Array.from({ length: 1000 }, (_, index) => {
    repository.putBinding({ account: `a-${index}`, store: store.name, entry: `${entry(index % 100)}${index % 2 ? '#username' : ''}` });
    return { name: `a-${index}` };
  });
  const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs: 60_000 });
  const before = reads();
  const started = performance.now();
  const results = await resolver.resolvePasswords(accounts);
  const elapsed = performance.now() - started;
  const failures = [...results.values()].filter((result) => !result.ok).length;
  line(`${label}: 1,000 accounts on 100 secrets`, `${reads() - before} reads (goal 100), ${elapsed.toFixed(0)} ms, ${failures} failures`);
  await resolver.close();
}

async function perLookup(label: string, measured: SecretStore, provider: SecretProvider, entry: string, direct: () => Promise<unknown>): Promise<void> {
  // Thousands of back-to-back lookups would run into the store's default rate budget (Key Vault's 400 transactions a
  // second): lift it here, so the ratio measures a lookup's own cost, not the quota.
  const store: SecretStore = measured.type === 'os_keyring' ? measured : { ...measured, rate_limit: { reads_per_second: 1_000_000 } };
  const repository = new MemoryBindingRepository().putStore(store).putBinding({ account: 'one', store: store.name, entry });
  const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs: 60_000 });
  // The stand-in shares the process and its CPU: many short alternating rounds, and the median of the per-round
  // ratios, keep its noise out of the ratio.
  const timing = await compare(direct, () => resolver.resolvePassword({ name: 'one' }), { iterations: 30, rounds: 41, warmup: 100 });
  line(`${label}: the SDK's own call (median)`, `${(timing.baselineNs / 1e6).toFixed(3)} ms/lookup`);
  line(`${label}: resolvePassword (median)`, `${(timing.candidateNs / 1e6).toFixed(3)} ms/lookup`);
  line(`${label}: secretbind / SDK (goal at most 1.1)`, `${timing.roundRatio.toFixed(3)} (median of ${timing.rounds} round ratios; ratio of medians ${timing.ratio.toFixed(3)})`);
  await resolver.close();
}

async function benchAzure(): Promise<void> {
  const { start, TENANT } = await import('../servers/azure/index.js');
  const { azureKeyVault } = await import('../../providers/azure_keyvault/index.js');
  const { SecretClient } = await import('@azure/keyvault-secrets');
  const { ClientSecretCredential } = await import('@azure/identity');
  const server = await start();
  try {
    server.state.clients.set('bench-app', 'bench-secret');
    for (let index = 0; index < 100; index++) server.state.put(`bench-${index}`, JSON.stringify({ username: `u${index}`, password: `p${index}` }));
    const store: SecretStore = { name: 'kv', type: 'azure_keyvault', azure_vault_url: server.url, azure_tenant_id: TENANT, azure_client_id: 'bench-app', azure_client_secret_env: 'KV_SECRET', azure_authority_host: server.authorityHost };
    const provider = () => azureKeyVault({ env: { KV_SECRET: 'bench-secret' }, disableChallengeResourceVerification: true, credentialOptions: { disableInstanceDiscovery: true } });
    const secretReads = () => server.state.log.filter((request) => request.method === 'GET' && request.path.startsWith('/secrets/') && request.status === 200).length;
    await bulk('azure_keyvault', store, provider(), (index) => `bench-${index}`, secretReads);
    const client = new SecretClient(server.url, new ClientSecretCredential(TENANT, 'bench-app', 'bench-secret', { authorityHost: server.authorityHost, disableInstanceDiscovery: true }), { disableChallengeResourceVerification: true });
    await perLookup('azure_keyvault', store, provider(), 'bench-7', () => client.getSecret('bench-7'));
  } finally {
    await server.stop();
  }
}

async function benchGcp(): Promise<void> {
  const { start, PROJECT_ID } = await import('../servers/gcp/index.js');
  const { keyFile, providerFor } = await import('../providers/gcp_secrets/world.js');
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  const server = await start();
  try {
    const key = keyFile(server);
    for (let index = 0; index < 100; index++) server.state.put(`bench-${index}`, JSON.stringify({ username: `u${index}`, password: `p${index}` }));
    const store: SecretStore = { name: 'gsm', type: 'gcp_secrets', gcp_project: PROJECT_ID, gcp_credentials_file: key.path };
    const accesses = () => server.state.log.filter((request) => request.method === 'AccessSecretVersion').length;
    await bulk('gcp_secrets', store, providerFor(server), (index) => `bench-${index}`, accesses);
    const client = new SecretManagerServiceClient({ projectId: PROJECT_ID, keyFilename: key.path, apiEndpoint: 'localhost', port: server.port });
    await perLookup('gcp_secrets', store, providerFor(server), 'bench-7', () => client.accessSecretVersion({ name: `projects/${PROJECT_ID}/secrets/bench-7/versions/latest` }));
    await client.close();
  } finally {
    await server.stop();
  }
}

async function benchKeyring(): Promise<void> {
  const { startKeyring } = await import('../servers/keyring/index.js');
  const { osKeyring } = await import('../../providers/os_keyring/index.js');
  const keyring = (await import('@napi-rs/keyring')) as unknown as import('../../providers/os_keyring/index.js').KeyringModule;
  const session = await startKeyring();
  try {
    for (let index = 0; index < 100; index++) session.seed({ service: 'bench', username: `item-${index}` }, JSON.stringify({ username: `u${index}`, password: `p${index}` }));
    let reads = 0;
    const counting = {
      findCredentialsAsync: keyring.findCredentialsAsync,
      AsyncEntry: class extends (keyring.AsyncEntry as unknown as new (service: string, account: string, options?: object) => { getPassword(signal?: AbortSignal | null): Promise<string | null> }) {
        override getPassword(signal?: AbortSignal | null) {
          reads++;
          return super.getPassword(signal);
        }
      },
    } as unknown as import('../../providers/os_keyring/index.js').KeyringModule;
    const store: SecretStore = { name: 'desktop', type: 'os_keyring', keyring_service: 'bench' };
    await bulk('os_keyring', store, osKeyring({ lib: counting }), (index) => `item-${index}`, () => reads);
    const entry = new keyring.AsyncEntry('bench', 'item-7', { linux: { store: 'secret-service' } });
    await perLookup('os_keyring (gnome-keyring over D-Bus)', store, osKeyring(), 'item-7', () => entry.getPassword());
  } finally {
    await session.stop();
  }
}
