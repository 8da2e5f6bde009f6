/**
 * KeePass benchmark: a cold open of the 64 MiB Argon2d fixture against the bare Argon2 computation with the same
 * parameters; warm lookups (cache hits); the KDF count for 10,000 concurrent lookups; lookups per second while the
 * file is rewritten every 50 ms.
 */
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashRaw } from '@node-rs/argon2';
import kdbxwebDefault from 'kdbxweb';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { argon2For, type Argon2Function } from '../../providers/keepass/argon2.js';
import { keepass } from '../../providers/keepass/index.js';
import { line, median } from './harness.js';

// npm runs this from the package root; the bundle lives in .tmp/, so import.meta.url would mislead.
const FIXTURES = join(process.cwd(), 'test/fixtures/keepass');
const MASTER = 'correct horse battery staple';
const ENV = { KEEPASS_MASTER: MASTER };

function resolverOver(path: string, provider = keepass({ env: ENV, argon2: 'node-rs' })) {
  const repository = new MemoryBindingRepository()
    .putStore({ name: 'kp', type: 'keepass', kdbx_path: path, master_password_env: 'KEEPASS_MASTER' })
    .putBinding({ account: 'cmk', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod' });
  return { provider, resolver: createSecretResolver({ repository, providers: [provider], cryptographyKey: [] }) };
}

export async function benchKeepass(): Promise<void> {
  process.stdout.write('\n== keepass\n');
  const path = join(FIXTURES, 'kdbx4-argon2d-64m.kdbx');
  const salt = Buffer.alloc(32, 7);
  const opens: number[] = [];
  const raws: number[] = [];
  for (let run = 0; run < 7; run++) {
    let started = performance.now();
    // Argon2d (algorithm 0), version 0x13 (1): the fixture's parameters.
    await hashRaw(Buffer.alloc(32, 1), { salt, memoryCost: 65_536, timeCost: 10, parallelism: 2, outputLen: 32, algorithm: 0, version: 1 });
    raws.push(performance.now() - started);
    const { resolver } = resolverOver(path);
    started = performance.now();
    await resolver.resolvePassword({ name: 'cmk' });
    opens.push(performance.now() - started);
  }
  const ratio = median(opens) / median(raws);
  line('raw Argon2d 64 MiB, 10 iterations, 2 lanes (median of 7)', `${median(raws).toFixed(1)} ms`);
  line('cold open and lookup of kdbx4-argon2d-64m.kdbx (median of 7)', `${median(opens).toFixed(1)} ms`);
  line('cold open / raw Argon2', `${ratio.toFixed(3)} (limit 1.15)`);

  const { resolver: warm } = resolverOver(path);
  await warm.resolvePassword({ name: 'cmk' });
  const lookups = 20_000;
  let started = performance.now();
  for (let i = 0; i < lookups; i++) await warm.resolvePassword({ name: 'cmk' });
  line('warm lookup (cache hit, includes the stat)', `${(((performance.now() - started) * 1000) / lookups).toFixed(1)} µs`);

  let kdfRuns = 0;
  const real = argon2For('node-rs');
  const counting: Argon2Function = (...args) => {
    kdfRuns++;
    return real(...args);
  };
  const { resolver: concurrent } = resolverOver(path, keepass({ env: ENV, argon2: counting }));
  await Promise.all(Array.from({ length: 10_000 }, () => concurrent.resolvePassword({ name: 'cmk' })));
  line('KDF runs for 10,000 concurrent lookups on a closed file', `${kdfRuns} (must be 1)`);

  const cheap = join(mkdtempSync(join(tmpdir(), 'secretbind-bench-')), 'rewritten.kdbx');
  copyFileSync(join(FIXTURES, 'kdbx4-argon2id-chacha20.kdbx'), cheap);
  const kdbxweb = kdbxwebDefault as typeof import('kdbxweb');
  kdbxweb.CryptoEngine.setArgon2Impl(real);
  const db = await kdbxweb.Kdbx.load(new Uint8Array(readFileSync(cheap)).buffer, new kdbxweb.Credentials(kdbxweb.ProtectedValue.fromString(MASTER)));
  const versions = [readFileSync(cheap), Buffer.from(await db.save())];
  const { resolver: rewritten } = resolverOver(cheap);
  let rewrites = 0;
  const writer = setInterval(() => {
    const next = versions[++rewrites % 2]!;
    if (rewrites % 2) {
      writeFileSync(`${cheap}.tmp`, next);
      renameSync(`${cheap}.tmp`, cheap);
    } else writeFileSync(cheap, next);
  }, 50);
  let done = 0;
  let failed = 0;
  started = performance.now();
  while (performance.now() - started < 2_000) {
    const batch = await Promise.allSettled(Array.from({ length: 20 }, () => rewritten.resolvePassword({ name: 'cmk' })));
    done += batch.length;
    failed += batch.filter((result) => result.status === 'rejected').length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  clearInterval(writer);
  const seconds = (performance.now() - started) / 1000;
  line('lookups/s while the file is rewritten every 50 ms', `${Math.round(done / seconds)} (${rewrites} rewrites, ${failed} failed)`);
}
