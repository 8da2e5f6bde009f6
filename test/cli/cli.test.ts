import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decryptLocalPassword, encryptLocalPassword, generateFernetKey } from 'secretbind';
import { main } from '../../src/cli/main.js';

const KDBX = fileURLToPath(new URL('../fixtures/keepass/kdbx4-argon2id-chacha20.kdbx', import.meta.url));
const KEY = generateFernetKey();

function configFile(config: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'secretbind-cli-')), 'config.json');
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config));
  return path;
}

const CONFIG = {
  stores: [
    { name: 'env', type: 'envvar' },
    { name: 'kp', type: 'keepass', kdbx_path: KDBX, master_password_env: 'KEEPASS_MASTER' },
  ],
  bindings: [
    { account: 'checkmk-prod', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod' },
    { account: 'netbox', store: 'env', entry: 'NETBOX_PASSWORD' },
  ],
  accounts: [{ name: 'legacy', password: encryptLocalPassword('local-secret', KEY) }],
};
const ENV = { KEEPASS_MASTER: 'correct horse battery staple', NETBOX_PASSWORD: 'env-secret', CRYPTOGRAPHY_KEY: KEY };

async function run(argv: string[], options: { env?: Record<string, string>; stdin?: string } = {}) {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readSecret: async () => options.stdin ?? '',
    env: options.env ?? ENV,
    stderrIsTerminal: false,
  });
  return { status, stdout, stderr };
}

describe('Command: secretbind', () => {
  it('prints help and exits 0, or 2 without a command', async () => {
    expect(await run(['--help'])).toMatchObject({ status: 0, stdout: expect.stringContaining('Usage: secretbind <command>') });
    expect((await run([])).status).toBe(2);
    expect(await run(['check', '--help'])).toMatchObject({ status: 0, stdout: expect.stringContaining('secretbind check --config FILE') });
    expect(await run(['frobnicate'])).toMatchObject({ status: 2, stderr: expect.stringContaining('error USAGE: unknown command') });
  });

  it('checks every binding, one line each, exit 0 when all pass and 1 when any fails', async () => {
    const ok = await run(['check', '--config', configFile(CONFIG)]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/checkmk-prod\s+kp\s+keepass\s+ok/);
    expect(ok.stdout).toMatch(/netbox\s+env\s+envvar\s+ok/);
    const failing = await run(['check', '--config', configFile(CONFIG)], { env: { ...ENV, NETBOX_PASSWORD: undefined as unknown as string } });
    expect(failing.status).toBe(1);
    expect(failing.stdout).toMatch(/netbox\s+env\s+envvar\s+error\s+ENTRY_NOT_FOUND/);
    const json = JSON.parse((await run(['check', '--config', configFile(CONFIG), '--json'])).stdout) as { ok: boolean };
    expect(json.ok).toBe(true);
    for (const output of [ok.stdout, failing.stdout]) expect(output).not.toMatch(/Ch3ck-MK|env-secret/);
  });

  it('says where a value comes from without printing it, and prints it alone with --reveal', async () => {
    const config = configFile(CONFIG);
    const told = await run(['resolve', 'checkmk-prod', '--config', config]);
    expect(told).toMatchObject({ status: 0, stdout: 'checkmk-prod: resolved from keepass store kp, entry Root/Infrastructure/checkmk-prod\n' });
    expect((await run(['resolve', 'checkmk-prod', '--config', config, '--reveal'])).stdout).toBe('Ch3ck-MK!prod#2026\n');
    expect((await run(['resolve', 'legacy', '--config', config])).stdout).toBe('legacy: resolved from its local password\n');
    expect(JSON.parse((await run(['resolve', 'legacy', '--config', config, '--json'])).stdout)).toEqual({ account: 'legacy', source: 'local', hasValue: true });
  });

  it('serves lastpass stores through lpass', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-lpass-'));
    writeFileSync(join(dir, 'vault.json'), JSON.stringify({ state: 'logged-in', user: 'ops@example.test', entries: [{ id: '1', name: 'grafana', password: 'from-lpass' }] }));
    const config = configFile({ stores: [{ name: 'lp', type: 'lastpass' }], bindings: [{ account: 'grafana', store: 'lp', entry: 'grafana' }] });
    const lpassDir = fileURLToPath(new URL('../bin/', import.meta.url));
    const env = { PATH: `${lpassDir}:${process.env.PATH}`, LPASS_STANDIN_VAULT: join(dir, 'vault.json') };
    expect(await run(['resolve', 'grafana', '--config', config, '--reveal'], { env })).toMatchObject({ status: 0, stdout: 'from-lpass\n' });
  });

  it('explains an account', async () => {
    const result = await run(['explain', 'netbox', '--config', configFile(CONFIG), '--json']);
    expect(JSON.parse(result.stdout)).toMatchObject({ account: 'netbox', source: 'store', binding: { store: 'env', entry: 'NETBOX_PASSWORD' } });
  });

  it('reports errors as "error CODE: message" with exit 1, and bad configuration with exit 2 naming the place', async () => {
    const failed = await run(['resolve', 'netbox', '--config', configFile(CONFIG)], { env: {} });
    expect(failed).toMatchObject({ status: 1, stderr: expect.stringMatching(/^error ENTRY_NOT_FOUND: Environment variable NETBOX_PASSWORD/) });
    const bad = await run(['check', '--config', configFile({ stores: [{ name: 'v', type: 'vault', vault_url: 'nope' }], bindings: [] })]);
    expect(bad).toMatchObject({ status: 2, stderr: expect.stringContaining('error CONFIG_INVALID: ') });
    expect(bad.stderr).toContain('stores[0].vault_url: expected an http(s) URL');
    expect((await run(['check', '--config', configFile('{ not json')])).status).toBe(2);
    expect((await run(['check'])).stderr).toContain('--config FILE is required');
    expect((await run(['resolve', '--config', configFile(CONFIG)])).status).toBe(2);
  });

  it('makes keys, and tokens from a password read on stdin', async () => {
    const key = (await run(['keygen'])).stdout.trim();
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    const token = (await run(['encrypt'], { env: { CRYPTOGRAPHY_KEY: key }, stdin: 'typed password\n' })).stdout.trim();
    expect(decryptLocalPassword(token, key)).toBe('typed password');
    const other = await run(['encrypt', '--key-env', 'OTHER_KEY'], { env: { CRYPTOGRAPHY_KEY: key }, stdin: 'x' });
    expect(other).toMatchObject({ status: 1, stderr: expect.stringContaining('error LOCAL_KEY_MISSING: $OTHER_KEY is not set') });
  });
});

