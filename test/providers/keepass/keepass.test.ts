import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, SecretbindError, type SecretEvent } from 'secretbind';
import { argon2For, type Argon2Function } from '../../../providers/keepass/argon2.js';
import { keepass } from '../../../providers/keepass/index.js';
import { describeProvider } from '../../conformance/provider.js';
import { copyOf, kdbxweb, MASTER, setPassword, variantOf } from './helpers.js';
import { failure } from '../../helpers.js';

const FILE = 'kdbx4-argon2id-chacha20.kdbx';
const ENV = { KEEPASS_MASTER: MASTER };
const VALUE = 'Ch3ck-MK!prod#2026';

/** Argon2 that counts its runs and can be made slow (its next run finishes only after `stallNextMs`). */
function countingArgon2() {
  const real = argon2For('node-rs');
  const state = { runs: 0, stallNextMs: 0 };
  const argon2: Argon2Function = async (...args) => {
    state.runs++;
    const stall = state.stallNextMs;
    state.stallNextMs = 0;
    if (stall > 0) await new Promise((resolve) => setTimeout(resolve, stall));
    return real(...args);
  };
  return { argon2, state };
}

const conformanceArgon2 = countingArgon2();
let conformancePath = '';

describeProvider({
  name: 'keepass',
  capabilities: { bulk: true, check: true, hang: true },
  setup: () => {
    conformancePath = copyOf(FILE);
    return {
      provider: keepass({ env: ENV, argon2: conformanceArgon2.argon2 }),
      store: { name: 'kp', type: 'keepass', kdbx_path: conformancePath, master_password_env: 'KEEPASS_MASTER' },
      known: { reference: 'Root/Infrastructure/checkmk-prod', value: VALUE },
      knownField: { reference: 'Infrastructure/checkmk-prod#UserName', value: 'automation' },
      missingEntry: 'Root/Infrastructure/missing',
      missingField: 'Root/Infrastructure/checkmk-prod#no_such_field',
      badStores: [
        { name: 'kp', type: 'keepass', master_password_env: 'KEEPASS_MASTER' },
        { name: 'kp', type: 'keepass', kdbx_path: '/x.kdbx' },
        { name: 'kp', type: 'keepass', kdbx_path: '/x.kdbx', master_password_env: 'not valid' },
      ],
      canary: { reference: 'Root/Infrastructure/netbox', value: 'pässwörd-Ω-🔑', missingFieldReference: 'Root/Infrastructure/netbox#nope' },
      hang: () => {
        // A changed file must be reopened, and that open's KDF outlasts the lookup's deadline. The open itself runs
        // on and fills the cache for the lookups after it (a key derivation cannot be cancelled).
        conformanceArgon2.state.stallNextMs = 600;
        writeFileSync(conformancePath, readFileSync(conformancePath));
        return 'Root/Infrastructure/checkmk-prod';
      },
    };
  },
});

