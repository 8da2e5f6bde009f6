/**
 * os_keyring against a real Secret Service: gnome-keyring-daemon on a private D-Bus session (test/servers/keyring),
 * through the real @napi-rs/keyring binding. Windows and macOS are covered by the binding's own tests, not by ours.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretEvent, type SecretStore } from 'secretbind';
import { osKeyring, ownerMarkService, type KeyringModule } from '../../../providers/os_keyring/index.js';
import { describeProvider } from '../../conformance/provider.js';
import { describeWritableProvider } from '../../conformance/writes.js';
import { failure } from '../../helpers.js';
import { startKeyring, type KeyringSession } from '../../servers/keyring/index.js';

const CANARY = 'canary-keyring-5c21e8';
let session: KeyringSession;
beforeAll(async () => {
  session = await startKeyring();
  session.seed({ service: 'secretbind', username: 'smtp-relay' }, 'Sm7p!relay#2026');
  session.seed({ service: 'checkmk', username: 'automation' }, JSON.stringify({ username: 'automation', password: 'Ch3ck-MK!prod' }));
  session.seed({ service: 'secretbind', username: 'canary' }, CANARY);
}, 30_000);
afterAll(async () => {
  await session?.stop();
});

const STORE: SecretStore = { name: 'desktop', type: 'os_keyring' };

/**
 * The Secret Service stopped (SIGSTOP) for the length of the check: calls reach the bus and get no answer. The
 * provider has made its items' entries first: making one talks D-Bus synchronously (a documented limit, see README).
 */
async function hungKeyring(store: SecretStore, reference: string) {
  const provider = osKeyring();
  const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(store), providers: [provider], cryptographyKey: [], timeoutMs: 10_000 });
  await resolver.writeEntry(store.name, reference, 'warm-up');
  await resolver.removeEntry(store.name, reference);
  // Long enough for the deadline and close(); stop() waits it out, so the tests after this one meet a live service.
  const frozenMs = 700;
  const resumesAt = performance.now() + frozenMs;
  session.freeze(frozenMs);
  return { provider, store, reference, stop: () => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, resumesAt - performance.now()) + 50)) };
}

describeProvider({
  name: 'os_keyring',
  hangingStore: () => hungKeyring(STORE, 'cf-hung'),
  capabilities: { bulk: true, check: true, hang: true },
  setup: () => ({
    provider: osKeyring(),
    store: STORE,
    known: { reference: 'smtp-relay', value: 'Sm7p!relay#2026' },
    knownField: { reference: 'checkmk/automation#username', value: 'automation' },
    missingEntry: 'nobody-here',
    missingField: 'checkmk/automation#nope',
    badStores: [{ name: 'desktop', type: 'os_keyring', keyring_service: '' }, { name: 'desktop', type: 'os_keyring', keyring_service: 42 }],
    canary: { reference: 'canary', value: CANARY, missingFieldReference: 'canary#nope' },
    hang: () => {
      session.freeze(800);
      return 'smtp-relay';
    },
  }),
});

describeWritableProvider({
  name: 'os_keyring',
  hangingStore: () => hungKeyring({ name: 'desktop', type: 'os_keyring', keyring_service: 'conformance' }, 'cf-hung'),
  capabilities: { pageSize: 0, objectFields: true, guarded: false },
  setup: () => ({
    provider: osKeyring(),
    store: { name: 'desktop', type: 'os_keyring', keyring_service: 'conformance' },
    seedForeign: (name, value) => session.seed({ service: 'conformance', username: name }, value),
    names: ['with space', 'non-ASCII ünïcödé', 'hash\\#inside', 'dotted.name@example.org'],
    invalidNames: [['a/b/c', 'service/account']],
    prefix: 'cf-',
  }),
});

