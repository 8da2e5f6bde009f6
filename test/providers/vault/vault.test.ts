import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretEvent, type SecretStore } from 'secretbind';
import { vault, type VaultOptions } from '../../../providers/vault/index.js';
import { ERROR_BODIES } from '../../servers/vault/index.js';
import { world, type World } from './world.js';
import { failure } from '../../helpers.js';

const worlds: World[] = [];
afterEach(async () => {
  await Promise.all(worlds.splice(0).map((current) => current.server.stop()));
});

async function setup(options: Parameters<typeof world>[0] = {}, providerOptions: VaultOptions = {}, storeChanges: Partial<SecretStore> = {}) {
  const current = await world(options);
  worlds.push(current);
  const store = { ...current.store, ...storeChanges };
  const provider = vault({ env: current.env, now: () => current.clock.now, retryBaseMs: 5, ...providerOptions });
  const events: SecretEvent[] = [];
  const repository = new MemoryBindingRepository().putStore(store);
  for (const [account, entry] of Object.entries({ cmk: 'kv/prod/checkmk', user: 'kv/prod/checkmk#username', port: 'kv/prod/checkmk#port', tags: 'kv/prod/checkmk#tags', nopw: 'kv/prod/no-password' })) {
    repository.putBinding({ account, store: store.name, entry });
  }
  const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], onEvent: (event) => events.push(event) });
  return { ...current, provider, resolver, events, repository };
}


describe('Provider: vault error table', () => {
  it.each([
    [400, ERROR_BODIES.missingToken, 'CONFIG_INVALID'],
    [404, ERROR_BODIES.notFound, 'ENTRY_NOT_FOUND'],
    [405, { errors: ['1 error occurred:\n\t* unsupported operation\n\n'] }, 'CONFIG_INVALID'],
    [412, { errors: ['required index state not present'] }, 'BACKEND_UNAVAILABLE'],
    [429, ERROR_BODIES.rateLimited('secret/data/x'), 'RATE_LIMITED'],
    [500, ERROR_BODIES.internal, 'BACKEND_UNAVAILABLE'],
    [502, { errors: [] }, 'BACKEND_UNAVAILABLE'],
    [503, ERROR_BODIES.sealed, 'BACKEND_UNAVAILABLE'],
  ])('maps Vault %i to %s', async (status, body, code) => {
    const { resolver, server } = await setup({}, { retries: 0 });
    server.state.mode.respond = { times: 1, status, body };
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(['BACKEND_UNAVAILABLE', 'RATE_LIMITED'].includes(code));
  });

  it('maps 403 with an invalid token to AUTH_FAILED, naming the variable', async () => {
    const { resolver, server, env } = await setup();
    server.state.tokens.delete(env.VAULT_TOKEN!);
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error).toMatchObject({ code: 'AUTH_FAILED', message: 'Vault token rejected: the token in $VAULT_TOKEN is invalid or expired' });
  });

  it('maps 403 with a valid token but no policy to PERMISSION_DENIED, naming the path', async () => {
    const { resolver, server, env } = await setup();
    server.state.tokens.get(env.VAULT_TOKEN!)!.policies = ['nothing'];
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.message).toContain('secret/data/kv/prod/checkmk');
    expect(server.count('/v1/auth/token/lookup-self')).toBe(1);
  });

  it('says a deleted or destroyed KV v2 version is ENTRY_NOT_FOUND, and which', async () => {
    const { resolver, server } = await setup();
    server.state.deleteVersion('secret', 'kv/prod/checkmk');
    expect((await failure(resolver.resolvePassword({ name: 'cmk' }))).message).toMatch(/Version 1 of secret\/data\/kv\/prod\/checkmk was deleted at 2025-/);
    server.state.destroyVersion('secret', 'kv/prod/checkmk');
    expect(await failure(resolver.resolvePassword({ name: 'cmk' }))).toMatchObject({ code: 'ENTRY_NOT_FOUND', message: expect.stringContaining('was destroyed') });
  });

  it('retries a 500 and answers', async () => {
    const { resolver, server } = await setup();
    server.state.mode.failures = { times: 2, status: 500 };
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('Ch3ck-MK!prod#2026');
    expect(server.count('/v1/secret/data/')).toBe(3);
  });

  it('waits as long as Retry-After says before retrying a 429', async () => {
    const { resolver, server } = await setup();
    server.state.mode.rateLimit = { times: 1, retryAfterSeconds: 1 };
    const started = performance.now();
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('Ch3ck-MK!prod#2026');
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('reports an untrusted certificate as BACKEND_UNAVAILABLE naming the problem', async () => {
    const { resolver } = await setup({ tls: true }, {}, { vault_ca_path: undefined });
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toMatch(/self-signed .*vault_ca_path/);
  });
});

