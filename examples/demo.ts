/**
 * `npm run demo`: four accounts, four sources. One is bound to an environment variable, one to a KeePass file the
 * demo creates in a temporary folder (then edits, and the change is picked up), one to an in-memory store, and one
 * keeps its local Fernet-encrypted password. Values are masked. No network, no service to start.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kdbxwebModule from 'kdbxweb';
import { createSecretResolver, encryptLocalPassword, formatEvent, generateFernetKey, MemoryBindingRepository, type SecretEvent } from 'secretbind';
import { envvar } from 'secretbind/providers/envvar';
import { keepass } from 'secretbind/providers/keepass';
import { memory } from 'secretbind/providers/memory';

const kdbxweb = kdbxwebModule as typeof import('kdbxweb');
const DEMO_MASTER = 'demo master password';

/** A KeePass file as an operator would keep it: Root/Infrastructure/checkmk-prod. AES-KDF keeps the demo quick. */
async function keepassFile(path: string, password: string): Promise<void> {
  const db = kdbxweb.Kdbx.create(new kdbxweb.Credentials(kdbxweb.ProtectedValue.fromString(DEMO_MASTER)), 'Root');
  db.setKdf(kdbxweb.Consts.KdfId.Aes);
  const group = db.createGroup(db.getDefaultGroup(), 'Infrastructure');
  const entry = db.createEntry(group);
  entry.fields.set('Title', 'checkmk-prod');
  entry.fields.set('UserName', 'automation');
  entry.fields.set('Password', kdbxweb.ProtectedValue.fromString(password));
  writeFileSync(path, Buffer.from(await db.save()));
}

const mask = (value: string | null): string => (value === null ? '(none)' : `${'*'.repeat(Math.min(value.length, 12))} (${value.length} chars)`);

export async function runDemo(print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const key = generateFernetKey();
  const folder = mkdtempSync(join(tmpdir(), 'secretbind-demo-'));
  const kdbxPath = join(folder, 'operations.kdbx');
  await keepassFile(kdbxPath, 'demo-keepass-secret-v1');
  const environment = { NETBOX_PASSWORD: 'demo-env-secret', DEMO_KEEPASS_MASTER: DEMO_MASTER };
  const vault = memory({ entries: { 'prod/grafana': { username: 'automation', password: 'demo-store-secret' } } });

  // What an application keeps today: accounts with local Fernet tokens.
  const accounts = [
    { name: 'checkmk-prod', password: encryptLocalPassword('stale-local-copy', key) },
    { name: 'netbox', password: null },
    { name: 'grafana', password: null },
    { name: 'legacy-ftp', password: encryptLocalPassword('demo-local-secret', key) },
  ];
  // What an operator adds: stores and bindings, one account at a time.
  const repository = MemoryBindingRepository.fromConfig({
    stores: [
      { name: 'process-env', type: 'envvar' },
      { name: 'ops-keepass', type: 'keepass', kdbx_path: kdbxPath, master_password_env: 'DEMO_KEEPASS_MASTER' },
      { name: 'team-store', type: 'memory' },
    ],
    bindings: [
      { account: 'checkmk-prod', store: 'ops-keepass', entry: 'Root/Infrastructure/checkmk-prod' },
      { account: 'netbox', store: 'process-env', entry: 'NETBOX_PASSWORD' },
      { account: 'grafana', store: 'team-store', entry: 'prod/grafana#password' },
    ],
  });
  const events: SecretEvent[] = [];
  const resolver = createSecretResolver({
    repository,
    providers: [envvar({ env: environment }), keepass({ env: environment }), vault],
    cryptographyKey: key,
    onEvent: (event) => events.push(event),
  });

  print('secretbind demo: where each account gets its password');
  for (const account of accounts) {
    const explanation = await resolver.explain(account);
    print(`  ${account.name.padEnd(13)} ${explanation.source.padEnd(6)} ${mask(await resolver.resolvePassword(account))}  ${explanation.reason}`);
  }

  print('\nAn operator changes checkmk-prod in the KeePass file; the next lookup sees it, nothing to edit in the application:');
  await keepassFile(kdbxPath, 'demo-keepass-secret-v2-longer');
  print(`  checkmk-prod  store  ${mask(await resolver.resolvePassword(accounts[0]!))}`);

  print('\nA sync run resolves every account in one call (each store entry read once):');
  const results = await resolver.resolvePasswords(accounts);
  for (const [name, result] of results) print(`  ${name.padEnd(13)} ${result.ok ? `${result.source.padEnd(6)} ${mask(result.value)}` : `error ${result.error.code}`}`);

  print('\nThe secret log (what onEvent received; no values):');
  for (const event of events.slice(0, 4)) print(`  ${formatEvent(event)}`);
  print(`  ... ${events.length} events in all`);
  await resolver.close();
  rmSync(folder, { recursive: true, force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) await runDemo();
