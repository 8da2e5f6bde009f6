/**
 * gcp_secrets: the real @google-cloud/secret-manager on gRPC over TLS, signing its own JWTs with a service-account
 * key file (google-auth-library's real path), against the Secret Manager stand-in (test/servers/gcp).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretEvent, type SecretProvider, type SecretStore } from 'secretbind';
import { OWNER_LABEL } from '../../../providers/gcp_secrets/index.js';
import { describeProvider } from '../../conformance/provider.js';
import { describeWritableProvider } from '../../conformance/writes.js';
import { failure } from '../../helpers.js';
import { crc32c, PROJECT_NUMBER, type SecretManagerStandIn } from '../../servers/gcp/index.js';
import { keyFile, providerFor, SERVICE_ACCOUNT, secretManager } from './world.js';

const CANARY = 'canary-gcp-41c7a2';
const servers: SecretManagerStandIn[] = [];
const providers: SecretProvider[] = [];
afterAll(async () => {
  await Promise.all(providers.map((provider) => provider.close?.()));
  await Promise.all(servers.map((server) => server.stop()));
});

/** A stand-in that takes every call and never answers it (the TLS and HTTP/2 connection itself works). */
async function hungWorld() {
  const { server, store } = await secretManager();
  server.state.mode.hang = true;
  return { provider: providerFor(server), store, reference: 'smtp-relay', stop: () => server.stop() };
}

async function world() {
  const made = await secretManager();
  servers.push(made.server);
  made.server.state.put('checkmk-prod', JSON.stringify({ username: 'automation', password: 'Ch3ck-MK!prod#2026' }), { annotations: { description: 'Checkmk automation user' } });
  made.server.state.put('smtp-relay', 'Sm7p!relay');
  made.server.state.put('canary', CANARY);
  const provider = providerFor(made.server);
  providers.push(provider);
  return { ...made, provider };
}

describeProvider({
  name: 'gcp_secrets',
  capabilities: { bulk: true, check: true, hang: true },
  hangingStore: hungWorld,
  setup: async () => {
    const { server, store, provider } = await world();
    return {
      provider,
      store,
      known: { reference: 'smtp-relay', value: 'Sm7p!relay' },
      knownField: { reference: 'checkmk-prod@1#username', value: 'automation' },
      missingEntry: 'not-there',
      missingField: 'checkmk-prod#nope',
      badStores: [{ name: 'gsm', type: 'gcp_secrets' }, { name: 'gsm', type: 'gcp_secrets', gcp_project: 'Bad Project!' }],
      canary: { reference: 'canary', value: CANARY, missingFieldReference: 'canary#nope' },
      hang: () => {
        server.state.mode.latencyMs = 2000;
        setTimeout(() => (server.state.mode.latencyMs = 0), 400);
        return 'smtp-relay';
      },
    };
  },
});

describeWritableProvider({
  name: 'gcp_secrets',
  capabilities: { pageSize: 5, objectFields: true, guarded: true },
  hangingStore: hungWorld,
  setup: async () => {
    const { server, store } = await world();
    const provider = providerFor(server, { pageSize: 5 });
    providers.push(provider);
    return {
      provider,
      store,
      seedForeign: (name, value) => void server.state.put(name, value),
      names: ['with_underscore-and-dash', 'UPPER123', `x${'a'.repeat(254)}`],
      invalidNames: [
        ['with space', '[a-zA-Z0-9_-]{1,255}'],
        ['dotted.name', '[a-zA-Z0-9_-]{1,255}'],
        [`x${'a'.repeat(255)}`, '[a-zA-Z0-9_-]{1,255}'],
        ['a/b', 'name or name@version'],
      ],
      prefix: 'conformance-',
      separator: '-',
    };
  },
});