describe('Provider: vault values and references', () => {
  it('reads the password key by default, other keys by #field, non-strings as JSON', async () => {
    const { resolver } = await setup();
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('Ch3ck-MK!prod#2026');
    expect(await resolver.resolvePassword({ name: 'user' })).toBe('automation');
    expect(await resolver.resolvePassword({ name: 'port' })).toBe('8443');
    expect(await resolver.resolvePassword({ name: 'tags' })).toBe('["a","b"]');
    expect(await failure(resolver.resolvePassword({ name: 'nopw' }))).toMatchObject({ code: 'FIELD_NOT_FOUND', message: expect.stringContaining('(keys: token)') });
  });

  it('reads each path once in a bulk lookup, however many fields and accounts use it', async () => {
    const { resolver, server, repository } = await setup();
    for (let index = 0; index < 100; index++) {
      server.state.putSecret('secret', `bulk/app-${index}`, { username: `user-${index}`, password: `pw-${index}` });
      repository.putBinding({ account: `pw-${index}`, store: 'vault', entry: `bulk/app-${index}` });
      repository.putBinding({ account: `user-${index}`, store: 'vault', entry: `bulk/app-${index}#username` });
    }
    const names = Array.from({ length: 100 }, (_, index) => [`pw-${index}`, `user-${index}`]).flat();
    const results = await resolver.resolvePasswords(names.map((name) => ({ name })));
    expect(results.get('pw-42')).toEqual({ ok: true, value: 'pw-42', source: 'store' });
    expect(results.get('user-7')).toEqual({ ok: true, value: 'user-7', source: 'store' });
    expect(server.count('/v1/secret/data/bulk/')).toBe(100);
  });
});

describe('Provider: vault authentication', () => {
  it('logs in once for 1,000 concurrent lookups on a cold AppRole store', async () => {
    const { resolver, server } = await setup({ auth: 'approle' });
    const values = await Promise.all(Array.from({ length: 1000 }, (_, index) => resolver.resolvePassword({ name: index % 2 ? 'cmk' : 'user' })));
    expect(new Set(values)).toEqual(new Set(['Ch3ck-MK!prod#2026', 'automation']));
    expect(server.state.logins.approle).toBe(1);
  });

  it('renews a renewable token after two thirds of its TTL, without a failed lookup', async () => {
    const { resolver, server, events } = await setup({ auth: 'approle', ttl: 60 });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('Ch3ck-MK!prod#2026');
    server.state.now += 41;
    worlds[0]!.clock.now += 41_000;
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('Ch3ck-MK!prod#2026');
    expect(server.count('/v1/auth/token/renew-self', 'POST')).toBe(1);
    expect(server.state.logins.approle).toBe(1);
    expect(events.some((event) => event.kind === 'provider' && event.message === 'Vault token renewed')).toBe(true);
  });

  it('logs in again when the token has expired by its TTL', async () => {
    const { resolver, server } = await setup({ auth: 'kubernetes', ttl: 60 });
    await resolver.resolvePassword({ name: 'cmk' });
    worlds[0]!.advance(61);
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('Ch3ck-MK!prod#2026');
    expect(server.state.logins.kubernetes).toBe(2);
  });

  it('replaces a token that Vault expired early with one login and one retry, without a failed lookup', async () => {
    const { resolver, server } = await setup({ auth: 'approle', ttl: 3600 });
    await resolver.resolvePassword({ name: 'cmk' });
    server.state.tokens.clear(); // revoked or expired on the server's side
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('Ch3ck-MK!prod#2026');
    expect(server.state.logins.approle).toBe(2);
  });

  it('refuses a wrong AppRole secret id with AUTH_FAILED, never echoing it', async () => {
    const { resolver, env } = await setup({ auth: 'approle' });
    env.SECRET_ID = 'wrong-secret-id';
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error.code).toBe('AUTH_FAILED');
    expect(JSON.stringify([error.message, error.toJSON()])).not.toContain('wrong-secret-id');
  });

  it('sends the namespace header when the store has one', async () => {
    const { resolver, server } = await setup({ namespace: 'team-a' });
    await resolver.resolvePassword({ name: 'cmk' });
    expect(server.requests.every((request) => request.namespace === 'team-a')).toBe(true);
  });

  it('reports health, token TTL and policies in check, and a sealed Vault as a failure', async () => {
    const { resolver, server } = await setup();
    const report = await resolver.check();
    expect(report.stores[0]).toMatchObject({ ok: true, details: { sealed: false, standby: false, authMethod: 'token', tokenTtlSeconds: 3600, renewable: true, policies: ['reader'] } });
    server.state.mode.sealed = true;
    expect((await resolver.check()).stores[0]).toMatchObject({ ok: false, code: 'BACKEND_UNAVAILABLE' });
  });
});