function setup(options: { path?: string; now?: () => number; argon2?: Argon2Function; env?: Record<string, string> } = {}) {
  const path = options.path ?? copyOf(FILE);
  const provider = keepass({ env: options.env ?? ENV, argon2: options.argon2 ?? 'node-rs', ...(options.now ? { now: options.now } : {}) });
  const repository = new MemoryBindingRepository()
    .putStore({ name: 'kp', type: 'keepass', kdbx_path: path, master_password_env: 'KEEPASS_MASTER' })
    .putBinding({ account: 'cmk', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod' })
    .putBinding({ account: 'user', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod#username' })
    .putBinding({ account: 'dup', store: 'kp', entry: 'Root/Duplicates/same-title' });
  const events: SecretEvent[] = [];
  const resolver = createSecretResolver({ repository, providers: [provider], cryptographyKey: [], onEvent: (event) => events.push(event) });
  return { path, provider, resolver, events };
}

describe('Provider: keepass freshness', () => {
  it('serves an unchanged file from the cache and reopens it once the TTL has passed (controlled clock)', async () => {
    let clock = 0;
    const { provider, resolver, events } = setup({ now: () => clock });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    clock = 4_999;
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    expect(provider.stats()).toEqual({ opens: 1, hits: 1, misses: 1, argon2HeadStarts: 1, saves: 0 });
    clock = 5_000;
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    expect(provider.stats().opens).toBe(2);
    const caches = events.flatMap((event) => (event.kind === 'resolution' ? [event.cache] : []));
    expect(caches).toEqual(['miss', 'hit', 'miss']);
  });

  it('sees an in-place edit on the next lookup, with the clock standing still', async () => {
    const { path, resolver } = setup({ now: () => 0 });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    writeFileSync(path, await variantOf(FILE, (db) => setPassword(db, 'checkmk-prod', 'edited-in-place')));
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('edited-in-place');
  });

  it('sees a save by rename (as KeePassXC saves) on the next lookup', async () => {
    const { path, resolver } = setup({ now: () => 0 });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    const staged = join(dirname(path), 'staged.kdbx');
    writeFileSync(staged, await variantOf(FILE, (db) => setPassword(db, 'checkmk-prod', 'saved-by-rename')));
    renameSync(staged, path);
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe('saved-by-rename');
  });

  it('runs the KDF exactly once for 10,000 lookups started together on a closed file', async () => {
    const { argon2, state } = countingArgon2();
    const { provider, resolver } = setup({ argon2 });
    const values = await Promise.all(Array.from({ length: 10_000 }, (_, index) => resolver.resolvePassword({ name: index % 2 ? 'cmk' : 'user' })));
    expect(new Set(values)).toEqual(new Set([VALUE, 'automation']));
    expect(state.runs).toBe(1);
    expect(provider.stats().opens).toBe(1);
  });

  it('starts the Argon2 derivation from the header before kdbxweb asks, and kdbxweb takes it (one derivation in all)', async () => {
    const { argon2, state } = countingArgon2();
    const { provider, resolver } = setup({ argon2 });
    expect(await resolver.resolvePassword({ name: 'cmk' })).toBe(VALUE);
    expect(provider.stats().argon2HeadStarts).toBe(1);
    expect(state.runs).toBe(1);
    // A wrong password still fails as AUTH_FAILED: the head start derives from what the variable holds.
    const wrong = setup({ argon2, env: { KEEPASS_MASTER: 'wrong' } });
    expect((await failure(wrong.resolver.resolvePassword({ name: 'cmk' }))).code).toBe('AUTH_FAILED');
    expect(wrong.provider.stats().argon2HeadStarts).toBe(1);
  });

  it('serves a bulk lookup from one open', async () => {
    const { argon2, state } = countingArgon2();
    const { resolver } = setup({ argon2 });
    const results = await resolver.resolvePasswords([{ name: 'cmk' }, { name: 'user' }, { name: 'dup' }]);
    expect(results.get('cmk')).toEqual({ ok: true, value: VALUE, source: 'store' });
    expect(results.get('user')).toEqual({ ok: true, value: 'automation', source: 'store' });
    expect(results.get('dup')?.ok).toBe(false);
    expect(state.runs).toBe(1);
  });

  it('never writes the file', async () => {
    const { path, resolver } = setup();
    const before = { bytes: readFileSync(path), mtimeMs: statSync(path).mtimeMs };
    await resolver.resolvePasswords([{ name: 'cmk' }, { name: 'user' }]);
    await resolver.check();
    expect(readFileSync(path).equals(before.bytes)).toBe(true);
    expect(statSync(path).mtimeMs).toBe(before.mtimeMs);
  });
});

describe('Provider: keepass entries', () => {
  it('lists both paths and UUIDs of an ambiguous reference', async () => {
    const { resolver } = setup();
    const error = (await resolver.resolvePassword({ name: 'dup' }).catch((thrown: unknown) => thrown)) as SecretbindError;
    expect(error.code).toBe('ENTRY_AMBIGUOUS');
    expect(error.message).toContain('Root/Duplicates/same-title [a5171ea4e6a111f1a6f402fc00000001]');
    expect(error.message).toContain('[a5172444e6a111f1a6f402fc00000001]');
    expect(error.message).not.toMatch(/dup-a|dup-b/);
  });

  it('matches standard field names in any case, custom ones exactly', async () => {
    const { resolver } = setup();
    expect(await resolver.resolvePassword({ name: 'user' })).toBe('automation');
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'kp', type: 'keepass', kdbx_path: copyOf(FILE), master_password_env: 'KEEPASS_MASTER' })
      .putBinding({ account: 'custom', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod#API_SECRET' })
      .putBinding({ account: 'title', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod#title' });
    const strict = createSecretResolver({ repository, providers: [keepass({ env: ENV })], cryptographyKey: [] });
    await expect(strict.resolvePassword({ name: 'custom' })).rejects.toMatchObject({ code: 'FIELD_NOT_FOUND', message: expect.stringContaining('api_secret') });
    expect(await strict.resolvePassword({ name: 'title' })).toBe('checkmk-prod');
  });

  it('refuses a cycle of field references instead of following it forever', async () => {
    const path = copyOf(FILE);
    writeFileSync(
      path,
      await variantOf(FILE, (db) => {
        const group = db.getDefaultGroup();
        const a = db.createEntry(group);
        const b = db.createEntry(group);
        const hex = (entry: typeof a) => Buffer.from(entry.uuid.id, 'base64').toString('hex').toUpperCase();
        a.fields.set('Title', 'loop-a');
        b.fields.set('Title', 'loop-b');
        a.fields.set('Password', kdbxweb.ProtectedValue.fromString(`{REF:P@I:${hex(b)}}`));
        b.fields.set('Password', kdbxweb.ProtectedValue.fromString(`x{REF:P@I:${hex(a)}}`));
      }),
    );
    const repository = new MemoryBindingRepository()
      .putStore({ name: 'kp', type: 'keepass', kdbx_path: path, master_password_env: 'KEEPASS_MASTER' })
      .putBinding({ account: 'loop', store: 'kp', entry: 'Root/loop-a' });
    const resolver = createSecretResolver({ repository, providers: [keepass({ env: ENV })], cryptographyKey: [] });
    await expect(resolver.resolvePassword({ name: 'loop' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('cycle') });
  });

  it('names a missing master password variable, never a value', async () => {
    const { resolver } = setup({ env: {} });
    await expect(resolver.resolvePassword({ name: 'cmk' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('KEEPASS_MASTER (master_password_env) is not set') });
  });

  it('reports format, KDF, cipher and entry count in check, without values', async () => {
    const { resolver } = setup();
    const report = await resolver.check();
    expect(report.stores[0]?.details).toMatchObject({ format: 'KDBX 4.0', kdf: 'Argon2id', cipher: 'ChaCha20', entries: 9 });
    expect(JSON.stringify(report)).not.toContain(VALUE);
  });
});

describe('Provider: keepass torn writes', () => {
  it('returns the old or the new value while the file is rewritten every 50 ms, by rename and in place', async () => {
    const path = copyOf(FILE);
    const versions = [readFileSync(path), await variantOf(FILE, (db) => setPassword(db, 'checkmk-prod', 'the-new-value'))];
    const { resolver } = setup({ path });
    let rewrites = 0;
    let torn = 0;
    const writer = setInterval(() => {
      const next = versions[++rewrites % 2]!;
      if (rewrites % 2) {
        const staged = `${path}.tmp`;
        writeFileSync(staged, next);
        renameSync(staged, path);
      } else {
        // In place, as rsync --inplace or Syncthing may: truncate, write half, pause, write the rest.
        writeFileSync(path, next.subarray(0, next.length >> 1));
        torn++;
        setTimeout(() => writeFileSync(path, next), 2);
      }
    }, 50);
    const seen = new Map<string, number>();
    let done = 0;
    try {
      while (done < 10_000 || rewrites < 8) {
        const batch = await Promise.all(Array.from({ length: 50 }, () => resolver.resolvePassword({ name: 'cmk' }).catch((error: SecretbindError) => `error:${error.code}`)));
        for (const value of batch) seen.set(value!, (seen.get(value!) ?? 0) + 1);
        done += batch.length;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } finally {
      clearInterval(writer);
    }
    expect(rewrites).toBeGreaterThanOrEqual(6);
    expect(torn).toBeGreaterThanOrEqual(3);
    expect([...seen.keys()].sort()).toEqual([VALUE, 'the-new-value'].sort());
  }, 60_000);
});