describe('Provider: gcp_secrets', () => {
  function resolverFor(server: SecretManagerStandIn, store: SecretStore, bindings: Record<string, string>, events: SecretEvent[] = []) {
    const repository = new MemoryBindingRepository().putStore(store);
    for (const [account, entry] of Object.entries(bindings)) repository.putBinding({ account, store: store.name, entry });
    const provider = providerFor(server);
    providers.push(provider);
    return createSecretResolver({ repository, providers: [provider], cryptographyKey: [], onEvent: (event) => events.push(event), timeoutMs: 15_000 });
  }

  it('reads latest and a numbered version, each call signed by the service account', async () => {
    const { server, store } = await world();
    server.state.put('rotated', 'first');
    server.state.put('rotated', 'second');
    const resolver = resolverFor(server, store, { latest: 'rotated', first: 'rotated@1' });
    expect(await resolver.resolvePassword({ name: 'latest' })).toBe('second');
    expect(await resolver.resolvePassword({ name: 'first' })).toBe('first');
    expect(server.state.log.every((request) => request.caller === SERVICE_ACCOUNT)).toBe(true);
  });

  it('reads 1,000 accounts over 100 secrets with exactly 100 reads', async () => {
    const { server, store } = await world();
    for (let index = 0; index < 100; index++) server.state.put(`bulk-${index}`, JSON.stringify({ username: `u${index}`, password: `p${index}` }));
    const bindings = Object.fromEntries(Array.from({ length: 1000 }, (_, index) => [`account-${index}`, `bulk-${index % 100}${index % 2 ? '#username' : ''}`]));
    const resolver = resolverFor(server, store, bindings);
    server.state.log.length = 0;
    const results = await resolver.resolvePasswords(Object.keys(bindings).map((name) => ({ name })));
    expect([...results.values()].every((result) => result.ok)).toBe(true);
    expect(results.get('account-3')).toMatchObject({ ok: true, value: 'u3' });
    expect(server.state.log.filter((request) => request.method === 'AccessSecretVersion')).toHaveLength(100);
  });

  describe('error table (providers/gcp_secrets/README.md), one test a row', () => {
    it('NOT_FOUND: ENTRY_NOT_FOUND', async () => {
      const { server, store } = await world();
      expect((await failure(resolverFor(server, store, { a: 'absent' }).resolvePassword({ name: 'a' }))).code).toBe('ENTRY_NOT_FOUND');
      expect((await failure(resolverFor(server, store, { a: 'smtp-relay@7' }).resolvePassword({ name: 'a' }))).code).toBe('ENTRY_NOT_FOUND');
    });

    it('FAILED_PRECONDITION, DISABLED and DESTROYED: ENTRY_NOT_FOUND saying which; latest does not fall back to an older version', async () => {
      const { server, store } = await world();
      server.state.put('switched', 'old-good');
      server.state.put('switched', 'new');
      server.state.get('switched')!.versions[1]!.state = 'DISABLED';
      server.state.put('burnt', 'x');
      server.state.get('burnt')!.versions[0]!.state = 'DESTROYED';
      const resolver = resolverFor(server, store, { disabled: 'switched', older: 'switched@1', destroyed: 'burnt' });
      const disabled = await failure(resolver.resolvePassword({ name: 'disabled' }));
      expect(disabled.code).toBe('ENTRY_NOT_FOUND');
      expect(disabled.message).toMatch(/is disabled/);
      expect(await resolver.resolvePassword({ name: 'older' })).toBe('old-good');
      const destroyed = await failure(resolver.resolvePassword({ name: 'destroyed' }));
      expect(destroyed.code).toBe('ENTRY_NOT_FOUND');
      expect(destroyed.message).toMatch(/destroyed/);
    });

    it('INVALID_ARGUMENT from the service (a payload over 64 KiB): REFERENCE_INVALID', async () => {
      const { server, store } = await world();
      const error = await failure(resolverFor(server, store, {}).writeEntry('gsm', 'too-big', 'x'.repeat(65 * 1024)));
      expect(error.code).toBe('REFERENCE_INVALID');
      expect(error.message).toMatch(/64 KiB/);
    });

    it('an id outside [a-zA-Z0-9_-]{1,255}: REFERENCE_INVALID before any call', async () => {
      const { server, store } = await world();
      server.state.log.length = 0;
      expect((await failure(resolverFor(server, store, { a: 'no.dots' }).resolvePassword({ name: 'a' }))).code).toBe('REFERENCE_INVALID');
      expect(server.state.log).toHaveLength(0);
    });

    it('PERMISSION_DENIED: PERMISSION_DENIED naming the role', async () => {
      const { server, store } = await world();
      server.state.denied.set(SERVICE_ACCOUNT, new Set(['AccessSecretVersion:smtp-relay']));
      const error = await failure(resolverFor(server, store, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.message).toMatch(/secretAccessor/);
    });

    it('UNAUTHENTICATED (a key the service does not know): AUTH_FAILED', async () => {
      const { server, store } = await world();
      const stranger = keyFile(server, { known: false });
      const error = await failure(resolverFor(server, { ...store, gcp_credentials_file: stranger.path }, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('AUTH_FAILED');
      expect(error.message + inspect(error)).not.toContain(stranger.privateKey.slice(40, 80));
    });

    it('no credentials at all (no key file, no Application Default Credentials): AUTH_FAILED saying what to set', async () => {
      const { server, store } = await world();
      const saved = { adc: process.env.GOOGLE_APPLICATION_CREDENTIALS, home: process.env.HOME, config: process.env.CLOUDSDK_CONFIG };
      delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      process.env.CLOUDSDK_CONFIG = '/nonexistent/gcloud';
      try {
        const { gcp_credentials_file: _dropped, ...adc } = store;
        const error = await failure(resolverFor(server, adc as SecretStore, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
        expect(error.code).toBe('AUTH_FAILED');
        expect(error.message).toMatch(/gcp_credentials_file/);
      } finally {
        if (saved.adc !== undefined) process.env.GOOGLE_APPLICATION_CREDENTIALS = saved.adc;
        if (saved.config === undefined) delete process.env.CLOUDSDK_CONFIG;
        else process.env.CLOUDSDK_CONFIG = saved.config;
      }
    });

    it('RESOURCE_EXHAUSTED: RATE_LIMITED, not retried for minutes inside the client', async () => {
      const { server, store } = await world();
      const resolver = resolverFor(server, store, { a: 'smtp-relay' });
      server.state.mode.exhausted = 1;
      const started = performance.now();
      expect(await failure(resolver.resolvePassword({ name: 'a' }))).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
      expect(performance.now() - started).toBeLessThan(1500); // gax's own retry would wait 2 s first
    });

    it('UNAVAILABLE: BACKEND_UNAVAILABLE (retryable)', async () => {
      const { server, store } = await world();
      server.state.mode.unavailable = 1;
      expect(await failure(resolverFor(server, store, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }))).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true });
    });

    it('DEADLINE_EXCEEDED: TIMEOUT (retryable)', async () => {
      const { server, store } = await world();
      server.state.mode.deadline = 1;
      expect(await failure(resolverFor(server, store, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }))).toMatchObject({ code: 'TIMEOUT', retryable: true });
    });

    it('ALREADY_EXISTS (another writer created it meanwhile): CONFLICT (retryable); the retry then refuses it as not ours', async () => {
      const { server, store } = await world();
      server.state.mode.createAfterGet = 'raced';
      const resolver = resolverFor(server, store, {});
      expect(await failure(resolver.writeEntry('gsm', 'raced', 'ours'))).toMatchObject({ code: 'CONFLICT', retryable: true });
      expect((await failure(resolver.writeEntry('gsm', 'raced', 'ours'))).code).toBe('ENTRY_NOT_OWNED');
    });

    it('ABORTED (the etag changed between our read and the delete): CONFLICT, nothing deleted', async () => {
      const { server, store } = await world();
      const resolver = resolverFor(server, store, {});
      await resolver.writeEntry('gsm', 'contested', 'x');
      server.state.mode.touchAfterGet = 'contested';
      expect(await failure(resolver.removeEntry('gsm', 'contested'))).toMatchObject({ code: 'CONFLICT', retryable: true });
      expect(server.state.get('contested')).toBeDefined();
    });

    it('a payload whose CRC32C does not match: BACKEND_UNAVAILABLE (retryable), the value not returned', async () => {
      const { server, store } = await world();
      server.state.mode.corruptCrc = true;
      const error = await failure(resolverFor(server, store, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true });
      expect(error.message).toMatch(/CRC32C/);
    });
  });

  it('creates a secret with automatic replication and our label, then adds versions with a CRC32C the service checks', async () => {
    const { server, store } = await world();
    const resolver = resolverFor(server, store, { a: 'fresh' });
    const first = await resolver.writeEntry('gsm', 'fresh', 'v1');
    const second = await resolver.writeEntry('gsm', 'fresh', { username: 'u', password: 'v2' });
    expect([first.version, second.version]).toEqual(['1', '2']);
    const stored = server.state.get('fresh')!;
    expect(stored.labels).toEqual({ [OWNER_LABEL]: 'secretbind' });
    expect(stored.replication).toMatchObject({ automatic: {} });
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('v2');
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283); // the CRC-32C check value
  });

  it('writes regional secrets under their location, without a replication policy', async () => {
    const { server, store } = await world();
    const regional = { ...store, gcp_location: 'europe-west3' };
    const resolver = resolverFor(server, regional, { a: 'regional-one' });
    await resolver.writeEntry('gsm', 'regional-one', 'here');
    expect(server.state.get('regional-one', 'europe-west3')?.replication).toBeUndefined();
    expect(server.state.get('regional-one')).toBeUndefined();
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('here');
    expect(server.state.log.at(-1)?.name).toBe('projects/sync-project/locations/europe-west3/secrets/regional-one/versions/latest');
  });

  it('removes only a secret we own, guarded by its etag', async () => {
    const { server, store } = await world();
    const resolver = resolverFor(server, store, {});
    await resolver.writeEntry('gsm', 'doomed', 'x');
    await resolver.removeEntry('gsm', 'doomed');
    expect(server.state.get('doomed')).toBeUndefined();
    expect((await failure(resolver.removeEntry('gsm', 'smtp-relay'))).code).toBe('ENTRY_NOT_OWNED');
    expect(server.state.get('smtp-relay')).toBeDefined();
  });

  it('lists ids (from names that carry the project number) with owner and description, never values', async () => {
    const { server, store } = await world();
    await resolverFor(server, store, {}).writeEntry('gsm', 'ours', 'x');
    const listed = await resolverFor(server, store, {}).listEntries('gsm', {});
    expect(listed.find((entry) => entry.name === 'checkmk-prod')).toMatchObject({ owned: false, description: 'Checkmk automation user' });
    expect(listed.find((entry) => entry.name === 'ours')).toMatchObject({ owned: true, owner: 'secretbind' });
    expect(JSON.stringify(listed)).not.toContain(CANARY);
    expect(JSON.stringify(listed)).not.toContain(PROJECT_NUMBER);
  });

  describe('a service that takes calls and never answers (issue 17: the late answer kept the process alive)', () => {
    const CHILD = fileURLToPath(new URL('./hang-child.ts', import.meta.url));

    /** Runs hang-child.ts against a hanging stand-in; how its calls ended and how long it lived after its last line. */
    async function hungChild(close: boolean) {
      const { server, store } = await secretManager();
      servers.push(server);
      server.state.put('smtp-relay', 'Sm7p!relay');
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ port: server.port, store, timeoutMs: 300, close })], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      let output = '';
      let doneAt = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output === 'ready\n') {
          // The warm-up read answered: from now on the service hangs, as it did in the issue (30 s there).
          server.state.mode.hang = true;
          child.stdin.end('go\n');
        } else if (output.endsWith('}\n')) doneAt = performance.now();
      });
      // Ten seconds is far below gax's own 60 s deadline, which is what ended the calls before the fix.
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(killer);
      const result = JSON.parse(output.split('\n')[1] ?? '{}') as { codes?: string[]; elapsedMs?: number };
      return { code, ...result, livedAfterMs: doneAt ? performance.now() - doneAt : Infinity, calls: server.state.log.slice(1) };
    }

    it('ends each read, list, write and remove at the deadline with the call cancelled, and the process exits on its own, with or without close()', { timeout: 20_000 }, async () => {
      const runs = await Promise.all([hungChild(true), hungChild(false)]);
      for (const run of runs) {
        expect(run.code).toBe(0);
        expect(run.codes).toEqual(['TIMEOUT', 'TIMEOUT', 'TIMEOUT', 'TIMEOUT']);
        expect(run.elapsedMs).toBeLessThan(600);
        expect(run.livedAfterMs).toBeLessThan(1500);
        // The first call of each operation reached the service and was cancelled by the client, not left to answer.
        expect(run.calls.map((call) => [call.method, call.cancelled])).toEqual([
          ['AccessSecretVersion', true],
          ['ListSecrets', true],
          ['GetSecret', true],
          ['GetSecret', true],
        ]);
      }
    });

    it('cancels calls still in flight on close(), before their deadline', async () => {
      const { server, store } = await secretManager();
      servers.push(server);
      const provider = providerFor(server);
      const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(store).putBinding({ account: 'a', store: 'gsm', entry: 'smtp-relay' }), providers: [provider], cryptographyKey: [], timeoutMs: 15_000 });
      server.state.mode.hang = true;
      const pending = failure(resolver.resolvePassword({ name: 'a' }));
      while (server.state.held.size === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const started = performance.now();
      await resolver.close();
      expect(await pending).toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('closed') });
      expect(performance.now() - started).toBeLessThan(1000);
      await vi.waitFor(() => expect(server.state.log.at(-1)).toMatchObject({ method: 'AccessSecretVersion', cancelled: true }), { timeout: 1000 });
    });
  });

  it('reports the service account in check, never the key', async () => {
    const { server, store, key } = await world();
    const report = await resolverFor(server, store, { a: 'smtp-relay' }).check();
    const item = report.stores.find((entry) => entry.store === 'gsm')!;
    expect(item).toMatchObject({ ok: true, details: { project: 'sync-project', identity: SERVICE_ACCOUNT } });
    expect(JSON.stringify(report) + inspect(report, { depth: 10 })).not.toContain(key.privateKey.slice(40, 80));
  });
});
