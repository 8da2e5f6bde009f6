/**
 * Killing a writer mid-write, for the stores that are remote services (their stand-ins run in this process, the
 * writer in a child that is killed at random points). Each store writes its owner mark before the value, so whatever
 * point the kill hits, an entry secretbind created is never left without the mark: the next writer, without adopt,
 * always finishes the job.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretProvider, type SecretStore } from 'secretbind';
import { awsSecrets } from '../providers/aws_secrets/index.js';
import { kubernetes } from '../providers/kubernetes/index.js';
import { lastpass } from '../providers/lastpass/index.js';
import { vault } from '../providers/vault/index.js';
import { KillWindow, watchWriter } from './helpers.js';
import { osKeyring, ownerMarkService } from '../providers/os_keyring/index.js';
import { startKeyring } from './servers/keyring/index.js';
import { start as startKeyVault, TENANT as AZURE_TENANT } from './servers/azure/index.js';
import { azureKeyVault } from '../providers/azure_keyvault/index.js';
import { start as startSecretManager, PROJECT_ID as GCP_PROJECT } from './servers/gcp/index.js';
import { keyFile as gcpKeyFile, providerFor as gcpProviderFor } from './providers/gcp_secrets/world.js';
import { start as startKubernetes } from './servers/kubernetes/index.js';
import { start as startSecretsManager } from './servers/secrets-manager/index.js';
import { start as startVault } from './servers/vault/index.js';

const KILLS = 12;
const WORKER = fileURLToPath(new URL('./kill-writer.ts', import.meta.url));

interface Target {
  store: SecretStore;
  env: Record<string, string>;
  provider: () => SecretProvider;
  /** The owner mark of the entry as the store holds it now, or 'absent'. */
  mark(): string | undefined | 'absent';
  stop(): Promise<void>;
}

async function killRepeatedly(type: string, target: Target, entry: string): Promise<Set<string | undefined>> {
  const marks = new Set<string | undefined>();
  const window = new KillWindow(170);
  for (let round = 0; round < KILLS; round++) {
    const child = fork(WORKER, [JSON.stringify({ type, store: target.store, env: target.env, entry })], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const writer = watchWriter(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await writer.ready;
    await new Promise((resolve) => setTimeout(resolve, window.delay()));
    child.kill('SIGKILL');
    await exited;
    window.observe(writer.firstWriteMs());
    await new Promise((resolve) => setTimeout(resolve, 50)); // a request already sent may still land
    const mark = target.mark();
    marks.add(mark);
    expect(mark === 'absent' || mark === 'secretbind', `round ${round}: ${String(mark)}`).toBe(true);
  }
  // The next writer, without adopt, completes whatever the killed ones left.
  const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(target.store), providers: [target.provider()], cryptographyKey: [], timeoutMs: 30_000 });
  await resolver.writeEntry(target.store.name, entry, { username: 'final-user', password: 'final' });
  expect(target.mark()).toBe('secretbind');
  await resolver.close();
  return marks;
}

