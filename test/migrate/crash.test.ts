/**
 * `secretbind migrate` killed at random points (25 runs into a KeePass file, 25 into the Vault stand-in, 20 accounts
 * each): at the kill every account has a readable local password or a verified, bound entry; after `--resume` every
 * account resolves to its original password and each entry was written exactly once.
 */
import { fork } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kdbxweb from 'kdbxweb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretResolver, encryptLocalPassword, generateFernetKey, MemoryBindingRepository, type Account } from 'secretbind';
import { keepass } from '../../providers/keepass/index.js';
import { vault } from '../../providers/vault/index.js';
import { main } from '../../src/cli/main.js';
import { start, type VaultStandIn } from '../servers/vault/index.js';

const RUNS = 25;
const ACCOUNTS = 20;
const KEY = generateFernetKey();
const MASTER = 'correct horse battery staple';
const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const password = (index: number, run: number): string => `pw-${run}-${index}-ü`;

let server: VaultStandIn;
let token: string;
beforeAll(async () => {
  server = await start();
  token = server.state.createToken({ policies: ['root'] });
});
afterAll(() => server.stop());

type Target = 'keepass' | 'vault';

function arrange(target: Target, run: number) {
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-migrate-crash-'));
  let store: Record<string, unknown>;
  if (target === 'keepass') {
    const kdbx = join(dir, 'ops.kdbx');
    copyFileSync(fileURLToPath(new URL('../fixtures/keepass/kdbx4-aeskdf.kdbx', import.meta.url)), kdbx);
    store = { name: 'target', type: 'keepass', kdbx_path: kdbx, master_password_env: 'KEEPASS_MASTER' };
  } else {
    server.state.addMount(`m${run}`, 2);
    store = { name: 'target', type: 'vault', vault_url: server.url, vault_mount_point: `m${run}` };
  }
  const accounts = Array.from({ length: ACCOUNTS }, (_, index) => ({ name: `acct-${index}`, password: encryptLocalPassword(password(index, run), KEY) }));
  const config = join(dir, 'secretbind.json');
  writeFileSync(config, `${JSON.stringify({ stores: [store], bindings: [], accounts }, null, 2)}\n`);
  return { dir, config, journal: join(dir, 'journal.jsonl'), kdbx: store.kdbx_path as string | undefined, mount: `m${run}` };
}

const ENV = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', CRYPTOGRAPHY_KEY: KEY, KEEPASS_MASTER: MASTER, VAULT_TOKEN: token });

async function writesPerEntry(target: Target, world: ReturnType<typeof arrange>): Promise<number[]> {
  if (target === 'vault') return Array.from({ length: ACCOUNTS }, (_, index) => [...server.state.mounts.entries()].find(([name]) => name.endsWith(world.mount))![1].secrets.get(`Migrated/acct-${index}`)?.length ?? 0);
  const db = await kdbxweb.Kdbx.load(new Uint8Array(readFileSync(world.kdbx!)).buffer, new kdbxweb.Credentials(kdbxweb.ProtectedValue.fromString(MASTER)));
  const group = db.getDefaultGroup().groups.find((candidate) => candidate.name === 'Migrated');
  return Array.from({ length: ACCOUNTS }, (_, index) => {
    const entry = group?.entries.find((candidate) => candidate.fields.get('Title') === `acct-${index}`);
    return entry ? 1 + entry.history.length : 0;
  });
}

describe('Migration: `secretbind migrate` killed at random points', () => {
  for (const target of ['keepass', 'vault'] as const) {
    it(`${target}: resumes to every original password, each entry written once (${RUNS} kills)`, { timeout: 240_000 }, async () => {
      // How long an uninterrupted run takes here: kills are spread over that time, on a slow machine as on a fast one.
      const calibration = arrange(target, 1000);
      const calibrating = fork(CHILD, ['migrate', '--config', calibration.config, '--to', 'target', '--entry', 'Migrated/{{ .Account }}', '--clear-local', '--journal', calibration.journal], { execArgv: ['--import', 'tsx'], env: ENV(), stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      const duration = await new Promise<number>((resolve) => {
        let started = 0;
        calibrating.on('message', (message) => (message === 'ready' ? (started = performance.now()) : resolve(performance.now() - started)));
      });
      let killedMidway = 0;
      for (let run = 0; run < RUNS; run++) {
        const world = arrange(target, run);
        const args = ['migrate', '--config', world.config, '--to', 'target', '--entry', 'Migrated/{{ .Account }}', '--clear-local', '--journal', world.journal];
        const child = fork(CHILD, args, { execArgv: ['--import', 'tsx'], env: ENV(), stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        let done = false;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.on('message', (message) => void (String(message).startsWith('done') && (done = true)));
        await new Promise<void>((resolve) => child.once('message', () => resolve()));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * duration));
        child.kill('SIGKILL');
        await exited;
        if (!done) killedMidway++;

        // At the kill: no account without a readable local password or a verified, bound entry.
        const config = JSON.parse(readFileSync(world.config, 'utf8')) as { accounts: Account[]; bindings: Array<{ account: string }> };
        const journal = (() => {
          try {
            return readFileSync(world.journal, 'utf8');
          } catch {
            return '';
          }
        })();
        for (const account of config.accounts) {
          if (account.password) continue;
          expect(config.bindings.some((binding) => binding.account === account.name)).toBe(true);
          expect(journal).toMatch(new RegExp(`"account":"${account.name}","step":"verified"`));
        }

        let status = 0;
        const io = { stdout: () => {}, stderr: (text: string) => void process.stderr.write(text), readSecret: async () => '', env: ENV(), stderrIsTerminal: false };
        status = await main([...args, '--resume'], io);
        expect(status).toBe(0);

        const final = JSON.parse(readFileSync(world.config, 'utf8')) as { stores: never[]; bindings: never[]; accounts: Account[] };
        expect(final.accounts.every((account) => account.password === null)).toBe(true);
        const repository = MemoryBindingRepository.fromConfig(final);
        const resolver = createSecretResolver({ repository, providers: [keepass({ env: ENV() }), vault({ env: ENV() })], cryptographyKey: KEY });
        const resolved = await resolver.resolvePasswords(final.accounts);
        await resolver.close();
        expect(final.accounts.map((account) => { const result = resolved.get(account.name); return result?.ok ? result.value : result?.error.code; })).toEqual(Array.from({ length: ACCOUNTS }, (_, index) => password(index, run)));
        expect(await writesPerEntry(target, world)).toEqual(Array.from({ length: ACCOUNTS }, () => 1));
      }
      expect(killedMidway).toBeGreaterThan(RUNS / 3);
    });
  }
});
