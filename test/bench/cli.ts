/**
 * CLI benchmark: `secretbind resolve --reveal` against `keepassxc-cli show` on the same entry of the 64 MiB
 * Argon2d fixture, as whole processes, alternating, several runs each; medians and their ratio.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { line, median } from './harness.js';

const MASTER = 'correct horse battery staple';
const RUNS = 7;

export async function benchCli(): Promise<void> {
  process.stdout.write('\n== cli\n');
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
  const oursMs: number[] = [];
  const theirsMs: number[] = [];
  for (let round = 0; round < RUNS; round++) {
    oursMs.push(timed(ours));
    theirsMs.push(timed(theirs));
  }
  line(`secretbind resolve --reveal (median of ${RUNS} processes)`, `${median(oursMs).toFixed(0)} ms`);
  line(`keepassxc-cli show -a Password (median of ${RUNS} processes)`, `${median(theirsMs).toFixed(0)} ms`);
  line('secretbind / keepassxc-cli', `${(median(oursMs) / median(theirsMs)).toFixed(3)} (limit 1.3)`);
}
