/**
 * Sync benchmark: 1,000 secrets in the Vault stand-in synced to the Secrets Manager stand-in and to a .env file.
 * Counts writes and Secrets Manager calls per pass (first, no change, 10 changes), times a no-change pass against
 * reading the 1,000 sources once through the resolver in the same run, and a ksm-style map of 50 keys into 5 secrets.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretResolver, createSyncEngine, MemoryBindingRepository, MemorySyncState } from 'secretbind';
import { awsSecrets } from '../../providers/aws_secrets/index.js';
import { dotenv } from '../../providers/dotenv/index.js';
import { memory } from '../../providers/memory/index.js';
import { vault } from '../../providers/vault/index.js';
import { start as startSecretsManager } from '../servers/secrets-manager/index.js';
import { start as startVault } from '../servers/vault/index.js';
import { compare, line } from './harness.js';

const SECRETS = 1000;
const CREDENTIALS = { accessKeyId: 'AKIABENCHSYNC', secretAccessKey: 'bench' };

export async function benchSync(): Promise<void> {
  process.stdout.write('\n== sync\n');
  const vaultServer = await startVault();
  const aws = await startSecretsManager();
  try {
    vaultServer.state.addMount('secret', 2);
    for (let index = 0; index < SECRETS; index++) vaultServer.state.putSecret('secret', `apps/app-${index}`, { username: `svc-${index}`, password: `pw-${index}` });
    const token = vaultServer.state.createToken({ policies: ['root'] });
    const envPath = join(mkdtempSync(join(tmpdir(), 'secretbind-bench-sync-')), 'apps.env');
    writeFileSync(envPath, '');
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'central-vault', type: 'vault', vault_url: vaultServer.url })
      .putStore({ name: 'prod-aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: aws.url })
      .putStore({ name: 'app-env', type: 'dotenv', dotenv_path: envPath });
    const vaultProvider = vault({ env: { VAULT_TOKEN: token } });
    const providers = [vaultProvider, awsSecrets({ credentials: CREDENTIALS }), dotenv()];
    const definitions = [
      { name: 'to-aws', source: 'central-vault', prefix: 'apps/', destination: 'prod-aws', name_template: 'sync/{{ .SecretBaseName }}' },
      // secret-path: each secret is one .env key holding its JSON, so writes per destination compare one to one.
      { name: 'to-env', source: 'central-vault', prefix: 'apps/', destination: 'app-env', name_template: '{{ .SecretBaseName | uppercase | replace "-" "_" }}' },
    ];
    const engine = createSyncEngine({ repository, providers, definitions, state: new MemorySyncState(), timeoutMs: 120_000 });
    const awsWrites = () => aws.count('CreateSecret') + aws.count('PutSecretValue');
    const envWrites = (items: Awaited<ReturnType<typeof engine.run>>) => items.filter((item) => item.sync === 'to-env' && (item.action === 'create' || item.action === 'update') && item.outcome === 'done').length;

    let before = awsWrites();
    const first = await engine.run();
    line('first pass: writes to Secrets Manager / to the .env file', `${awsWrites() - before} / ${envWrites(first)} (expected ${SECRETS} / ${SECRETS})`);

    const bound = new MemoryBindingRepository().putStore({ name: 'central-vault', type: 'vault', vault_url: vaultServer.url });
    for (let index = 0; index < SECRETS; index++) bound.putBinding({ account: `a-${index}`, store: 'central-vault', entry: `apps/app-${index}` });
    const readAll = createSecretResolver({ repository: bound, providers: [vault({ env: { VAULT_TOKEN: token } })], cryptographyKey: [], timeoutMs: 120_000 });
    const accounts = Array.from({ length: SECRETS }, (_, index) => ({ name: `a-${index}` }));
    let unchangedItems: Awaited<ReturnType<typeof engine.run>> = [];
    let smCalls = 0;
    const noChangePass = async () => {
      before = aws.count();
      const writesBefore = awsWrites();
      unchangedItems = await engine.run({ only: ['to-aws'] });
      smCalls = aws.count() - before;
      if (awsWrites() !== writesBefore) throw new Error('a no-change pass wrote');
    };
    // One pass and one read of the 1,000 sources per round, which goes first alternating (harness.compare).
    const timed = await compare(() => readAll.resolvePasswords(accounts), noChangePass, { iterations: 1, rounds: 9, warmup: 1 });
    line('no-change pass (to AWS): writes, Secrets Manager calls', `${unchangedItems.filter((item) => item.action !== 'unchanged').length}, ${smCalls} (limit ${Math.ceil(SECRETS / 20) + 1})`);
    line('no-change pass / reading the 1,000 sources once', `${(timed.candidateNs / 1e6).toFixed(0)} ms / ${(timed.baselineNs / 1e6).toFixed(0)} ms = ${timed.ratio.toFixed(2)}, per round ${timed.roundRatio.toFixed(2)} (goal 1.2)`);
    const envAgain = await engine.run({ only: ['to-env'] });
    line('no-change pass (to .env): writes', String(envWrites(envAgain)));

    for (let index = 0; index < 10; index++) vaultServer.state.putSecret('secret', `apps/app-${index * 97}`, { username: `svc-${index * 97}`, password: `rotated-${index}` });
    before = awsWrites();
    const changed = await engine.run();
    line('after 10 source changes: writes to Secrets Manager / .env', `${awsWrites() - before} / ${envWrites(changed)} (expected 10 / 10)`);
    await readAll.close();
    await engine.close();

    // ksm-style: 50 keys mapped into 5 JSON secrets.
    const seed = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`keys/k${index}`, `v${index}`]));
    const map = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`my-app-${index % 5}+key_${index}`, `keeper:keys/k${index}`]));
    const mapRepository = new MemoryBindingRepository().putStore({ name: 'keeper', type: 'memory' }).putStore({ name: 'prod-aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: aws.url });
    const mapEngine = createSyncEngine({ repository: mapRepository, providers: [memory({ entries: seed }), awsSecrets({ credentials: CREDENTIALS })], definitions: [{ name: 'ksm', destination: 'prod-aws', map, name_template: 'ksm/{{ .SecretPath }}' }] });
    before = awsWrites();
    await mapEngine.run();
    const firstMap = awsWrites() - before;
    before = awsWrites();
    await mapEngine.run();
    line('ksm map, 50 keys into 5 secrets: writes, then on the next pass', `${firstMap}, ${awsWrites() - before} (expected 5, 0)`);
    await mapEngine.close();
  } finally {
    await vaultServer.stop();
    await aws.stop();
  }
}
