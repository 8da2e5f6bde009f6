/**
 * Canary runs with DEBUG=* (security review item 5): node-vault logs request bodies through the `debug` package, which
 * reads DEBUG when it loads, so this file sets it before importing any provider and captures everything written to
 * stdout and stderr while the vault (AppRole login, reads) and aws_secrets providers work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';

process.env.DEBUG = '*';
process.env.NODE_DEBUG = 'http,net,tls';

const written: string[] = [];
const originals = { stdout: process.stdout.write.bind(process.stdout), stderr: process.stderr.write.bind(process.stderr) };

beforeAll(() => {
  const capture =
    (stream: 'stdout' | 'stderr') =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return (originals[stream] as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean)(chunk, ...rest);
    };
  process.stdout.write = capture('stdout') as typeof process.stdout.write;
  process.stderr.write = capture('stderr') as typeof process.stderr.write;
});
afterAll(() => {
  process.stdout.write = originals.stdout;
  process.stderr.write = originals.stderr;
});

describe('Canary: DEBUG=* prints no credential or value of the vault and aws_secrets providers', () => {
  it('vault with an AppRole login: no secret_id, token or value on stdout or stderr', async () => {
    const { vault } = await import('../providers/vault/index.js');
    const { world } = await import('./providers/vault/world.js');
    const current = await world({ auth: 'approle' });
    try {
      const provider = vault({ env: current.env, now: () => current.clock.now, retries: 0 });
      const repository = new MemoryBindingRepository().putStore(current.store).putBinding({ account: 'canary', store: current.store.name, entry: 'kv/prod/canary' });
      const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [] });
      expect(await resolver.resolvePassword({ name: 'canary' })).toBe('canary-vault-3b9d');
      await resolver.check({ resolveEntries: true });
      await resolver.close();
      const tokens = [...current.server.state.tokens.keys()];
      expect(tokens.length).toBeGreaterThan(0);
      const output = written.join('');
      for (const secret of ['secret-456', 'canary-vault-3b9d', ...tokens]) expect(output).not.toContain(secret);
    } finally {
      await current.server.stop();
    }
  });

  it('aws_secrets: no secret key or value on stdout or stderr', async () => {
    const { awsSecrets } = await import('../providers/aws_secrets/index.js');
    const { awsWorld, CANARY, CREDENTIALS } = await import('./providers/aws_secrets/world.js');
    const current = await awsWorld();
    try {
      const repository = new MemoryBindingRepository().putStore(current.store).putBinding({ account: 'canary', store: current.store.name, entry: 'prod/canary' });
      const resolver = createSecretResolver({ repository, providers: [awsSecrets({ credentials: CREDENTIALS })], cryptographyKey: [] });
      expect(await resolver.resolvePassword({ name: 'canary' })).toBe(CANARY);
      await resolver.resolvePasswords([{ name: 'canary' }]);
      await resolver.close();
      const output = written.join('');
      for (const secret of [CANARY, CREDENTIALS.secretAccessKey]) expect(output).not.toContain(secret);
    } finally {
      await current.server.stop();
    }
  });
});
