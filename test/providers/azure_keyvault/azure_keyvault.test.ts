/**
 * azure_keyvault: the real @azure/keyvault-secrets and @azure/identity (ClientSecretCredential through msal) against
 * the Key Vault and Entra ID stand-in over HTTPS on 127.0.0.1 (test/servers/azure), trusted through
 * NODE_EXTRA_CA_CERTS as an operator would trust a private CA.
 */
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretEvent, type SecretStore } from 'secretbind';
import { azureKeyVault, OWNER_TAG, type AzureKeyVaultOptions } from '../../../providers/azure_keyvault/index.js';
import { startSilentServer } from '../../conformance/hanging.js';
import { describeProvider } from '../../conformance/provider.js';
import { describeWritableProvider } from '../../conformance/writes.js';
import { failure } from '../../helpers.js';
import { start, TENANT, type KeyVaultStandIn } from '../../servers/azure/index.js';

const CANARY = 'canary-azure-8d3f17';
const CLIENT_SECRET = 'app-secret-value-1';
const servers: KeyVaultStandIn[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

async function vault() {
  const server = await start();
  servers.push(server);
  server.state.clients.set('sync-app', CLIENT_SECRET);
  server.state.clients.set('reader-app', 'reader-secret');
  server.state.put('checkmk-prod', JSON.stringify({ username: 'automation', password: 'Ch3ck-MK!prod#2026' }), { contentType: 'application/json', tags: { description: 'Checkmk automation user' } });
  server.state.put('smtp-relay', 'Sm7p!relay');
  server.state.put('canary', CANARY);
  const store: SecretStore = { name: 'kv', type: 'azure_keyvault', azure_vault_url: server.url, azure_tenant_id: TENANT, azure_client_id: 'sync-app', azure_client_secret_env: 'KV_CLIENT_SECRET', azure_authority_host: server.authorityHost };
  return { server, store };
}

/** The provider as a stand-in needs it: the challenge names 127.0.0.1, msal must not ask login.microsoftonline.com. */
const provider = (extra: AzureKeyVaultOptions = {}) =>
  azureKeyVault({ env: { KV_CLIENT_SECRET: CLIENT_SECRET, READER_SECRET: 'reader-secret', WRONG_SECRET: 'not-it' }, disableChallengeResourceVerification: true, credentialOptions: { disableInstanceDiscovery: true }, maxRetries: 0, ...extra });

/** A Key Vault that takes the connection and never answers (sign-in works: Entra ID is the stand-in). */
async function hungVault() {
  const { store } = await vault();
  const silent = await startSilentServer('https');
  return { provider: provider(), store: { ...store, azure_vault_url: silent.url }, reference: 'smtp-relay', stop: silent.stop };
}

describeProvider({
  name: 'azure_keyvault',
  hangingStore: hungVault,
  capabilities: { bulk: true, check: true, hang: true },
  setup: async () => {
    const { server, store } = await vault();
    return {
      provider: provider(),
      store,
      known: { reference: 'smtp-relay', value: 'Sm7p!relay' },
      knownField: { reference: 'checkmk-prod#username', value: 'automation' },
      missingEntry: 'not-there',
      missingField: 'checkmk-prod#nope',
      badStores: [
        { name: 'kv', type: 'azure_keyvault', azure_vault_url: 'http://plain.example' },
        { name: 'kv', type: 'azure_keyvault' },
        { name: 'kv', type: 'azure_keyvault', azure_vault_url: server.url, azure_client_secret_env: 'X' },
      ],
      canary: { reference: 'canary', value: CANARY, missingFieldReference: 'canary#nope' },
      hang: async () => {
        // Sign in first, so the hang is the read itself.
        const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(store).putBinding({ account: 'x', store: 'kv', entry: 'smtp-relay' }), providers: [hangProvider], cryptographyKey: [] });
        await resolver.resolvePassword({ name: 'x' });
        server.state.mode.latencyMs = 2000;
        setTimeout(() => (server.state.mode.latencyMs = 0), 400);
        return 'smtp-relay';
      },
    };
  },
});
const hangProvider = provider();

