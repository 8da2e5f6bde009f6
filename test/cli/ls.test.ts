/**
 * `secretbind ls` (review issue items 15 and 16): one level with its folders shown as `vault kv list` and
 * `keepassxc-cli ls` show them, the same folder with or without its `/`, and versions wherever the store has them.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { azureKeyVault } from '../../providers/azure_keyvault/index.js';
import { main } from '../../src/cli/main.js';
import { start, TENANT, type KeyVaultStandIn } from '../servers/azure/index.js';

const KDBX = fileURLToPath(new URL('../fixtures/keepass/kdbx4-aeskdf.kdbx', import.meta.url));
const ENV = { KEEPASS_MASTER: 'correct horse battery staple' };

async function run(argv: string[], stdin?: string) {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), readSecret: async () => stdin ?? '', env: ENV, stderrIsTerminal: false });
  return { status, stdout, stderr };
}

const servers: KeyVaultStandIn[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

describe('Command: ls without --recursive says "no entries" for a store whose entries sit in folders (regression)', () => {
  it('shows the folders of a KeePass file with a trailing /, in text and JSON; a prefix with or without / is one folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-ls-'));
    const kdbx = join(dir, 'db.kdbx');
    copyFileSync(KDBX, kdbx);
    const config = join(dir, 'secretbind.json');
    writeFileSync(config, JSON.stringify({ stores: [{ name: 'kp', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KEEPASS_MASTER' }], bindings: [] }));
    for (const name of ['Sync/apps/db', 'Sync/apps/web', 'Sync/top']) expect((await run(['put', 'kp', name, '--config', config], 'value-canary')).status).toBe(0);
    const top = await run(['ls', 'kp', '--config', config, '--json']);
    expect(top.status, top.stderr).toBe(0);
    expect(JSON.parse(top.stdout)).toEqual(expect.arrayContaining([{ name: 'Sync/', folder: true }]));
    const withSlash = await run(['ls', 'kp', 'Sync/', '--config', config, '--json']);
    const without = await run(['ls', 'kp', 'Sync', '--config', config, '--json']);
    expect(without.stdout).toBe(withSlash.stdout);
    const level = JSON.parse(withSlash.stdout) as Array<{ name: string; folder?: boolean; version?: string; owned?: boolean }>;
    expect(level.map((item) => item.name)).toEqual(['Sync/apps/', 'Sync/top']);
    expect(level[1]).toMatchObject({ owned: true, version: expect.any(String) });
    const text = await run(['ls', 'kp', 'Sync', '--config', config]);
    expect(text.stdout).toMatch(/^Sync\/apps\/\s*$/m);
    expect(text.stdout).toMatch(/^Sync\/top\s+\S+\s+\S+\s+secretbind/m);
    expect((await run(['ls', 'kp', 'Sync/apps', '--config', config, '--json'])).stdout).toContain('"Sync/apps/web"');
    for (const output of [top, withSlash, text]) expect(output.stdout).not.toContain('value-canary');
  });
});

describe('Listing: ls --json of azure_keyvault has no version though --if-version needs one (regression)', () => {
  it('lists each secret with the version its last write returned', async () => {
    const server = await start();
    servers.push(server);
    server.state.clients.set('sync-app', 'app-secret');
    const store = { name: 'kv', type: 'azure_keyvault', azure_vault_url: server.url, azure_tenant_id: TENANT, azure_client_id: 'sync-app', azure_client_secret_env: 'KV_SECRET', azure_authority_host: server.authorityHost };
    const provider = azureKeyVault({ env: { KV_SECRET: 'app-secret' }, disableChallengeResourceVerification: true, credentialOptions: { disableInstanceDiscovery: true }, maxRetries: 0 });
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(store), providers: [provider], cryptographyKey: [] });
    const written = await resolver.writeEntry('kv', 'app-db', 'pw-1');
    const listed = await resolver.listEntries('kv', { metadata: true });
    expect(listed).toEqual([expect.objectContaining({ name: 'app-db', version: written.version })]);
    expect(written.version).toMatch(/^[0-9a-f]{32}$/);
    await resolver.writeEntry('kv', 'app-db', 'pw-2', { ifVersion: written.version });
    await expect(resolver.writeEntry('kv', 'app-db', 'pw-3', { ifVersion: written.version })).rejects.toMatchObject({ code: 'CONFLICT' });
    await resolver.close();
  });
});

describe('Command: put into os_keyring prints "version " with nothing after it (regression)', () => {
  it('says the store keeps no versions instead of an empty version', async () => {
    const { startKeyring } = await import('../servers/keyring/index.js');
    const session = await startKeyring();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-keyring-'));
      const config = join(dir, 'secretbind.json');
      writeFileSync(config, JSON.stringify({ stores: [{ name: 'kr', type: 'os_keyring', keyring_service: 'secretbind-cli-test' }], bindings: [] }));
      const put = await run(['put', 'kr', 'svc-account', '--config', config], 'keyring-canary');
      expect(put.status, put.stderr).toBe(0);
      expect(put.stdout).toBe('created svc-account in kr (this store keeps no versions)\n');
    } finally {
      await session.stop();
    }
  }, 30_000);
});