describe('Provider: os_keyring', () => {
  function resolverFor(bindings: Record<string, string>, store: SecretStore = STORE, events: SecretEvent[] = []) {
    const repository = new MemoryBindingRepository().putStore(store);
    for (const [account, entry] of Object.entries(bindings)) repository.putBinding({ account, store: store.name, entry });
    return createSecretResolver({ repository, providers: [osKeyring()], cryptographyKey: [], onEvent: (event) => events.push(event), timeoutMs: 10_000 });
  }

  it('writes items other programs read: secret-tool finds the value under service and username, and the mark beside it', async () => {
    const resolver = resolverFor({});
    await resolver.writeEntry('desktop', 'netbox/api', 'n3tb0x-token');
    expect(session.lookup({ service: 'netbox', username: 'api' })).toBe('n3tb0x-token');
    expect(session.lookup({ service: ownerMarkService('netbox'), username: 'api' })).toBe('secretbind');
    // Fields go in as one JSON value; #key reads one back.
    await resolver.writeEntry('desktop', 'netbox/db', { username: 'nb', password: 'nb-pass' });
    expect(JSON.parse(session.lookup({ service: 'netbox', username: 'db' })!)).toEqual({ username: 'nb', password: 'nb-pass' });
    expect(await resolverFor({ user: 'netbox/db#username', pass: 'netbox/db' }).resolvePassword({ name: 'user' })).toBe('nb');
    expect(await resolverFor({ pass: 'netbox/db' }).resolvePassword({ name: 'pass' })).toBe('nb-pass');
    // merge lays fields over what is there.
    await resolver.writeEntry('desktop', 'netbox/db', { password: 'rotated' }, { merge: true });
    expect(JSON.parse(session.lookup({ service: 'netbox', username: 'db' })!)).toEqual({ username: 'nb', password: 'rotated' });
  });

  it('reads 1,000 accounts over 100 items with exactly 100 reads (the real binding, its reads counted)', { timeout: 60_000 }, async () => {
    const real = (await import('@napi-rs/keyring')) as unknown as KeyringModule;
    let reads = 0;
    const counting: KeyringModule = {
      findCredentialsAsync: real.findCredentialsAsync,
      AsyncEntry: class extends (real.AsyncEntry as unknown as new (...args: ConstructorParameters<KeyringModule['AsyncEntry']>) => { getPassword(signal?: AbortSignal | null): Promise<string | null> }) {
        override getPassword(signal?: AbortSignal | null) {
          reads++;
          return super.getPassword(signal);
        }
      } as unknown as KeyringModule['AsyncEntry'],
    };
    for (let index = 0; index < 100; index++) session.seed({ service: 'bulk', username: `item-${index}` }, JSON.stringify({ username: `u${index}`, password: `p${index}` }));
    const repository = new MemoryBindingRepository().putStore({ name: 'desktop', type: 'os_keyring', keyring_service: 'bulk' });
    for (let index = 0; index < 1000; index++) repository.putBinding({ account: `account-${index}`, store: 'desktop', entry: `item-${index % 100}${index % 2 ? '#username' : ''}` });
    const resolver = createSecretResolver({ repository, providers: [osKeyring({ lib: counting })], cryptographyKey: [], timeoutMs: 60_000 });
    const results = await resolver.resolvePasswords(Array.from({ length: 1000 }, (_, index) => ({ name: `account-${index}` })));
    expect([...results.values()].every((result) => result.ok)).toBe(true);
    expect(results.get('account-3')).toMatchObject({ ok: true, value: 'u3' });
    expect(results.get('account-4')).toMatchObject({ ok: true, value: 'p4' });
    expect(reads).toBe(100);
  });

  it('removes the value, then its mark', async () => {
    const resolver = resolverFor({});
    await resolver.writeEntry('desktop', 'gone-soon', 'x');
    await resolver.removeEntry('desktop', 'gone-soon');
    expect(session.lookup({ service: 'secretbind', username: 'gone-soon' })).toBeUndefined();
    expect(session.lookup({ service: ownerMarkService('secretbind'), username: 'gone-soon' })).toBeUndefined();
  });

  it('lists accounts of the store service without their passwords, the marks not among them', async () => {
    const listed = await resolverFor({}).listEntries('desktop', {});
    const names = listed.map((entry) => entry.name);
    expect(names).toEqual(expect.arrayContaining(['smtp-relay', 'canary']));
    expect(listed.find((entry) => entry.name === 'smtp-relay')).toMatchObject({ owned: false });
    expect(JSON.stringify(listed)).not.toContain('Sm7p');
    expect(JSON.stringify(listed)).not.toContain(CANARY);
    expect((await resolverFor({}).listEntries('desktop', { prefix: 'smtp' })).map((entry) => entry.name)).toEqual(['smtp-relay']);
  });

  it('reports the backend, the service and the user in check, never a value', async () => {
    const report = await resolverFor({ a: 'smtp-relay' }).check();
    const store = report.stores.find((item) => item.store === 'desktop')!;
    expect(store.ok).toBe(true);
    expect(store.details).toMatchObject({ backend: 'Secret Service (D-Bus)', service: 'secretbind' });
    expect(JSON.stringify(report)).not.toContain(CANARY);
    expect(inspect(report, { depth: 10 })).not.toContain('Sm7p');
  });

  it('refuses an account with a slash that is not escaped, and reads one that is', async () => {
    session.seed({ service: 'secretbind', username: 'team/db' }, 'slash-in-account');
    expect(await resolverFor({ a: 'secretbind/team\\/db' }).resolvePassword({ name: 'a' })).toBe('slash-in-account');
    expect((await failure(resolverFor({ a: 'x/y/z' }).resolvePassword({ name: 'a' }))).code).toBe('REFERENCE_INVALID');
  });

  it('is BACKEND_UNAVAILABLE (retryable, saying what to start) when no Secret Service answers, never a silent fall back to the kernel keyring', async () => {
    const { execa } = await import('execa');
    // A fresh process whose session bus has no Secret Service on it: the binding is pinned to the Secret Service.
    const script = `
      import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
      import { osKeyring } from './providers/os_keyring/index.ts';
      const repository = new MemoryBindingRepository().putStore({ name: 'desktop', type: 'os_keyring' }).putBinding({ account: 'a', store: 'desktop', entry: 'smtp-relay' });
      const resolver = createSecretResolver({ repository, providers: [osKeyring()], cryptographyKey: [] });
      const write = await resolver.writeEntry('desktop', 'x', 'never-stored').catch((error) => error);
      const read = await resolver.resolvePassword({ name: 'a' }).catch((error) => error);
      console.log(JSON.stringify([write.code, write.retryable, write.message, read.code]));`;
    const result = await execa('node', ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../../../', import.meta.url), env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' }, reject: false });
    const [writeCode, retryable, message, readCode] = JSON.parse(result.stdout) as [string, boolean, string, string];
    expect(writeCode).toBe('BACKEND_UNAVAILABLE');
    expect(retryable).toBe(true);
    expect(message).toMatch(/gnome-keyring-daemon/);
    expect(readCode).toBe('BACKEND_UNAVAILABLE');
  });

  describe('error table (providers/os_keyring/README.md), one test a row', () => {
    it('several items matching service and account: ENTRY_AMBIGUOUS', async () => {
      session.seed({ service: 'twice', username: 'acct', copy: '1' }, 'a');
      session.seed({ service: 'twice', username: 'acct', copy: '2' }, 'b');
      const error = await failure(resolverFor({ a: 'twice/acct' }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('ENTRY_AMBIGUOUS');
      expect(error.message).toMatch(/remove the duplicates/);
    });

    it('a name the platform refuses (Windows and macOS limits; the binding reports it): REFERENCE_INVALID', async () => {
      const refusing: KeyringModule = {
        findCredentialsAsync: async () => [],
        AsyncEntry: class {
          constructor() {
            throw new Error("Attribute 'service' is longer than platform limit of 32767 chars");
          }
        } as unknown as KeyringModule['AsyncEntry'],
      };
      const repository = new MemoryBindingRepository().putStore(STORE).putBinding({ account: 'a', store: 'desktop', entry: 'x' });
      const error = await failure(createSecretResolver({ repository, providers: [osKeyring({ lib: refusing })], cryptographyKey: [] }).resolvePassword({ name: 'a' }));
      expect(error.code).toBe('REFERENCE_INVALID');
    });

    it('ifVersion: OPERATION_UNSUPPORTED', async () => {
      expect((await failure(resolverFor({}).writeEntry('desktop', 'versioned', 'x', { ifVersion: '3' }))).code).toBe('OPERATION_UNSUPPORTED');
    });
  });

  it('never puts a value into events or errors', async () => {
    const events: SecretEvent[] = [];
    const resolver = resolverFor({ c: 'canary#nope', d: 'canary' }, STORE, events);
    const error = await failure(resolver.resolvePassword({ name: 'c' }));
    expect(await resolver.resolvePassword({ name: 'd' })).toBe(CANARY);
    expect(error.code).toBe('FIELD_NOT_FOUND');
    expect(JSON.stringify(events) + error.message + inspect(error)).not.toContain(CANARY);
  });

  it('works from the command: put from stdin, resolve, ls and check naming the backend', async () => {
    const { main } = await import('../../../src/cli/main.js');
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-keyring-cli-'));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ stores: [{ name: 'desktop', type: 'os_keyring', keyring_service: 'cli' }], bindings: [{ account: 'relay', store: 'desktop', entry: 'smtp' }] }));
    const run = async (argv: string[], stdin = '') => {
      let stdout = '';
      let stderr = '';
      const status = await main(argv, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), readSecret: async () => stdin, env: {}, stderrIsTerminal: false });
      return { status, stdout, stderr };
    };
    expect((await run(['put', 'desktop', 'smtp', '--config', config], 'cli-put-value\n')).status).toBe(0);
    expect(session.lookup({ service: 'cli', username: 'smtp' })).toBe('cli-put-value');
    expect(await run(['resolve', 'relay', '--config', config, '--reveal'])).toMatchObject({ status: 0, stdout: 'cli-put-value\n' });
    expect((await run(['ls', 'desktop', '--config', config])).stdout).toMatch(/smtp\s.*secretbind/);
    const check = await run(['check', '--config', config]);
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/Secret Service/);
    expect(check.stdout + check.stderr).not.toContain('cli-put-value');
  });
});

// Last in the file: a locked login collection cannot be unlocked again without a prompter, and tests run in order.
describe('Provider: os_keyring, the error table row for a locked keyring', () => {
  it('a locked keyring: AUTH_FAILED saying to unlock it, for reads, writes and listings', async () => {
    const repository = new MemoryBindingRepository().putStore(STORE).putBinding({ account: 'a', store: 'desktop', entry: 'smtp-relay' });
    const resolver = createSecretResolver({ repository, providers: [osKeyring()], cryptographyKey: [], timeoutMs: 10_000 });
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('Sm7p!relay#2026');
    session.lock();
    for (const attempt of [() => resolver.resolvePassword({ name: 'a' }), () => resolver.writeEntry('desktop', 'while-locked', 'x'), () => resolver.listEntries('desktop', {})]) {
      const error = await failure(attempt());
      expect(error.code).toBe('AUTH_FAILED');
      expect(error.message).toMatch(/unlock/);
    }
  });
});