describe('Vault stand-in against the reference', () => {
  // Our own copy of the reference notes' examples and error table (test/fixtures/reference/vault.json).
  const reference = JSON.parse(readFileSync(fileURLToPath(new URL('../../fixtures/reference/vault.json', import.meta.url)), 'utf8')) as {
    kvV2ReadExample: { data: { metadata: Record<string, unknown> } };
    errors: Array<{ status: number; body: unknown }>;
    writes: { casMismatch: { status: number; message: string }; kvV1EmptyMap: { status: number; message: string }; noContent: number; emptyCustomMetadataReadsAs: null; missingFolderList: { status: number; body: unknown } };
  };

  it('answers writes, metadata and listing as the reference describes', async () => {
    const { server, env } = await setup();
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.url}/v1/${path}`, { method, headers: { 'X-Vault-Token': env.VAULT_TOKEN!, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await response.text();
      return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
    };
    const write = await call('POST', 'secret/data/apps/x', { data: { password: 'p' }, options: { cas: 0 } });
    expect(write).toMatchObject({ status: 200, body: { data: { version: 1, deletion_time: '', destroyed: false } } });
    expect(await call('POST', 'secret/data/apps/x', { data: { password: 'q' }, options: { cas: 0 } })).toMatchObject({ status: reference.writes.casMismatch.status, body: { errors: [reference.writes.casMismatch.message] } });
    expect((await call('POST', 'secret/metadata/apps/x', { custom_metadata: {} })).status).toBe(reference.writes.noContent);
    expect((await call('GET', 'secret/metadata/apps/x')).body).toMatchObject({ data: { current_version: 1, custom_metadata: reference.writes.emptyCustomMetadataReadsAs } });
    expect(await call('GET', 'secret/metadata/nothing/?list=true')).toEqual(reference.writes.missingFolderList);
    expect(await call('GET', 'secret/metadata/apps/?list=true')).toMatchObject({ status: 200, body: { data: { keys: ['x'] } } });
    expect((await call('DELETE', 'secret/metadata/apps/x')).status).toBe(reference.writes.noContent);
  });

  it('answers a KV v2 read with the envelope of the reference example', async () => {
    const { server, env } = await setup();
    const example = reference.kvV2ReadExample;
    const ours = (await (await fetch(`${server.url}/v1/secret/data/kv/prod/checkmk`, { headers: { 'X-Vault-Token': env.VAULT_TOKEN! } })).json()) as { data: { metadata: Record<string, unknown> } };
    const shape = (value: unknown): unknown => (value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, key === 'data' && 'username' in (value as object) ? 'kv' : shape((value as Record<string, unknown>)[key])])) : typeof value);
    expect(Object.keys(ours).sort()).toEqual(Object.keys(example).sort());
    expect(Object.keys(ours.data.metadata).sort()).toEqual(Object.keys(example.data.metadata).sort());
    expect(shape(ours.data.metadata)).toEqual(shape(example.data.metadata));
  });

  it('uses the error bodies of the reference table', () => {
    const rows = reference.errors.map((row) => [row.status, row.body] as const);
    const ours = new Map<number, unknown>([
      [400, ERROR_BODIES.missingToken],
      [403, ERROR_BODIES.permissionDenied],
      [500, ERROR_BODIES.internal],
      [503, ERROR_BODIES.sealed],
      [429, ERROR_BODIES.rateLimited('secret/data/x')],
    ]);
    const checked = rows.filter(([status]) => ours.has(status));
    expect(checked.map(([status]) => status).sort()).toEqual([400, 403, 429, 500, 503]);
    for (const [status, body] of checked) expect(ours.get(status), String(status)).toEqual(body);
    expect(rows.find(([status, body]) => status === 404 && Array.isArray((body as { errors?: unknown }).errors))?.[1]).toEqual(ERROR_BODIES.notFound);
  });
});
