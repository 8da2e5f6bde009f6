/**
 * A child process for the hung-service test. It reads once while the service answers (the channel is connected and
 * the client loaded), says `ready` and waits for `go` on stdin, meanwhile the parent makes the service hang. Then it
 * reads, lists, writes and removes under a short deadline, closes the resolver (when told to), prints what each call
 * ended with (one JSON line) and does nothing more: the parent measures how long the process takes to exit on its own after that.
 */
import { createSecretResolver, MemoryBindingRepository, type SecretbindError, type SecretStore } from 'secretbind';
import { gcpSecrets } from '../../../providers/gcp_secrets/index.js';

const { port, store, timeoutMs, close } = JSON.parse(process.argv[2]!) as { port: number; store: SecretStore; timeoutMs: number; close: boolean };
const repository = new MemoryBindingRepository().putStore(store).putBinding({ account: 'hung', store: store.name, entry: 'smtp-relay' });
const provider = gcpSecrets({ clientOptions: { apiEndpoint: 'localhost', port } });
const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs });

await createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs: 15_000 }).resolvePassword({ name: 'hung' });
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy(); // stdin must not be what keeps this process alive

const started = performance.now();
const codeOf = (work: Promise<unknown>) =>
  work.then(
    () => 'ok',
    (error: SecretbindError) => error.code,
  );
const codes = await Promise.all([
  codeOf(resolver.resolvePassword({ name: 'hung' })),
  codeOf(resolver.listEntries(store.name)),
  codeOf(resolver.writeEntry(store.name, 'hung-write', 'value')),
  codeOf(resolver.removeEntry(store.name, 'hung-remove')),
]);
const elapsedMs = Math.round(performance.now() - started);
if (close) await resolver.close();
process.stdout.write(`${JSON.stringify({ codes, elapsedMs })}\n`);
