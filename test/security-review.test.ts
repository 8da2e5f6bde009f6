/**
 * Regression tests for the security review (issue 18): one describe per finding, named after it. Each failed on the
 * code before its fix; the closing note of that issue lists which change each covers.
 */
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createSecretResolver,
  decryptLocalPassword,
  encryptLocalPassword,
  generateFernetKey,
  MemoryBindingRepository,
  SecretbindError,
  validateStoreFields,
  type ProviderSettled,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';
import { awsSecrets } from '../providers/aws_secrets/index.js';
import { envvar } from '../providers/envvar/index.js';
import type { Argon2Function } from '../providers/keepass/argon2.js';
import { keepass } from '../providers/keepass/index.js';
import { kubernetes } from '../providers/kubernetes/index.js';
import { lastpass } from '../providers/lastpass/index.js';
import { memory } from '../providers/memory/index.js';
import { vault } from '../providers/vault/index.js';
import { failure, thrown } from './helpers.js';
import { CREDENTIALS, awsWorld } from './providers/aws_secrets/world.js';
import { copyOf, fixture, kdbxweb, MASTER, variantOf } from './providers/keepass/helpers.js';
import { start as startKubernetes } from './servers/kubernetes/index.js';
import { world as vaultWorld, type World } from './providers/vault/world.js';

const VALUE = 'Ch3ck-MK!prod#2026';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  vi.unstubAllEnvs();
});

function resolverOver(provider: SecretProvider, store: SecretStore, bindings: Record<string, string>, options: { timeoutMs?: number; onProviderError?: Parameters<typeof createSecretResolver>[0]['onProviderError'] } = {}) {
  const repository = new MemoryBindingRepository().putStore(store);
  for (const [account, entry] of Object.entries(bindings)) repository.putBinding({ account, store: store.name, entry });
  return createSecretResolver({ repository, providers: [provider], cryptographyKey: [], ...options });
}

async function openVault(options: Parameters<typeof vaultWorld>[0] = {}): Promise<World> {
  const current = await vaultWorld(options);
  cleanups.push(() => current.server.stop());
  return current;
}

/** Raises one KDF parameter in a copy of a fixture's (unauthenticated) header, as anyone who can write the file could. */
function withKdfParameter(name: string, key: 'I' | 'M' | 'R', value: bigint): string {
  const path = copyOf(name);
  const bytes = readFileSync(path);
  const marker = Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x00, 0x00]), Buffer.from(key, 'latin1'), Buffer.from([0x08, 0x00, 0x00, 0x00])]);
  const at = bytes.indexOf(marker);
  expect(at).toBeGreaterThan(0);
  bytes.writeBigUInt64LE(value, at + marker.length);
  writeFileSync(path, bytes);
  return path;
}

/** Argon2 that records the parameters it was asked for and answers at once (with a wrong key). */
function recordingArgon2() {
  const calls: Array<{ memoryKiB: number; iterations: number }> = [];
  const argon2: Argon2Function = async (_password, _salt, memoryKiB, iterations, length) => {
    calls.push({ memoryKiB, iterations });
    return new ArrayBuffer(length);
  };
  return { argon2, calls };
}

