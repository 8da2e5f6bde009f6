/**
 * AWS benchmark over the Secrets Manager stand-in: API calls and time for 1,000 accounts on 1,000 secrets with
 * BatchGetSecretValue against one GetSecretValue per account in the same run, and 1,000 accounts on 100 secrets.
 */
import { createSecretResolver, MemoryBindingRepository, type SecretProvider } from 'secretbind';
import { awsSecrets } from '../../providers/aws_secrets/index.js';
import { start } from '../servers/secrets-manager/index.js';
import { line } from './harness.js';

const CREDENTIALS = { accessKeyId: 'AKIABENCH0000000001', secretAccessKey: 'bench' };

export async function benchAws(): Promise<void> {
  process.stdout.write('\n== aws\n');
  const server = await start();
  try {
    for (let index = 0; index < 1000; index++) server.state.put(`bench/app-${index}`, JSON.stringify({ username: 'svc', password: `pw-${index}` }));
    const store = { name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: server.url };
    const run = async (label: string, secrets: number, provider: SecretProvider) => {
      const repository = new MemoryBindingRepository().putStore(store);
      const accounts = Array.from({ length: 1000 }, (_, index) => {
        repository.putBinding({ account: `a-${index}`, store: 'aws', entry: `bench/app-${index % secrets}` });
        return { name: `a-${index}` };
      });
      const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], timeoutMs: 60_000 });
      const before = server.count();
      const started = performance.now();
      const results = await resolver.resolvePasswords(accounts);
      const elapsed = performance.now() - started;
      const failures = [...results.values()].filter((result) => !result.ok).length;
      line(label, `${server.count() - before} API calls, ${elapsed.toFixed(0)} ms, ${failures} failures`);
      await resolver.close();
    };
    await run('1,000 accounts on 1,000 secrets, BatchGetSecretValue (at most 50)', 1000, awsSecrets({ credentials: CREDENTIALS }));
    const { resolveMany: _batch, ...single } = awsSecrets({ credentials: CREDENTIALS });
    await run('1,000 accounts on 1,000 secrets, one call per secret (baseline)', 1000, single);
    await run('1,000 accounts on 100 secrets, BatchGetSecretValue (at most 5)', 100, awsSecrets({ credentials: CREDENTIALS }));
  } finally {
    await server.stop();
  }
}