describe('Command: ls and put', () => {
  function writable() {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-'));
    const kdbx = join(dir, 'db.kdbx');
    copyFileSync(KDBX, kdbx);
    writeFileSync(join(dir, '.env'), 'FOREIGN=theirs\n');
    return configFile({
      stores: [
        { name: 'kp', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KEEPASS_MASTER' },
        { name: 'file', type: 'dotenv', dotenv_path: join(dir, '.env') },
        { name: 'env', type: 'envvar' },
      ],
      bindings: [{ account: 'written', store: 'kp', entry: 'Sync/written' }],
    });
  }

  it('puts a value from stdin (one trailing newline removed), prints the version, and ls lists it as owned without the value', async () => {
    const config = writable();
    const put = await run(['put', 'kp', 'Sync/written', '--config', config], { stdin: 'from-stdin-canary\n' });
    expect(put.status, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^created Sync\/written in kp: version \S+\n$/);
    expect(await run(['resolve', 'written', '--config', config, '--reveal'])).toMatchObject({ status: 0, stdout: 'from-stdin-canary\n' });
    const listed = await run(['ls', 'kp', 'Sync/', '--config', config]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(/Sync\/written\s+\S+\s+\S+\s+secretbind/);
    const json = await run(['ls', 'kp', '--config', config, '--recursive', '--json']);
    expect(JSON.parse(json.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'Sync/written', owned: true })]));
    for (const output of [put, listed, json]) expect(output.stdout + output.stderr).not.toContain('from-stdin-canary');
  });

  it('sets one field with --field, keeping the others', async () => {
    const config = writable();
    await run(['put', 'kp', 'Sync/written', '--config', config], { stdin: 'the-password' });
    expect((await run(['put', 'kp', 'Sync/written', '--config', config, '--field', 'UserName'], { stdin: 'svc-user\n' })).status).toBe(0);
    expect((await run(['resolve', 'written', '--config', config, '--reveal'])).stdout).toBe('the-password\n');
  });

  it('refuses an entry it does not own (exit 1, ENTRY_NOT_OWNED) unless --adopt, and a stale --if-version (CONFLICT)', async () => {
    const config = writable();
    const refused = await run(['put', 'file', 'FOREIGN', '--config', config], { stdin: 'ours' });
    expect(refused).toMatchObject({ status: 1, stderr: expect.stringContaining('error ENTRY_NOT_OWNED') });
    expect((await run(['put', 'file', 'FOREIGN', '--config', config, '--adopt'], { stdin: 'ours' })).status).toBe(0);
    const version = /version (\S+)/.exec((await run(['put', 'file', 'FOREIGN', '--config', config], { stdin: 'ours-2' })).stdout)![1]!;
    await run(['put', 'file', 'OTHER', '--config', config], { stdin: 'moves the version' });
    expect(await run(['put', 'file', 'FOREIGN', '--config', config, '--if-version', version], { stdin: 'ours-3' })).toMatchObject({ status: 1, stderr: expect.stringContaining('error CONFLICT') });
  });

  it('says a read-only store type cannot be written (exit 1, OPERATION_UNSUPPORTED), and needs a value', async () => {
    const config = writable();
    expect(await run(['put', 'env', 'X', '--config', config], { stdin: 'v' })).toMatchObject({ status: 1, stderr: expect.stringContaining('error OPERATION_UNSUPPORTED') });
    expect(await run(['ls', 'env', '--config', config])).toMatchObject({ status: 1, stderr: expect.stringContaining('error OPERATION_UNSUPPORTED') });
    expect(await run(['put', 'kp', 'Sync/x', '--config', config], { stdin: '\n' })).toMatchObject({ status: 2, stderr: expect.stringContaining('No value on standard input') });
    expect(await run(['put', 'kp', '--config', config], { stdin: 'v' })).toMatchObject({ status: 2, stderr: expect.stringContaining('error USAGE') });
    expect(await run(['ls', 'nope', '--config', config])).toMatchObject({ status: 1, stderr: expect.stringContaining('error STORE_NOT_FOUND') });
  });
});

