/**
 * CLI benchmark: `secretbind resolve --reveal` against `keepassxc-cli show` on the same entry of the 64 MiB
 * Argon2d fixture, as whole processes, alternating, several runs each; medians and their ratio. Also `secretbind
 * --help` against `node -e ""` (the floor of any Node process), and where one resolve's time goes. Runs under the
 * `node` on PATH, so `PATH=<node 24>/bin:$PATH npm run bench cli` measures Node 24.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { line, median } from './harness.js';

const MASTER = 'correct horse battery staple';
const RUNS = 9;

export async function benchCli(): Promise<void> {
  const nodeVersion = spawnSync('node', ['--version'], { encoding: 'utf8' }).stdout.trim();
  process.stdout.write(`\n== cli (node ${nodeVersion})\n`);
  const database = join(process.cwd(), 'test/fixtures/keepass/kdbx4-argon2d-64m.kdbx');
  if (spawnSync('keepassxc-cli', ['--version']).error) {
    line('keepassxc-cli not found', 'skipped: apt-get install keepassxc');
    return;
  }
  if (spawnSync('node', ['dist/bin.js', '--help']).status !== 0) {
    line('dist/bin.js not built', 'skipped: npm run build');
    return;
  }
  const config = join(mkdtempSync(join(tmpdir(), 'secretbind-bench-')), 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      stores: [{ name: 'kp', type: 'keepass', kdbx_path: database, master_password_env: 'KEEPASS_MASTER' }],
      bindings: [{ account: 'checkmk-prod', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod' }],
    }),
  );
  const ours = () => spawnSync('node', ['dist/bin.js', 'resolve', 'checkmk-prod', '--config', config, '--reveal'], { encoding: 'utf8', env: { ...process.env, KEEPASS_MASTER: MASTER } });
  const theirs = () => spawnSync('keepassxc-cli', ['show', '-q', '-a', 'Password', database, 'Infrastructure/checkmk-prod'], { encoding: 'utf8', input: `${MASTER}\n` });
  const help = () => spawnSync('node', ['dist/bin.js', '--help'], { encoding: 'utf8' });
  const floor = () => spawnSync('node', ['-e', ''], { encoding: 'utf8' });
  const expected = 'Ch3ck-MK!prod#2026\n';
  for (const [name, run] of [['secretbind', ours], ['keepassxc-cli', theirs]] as const) {
    const result = run();
    if (result.stdout !== expected) throw new Error(`${name} printed ${JSON.stringify(result.stdout)} (stderr ${result.stderr})`);
  }
  const timed = (run: () => unknown): number => {
    const started = performance.now();
    run();
    return performance.now() - started;
  };
  const samples = { ours: [] as number[], theirs: [] as number[], help: [] as number[], floor: [] as number[] };
  for (let round = 0; round < RUNS; round++) {
    samples.ours.push(timed(ours));
    samples.theirs.push(timed(theirs));
    samples.help.push(timed(help));
    samples.floor.push(timed(floor));
  }
  const ms = (values: number[]) => `${median(values).toFixed(0)} ms`;
  line(`secretbind resolve --reveal (median of ${RUNS} processes)`, ms(samples.ours));
  line(`keepassxc-cli show -a Password (median of ${RUNS} processes)`, ms(samples.theirs));
  line('secretbind / keepassxc-cli', `${(median(samples.ours) / median(samples.theirs)).toFixed(3)} (goal: 1.0 on Node 22 and 24, 1.1 on Node 20)`);
  line('secretbind --help', ms(samples.help));
  line('node -e "" (floor)', ms(samples.floor));
  line('secretbind --help / floor', (median(samples.help) / median(samples.floor)).toFixed(3));
  breakdown();
}

/** Where one resolve's time goes, measured inside one process the way the command does the work. */
function breakdown(): void {
  const script = `
    import { performance } from 'node:perf_hooks';
    const mark = (name) => process.stdout.write(name + ' ' + performance.now().toFixed(1) + '\\n');
    mark('start');
    const nodeModule = await import('node:module');
    nodeModule.default.enableCompileCache?.();
    const secretbind = await import('secretbind');
    const { keepass } = await import('secretbind/providers/keepass');
    const kdbxweb = (await import('kdbxweb')).default;
    const argon2 = await import('@node-rs/argon2');
    mark('imports');
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(process.argv[1]);
    const salt = Buffer.alloc(32, 1);
    await argon2.hashRaw(Buffer.from('x'), { salt, memoryCost: 65536, timeCost: 10, parallelism: 2, outputLen: 32, algorithm: 0 });
    mark('kdf');
    const repository = new secretbind.MemoryBindingRepository()
      .putStore({ name: 'kp', type: 'keepass', kdbx_path: process.argv[1], master_password_env: 'KEEPASS_MASTER' })
      .putBinding({ account: 'a', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod' });
    const resolver = secretbind.createSecretResolver({ repository, providers: [keepass({ env: { KEEPASS_MASTER: '${MASTER}' } })], cryptographyKey: [] });
    await resolver.resolvePassword({ name: 'a' });
    mark('open');
    void kdbxweb; void bytes;
  `;
  const result = spawnSync('node', ['--input-type=module', '-e', script, join(process.cwd(), 'test/fixtures/keepass/kdbx4-argon2d-64m.kdbx')], { encoding: 'utf8' });
  const marks = Object.fromEntries(result.stdout.trim().split('\n').map((entry) => entry.split(' ')).map(([name, at]) => [name, Number(at)]));
  if (!marks.open) {
    line('time breakdown', `failed: ${result.stderr.split('\n')[0] ?? ''}`);
    return;
  }
  line('  process start, until the first line runs', `${marks.start!.toFixed(0)} ms`);
  line('  imports (core, keepass provider, kdbxweb, argon2)', `${(marks.imports! - marks.start!).toFixed(0)} ms`);
  line('  Argon2d 64 MiB x 10 alone', `${(marks.kdf! - marks.imports!).toFixed(0)} ms`);
  line('  open: read, KDF, decrypt, parse XML, lookup', `${(marks.open! - marks.kdf!).toFixed(0)} ms (of which the KDF above)`);
}
