/**
 * Packs the package as npm would publish it, installs the tarball into a fresh project and uses it from both
 * module systems: core and a provider, with one SecretbindError class shared across entry points.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false' } });

const USAGE = `
const key = generateFernetKey();
const repository = MemoryBindingRepository.fromConfig({
  stores: [{ name: 'mem', type: 'memory' }, { name: 'env', type: 'envvar' }],
  bindings: [{ account: 'a', store: 'mem', entry: 'x/y' }, { account: 'b', store: 'env', entry: 'PACKAGE_TEST_VAR' }],
});
const resolver = createSecretResolver({ repository, providers: [memory({ entries: { 'x/y': 'from-memory' } }), envvar({ env: {} })], cryptographyKey: key });
const local = await resolver.resolvePassword({ name: 'c', password: encryptLocalPassword('from-local', key) });
const failure = await resolver.resolvePassword({ name: 'b' }).catch((error) => error);
console.log(JSON.stringify({
  store: await resolver.resolvePassword({ name: 'a' }),
  local,
  code: failure.code,
  sharedClass: failure instanceof SecretbindError,
}));
`;
const EXPECTED = { store: 'from-memory', local: 'from-local', code: 'ENTRY_NOT_FOUND', sharedClass: true };

describe('Package: the packed tarball', () => {
  let project: string;
  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'secretbind-package-'));
    npm(['pack', '--pack-destination', project], root);
    const tarball = readdirSync(project).find((file) => file.endsWith('.tgz'))!;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    // kdbxweb and @node-rs/argon2 are the keepass store's optional peers; the command uses them below.
    npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(project, tarball), 'kdbxweb@2.1.1', '@node-rs/argon2@2.2.1', 'execa@9.6.1'], project);
  }, 180_000);
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('works from ESM import', () => {
    writeFileSync(
      join(project, 'esm.mjs'),
      `import { createSecretResolver, MemoryBindingRepository, SecretbindError, encryptLocalPassword, generateFernetKey } from 'secretbind';
import { memory } from 'secretbind/providers/memory';
import { envvar } from 'secretbind/providers/envvar';
${USAGE}`,
    );
    expect(JSON.parse(execFileSync('node', ['esm.mjs'], { cwd: project, encoding: 'utf8' }))).toEqual(EXPECTED);
  });

  it('works from CommonJS require', () => {
    writeFileSync(
      join(project, 'cjs.cjs'),
      `const { createSecretResolver, MemoryBindingRepository, SecretbindError, encryptLocalPassword, generateFernetKey } = require('secretbind');
const { memory } = require('secretbind/providers/memory');
const { envvar } = require('secretbind/providers/envvar');
(async () => {${USAGE}})();`,
    );
    expect(JSON.parse(execFileSync('node', ['cjs.cjs'], { cwd: project, encoding: 'utf8' }))).toEqual(EXPECTED);
  });

  it('runs the secretbind command through npx: help, check and resolve over envvar and keepass stores', () => {
    const config = join(project, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        stores: [
          { name: 'env', type: 'envvar' },
          { name: 'kp', type: 'keepass', kdbx_path: join(root, 'test/fixtures/keepass/kdbx4-argon2id-chacha20.kdbx'), master_password_env: 'KEEPASS_MASTER' },
        ],
        bindings: [
          { account: 'netbox', store: 'env', entry: 'NETBOX_PASSWORD' },
          { account: 'checkmk-prod', store: 'kp', entry: 'Root/Infrastructure/checkmk-prod' },
        ],
      }),
    );
    const env = { ...process.env, KEEPASS_MASTER: 'correct horse battery staple', NETBOX_PASSWORD: 'env-secret' };
    const secretbind = (args: string[], extraEnv: Record<string, string | undefined> = {}) =>
      spawnSync('npx', ['--no-install', 'secretbind', ...args], { cwd: project, encoding: 'utf8', env: { ...env, ...extraEnv } });
    expect(secretbind(['--help'])).toMatchObject({ status: 0, stdout: expect.stringContaining('Usage: secretbind <command>') });
    const check = secretbind(['check', '--config', config]);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/checkmk-prod\s+kp\s+keepass\s+ok/);
    expect(secretbind(['resolve', 'checkmk-prod', '--config', config, '--reveal'])).toMatchObject({ status: 0, stdout: 'Ch3ck-MK!prod#2026\n' });
    expect(secretbind(['resolve', 'checkmk-prod', '--config', config]).stdout).not.toContain('Ch3ck-MK');
    expect(secretbind(['check', '--config', config], { NETBOX_PASSWORD: undefined })).toMatchObject({ status: 1, stdout: expect.stringContaining('ENTRY_NOT_FOUND') });
    expect(secretbind(['check', '--config', join(project, 'missing.json')])).toMatchObject({ status: 2, stderr: expect.stringContaining('error CONFIG_INVALID') });
  });

  it('lists and writes through npx: put reads stdin, ls shows versions and ownership and never a value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-package-kp-'));
    const kdbx = join(dir, 'db.kdbx');
    writeFileSync(kdbx, readFileSync(join(root, 'test/fixtures/keepass/kdbx4-argon2id-chacha20.kdbx')));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ stores: [{ name: 'kp', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KEEPASS_MASTER' }], bindings: [{ account: 'new', store: 'kp', entry: 'Sync/new' }] }));
    const env = { ...process.env, KEEPASS_MASTER: 'correct horse battery staple' };
    const put = spawnSync('npx', ['--no-install', 'secretbind', 'put', 'kp', 'Sync/new', '--config', config], { cwd: project, encoding: 'utf8', env, input: 'packed-canary-value\n' });
    expect(put.status, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^created Sync\/new in kp: version /);
    const ls = spawnSync('npx', ['--no-install', 'secretbind', 'ls', 'kp', '--recursive', '--config', config], { cwd: project, encoding: 'utf8', env });
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/Sync\/new\s+\S+\s+\S+\s+secretbind/);
    expect(ls.stdout).toMatch(/Infrastructure\/checkmk-prod\s+\S+\s+\S+\s+no/);
    expect(ls.stdout + put.stdout + ls.stderr + put.stderr).not.toMatch(/packed-canary-value|Ch3ck-MK/);
    const resolved = spawnSync('npx', ['--no-install', 'secretbind', 'resolve', 'new', '--reveal', '--config', config], { cwd: project, encoding: 'utf8', env });
    expect(resolved.stdout).toBe('packed-canary-value\n');
  });

  it('keeps execa a real dynamic import in the CommonJS build of the lastpass provider', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-lpass-'));
    writeFileSync(join(dir, 'vault.json'), JSON.stringify({ state: 'logged-in', user: 'ops@example.test', entries: [{ id: '1', name: 'cjs-entry', password: 'from-lpass' }] }));
    writeFileSync(
      join(project, 'lastpass.cjs'),
      `const { createSecretResolver, MemoryBindingRepository } = require('secretbind');
const { lastpass } = require('secretbind/providers/lastpass');
const repository = MemoryBindingRepository.fromConfig({ stores: [{ name: 'lp', type: 'lastpass' }], bindings: [{ account: 'a', store: 'lp', entry: 'cjs-entry' }] });
const provider = lastpass({ lpassPath: ${JSON.stringify(join(root, 'test/bin/lpass'))}, env: { LPASS_STANDIN_VAULT: ${JSON.stringify(join(dir, 'vault.json'))} } });
createSecretResolver({ repository, providers: [provider], cryptographyKey: [] }).resolvePassword({ name: 'a' }).then((value) => console.log(value));`,
    );
    const cjs = readFileSync(join(project, 'node_modules/secretbind/dist/providers/lastpass/index.cjs'), 'utf8');
    expect(cjs).toContain('import("execa")');
    expect(cjs).not.toMatch(/require\(["']execa["']\)/);
    expect(execFileSync('node', ['lastpass.cjs'], { cwd: project, encoding: 'utf8' })).toBe('from-lpass\n');
  });

  it('ships the build, types, README and CHANGELOG, and no sources or tests', () => {
    const files = execFileSync('tar', ['-tzf', readdirSync(project).find((file) => file.endsWith('.tgz'))!], { cwd: project, encoding: 'utf8' }).split('\n');
    expect(files).toEqual(expect.arrayContaining(['package/dist/bin.js', 'package/dist/index.js', 'package/dist/index.cjs', 'package/dist/index.d.ts', 'package/dist/index.d.cts', 'package/README.md', 'package/CHANGELOG.md']));
    expect(files.filter((file) => file.startsWith('package/src/') || file.startsWith('package/test/'))).toEqual([]);
  });
});