describe('Security review 1: a Vault reference cannot escape its mount', () => {
  it('refuses ../auth/token/lookup-self#id on a KV v1 store instead of answering with the token', async () => {
    const { server, store, env } = await openVault({ kv: 1 });
    const resolver = resolverOver(vault({ env, retries: 0 }), store, { thief: '../auth/token/lookup-self#id' });
    const error = await failure(resolver.resolvePassword({ name: 'thief' }));
    expect(error.code).toBe('REFERENCE_INVALID');
    expect(error.message).not.toContain(env.VAULT_TOKEN);
    expect(server.requests.filter((request) => request.path.startsWith('/v1/auth/token/lookup-self'))).toEqual([]);
  });

  it('refuses a KV v2 reference that climbs into another mount, and a "." segment', async () => {
    const { server, store, env } = await openVault({ kv: 2 });
    server.state.addMount('team-b', 2);
    server.state.putSecret('team-b', 'prod/db', { password: 'team-b-secret' });
    const resolver = resolverOver(vault({ env, retries: 0 }), store, { climb: '../../team-b/data/prod/db', dot: 'kv/./prod/checkmk' });
    expect((await failure(resolver.resolvePassword({ name: 'climb' }))).code).toBe('REFERENCE_INVALID');
    expect((await failure(resolver.resolvePassword({ name: 'dot' }))).code).toBe('REFERENCE_INVALID');
    expect(server.count('/v1/team-b')).toBe(0);
  });

  it('keeps every request under /v1/<mount>/ for references made of traversal pieces (fuzz, KV v1 and v2)', async () => {
    for (const kv of [1, 2] as const) {
      const { server, store, env } = await openVault({ kv });
      const mount = String(store.vault_mount_point);
      const resolver = resolverOver(vault({ env, retries: 0 }), store, {});
      const repository = new MemoryBindingRepository().putStore(store);
      const fuzzResolver = createSecretResolver({ repository, providers: [vault({ env, retries: 0 })], cryptographyKey: [] });
      const piece = fc.constantFrom('..', '.', '%2e%2e', '%2E.', '.%2e', '\\\\..', '..\\\\', '\\\\', 'kv', 'prod', 'auth', 'token', 'lookup-self', '%2f', '\\/..', 'a b');
      let account = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 6 }), async (pieces) => {
          const name = `fuzz-${account++}`;
          repository.putBinding({ account: name, store: store.name, entry: `${pieces.join('/')}#id` });
          const before = server.requests.length;
          await fuzzResolver.resolvePassword({ name }).catch((error: unknown) => {
            expect(error).toBeInstanceOf(SecretbindError);
          });
          for (const request of server.requests.slice(before)) expect(request.path.startsWith(`/v1/${mount}/`), request.path).toBe(true);
        }),
        { numRuns: 150 },
      );
      await resolver.close();
      await fuzzResolver.close();
    }
  });

  it('keeps every Kubernetes request on /api/v1/namespaces/<namespace>/secrets/<name> for traversal references (fuzz)', async () => {
    const server = await startKubernetes();
    cleanups.push(() => server.stop());
    const kubeconfig = server.kubeconfig(join(mkdtempSync(join(tmpdir(), 'secretbind-kube-fuzz-')), 'config'));
    const store: SecretStore = { name: 'cluster', type: 'kubernetes', kubeconfig_path: kubeconfig };
    const repository = new MemoryBindingRepository().putStore(store);
    const resolver = createSecretResolver({ repository, providers: [kubernetes()], cryptographyKey: [] });
    const piece = fc.constantFrom('..', '.', '%2e%2e', '%2E.', '\\\\..', 'apps', 'db', 'api', 'v1', 'namespaces', '%2f', 'a b');
    let account = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 4 }), async (pieces) => {
        const name = `fuzz-${account++}`;
        repository.putBinding({ account: name, store: 'cluster', entry: `${pieces.join('/')}#password` });
        const before = server.requests.length;
        await resolver.resolvePassword({ name }).catch((error: unknown) => expect(error).toBeInstanceOf(SecretbindError));
        for (const request of server.requests.slice(before)) expect(request.path, request.path).toMatch(/^\/api\/v1\/namespaces\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/secrets\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      }),
      { numRuns: 100 },
    );
    await resolver.close();
  });

  it('sends AWS secret ids in the request body only, never as a path (fuzz)', async () => {
    const { server, store } = await awsWorld();
    cleanups.push(() => server.stop());
    const repository = new MemoryBindingRepository().putStore(store);
    const resolver = createSecretResolver({ repository, providers: [awsSecrets({ credentials: CREDENTIALS, maxAttempts: 1 })], cryptographyKey: [] });
    const piece = fc.constantFrom('..', '.', '%2e%2e', 'prod', 'checkmk', '\\\\..', 'a b');
    let account = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 5 }), async (pieces) => {
        const name = `fuzz-${account++}`;
        repository.putBinding({ account: name, store: store.name, entry: pieces.join('/') });
        const before = server.requests.length;
        await resolver.resolvePassword({ name }).catch(() => undefined);
        for (const request of server.requests.slice(before)) expect(request.path).toBe('/');
      }),
      { numRuns: 40 },
    );
    await resolver.close();
  });
});

