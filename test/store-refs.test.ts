/**
 * `<field>_ref`: a store's credentials kept in another store (as ksm keeps its AWS keys in a Keeper record). Real
 * clients against the stand-ins: node-vault sends the token read from a memory store, the AWS SDK signs with keys
 * read from a KeePass file made by keepassxc-cli.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSecretResolver, createSyncEngine, MemoryBindingRepository, SecretbindError, STORE_REF_REFRESH_MS, type SecretEvent } from 'secretbind';
import { awsSecrets } from '../providers/aws_secrets/index.js';
import { keepass } from '../providers/keepass/index.js';
import { memory } from '../providers/memory/index.js';
import { vault } from '../providers/vault/index.js';
import { start as startSecretsManager } from './servers/secrets-manager/index.js';
import { start as startVault } from './servers/vault/index.js';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

async function vaultWorld() {
  const server = await startVault();
  stops.push(() => server.stop());
  server.state.addMount('secret', 2);
  server.state.putSecret('secret', 'apps/db', { password: 'db-pass-7f3a' });
  const token = server.state.createToken({ policies: ['root'], ttl: 3600 });
  const secrets = memory({ entries: { 'ops/vault-token': token } });
  return { server, token, secrets };
}

describe('validation of <field>_ref', () => {
  const base = { name: 'v', type: 'vault', vault_url: 'http://127.0.0.1:1' };
  it.each([
    [{ ...base, vault_token: 'hvs.plain' }, 'stores[0].vault_token: a credential does not belong in a configuration file: keep it in a store and write vault_token_ref: store:reference, or name a variable with vault_token_env'],
    [{ ...base, vault_token_ref: 'no-colon' }, 'stores[0].vault_token_ref: expected store:reference, e.g. ops-keepass:Root/Vault token'],
    [{ ...base, vault_token_ref: 'ops:' }, 'stores[0].vault_token_ref: expected store:reference, e.g. ops-keepass:Root/Vault token'],
    [{ ...base, vault_colour_ref: 'ops:x' }, 'stores[0].vault_colour_ref: vault_colour is not a field of a vault store'],
    [{ ...base, vault_token_ref: 'v:x' }, 'stores[0].vault_token_ref: a store cannot hold its own credentials'],
    [{ name: 'a', type: 'aws_secrets', aws_access_key_id_ref: 'ops:k' }, 'stores[0].aws_secret_access_key: aws_access_key_id and aws_secret_access_key go together'],
  ])('refuses %j in a configuration file', (store, message) => {
    expect(() => MemoryBindingRepository.fromConfig({ stores: [store], bindings: [] })).toThrow(new SecretbindError('CONFIG_INVALID', message));
  });

  it('accepts a ref where the store needs the field (approle, keepass)', () => {
    expect(() =>
      MemoryBindingRepository.fromConfig({
        stores: [
          { name: 'ops', type: 'envvar' },
          { ...base, vault_auth_method: 'approle', vault_role_id_ref: 'ops:ROLE', vault_secret_id_ref: 'ops:SECRET' },
          { name: 'k', type: 'keepass', kdbx_path: '/x.kdbx', master_password_ref: 'ops:KP' },
        ],
        bindings: [],
      }),
    ).not.toThrow();
  });
});

describe('the resolver fills <field>_ref before the store is used', () => {
  it('node-vault sends the token read from another store, and nothing of it reaches events, errors or inspect', async () => {
    const { server, token, secrets } = await vaultWorld();
    const repository = MemoryBindingRepository.fromConfig({
      stores: [
        { name: 'ops', type: 'memory' },
        { name: 'central', type: 'vault', vault_url: server.url, vault_token_ref: 'ops:ops/vault-token' },
      ],
      bindings: [{ account: 'db', store: 'central', entry: 'apps/db' }],
    });
    const events: SecretEvent[] = [];
    const resolver = createSecretResolver({ repository, providers: [secrets, vault({ env: {} })], cryptographyKey: [], onEvent: (event) => events.push(event) });
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('db-pass-7f3a');
    expect(server.requests.filter((request) => request.path.startsWith('/v1/secret/data/')).map((request) => request.token)).toEqual([token]);
    // Resolved once, then the filled record is reused.
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('db-pass-7f3a');
    expect(secrets.reads('ops/vault-token')).toBe(1);
    const report = await resolver.check();
    expect(report.stores.find((store) => store.store === 'central')?.ok).toBe(true);
    const seen = JSON.stringify(events) + inspect(resolver, { depth: 10 }) + JSON.stringify(report);
    expect(seen).not.toContain(token);
    await resolver.close();
  });

  it('names the field and the store that failed, with the account, and never falls back to the environment', async () => {
    const { server, secrets } = await vaultWorld();
    const repository = MemoryBindingRepository.fromConfig({
      stores: [
        { name: 'ops', type: 'memory' },
        { name: 'central', type: 'vault', vault_url: server.url, vault_token_ref: 'ops:ops/missing' },
      ],
      bindings: [{ account: 'db', store: 'central', entry: 'apps/db' }],
    });
    const resolver = createSecretResolver({ repository, providers: [secrets, vault({ env: { VAULT_TOKEN: 'from-env' } })], cryptographyKey: [] });
    const error = await resolver.resolvePassword({ name: 'db' }).then(
      () => undefined,
      (thrown: unknown) => thrown as SecretbindError,
    );
    expect(error).toMatchObject({ code: 'ENTRY_NOT_FOUND', account: 'db', store: 'central' });
    expect(error?.message).toMatch(/^Store "central": vault_token_ref \(ops:ops\/missing\) could not be read: /);
    expect(server.requests.filter((request) => request.path.startsWith('/v1/secret/'))).toHaveLength(0);
    await resolver.close();
  });

  it('opens a KeePass file with the master password from another store; a wrong one names master_password_ref', async () => {
    const secrets = memory({ entries: { 'ops/kp': 'correct horse battery staple', 'ops/wrong': 'nope' } });
    const kdbx = new URL('./fixtures/keepass/kdbx4-aeskdf.kdbx', import.meta.url).pathname;
    const repository = MemoryBindingRepository.fromConfig({
      stores: [
        { name: 'ops', type: 'memory' },
        { name: 'kp', type: 'keepass', kdbx_path: kdbx, master_password_ref: 'ops:ops/kp' },
        { name: 'kp-wrong', type: 'keepass', kdbx_path: kdbx, master_password_ref: 'ops:ops/wrong' },
      ],
      bindings: [
        { account: 'cmk', store: 'kp', entry: 'Infrastructure/checkmk-prod' },
        { account: 'cmk-wrong', store: 'kp-wrong', entry: 'Infrastructure/checkmk-prod' },
      ],
    });
    const resolver = createSecretResolver({ repository, providers: [secrets, keepass({ env: {} })], cryptographyKey: [] });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('Ch3ck-MK!prod#2026');
    await expect(resolver.resolvePassword({ name: 'cmk-wrong' })).rejects.toMatchObject({ code: 'AUTH_FAILED', message: expect.stringContaining('master_password_ref') });
    await resolver.close();
  });

  it('refuses stores that lend each other credentials in a loop', async () => {
    const repository = new MemoryBindingRepository();
    repository.putStore({ name: 'a', type: 'vault', vault_url: 'http://127.0.0.1:9', vault_token_ref: 'b:t' });
    repository.putStore({ name: 'b', type: 'vault', vault_url: 'http://127.0.0.1:9', vault_token_ref: 'a:t' });
    repository.putBinding({ account: 'x', store: 'a', entry: 'apps/x' });
    const resolver = createSecretResolver({ repository, providers: [vault({ env: {} })], cryptographyKey: [] });
    await expect(resolver.resolvePassword({ name: 'x' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('a -> b -> a') });
    await resolver.close();
  });

  it('A _ref loop deadlocks concurrent lookups (regression): lookups entering the loop at both ends fail at once, and so does every later one', async () => {
    const repository = new MemoryBindingRepository();
    repository.putStore({ name: 'a', type: 'vault', vault_url: 'http://127.0.0.1:9', vault_token_ref: 'b:t' });
    repository.putStore({ name: 'b', type: 'vault', vault_url: 'http://127.0.0.1:9', vault_token_ref: 'a:t' });
    repository.putBinding({ account: 'x', store: 'a', entry: 'apps/x' });
    repository.putBinding({ account: 'y', store: 'b', entry: 'apps/y' });
    const resolver = createSecretResolver({ repository, providers: [vault({ env: {} })], cryptographyKey: [], timeoutMs: 10_000 });
    const started = performance.now();
    const outcomes = await Promise.allSettled([resolver.resolvePassword({ name: 'x' }), resolver.resolvePassword({ name: 'y' })]);
    expect(outcomes.map((outcome) => outcome.status === 'rejected' && (outcome.reason as SecretbindError).code)).toEqual(['CONFIG_INVALID', 'CONFIG_INVALID']);
    expect(outcomes.map((outcome) => outcome.status === 'rejected' && (outcome.reason as SecretbindError).message)).toEqual([expect.stringContaining('a -> b -> a'), expect.stringContaining('b -> a -> b')]);
    await expect(resolver.resolvePassword({ name: 'y' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    // Found from the records, before any read: nothing waited for a deadline.
    expect(performance.now() - started).toBeLessThan(2000);
    await resolver.close();
  });

  it('bounds a fill by the lookup deadline when the store lending credentials never answers', async () => {
    const silent = createServer(() => {}); // accepts and never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const repository = new MemoryBindingRepository();
    repository.putStore({ name: 'ops', type: 'vault', vault_url: url, vault_token_env: 'OPS_TOKEN' });
    repository.putStore({ name: 'a', type: 'vault', vault_url: url, vault_token_ref: 'ops:t' });
    repository.putBinding({ account: 'x', store: 'a', entry: 'apps/x' });
    const resolver = createSecretResolver({ repository, providers: [vault({ env: { OPS_TOKEN: 'hvs.ops' } })], cryptographyKey: [], timeoutMs: 300 });
    const started = performance.now();
    const outcomes = await Promise.allSettled([resolver.resolvePassword({ name: 'x' }), resolver.resolvePassword({ name: 'x' })]);
    expect(outcomes.map((outcome) => outcome.status === 'rejected' && (outcome.reason as SecretbindError).code)).toEqual(['TIMEOUT', 'TIMEOUT']);
    expect(performance.now() - started).toBeLessThan(3000);
    await resolver.close();
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('reads the credentials again after STORE_REF_REFRESH_MS and keeps the old ones when a refresh fails on a retryable error', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { server, secrets } = await vaultWorld();
    const repository = MemoryBindingRepository.fromConfig({
      stores: [
        { name: 'ops', type: 'memory' },
        { name: 'central', type: 'vault', vault_url: server.url, vault_token_ref: 'ops:ops/vault-token' },
      ],
      bindings: [{ account: 'db', store: 'central', entry: 'apps/db' }],
    });
    const events: SecretEvent[] = [];
    const resolver = createSecretResolver({ repository, providers: [secrets, vault({ env: {} })], cryptographyKey: [], onEvent: (event) => events.push(event) });
    await resolver.resolvePassword({ name: 'db' });
    const rotated = server.state.createToken({ policies: ['root'], ttl: 3600 });
    secrets.set('ops/vault-token', rotated);
    vi.setSystemTime(Date.now() + STORE_REF_REFRESH_MS - 1000);
    await resolver.resolvePassword({ name: 'db' });
    expect(server.requests.at(-1)?.token).not.toBe(rotated);
    vi.setSystemTime(Date.now() + 2000);
    await resolver.resolvePassword({ name: 'db' });
    expect(server.requests.at(-1)?.token).toBe(rotated);

    secrets.failNext('ops/vault-token', 'BACKEND_UNAVAILABLE');
    vi.setSystemTime(Date.now() + STORE_REF_REFRESH_MS + 1);
    expect(await resolver.resolvePassword({ name: 'db' })).toBe('db-pass-7f3a');
    expect(server.requests.at(-1)?.token).toBe(rotated);
    expect(events).toContainEqual(expect.objectContaining({ kind: 'provider', level: 'warn', store: 'central', detail: { code: 'BACKEND_UNAVAILABLE' } }));
    await resolver.close();
  });
});

describe('sync: a destination whose keys are kept in a KeePass file (the ksm way)', () => {
  it('signs with the access key from the KeePass entry and writes the mapped value', async () => {
    const standIn = await startSecretsManager();
    stops.push(() => standIn.stop());
    standIn.state.knownKeys.add('AKIAKEEPASSKEY');
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-refs-'));
    const kdbx = join(dir, 'ops.kdbx');
    copyFileSync(new URL('./fixtures/keepass/kdbx4-aeskdf.kdbx', import.meta.url), kdbx);
    const kp = keepass({ env: { KP: 'correct horse battery staple' } });
    const admin = createSecretResolver({ repository: MemoryBindingRepository.fromConfig({ stores: [{ name: 'ops', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KP' }], bindings: [] }), providers: [kp], cryptographyKey: [] });
    await admin.writeEntry('ops', 'Root/aws-sync', { UserName: 'AKIAKEEPASSKEY', Password: 'keepass-secret-key' });
    await admin.writeEntry('ops', 'Root/app-db', 'mapped-value-1');
    await admin.close();

    const repository = MemoryBindingRepository.fromConfig({
      stores: [
        { name: 'ops', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KP' },
        { name: 'prod-aws', type: 'aws_secrets', aws_region: 'eu-west-1', aws_endpoint: standIn.url, aws_access_key_id_ref: 'ops:Root/aws-sync#UserName', aws_secret_access_key_ref: 'ops:Root/aws-sync' },
      ],
      bindings: [],
    });
    const events: SecretEvent[] = [];
    const engine = createSyncEngine({ repository, providers: [keepass({ env: { KP: 'correct horse battery staple' } }), awsSecrets()], definitions: [{ name: 'app', destination: 'prod-aws', map: { APP_DB: 'ops:Root/app-db' } }], onEvent: (event) => events.push(event) });
    const items = await engine.run();
    expect(items).toMatchObject([{ entry: 'APP_DB', action: 'create', status: 'SYNCED' }]);
    expect(standIn.state.find('APP_DB')?.versions.at(-1)?.secretString).toBe('mapped-value-1');
    expect(new Set(standIn.requests.map((request) => request.accessKeyId))).toEqual(new Set(['AKIAKEEPASSKEY']));
    expect(JSON.stringify(events) + JSON.stringify(items) + JSON.stringify(await engine.status())).not.toContain('keepass-secret-key');
    await engine.close();
  });
});