describeWritableProvider({
  name: 'azure_keyvault',
  hangingStore: hungVault,
  capabilities: { pageSize: 25, objectFields: true, guarded: true },
  setup: async () => {
    const { server, store } = await vault();
    return {
      provider: provider(),
      store,
      seedForeign: (name, value) => void server.state.put(name, value),
      names: ['UPPER-and-lower-123', `x${'a'.repeat(126)}`],
      invalidNames: [
        ['with_underscore', '[0-9a-zA-Z-]{1,127}'],
        ['with space', '[0-9a-zA-Z-]{1,127}'],
        [`x${'a'.repeat(127)}`, '[0-9a-zA-Z-]{1,127}'],
        ['a/b/c', 'name or name/version'],
      ],
      prefix: 'conformance-',
      separator: '-',
    };
  },
});

describe('Provider: azure_keyvault', () => {
  function resolverFor(store: SecretStore, bindings: Record<string, string>, extra: AzureKeyVaultOptions = {}, events: SecretEvent[] = []) {
    const repository = new MemoryBindingRepository().putStore(store);
    for (const [account, entry] of Object.entries(bindings)) repository.putBinding({ account, store: store.name, entry });
    return createSecretResolver({ repository, providers: [provider(extra)], cryptographyKey: [], onEvent: (event) => events.push(event), timeoutMs: 15_000 });
  }

  it('signs in through the challenge: one token request for many calls, and reads a version by id', async () => {
    const { server, store } = await vault();
    const older = server.state.put('rotated', 'first');
    server.state.put('rotated', 'second');
    const resolver = resolverFor(store, { latest: 'rotated', older: `rotated/${older.version}`, a: 'smtp-relay' });
    expect(await resolver.resolvePassword({ name: 'latest' })).toBe('second');
    expect(await resolver.resolvePassword({ name: 'older' })).toBe('first');
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('Sm7p!relay');
    expect(server.state.tokenRequests).toBe(1);
    expect(server.state.log[0]).toMatchObject({ status: 401 }); // the challenge, answered without a token
  });

  it('reads 1,000 accounts over 100 secrets with exactly 100 reads', async () => {
    const { server, store } = await vault();
    for (let index = 0; index < 100; index++) server.state.put(`bulk-${index}`, JSON.stringify({ username: `u${index}`, password: `p${index}` }));
    const bindings = Object.fromEntries(Array.from({ length: 1000 }, (_, index) => [`account-${index}`, `bulk-${index % 100}${index % 2 ? '#username' : ''}`]));
    const resolver = resolverFor(store, bindings);
    server.state.log.length = 0;
    const results = await resolver.resolvePasswords(Object.keys(bindings).map((name) => ({ name })));
    expect([...results.values()].every((result) => result.ok)).toBe(true);
    expect(results.get('account-1')).toMatchObject({ ok: true, value: 'u1' });
    expect(server.state.log.filter((request) => request.method === 'GET' && request.path.startsWith('/secrets/') && request.status === 200)).toHaveLength(100);
  });

  describe('error table (providers/azure_keyvault/README.md), one test a row', () => {
    it('404 SecretNotFound: ENTRY_NOT_FOUND', async () => {
      const { store } = await vault();
      expect((await failure(resolverFor(store, { a: 'absent' }).resolvePassword({ name: 'a' }))).code).toBe('ENTRY_NOT_FOUND');
    });

    it('404 on a soft-deleted secret: ENTRY_NOT_FOUND saying it can be recovered', async () => {
      const { server, store } = await vault();
      server.state.softDelete('smtp-relay');
      const error = await failure(resolverFor(store, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('ENTRY_NOT_FOUND');
      expect(error.message).toMatch(/deleted on .* and can be recovered until/);
    });

    it('403 SecretDisabled: PERMISSION_DENIED saying it is disabled', async () => {
      const { server, store } = await vault();
      server.state.put('switched-off', 'x', { enabled: false });
      const error = await failure(resolverFor(store, { a: 'switched-off' }).resolvePassword({ name: 'a' }));
      expect(error).toMatchObject({ code: 'PERMISSION_DENIED', retryable: false });
      expect(error.message).toMatch(/is disabled/);
    });

    it('expired (exp) and not yet valid (nbf): ENTRY_NOT_FOUND, each saying which', async () => {
      const { server, store } = await vault();
      const now = Math.floor(Date.now() / 1000);
      server.state.put('old-news', 'x', { exp: now - 60 });
      server.state.put('not-yet', 'x', { nbf: now + 3600 });
      const resolver = resolverFor(store, { expired: 'old-news', early: 'not-yet' });
      const expired = await failure(resolver.resolvePassword({ name: 'expired' }));
      const early = await failure(resolver.resolvePassword({ name: 'early' }));
      expect([expired.code, early.code]).toEqual(['ENTRY_NOT_FOUND', 'ENTRY_NOT_FOUND']);
      expect(expired.message).toMatch(/expired on .*\(exp\)/);
      expect(early.message).toMatch(/not valid before .*\(nbf\)/);
    });

    it('403 ForbiddenByRbac: PERMISSION_DENIED naming the roles', async () => {
      const { server, store } = await vault();
      server.state.denied.set('sync-app', new Set(['get:smtp-relay']));
      const error = await failure(resolverFor(store, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.message).toMatch(/Key Vault Secrets User/);
    });

    it('401 with a token the vault does not accept: AUTH_FAILED', async () => {
      const { server, store } = await vault();
      server.state.mode.tokenLifetimeSeconds = 0; // issued already expired
      const error = await failure(resolverFor(store, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('AUTH_FAILED');
    });

    it('AADSTS7000215 (wrong client secret) and AADSTS700016 (unknown app): AUTH_FAILED saying which', async () => {
      const { store } = await vault();
      const wrong = await failure(resolverFor({ ...store, azure_client_secret_env: 'WRONG_SECRET' }, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(wrong.code).toBe('AUTH_FAILED');
      expect(wrong.message).toMatch(/AADSTS7000215/);
      expect(wrong.message).not.toContain('not-it');
      const unknown = await failure(resolverFor({ ...store, azure_client_id: 'nobody' }, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(unknown.code).toBe('AUTH_FAILED');
      expect(unknown.message).toMatch(/AADSTS700016/);
    });

    it('no credential at all (DefaultAzureCredential finds none): AUTH_FAILED saying what to set', async () => {
      const { server } = await vault();
      // Developer credentials only (Azure CLI, azd, PowerShell: none installed here), so no managed-identity probe
      // leaves the machine.
      const saved = process.env.AZURE_TOKEN_CREDENTIALS;
      process.env.AZURE_TOKEN_CREDENTIALS = 'dev';
      try {
        const error = await failure(resolverFor({ name: 'kv', type: 'azure_keyvault', azure_vault_url: server.url }, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
        expect(error.code).toBe('AUTH_FAILED');
        expect(error.message).toMatch(/azure_client_secret_env.*az login/);
      } finally {
        if (saved === undefined) delete process.env.AZURE_TOKEN_CREDENTIALS;
        else process.env.AZURE_TOKEN_CREDENTIALS = saved;
      }
    });

    it('an unset client secret variable: CONFIG_INVALID naming it, before any call', async () => {
      const { server, store } = await vault();
      server.state.log.length = 0;
      const error = await failure(resolverFor({ ...store, azure_client_secret_env: 'NOT_SET_ANYWHERE' }, { a: 'smtp-relay' }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain('$NOT_SET_ANYWHERE');
      expect(server.state.log).toHaveLength(0);
    });

    it('a name outside [0-9a-zA-Z-]{1,127}: REFERENCE_INVALID before any call', async () => {
      const { server, store } = await vault();
      server.state.log.length = 0;
      const error = await failure(resolverFor(store, { a: 'bad_name' }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('REFERENCE_INVALID');
      expect(server.state.log).toHaveLength(0);
    });

    it('400 BadParameter from the service: REFERENCE_INVALID', async () => {
      const { server, store } = await vault();
      // Fifteen tags of someone else's plus our mark is one more than the service's limit of 15.
      server.state.put('tag-heavy', 'x', { tags: Object.fromEntries(Array.from({ length: 15 }, (_, index) => [`t${index}`, 'v'])) });
      const error = await failure(resolverFor(store, {}).writeEntry('kv', 'tag-heavy', 'y', { adopt: true }));
      expect(error.code).toBe('REFERENCE_INVALID');
      expect(error.message).toMatch(/400 BadParameter.*15 tags/);
    });

    it('409 ObjectIsDeletedButRecoverable on a name not ours: ENTRY_NOT_OWNED, nothing recovered', async () => {
      const { server, store } = await vault();
      server.state.softDelete('smtp-relay');
      const error = await failure(resolverFor(store, {}).writeEntry('kv', 'smtp-relay', 'ours'));
      expect(error.code).toBe('ENTRY_NOT_OWNED');
      expect(server.state.get('smtp-relay')?.deleted).toBeDefined();
    });

    it('429 Throttled with Retry-After: RATE_LIMITED carrying the wait', async () => {
      const { server, store } = await vault();
      const resolver = resolverFor(store, { a: 'smtp-relay' });
      await resolver.resolvePassword({ name: 'a' });
      server.state.mode.throttle = 1;
      server.state.mode.retryAfterSeconds = 3;
      const error = await failure(resolver.resolvePassword({ name: 'a' }));
      expect(error).toMatchObject({ code: 'RATE_LIMITED', retryable: true, retryAfterMs: 3000 });
    });

    it('5xx: BACKEND_UNAVAILABLE (retryable); the SDK retries it first when allowed', async () => {
      const { server, store } = await vault();
      const resolver = resolverFor(store, { a: 'smtp-relay' });
      await resolver.resolvePassword({ name: 'a' });
      server.state.mode.fail500 = 1;
      expect(await failure(resolver.resolvePassword({ name: 'a' }))).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true });
      server.state.mode.fail500 = 1;
      expect(await resolverFor(store, { a: 'smtp-relay' }, { maxRetries: 1 }).resolvePassword({ name: 'a' })).toBe('Sm7p!relay');
    });
  });

  it('writes over a disabled secret of ours (its owner read from the versions listing), and refuses a disabled one that is not', async () => {
    const { server, store } = await vault();
    const resolver = resolverFor(store, { a: 'paused' });
    await resolver.writeEntry('kv', 'paused', 'v1');
    server.state.get('paused')!.versions.at(-1)!.attributes.enabled = false;
    expect((await failure(resolver.resolvePassword({ name: 'a' }))).message).toMatch(/is disabled/);
    const written = await resolver.writeEntry('kv', 'paused', 'v2');
    expect(written.created).toBe(false);
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('v2');
    server.state.put('theirs-paused', 'x', { enabled: false });
    expect((await failure(resolver.writeEntry('kv', 'theirs-paused', 'mine'))).code).toBe('ENTRY_NOT_OWNED');
    expect(server.state.get('theirs-paused')!.versions).toHaveLength(1);
  });

  describe('soft delete', () => {
    it('removes by soft delete, recoverable; a later write of the same name recovers it and writes a new version', async () => {
      const { server, store } = await vault();
      const resolver = resolverFor(store, { a: 'phoenix' });
      await resolver.writeEntry('kv', 'phoenix', 'v1');
      await resolver.removeEntry('kv', 'phoenix');
      expect(server.state.get('phoenix')?.deleted).toBeDefined();
      expect((await failure(resolver.resolvePassword({ name: 'a' }))).message).toMatch(/can be recovered/);
      const written = await resolver.writeEntry('kv', 'phoenix', 'v2');
      expect(written.created).toBe(false);
      expect(server.state.get('phoenix')?.deleted).toBeUndefined();
      expect(server.state.get('phoenix')?.versions).toHaveLength(2);
      expect(await resolver.resolvePassword({ name: 'a' })).toBe('v2');
      expect(server.state.log.some((request) => request.method === 'POST' && request.path === '/deletedsecrets/phoenix/recover')).toBe(true);
    });

    it('purges only when the store says azure_purge_deleted; purge protection is a clear PERMISSION_DENIED', async () => {
      const { server, store } = await vault();
      const purging = { ...store, azure_purge_deleted: true };
      await resolverFor(purging, {}).writeEntry('kv', 'gone-for-good', 'x');
      await resolverFor(purging, {}).removeEntry('kv', 'gone-for-good');
      expect(server.state.get('gone-for-good')).toBeUndefined();
      server.state.purgeProtection = true;
      await resolverFor(purging, {}).writeEntry('kv', 'protected', 'x');
      const error = await failure(resolverFor(purging, {}).removeEntry('kv', 'protected'));
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.message).toMatch(/purge protection/);
      expect(server.state.get('protected')?.deleted).toBeDefined(); // soft-deleted all the same
    });
  });

  it('lists names with owner and description (the description tag, else the content type), never values; skips managed secrets', async () => {
    const { server, store } = await vault();
    server.state.put('cert-backing', 'pem', { managed: true, contentType: 'application/x-pem-file' });
    server.state.put('typed', 'x', { contentType: 'text/plain' });
    await resolverFor(store, {}).writeEntry('kv', 'ours', 'x');
    const listed = await resolverFor(store, {}).listEntries('kv', {});
    expect(listed.map((entry) => entry.name)).not.toContain('cert-backing');
    expect(listed.find((entry) => entry.name === 'checkmk-prod')).toMatchObject({ owned: false, description: 'Checkmk automation user' });
    expect(listed.find((entry) => entry.name === 'typed')).toMatchObject({ description: 'text/plain' });
    expect(listed.find((entry) => entry.name === 'ours')).toMatchObject({ owned: true, owner: 'secretbind' });
    expect(JSON.stringify(listed)).not.toContain(CANARY);
    expect(server.state.get('ours')?.versions.at(-1)?.tags).toEqual({ [OWNER_TAG]: 'secretbind' });
  });

  it('reports the identity in check (tenant and client id), never the secret or a token', async () => {
    const { server, store } = await vault();
    const report = await resolverFor(store, { a: 'smtp-relay' }).check();
    const item = report.stores.find((entry) => entry.store === 'kv')!;
    expect(item.ok).toBe(true);
    expect(item.details).toMatchObject({ identity: `app sync-app in tenant ${TENANT}` });
    const text = JSON.stringify(report) + inspect(report, { depth: 10 });
    expect(text).not.toContain(CLIENT_SECRET);
    for (const token of server.state.tokens.keys()) expect(text).not.toContain(token);
  });

  it('takes the client secret from another store through azure_client_secret_ref', async () => {
    const { server, store } = await vault();
    const { memory } = await import('../../../providers/memory/index.js');
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'bootstrap', type: 'memory' })
      .putStore({ name: 'kv', type: 'azure_keyvault', azure_vault_url: server.url, azure_tenant_id: TENANT, azure_client_id: 'sync-app', azure_client_secret_ref: 'bootstrap:azure/app', azure_authority_host: server.authorityHost })
      .putBinding({ account: 'a', store: 'kv', entry: 'smtp-relay' });
    const resolver = createSecretResolver({ repository, providers: [memory({ entries: { 'azure/app': CLIENT_SECRET } }), azureKeyVault({ env: {}, disableChallengeResourceVerification: true, credentialOptions: { disableInstanceDiscovery: true } })], cryptographyKey: [] });
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('Sm7p!relay');
    expect(inspect(resolver, { depth: 10 })).not.toContain(CLIENT_SECRET);
    void store;
  });
});