describe('Security review 2: KeePass key derivation under deadlines, and untrusted KDF parameters', () => {
  it('runs one open per file version to completion even when every lookup times out before it ends', async () => {
    const provider = keepass({ env: { KEEPASS_MASTER: MASTER }, argon2: 'node-rs' });
    const store = { name: 'kp', type: 'keepass', kdbx_path: copyOf('kdbx4-argon2d-64m.kdbx'), master_password_env: 'KEEPASS_MASTER' };
    // The 64 MiB Argon2 open takes about 190 ms; each lookup gives up after 60 ms.
    const resolver = resolverOver(provider, store, { cmk: 'Root/Infrastructure/checkmk-prod' }, { timeoutMs: 60 });
    const outcomes: string[] = [];
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline && outcomes.at(-1) !== 'value') {
      outcomes.push(await resolver.resolvePassword({ name: 'cmk' }).then((value) => (value === VALUE ? 'value' : 'wrong'), (error: SecretbindError) => error.code));
    }
    expect(outcomes.at(-1)).toBe('value');
    expect(outcomes[0]).toBe('TIMEOUT');
    expect(provider.stats().opens).toBe(1);
    await resolver.close();
  });

  it('refuses a header whose Argon2 iterations were raised, before deriving anything', async () => {
    const path = withKdfParameter('kdbx4-argon2id-chacha20.kdbx', 'I', 10n ** 12n);
    const recorder = recordingArgon2();
    const resolver = resolverOver(keepass({ env: { KEEPASS_MASTER: MASTER }, argon2: recorder.argon2 }), { name: 'kp', type: 'keepass', kdbx_path: path, master_password_env: 'KEEPASS_MASTER' }, { cmk: 'Root/Infrastructure/checkmk-prod' });
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('Argon2 iterations of 1000000000000');
    expect(error.message).toContain('cap of 100 (kdfLimits.argon2Iterations)');
    expect(recorder.calls).toEqual([]);
  });

  it('refuses a header whose Argon2 memory was raised, naming the cap', async () => {
    const path = withKdfParameter('kdbx4-argon2id-chacha20.kdbx', 'M', 64n * 1024n ** 3n);
    const recorder = recordingArgon2();
    const resolver = resolverOver(keepass({ env: { KEEPASS_MASTER: MASTER }, argon2: recorder.argon2 }), { name: 'kp', type: 'keepass', kdbx_path: path, master_password_env: 'KEEPASS_MASTER' }, { cmk: 'Root/Infrastructure/checkmk-prod' });
    const error = await failure(resolver.resolvePassword({ name: 'cmk' }));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('kdfLimits.argon2MemoryBytes') });
    expect(recorder.calls).toEqual([]);
  });

  it('applies configured caps to AES-KDF rounds in KDBX 3.1 and 4 headers, and the defaults admit the fixtures', async () => {
    for (const [file, keyfile] of [['kdbx31-password-keyfile-v2.kdbx', 'keyfile-v2.keyx'], ['kdbx4-aeskdf.kdbx', undefined]] as const) {
      const store: SecretStore = { name: 'kp', type: 'keepass', kdbx_path: fixture(file), master_password_env: 'KEEPASS_MASTER', ...(keyfile ? { keyfile_path: fixture(keyfile) } : {}) };
      const strict = resolverOver(keepass({ env: { KEEPASS_MASTER: MASTER }, kdfLimits: { aesRounds: 50_000 } }), store, { cmk: 'Infrastructure/checkmk-prod' });
      expect(await failure(strict.resolvePassword({ name: 'cmk' }))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('AES-KDF rounds') });
      const defaults = resolverOver(keepass({ env: { KEEPASS_MASTER: MASTER } }), store, { cmk: 'Infrastructure/checkmk-prod' });
      expect(await defaults.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    }
    expect(() => keepass({ kdfLimits: { argon2Iterations: 0 } })).toThrow(/kdfLimits.argon2Iterations must be a positive integer/);
  });
});