describe('Killing a writer mid-write leaves no entry without the owner mark', () => {
  it(`vault KV v2 (${KILLS} kills)`, { timeout: 120_000 }, async () => {
    const server = await startVault();
    server.state.addMount('secret', 2);
    const token = server.state.createToken({ policies: ['root'] });
    const target: Target = {
      store: { name: 'vault', type: 'vault', vault_url: server.url },
      env: { VAULT_TOKEN: token },
      provider: () => vault({ env: { VAULT_TOKEN: token } }),
      mark: () => {
        const mount = server.state.mounts.get('\u0000secret')!;
        if (!mount.metadata.has('crash/entry') && !mount.secrets.has('crash/entry')) return 'absent';
        return mount.metadata.get('crash/entry')?.custom?.['managed-by'];
      },
      stop: () => server.stop(),
    };
    try {
      await killRepeatedly('vault', target, 'crash/entry');
    } finally {
      await target.stop();
    }
  });

  it(`aws_secrets (${KILLS} kills)`, { timeout: 120_000 }, async () => {
    const server = await startSecretsManager();
    const credentials = { AWS_ACCESS_KEY_ID: 'AKIAKILLTEST', AWS_SECRET_ACCESS_KEY: 'kill-test' };
    const target: Target = {
      store: { name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: server.url },
      env: credentials,
      provider: () => awsSecrets({ credentials: { accessKeyId: credentials.AWS_ACCESS_KEY_ID, secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY } }),
      mark: () => {
        const secret = server.state.secrets.get('crash/entry');
        return secret ? secret.tags?.['managed-by'] : 'absent';
      },
      stop: () => server.stop(),
    };
    try {
      await killRepeatedly('aws_secrets', target, 'crash/entry');
    } finally {
      await target.stop();
    }
  });

  it(`kubernetes (${KILLS} kills)`, { timeout: 120_000 }, async () => {
    const server = await startKubernetes();
    const kubeconfig = server.kubeconfig(join(mkdtempSync(join(tmpdir(), 'secretbind-kill-kube-')), 'config'));
    const target: Target = {
      store: { name: 'cluster', type: 'kubernetes', kubeconfig_path: kubeconfig },
      env: {},
      provider: () => kubernetes(),
      mark: () => {
        const secret = server.state.secret('apps', 'crash-entry');
        return secret ? secret.metadata.labels?.['app.kubernetes.io/managed-by'] : 'absent';
      },
      stop: () => server.stop(),
    };
    try {
      await killRepeatedly('kubernetes', target, 'crash-entry');
    } finally {
      await target.stop();
    }
  });

  it(`lastpass (${KILLS} kills)`, { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-kill-lpass-'));
    const vaultFile = join(dir, 'vault.json');
    writeFileSync(vaultFile, JSON.stringify({ state: 'logged-in', user: 'ops@example.test', entries: [] }));
    const lpassPath = fileURLToPath(new URL('./bin/lpass', import.meta.url));
    const target: Target = {
      store: { name: 'lp', type: 'lastpass' },
      env: { LPASS_PATH: lpassPath, LPASS_STANDIN_VAULT: vaultFile },
      provider: () => lastpass({ lpassPath, env: { LPASS_STANDIN_VAULT: vaultFile } }),
      mark: () => {
        const entries = (JSON.parse(readFileSync(vaultFile, 'utf8')) as { entries: Array<{ name: string; group?: string; note?: string }> }).entries.filter((entry) => entry.group === 'Crash' && entry.name === 'entry');
        if (entries.length === 0) return 'absent';
        expect(entries).toHaveLength(1); // never a duplicate made by a second add
        return /managed-by: (\S+)$/.exec(entries[0]!.note ?? '')?.[1];
      },
      stop: async () => {},
    };
    await killRepeatedly('lastpass', target, 'Crash/entry');
  });

  it(`azure_keyvault (${KILLS} kills)`, { timeout: 120_000 }, async () => {
    const server = await startKeyVault(); // the children trust its certificate through the inherited NODE_EXTRA_CA_CERTS
    server.state.clients.set('kill-app', 'kill-secret');
    const target: Target = {
      store: { name: 'kv', type: 'azure_keyvault', azure_vault_url: server.url, azure_tenant_id: AZURE_TENANT, azure_client_id: 'kill-app', azure_client_secret_env: 'KV_SECRET', azure_authority_host: server.authorityHost },
      env: { KV_SECRET: 'kill-secret' },
      provider: () => azureKeyVault({ env: { KV_SECRET: 'kill-secret' }, disableChallengeResourceVerification: true, credentialOptions: { disableInstanceDiscovery: true } }),
      mark: () => {
        const latest = server.state.latest('crash-entry');
        return latest ? latest.tags?.['managed-by'] : 'absent';
      },
      stop: () => server.stop(),
    };
    try {
      await killRepeatedly('azure_keyvault', target, 'crash-entry');
    } finally {
      await target.stop();
    }
  });

  it(`gcp_secrets (${KILLS} kills)`, { timeout: 120_000 }, async () => {
    const server = await startSecretManager(); // the children trust it through the inherited GRPC_DEFAULT_SSL_ROOTS_FILE_PATH
    const key = gcpKeyFile(server);
    const target: Target = {
      store: { name: 'gsm', type: 'gcp_secrets', gcp_project: GCP_PROJECT, gcp_credentials_file: key.path },
      env: { GCP_PORT: String(server.port) },
      provider: () => gcpProviderFor(server),
      mark: () => {
        const secret = server.state.get('crash-entry');
        return secret ? secret.labels['managed-by'] : 'absent';
      },
      stop: () => server.stop(),
    };
    try {
      await killRepeatedly('gcp_secrets', target, 'crash-entry');
    } finally {
      await target.stop();
    }
  });

  it(`os_keyring against gnome-keyring (${KILLS} kills)`, { timeout: 120_000 }, async () => {
    const session = await startKeyring(); // the children inherit its bus address
    const target: Target = {
      store: { name: 'desktop', type: 'os_keyring' },
      env: {},
      provider: () => osKeyring(),
      mark: () => {
        if (session.lookup({ service: 'crash', username: 'entry' }) === undefined) return 'absent';
        return session.lookup({ service: ownerMarkService('crash'), username: 'entry' });
      },
      stop: () => session.stop(),
    };
    try {
      await killRepeatedly('os_keyring', target, 'crash/entry');
    } finally {
      await target.stop();
    }
  });
});
