/**
 * `npm run demo`: three accounts, three sources. One is bound to an environment variable, one keeps its local
 * Fernet-encrypted password, one is bound to an in-memory store that gets rotated mid-run. Values are masked.
 */
import { createSecretResolver, encryptLocalPassword, formatEvent, generateFernetKey, MemoryBindingRepository, type SecretEvent } from 'secretbind';
import { envvar } from 'secretbind/providers/envvar';
import { memory } from 'secretbind/providers/memory';

const mask = (value: string | null): string => (value === null ? '(none)' : `${'*'.repeat(Math.min(value.length, 12))} (${value.length} chars)`);

export async function runDemo(print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const key = generateFernetKey();
  const environment = { CMK_PROD_PASSWORD: 'demo-env-secret' };
  const vault = memory({ entries: { 'prod/netbox': { username: 'automation', password: 'demo-store-secret-v1' } } });

  // What an application keeps today: accounts with local Fernet tokens.
  const accounts = [
    { name: 'checkmk-prod', password: encryptLocalPassword('stale-local-copy', key) },
    { name: 'netbox', password: null },
    { name: 'legacy-ftp', password: encryptLocalPassword('demo-local-secret', key) },
  ];
  // What an operator adds: stores and bindings, one account at a time.
  const repository = MemoryBindingRepository.fromConfig({
    stores: [
      { name: 'process-env', type: 'envvar' },
      { name: 'team-store', type: 'memory' },
    ],
    bindings: [
      { account: 'checkmk-prod', store: 'process-env', entry: 'CMK_PROD_PASSWORD' },
      { account: 'netbox', store: 'team-store', entry: 'prod/netbox#password' },
    ],
  });
  const events: SecretEvent[] = [];
  const resolver = createSecretResolver({
    repository,
    providers: [envvar({ env: environment }), vault],
    cryptographyKey: key,
    onEvent: (event) => events.push(event),
  });

  print('secretbind demo: where each account gets its password');
  for (const account of accounts) {
    const explanation = await resolver.explain(account);
    print(`  ${account.name.padEnd(13)} ${explanation.source.padEnd(6)} ${mask(await resolver.resolvePassword(account))}  ${explanation.reason}`);
  }

  print('\nRotating prod/netbox in the store; the next lookup sees it, nothing to edit in the application:');
  vault.rotate('prod/netbox', 'demo-store-secret-v2-longer');
  print(`  netbox        store  ${mask(await resolver.resolvePassword(accounts[1]!))}`);

  print('\nA sync run resolves every account in one call (each store entry read once):');
  const results = await resolver.resolvePasswords(accounts);
  for (const [name, result] of results) print(`  ${name.padEnd(13)} ${result.ok ? `${result.source.padEnd(6)} ${mask(result.value)}` : `error ${result.error.code}`}`);

  print('\nThe secret log (what onEvent received; no values):');
  for (const event of events.slice(0, 4)) print(`  ${formatEvent(event)}`);
  print(`  ... ${events.length} events in all`);
  await resolver.close();
}

if (import.meta.url === `file://${process.argv[1]}`) await runDemo();