describe('Security review 3: a throwing onProviderError function', () => {
  it('is treated as throw on a timeout, and every lookup sharing the timer still settles', async () => {
    const store = memory({ entries: { 'prod/slow': 'never', 'prod/fine': 'fine-value' } });
    store.hangNext('prod/slow', { times: 5 });
    const policy = vi.fn(() => {
      throw new Error('policy bug');
    });
    const resolver = resolverOver(store, { name: 'mem', type: 'memory' }, { a: 'prod/slow', b: 'prod/slow', c: 'prod/slow', fine: 'prod/fine' }, { timeoutMs: 50, onProviderError: policy });
    const settledWithin = (promise: Promise<unknown>) =>
      Promise.race([promise.then(() => 'value', (error: SecretbindError) => error.code), new Promise((resolve) => setTimeout(() => resolve('pending'), 1000))]);
    const outcomes = await Promise.all([settledWithin(resolver.resolvePassword({ name: 'a' })), settledWithin(resolver.resolvePassword({ name: 'b' })), settledWithin(resolver.resolvePassword({ name: 'c' }))]);
    expect(outcomes).toEqual(['TIMEOUT', 'TIMEOUT', 'TIMEOUT']);
    expect(policy).toHaveBeenCalledTimes(3);
    // The timer is still armed for later lookups, and a new lookup does not join a dead flight.
    store.hangNext('prod/slow', { times: 1 });
    expect(await settledWithin(resolver.resolvePassword({ name: 'a' }))).toBe('TIMEOUT');
    expect(await resolver.resolvePassword({ name: 'fine' })).toBe('fine-value');
  });

  it('is treated as throw on a provider error', async () => {
    const store = memory({ entries: { 'prod/x': 'x' } });
    store.failNext('prod/x', 'BACKEND_UNAVAILABLE');
    const resolver = resolverOver(store, { name: 'mem', type: 'memory' }, { a: 'prod/x' }, {
      onProviderError: () => {
        throw new TypeError('policy bug');
      },
    });
    const error = await failure(resolver.resolvePassword({ name: 'a', password: encryptLocalPassword('local', generateFernetKey()) }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
  });
});

describe('Security review 4: lpass does not inherit the environment', () => {
  it('passes only PATH, HOME, LANG, LC_*, XDG_*, LPASS_* and TMPDIR, plus the env option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-lpass-env-'));
    const vaultFile = join(dir, 'vault.json');
    const log = join(dir, 'argv.log');
    writeFileSync(vaultFile, JSON.stringify({ state: 'logged-in', user: 'ops@example.test', entries: [{ id: '1', name: 'checkmk-prod', password: VALUE }] }));
    writeFileSync(log, '');
    for (const [name, value] of Object.entries({ AWS_SECRET_ACCESS_KEY: 'aws', CRYPTOGRAPHY_KEY: 'fernet', VAULT_TOKEN: 'hvs.x', KEEPASS_MASTER: 'master', LC_ALL: 'C.UTF-8', XDG_RUNTIME_DIR: '/run/user/0', LPASS_AGENT_TIMEOUT: '0' })) {
      vi.stubEnv(name, value);
    }
    const provider = lastpass({ lpassPath: fileURLToPath(new URL('./bin/lpass', import.meta.url)), env: { LPASS_STANDIN_VAULT: vaultFile, LPASS_STANDIN_LOG: log, EXTRA_FOR_LPASS: '1' } });
    const resolver = resolverOver(provider, { name: 'lp', type: 'lastpass' }, { cmk: 'checkmk-prod' });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    const runs = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { envNames: string[] });
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const { envNames } of runs) {
      for (const secret of ['AWS_SECRET_ACCESS_KEY', 'CRYPTOGRAPHY_KEY', 'VAULT_TOKEN', 'KEEPASS_MASTER']) expect(envNames).not.toContain(secret);
      for (const needed of ['PATH', 'LC_ALL', 'XDG_RUNTIME_DIR', 'LPASS_AGENT_TIMEOUT', 'LPASS_DISABLE_PINENTRY', 'LPASS_STANDIN_VAULT', 'EXTRA_FOR_LPASS']) expect(envNames).toContain(needed);
      expect(envNames.every((name) => ['PATH', 'HOME', 'LANG', 'TMPDIR', 'EXTRA_FOR_LPASS'].includes(name) || /^(LC_|XDG_|LPASS_)/.test(name))).toBe(true);
    }
  });
});

