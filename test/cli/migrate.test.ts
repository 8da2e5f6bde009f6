/** `secretbind migrate` on a YAML and a JSON configuration, into a KeePass file: dry run, run, rollback. */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decryptLocalPassword, encryptLocalPassword, generateFernetKey } from 'secretbind';
import { main } from '../../src/cli/main.js';

const KDBX = fileURLToPath(new URL('../fixtures/keepass/kdbx4-aeskdf.kdbx', import.meta.url));
const KEY = generateFernetKey();
const ENV = { KEEPASS_MASTER: 'correct horse battery staple', CRYPTOGRAPHY_KEY: KEY };

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), readSecret: async () => '', env: ENV, stderrIsTerminal: false });
  return { status, stdout, stderr };
}

function yamlWorld() {
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-migrate-'));
  const kdbx = join(dir, 'ops.kdbx');
  copyFileSync(KDBX, kdbx);
  const config = join(dir, 'secretbind.yaml');
  writeFileSync(
    config,
    [
      '# operated by the platform team',
      'stores:',
      `  - { name: kp, type: keepass, kdbx_path: ${kdbx}, master_password_env: KEEPASS_MASTER }`,
      'bindings: []',
      'accounts:',
      '  - name: checkmk-prod   # the monitoring account',
      `    password: ${encryptLocalPassword('cmk-canary-pw', KEY)}`,
      '    plugin: checkmk',
      '  - name: netbox',
      `    password: ${encryptLocalPassword('netbox-canary-pw', KEY)}`,
      '',
    ].join('\n'),
  );
  return { dir, config, kdbx };
}

describe('Command: migrate', () => {
  it('dry run changes nothing; the run binds and clears in the YAML file, keeping its comments; rollback restores', async () => {
    const { dir, config, kdbx } = yamlWorld();
    const before = { config: readFileSync(config, 'utf8'), kdbx: readFileSync(kdbx) };
    const planned = await run(['migrate', '--config', config, '--to', 'kp', '--entry', 'Migrated/{{ .Account }}', '--clear-local', '--dry-run']);
    expect(planned.status, planned.stderr).toBe(0);
    expect(planned.stdout).toMatch(/dry run: nothing was changed\n/);
    expect(planned.stdout).toMatch(/checkmk-prod\s+Migrated\/checkmk-prod\s+migrate\s+new/);
    expect(readFileSync(config, 'utf8')).toBe(before.config);
    expect(readFileSync(kdbx).equals(before.kdbx)).toBe(true);
    expect(() => readFileSync(join(dir, 'secretbind.migrate-journal.jsonl'))).toThrow();

    const ran = await run(['migrate', '--config', config, '--to', 'kp', '--entry', 'Migrated/{{ .Account }}', '--clear-local', '--log-file', join(dir, 'events.jsonl')]);
    expect(ran.status, ran.stderr).toBe(0);
    const logged = readFileSync(join(dir, 'events.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { kind: string; operation?: string; entry?: string });
    expect(logged.filter((event) => event.operation === 'write').map((event) => event.entry).sort()).toEqual(['Migrated/checkmk-prod', 'Migrated/netbox']);
    expect(readFileSync(join(dir, 'events.jsonl'), 'utf8')).not.toMatch(/canary-pw/);
    expect(ran.stdout).toMatch(/netbox\s+Migrated\/netbox\s+migrate\s+done/);
    const after = readFileSync(config, 'utf8');
    expect(after).toContain('# operated by the platform team');
    expect(after).toContain('# the monitoring account');
    expect(after).toContain('plugin: checkmk');
    expect(after).not.toContain('gAAAAA');
    for (const account of ['checkmk-prod', 'netbox']) {
      const resolved = await run(['resolve', account, '--config', config, '--reveal']);
      expect(resolved.stdout).toBe(`${account === 'netbox' ? 'netbox' : 'cmk'}-canary-pw\n`);
    }
    const journal = readFileSync(join(dir, 'secretbind.migrate-journal.jsonl'), 'utf8');
    for (const output of [planned.stdout, ran.stdout, ran.stderr, journal, after]) expect(output).not.toMatch(/canary-pw/);

    const rolled = await run(['migrate', '--config', config, '--to', 'kp', '--rollback', '--json']);
    expect(rolled.status, rolled.stderr).toBe(0);
    expect(JSON.parse(rolled.stdout).items.map((item: { outcome: string }) => item.outcome)).toEqual(['done', 'done']);
    const restored = readFileSync(config, 'utf8');
    expect(restored).toContain('# the monitoring account');
    const tokens = [...restored.matchAll(/password: (gAAAA\S+)/g)].map((match) => decryptLocalPassword(match[1]!, KEY));
    expect(tokens).toEqual(['cmk-canary-pw', 'netbox-canary-pw']);
    expect(restored).toMatch(/bindings: \[\]|bindings:\s*\n(?!\s+- )/);
  });

  it('keeps a JSON configuration\'s indentation and unknown keys; refuses what it must, with exit 1 or 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-migrate-'));
    const kdbx = join(dir, 'ops.kdbx');
    copyFileSync(KDBX, kdbx);
    const config = join(dir, 'config.json');
    const original = { stores: [{ name: 'kp', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KEEPASS_MASTER' }, { name: 'env', type: 'envvar' }], bindings: [], accounts: [{ name: 'a', password: encryptLocalPassword('a-pw', KEY), team: 'ops' }, { name: 'b', password: null }], owner: 'platform' };
    writeFileSync(config, `${JSON.stringify(original, null, 4)}\n`);
    const ran = await run(['migrate', '--config', config, '--to', 'kp']);
    expect(ran.status).toBe(1);
    expect(ran.stdout).toMatch(/b\s+b\s+refuse\s+failed\s+CONFIG_INVALID/);
    const text = readFileSync(config, 'utf8');
    expect(text.split('\n')[1]).toMatch(/^ {4}"stores"/);
    const parsed = JSON.parse(text);
    expect(parsed.owner).toBe('platform');
    expect(parsed.accounts[0]).toMatchObject({ name: 'a', team: 'ops', password: original.accounts[0]!.password });
    expect(parsed.bindings).toEqual([{ account: 'a', store: 'kp', entry: 'a' }]);
    expect(await run(['migrate', '--config', config, '--to', 'env'])).toMatchObject({ status: 1, stderr: expect.stringContaining('error OPERATION_UNSUPPORTED') });
    expect(await run(['migrate', '--config', config])).toMatchObject({ status: 2, stderr: expect.stringContaining('--to STORE is required') });
    expect(await run(['migrate', '--config', config, '--to', 'kp', '--entry', '{{ .Nope }}'])).toMatchObject({ status: 2, stderr: expect.stringContaining('unknown placeholder .Nope') });
  });
});
