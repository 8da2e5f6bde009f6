/**
 * Destinations benchmark: what listing and writing cost in calls and saves, each against its floor or baseline in
 * the same run. AWS: ListSecrets calls for 10,000 secrets (the page limit of 100 is the floor). Vault: LIST calls for
 * 1,000 secrets in 50 folders (one per folder plus the root). KeePass: 1,000 entries written together against one
 * save of the same database with kdbxweb directly.
 */
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kdbxwebDefault from 'kdbxweb';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { awsSecrets } from '../../providers/aws_secrets/index.js';
import { argon2For } from '../../providers/keepass/argon2.js';
import { keepass } from '../../providers/keepass/index.js';
import { vault } from '../../providers/vault/index.js';
import { start as startSecretsManager } from '../servers/secrets-manager/index.js';
import { start as startVault } from '../servers/vault/index.js';
import { line, median } from './harness.js';

const kdbxweb = kdbxwebDefault as typeof import('kdbxweb');
const MASTER = 'correct horse battery staple';

export async function benchWrites(): Promise<void> {
  process.stdout.write('\n== writes and listings\n');
  await awsListing();
  await vaultListing();
  await keepassBatch();
}

async function awsListing(): Promise<void> {
  const server = await startSecretsManager();
  try {
    for (let index = 0; index < 10_000; index++) server.state.put(`bench/app-${String(index).padStart(5, '0')}`, 'x');
    const store = { name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: server.url };
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(store), providers: [awsSecrets({ credentials: { accessKeyId: 'AKIABENCH', secretAccessKey: 'bench' } })], cryptographyKey: [], timeoutMs: 120_000 });
    const started = performance.now();
    const entries = await resolver.listEntries('aws', { prefix: 'bench/' });
    line('aws: list 10,000 secrets', `${entries.length} entries, ${server.count('ListSecrets')} ListSecrets calls (floor 100), ${(performance.now() - started).toFixed(0)} ms`);
    await resolver.close();
  } finally {
    await server.stop();
  }
}

async function vaultListing(): Promise<void> {
  const server = await startVault();
  try {
    server.state.addMount('secret', 2);
    for (let folder = 0; folder < 50; folder++) for (let index = 0; index < 20; index++) server.state.putSecret('secret', `tree/folder-${folder}/secret-${index}`, { password: 'x' });
    const token = server.state.createToken({ policies: ['root'] });
    const store = { name: 'vault', type: 'vault', vault_url: server.url };
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(store), providers: [vault({ env: { VAULT_TOKEN: token } })], cryptographyKey: [], timeoutMs: 60_000 });
    const before = server.requests.length;
    const entries = await resolver.listEntries('vault', { prefix: 'tree/' });
    const lists = server.requests.slice(before).filter((request) => request.path.startsWith('/v1/secret/metadata/')).length;
    line('vault: list 1,000 secrets in 50 folders', `${entries.length} entries, ${lists} LIST calls (expected 51)`);
    await resolver.close();
  } finally {
    await server.stop();
  }
}

async function keepassBatch(): Promise<void> {
  const fixture = join(process.cwd(), 'test/fixtures/keepass/kdbx4-argon2d-64m.kdbx');
  kdbxweb.CryptoEngine.setArgon2Impl(argon2For('node-rs'));
  const oneSave: number[] = [];
  const batch: number[] = [];
  let saves = 0;
  for (let round = 0; round < 3; round++) {
    // Baseline: open the same database with kdbxweb, add 1,000 entries, save once.
    const bytes = readFileSync(fixture);
    let started = performance.now();
    const db = await kdbxweb.Kdbx.load(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, new kdbxweb.Credentials(kdbxweb.ProtectedValue.fromString(MASTER)));
    const group = db.createGroup(db.getDefaultGroup(), 'Bench');
    for (let index = 0; index < 1000; index++) {
      const entry = db.createEntry(group);
      entry.fields.set('Title', `entry-${index}`);
      entry.fields.set('Password', kdbxweb.ProtectedValue.fromString(`value-${index}`));
    }
    await db.save();
    oneSave.push(performance.now() - started);

    const path = join(mkdtempSync(join(tmpdir(), 'secretbind-bench-kp-')), 'db.kdbx');
    copyFileSync(fixture, path);
    const provider = keepass({ env: { KEEPASS_MASTER: MASTER }, argon2: 'node-rs' });
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore({ name: 'kp', type: 'keepass', kdbx_path: path, master_password_env: 'KEEPASS_MASTER' }), providers: [provider], cryptographyKey: [], timeoutMs: 120_000 });
    started = performance.now();
    await Promise.all(Array.from({ length: 1000 }, (_, index) => resolver.writeEntry('kp', `Bench/entry-${index}`, `value-${index}`)));
    batch.push(performance.now() - started);
    saves = provider.stats().saves;
    await resolver.close();
  }
  line('keepass: 1,000 entries written together (64 MiB Argon2)', `${saves} save(s), ${median(batch).toFixed(0)} ms`);
  line('keepass: kdbxweb opening, adding 1,000 and saving once', `${median(oneSave).toFixed(0)} ms`);
  line('keepass: ours / one save', (median(batch) / median(oneSave)).toFixed(3));
}