describe('Security review 6: resolvePasswords concurrency', () => {
  it('ignores an explicit undefined and refuses 0, negative and fractional values with CONFIG_INVALID', async () => {
    const resolver = resolverOver(memory({ entries: { 'a/b': 'v' } }), { name: 'mem', type: 'memory' }, { a: 'a/b' });
    const results = await resolver.resolvePasswords([{ name: 'a' }], { concurrency: undefined });
    expect(results.get('a')).toEqual({ ok: true, value: 'v', source: 'store' });
    for (const concurrency of [0, -1, 1.5, Number.NaN]) {
      expect((await failure(resolver.resolvePasswords([{ name: 'a' }], { concurrency }))).code).toBe('CONFIG_INVALID');
    }
    expect(() => createSecretResolver({ repository: new MemoryBindingRepository(), concurrency: 0 })).toThrow(SecretbindError);
  });
});

describe('Security review 7: shared work carries each caller, not the first one', () => {
  it('names each joined caller on its own error, and the policy function sees that account', async () => {
    const store = memory({ entries: { 'prod/x': 'x' }, latencyMs: 20 });
    store.failNext('prod/x', 'BACKEND_UNAVAILABLE');
    const seen: Array<[string | undefined, string]> = [];
    const resolver = resolverOver(store, { name: 'mem', type: 'memory' }, { first: 'prod/x', second: 'prod/x' }, {
      onProviderError: (error, account) => {
        seen.push([error.account, account.name]);
        return 'throw';
      },
    });
    const [first, second] = await Promise.all([failure(resolver.resolvePassword({ name: 'first' })), failure(resolver.resolvePassword({ name: 'second' }))]);
    expect(first.account).toBe('first');
    expect(second.account).toBe('second');
    expect(seen).toEqual([
      ['first', 'first'],
      ['second', 'second'],
    ]);
  });

  it('names each account in a bulk read that joined a single lookup', async () => {
    const store = memory({ entries: { 'prod/x': 'x' }, latencyMs: 20, bulk: false });
    store.failNext('prod/x', 'BACKEND_UNAVAILABLE');
    const resolver = resolverOver(store, { name: 'mem', type: 'memory' }, { single: 'prod/x', bulk: 'prod/x' });
    const single = failure(resolver.resolvePassword({ name: 'single' }));
    const bulk = await resolver.resolvePasswords([{ name: 'bulk' }]);
    expect((await single).account).toBe('single');
    const result = bulk.get('bulk')!;
    expect(result.ok ? undefined : result.error.account).toBe('bulk');
  });

  it('does not let the first caller abort a shared Vault login while a later caller has time', async () => {
    const current = await openVault({ auth: 'approle' });
    current.server.state.mode.latencyMs = 150;
    const provider = vault({ env: current.env, now: () => current.clock.now, retries: 0 });
    const hasty = resolverOver(provider, current.store, { cmk: 'kv/prod/checkmk' }, { timeoutMs: 60 });
    const patient = resolverOver(provider, current.store, { cmk: 'kv/prod/checkmk' }, { timeoutMs: 3000 });
    const first = hasty.resolvePassword({ name: 'cmk' }).then(() => 'value', (error: SecretbindError) => error.code);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = patient.resolvePassword({ name: 'cmk' });
    expect(await first).toBe('TIMEOUT');
    expect(await second).toBe(VALUE);
    expect(current.server.state.logins.approle).toBe(1);
    await provider.close?.();
  });

  it('does not let the first caller abort a shared KeePass open while a later caller has time', async () => {
    const provider = keepass({ env: { KEEPASS_MASTER: MASTER }, argon2: 'node-rs' });
    const store = { name: 'kp', type: 'keepass', kdbx_path: copyOf('kdbx4-argon2d-64m.kdbx'), master_password_env: 'KEEPASS_MASTER' };
    const hasty = resolverOver(provider, store, { cmk: 'Root/Infrastructure/checkmk-prod' }, { timeoutMs: 40 });
    const patient = resolverOver(provider, store, { cmk: 'Root/Infrastructure/checkmk-prod' }, { timeoutMs: 5000 });
    const first = hasty.resolvePassword({ name: 'cmk' }).then(() => 'value', (error: SecretbindError) => error.code);
    const second = patient.resolvePassword({ name: 'cmk' });
    expect(await first).toBe('TIMEOUT');
    expect(await second).toBe(VALUE);
    expect(provider.stats().opens).toBe(1);
  });

  it('does not let the first caller abort a shared lpass status check while a later caller has time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-lpass-shared-'));
    const vaultFile = join(dir, 'vault.json');
    writeFileSync(vaultFile, JSON.stringify({ state: 'logged-in', user: 'ops@example.test', mode: 'slow', slowMs: 150, entries: [{ id: '1', name: 'checkmk-prod', password: VALUE }] }));
    const provider = lastpass({ lpassPath: fileURLToPath(new URL('./bin/lpass', import.meta.url)), env: { LPASS_STANDIN_VAULT: vaultFile } });
    const store = { name: 'lp', type: 'lastpass' };
    const hasty = resolverOver(provider, store, { cmk: 'checkmk-prod' }, { timeoutMs: 60 });
    const patient = resolverOver(provider, store, { cmk: 'checkmk-prod' }, { timeoutMs: 5000 });
    const first = hasty.resolvePassword({ name: 'cmk' }).then(() => 'value', (error: SecretbindError) => error.code);
    const second = patient.resolvePassword({ name: 'cmk' });
    expect(await first).toBe('TIMEOUT');
    expect(await second).toBe(VALUE);
  });
});