describe('Command: sync', () => {
  function files() {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-sync-'));
    writeFileSync(join(dir, 'source.env'), 'DB_PASSWORD=db-canary-value\nAPI_KEY=api-canary-value\n');
    writeFileSync(join(dir, 'dest.env'), 'TAKEN=by-hand\n');
    const config = join(dir, 'secretbind.yaml');
    writeFileSync(
      config,
      [
        'stores:',
        `  - { name: source, type: dotenv, dotenv_path: ${join(dir, 'source.env')} }`,
        `  - { name: dest, type: dotenv, dotenv_path: ${join(dir, 'dest.env')} }`,
        'bindings: []',
        'sync:',
        '  - name: env-copy',
        '    source: source',
        '    entries: [DB_PASSWORD, API_KEY]',
        '    destination: dest',
        "    name_template: 'COPY_{{ .SecretPath }}'",
        '',
      ].join('\n'),
    );
    return { dir, config };
  }

  it('plans without changing anything, then syncs, then finds nothing to do; reads YAML; never prints a value', async () => {
    const { dir, config } = files();
    const before = readFileSync(join(dir, 'dest.env'), 'utf8');
    const planned = await run(['sync', '--config', config, '--dry-run']);
    expect(planned.status).toBe(0);
    expect(planned.stdout).toMatch(/dry run: nothing was changed\n/);
    expect(planned.stdout).toMatch(/env-copy\s+COPY_DB_PASSWORD\s+create\s+yes/);
    expect(readFileSync(join(dir, 'dest.env'), 'utf8')).toBe(before);
    expect(existsSync(join(dir, 'secretbind.sync-state.json'))).toBe(false);
    const ran = await run(['sync', '--config', config, '--log-file', join(dir, 'sync.jsonl')]);
    expect(ran.status, ran.stderr).toBe(0);
    const logged = readFileSync(join(dir, 'sync.jsonl'), 'utf8');
    expect(logged.trim().split('\n').map((line) => (JSON.parse(line) as { operation?: string }).operation)).toEqual(expect.arrayContaining(['list', 'write']));
    expect(logged).not.toMatch(/canary-value/);
    expect(ran.stdout).toMatch(/COPY_API_KEY\s+create\s+SYNCED/);
    expect(readFileSync(join(dir, 'dest.env'), 'utf8')).toContain("COPY_DB_PASSWORD='db-canary-value' # managed-by: secretbind");
    const again = await run(['sync', '--config', config, '--json']);
    expect(JSON.parse(again.stdout).items.map((item: { action: string }) => item.action)).toEqual(['unchanged', 'unchanged']);
    for (const output of [planned, ran, again]) expect(output.stdout + output.stderr).not.toMatch(/canary-value/);
    expect(readFileSync(join(dir, 'secretbind.sync-state.json'), 'utf8')).not.toMatch(/canary-value/);
  });

  it('exits 1 when an entry is not secretbind\'s, 2 for a bad definition or an unknown --only', async () => {
    const { dir, config } = files();
    writeFileSync(join(dir, 'dest.env'), 'COPY_DB_PASSWORD=by-hand\n');
    const refused = await run(['sync', '--config', config]);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/COPY_DB_PASSWORD\s+not-owned\s+CLIENT_SIDE_ERROR\s+ENTRY_NOT_OWNED/);
    expect(await run(['sync', '--config', config, '--only', 'nope'])).toMatchObject({ status: 2, stderr: expect.stringContaining('no sync definition named "nope"') });
    writeFileSync(config, readFileSync(config, 'utf8').replace('COPY_{{ .SecretPath }}', 'COPY_{{ .Nope }}'));
    expect(await run(['sync', '--config', config])).toMatchObject({ status: 2, stderr: expect.stringContaining('sync[0].name_template') });
  });
});