describe('Security review 8: a dangling KeePass field reference', () => {
  it('names the fields, never the searched text (which is a password)', async () => {
    const searched = 'old-password-canary-41c9';
    const bytes = await variantOf('kdbx4-argon2id-chacha20.kdbx', (db) => {
      const entry = db.createEntry(db.getDefaultGroup());
      entry.fields.set('Title', 'dangling');
      entry.fields.set('Password', kdbxweb.ProtectedValue.fromString(`{REF:P@P:${searched}}`));
    });
    const path = copyOf('kdbx4-argon2id-chacha20.kdbx');
    writeFileSync(path, bytes);
    const resolver = resolverOver(keepass({ env: { KEEPASS_MASTER: MASTER }, argon2: 'node-rs' }), { name: 'kp', type: 'keepass', kdbx_path: path, master_password_env: 'KEEPASS_MASTER' }, { d: 'Root/dangling' });
    const error = await failure(resolver.resolvePassword({ name: 'd' }));
    expect(error.code).toBe('ENTRY_NOT_FOUND');
    expect(error.message).toContain('{REF:P@P:…}');
    for (const text of [error.message, String(error.stack), JSON.stringify(error)]) expect(text).not.toContain(searched);
  });
});

describe("Security review 9: an envvar binding cannot read the resolver's own credentials", () => {
  const KEY = generateFernetKey();
  const env = { CRYPTOGRAPHY_KEY: KEY, VAULT_TOKEN: 'hvs.token', KEEPASS_MASTER: 'master', APP_PASSWORD: 'app-value', OTHER: 'other' };
  const stores: SecretStore[] = [
    { name: 'env', type: 'envvar' },
    { name: 'kp', type: 'keepass', kdbx_path: '/nowhere.kdbx', master_password_env: 'KEEPASS_MASTER' },
  ];

  function resolverWith(envStore: SecretStore) {
    const repository = MemoryBindingRepository.fromConfig({
      stores: [envStore, stores[1]!],
      bindings: ['CRYPTOGRAPHY_KEY', 'VAULT_TOKEN', 'KEEPASS_MASTER', 'APP_PASSWORD', 'OTHER'].map((name) => ({ account: name, store: 'env', entry: name })),
    });
    return createSecretResolver({ repository, providers: [envvar({ env })], cryptographyKey: KEY });
  }

  it('refuses CRYPTOGRAPHY_KEY, VAULT_TOKEN and a store master_password_env with PERMISSION_DENIED saying how to allow one', async () => {
    const resolver = resolverWith(stores[0]!);
    for (const name of ['CRYPTOGRAPHY_KEY', 'VAULT_TOKEN', 'KEEPASS_MASTER']) {
      const error = await failure(resolver.resolvePassword({ name }));
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.message).toContain(`add "${name}" to envvar_allow`);
      expect(error.message).not.toContain(env[name as keyof typeof env]);
    }
    expect(await resolver.resolvePassword({ name: 'APP_PASSWORD' })).toBe('app-value');
    const bulk = await resolver.resolvePasswords([{ name: 'CRYPTOGRAPHY_KEY' }, { name: 'APP_PASSWORD' }]);
    expect(bulk.get('CRYPTOGRAPHY_KEY')).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED' } });
    expect(bulk.get('APP_PASSWORD')).toEqual({ ok: true, value: 'app-value', source: 'store' });
  });

  it('lets envvar_allow admit one variable and envvar_prefix narrow the store', async () => {
    const allowing = resolverWith({ name: 'env', type: 'envvar', envvar_allow: ['VAULT_TOKEN'] });
    expect(await allowing.resolvePassword({ name: 'VAULT_TOKEN' })).toBe('hvs.token');
    const prefixed = resolverWith({ name: 'env', type: 'envvar', envvar_prefix: 'APP_' });
    expect(await prefixed.resolvePassword({ name: 'APP_PASSWORD' })).toBe('app-value');
    expect(await failure(prefixed.resolvePassword({ name: 'OTHER' }))).toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining('envvar_prefix') });
    expect(thrown(() => validateStoreFields({ name: 'env', type: 'envvar', envvar_allow: 'VAULT_TOKEN' })).code).toBe('CONFIG_INVALID');
  });
});

describe('Security review 10: one bad input fails only itself in a bulk call', () => {
  it('gives an account with a non-string name its own CONFIG_INVALID result', async () => {
    const resolver = resolverOver(memory({ entries: { 'a/b': 'v' } }), { name: 'mem', type: 'memory' }, { good: 'a/b' });
    const results = await resolver.resolvePasswords([{ name: 'good' }, { name: 42 as unknown as string }, null as unknown as { name: string }]);
    expect(results.get('good')).toEqual({ ok: true, value: 'v', source: 'store' });
    expect(results.get('42')).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID' } });
    expect(results.get('undefined')).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID' } });
  });

  it("normalises a third-party provider's settled plain Error, without echoing its message", async () => {
    const secretInMessage = 'third-party-canary-77';
    const provider: SecretProvider = {
      type: 'third',
      async resolve() {
        return 'single';
      },
      async resolveMany(_store, refs) {
        const answers = new Map<string, ProviderSettled>();
        answers.set(refs[0]!.raw, { ok: false, error: new Error(`bad ${secretInMessage}`) as unknown as SecretbindError });
        if (refs[1]) answers.set(refs[1].raw, { ok: true, value: 'fine' });
        return answers;
      },
    };
    const resolver = resolverOver(provider, { name: 'tp', type: 'third' }, { broken: 'x', fine: 'y' });
    const results = await resolver.resolvePasswords([{ name: 'broken' }, { name: 'fine' }]);
    const broken = results.get('broken')!;
    expect(broken.ok).toBe(false);
    if (!broken.ok) {
      expect(broken.error).toBeInstanceOf(SecretbindError);
      expect(broken.error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', account: 'broken', store: 'tp' });
      expect(JSON.stringify(broken.error) + broken.error.message).not.toContain(secretInMessage);
    }
    expect(results.get('fine')).toEqual({ ok: true, value: 'fine', source: 'store' });
  });
});

describe('Security review 11: the KeePass cache follows key-file and master-password changes', () => {
  it('reopens when the master password in the variable changes', async () => {
    const env = { KEEPASS_MASTER: MASTER };
    const provider = keepass({ env, argon2: 'node-rs' });
    const resolver = resolverOver(provider, { name: 'kp', type: 'keepass', kdbx_path: copyOf('kdbx4-argon2id-chacha20.kdbx'), master_password_env: 'KEEPASS_MASTER' }, { cmk: 'Root/Infrastructure/checkmk-prod' });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    env.KEEPASS_MASTER = 'not the master password';
    expect((await failure(resolver.resolvePassword({ name: 'cmk' }))).code).toBe('AUTH_FAILED');
    env.KEEPASS_MASTER = MASTER;
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    expect(provider.stats().opens).toBe(2); // the third lookup finds the first open again: same file, same password
  });

  it('reopens when the key file is replaced', async () => {
    const path = copyOf('kdbx4-password-keyfile-raw32.kdbx');
    const keyfile = join(mkdtempSync(join(tmpdir(), 'secretbind-key-')), 'db.key');
    copyFileSync(fixture('keyfile-raw32.key'), keyfile);
    const provider = keepass({ env: { KEEPASS_MASTER: MASTER }, argon2: 'node-rs' });
    const resolver = resolverOver(provider, { name: 'kp', type: 'keepass', kdbx_path: path, keyfile_path: keyfile, master_password_env: 'KEEPASS_MASTER' }, { cmk: 'Root/Infrastructure/checkmk-prod' });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    writeFileSync(`${keyfile}.new`, Buffer.alloc(32, 7));
    renameSync(`${keyfile}.new`, keyfile);
    expect((await failure(resolver.resolvePassword({ name: 'cmk' }))).code).toBe('AUTH_FAILED');
  });
});

describe('Security review 12: validation gaps', () => {
  it.each(['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf'])('validates a store of type %s without a bare TypeError', (type) => {
    const store = JSON.parse(`{"name":"s","type":${JSON.stringify(type)},"constructor":1,"toString":2}`) as SecretStore;
    expect(() => validateStoreFields(store)).not.toThrow();
    expect(() => MemoryBindingRepository.fromConfig({ stores: [store] })).not.toThrow();
  });

  it('refuses fields named after Object.prototype members on a built-in type, in strict mode, naming the field', () => {
    const error = thrown(() => validateStoreFields({ name: 's', type: 'keepass', kdbx_path: '/x', master_password_env: 'X', constructor: 1 } as SecretStore, { strict: true }));
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('.constructor: unknown field') });
    expect(() => validateStoreFields({ name: 's', type: 'keepass', kdbx_path: '/x', master_password_env: 'X', toString: 'y' } as unknown as SecretStore)).not.toThrow();
  });

  it('refuses Infinity, NaN and negative times in the Fernet functions with CONFIG_INVALID', () => {
    const key = generateFernetKey();
    const token = encryptLocalPassword('x', key);
    expect(thrown(() => decryptLocalPassword(token, key, { ttlSeconds: Number.POSITIVE_INFINITY })).code).toBe('CONFIG_INVALID');
    expect(thrown(() => decryptLocalPassword(token, key, { ttlSeconds: Number.NaN })).code).toBe('CONFIG_INVALID');
    expect(thrown(() => decryptLocalPassword(token, key, { ttlSeconds: 60, now: () => -1 })).code).toBe('CONFIG_INVALID');
    expect(thrown(() => encryptLocalPassword('x', key, { now: -1 })).code).toBe('CONFIG_INVALID');
    expect(thrown(() => encryptLocalPassword('x', key, { now: Number.NaN })).code).toBe('CONFIG_INVALID');
    expect(decryptLocalPassword(token, key, { ttlSeconds: 60 })).toBe('x');
  });
});

// Item 5 (node-vault's DEBUG output) lives in debug-output.test.ts: DEBUG must be set before node-vault loads.
