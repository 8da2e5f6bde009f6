/** File writes and locks shared by the file-backed stores (keepass, dotenv): the lock's takeover and the rewrite's ownership. */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from 'secretbind';

const RACER = fileURLToPath(new URL('./lock-racer.ts', import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** A pid that is no running process: one that just exited. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(result.stdout);
}

describe('Locks: two writers meeting a stale lock both take it over (regression)', () => {
  it('loses no write in 200 rounds of 4 writers racing a stale lock', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-lock-race-'));
    const path = join(dir, 'target.txt');
    const writers = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (id) => {
        const child = fork(RACER, [path, id], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        children.push(child);
        await new Promise<void>((resolve) => child.once('message', () => resolve()));
        return child;
      }),
    );
    const stale = deadPid();
    const lost: string[] = [];
    for (let round = 0; round < 200; round++) {
      writeFileSync(path, '');
      writeFileSync(`${path}.lock`, `${stale}\n`);
      const done = writers.map((child) => new Promise<unknown>((resolve) => child.once('message', resolve)));
      for (const child of writers) child.send('go');
      const answers = await Promise.all(done);
      expect(answers).toEqual(['done', 'done', 'done', 'done']);
      const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean).sort();
      if (lines.join() !== 'a,b,c,d') lost.push(`round ${round}: ${lines.join()}`);
    }
    expect(lost).toEqual([]);
  });
});

describe('Files: an atomic rewrite keeps the mode but not the group (regression)', () => {
  // chown to another owner needs root; CI and the developer machines run as root. As another user this fails, said so.
  const asRoot = process.getuid?.() === 0;

  it('keeps the owner and group of the file it replaces', async () => {
    expect(asRoot, 'this test needs root (to hand files to other users)').toBe(true);
    const path = join(mkdtempSync(join(tmpdir(), 'secretbind-owner-')), 'app.env');
    writeFileSync(path, 'A=1\n');
    chownSync(path, 4242, 4343);
    chmodSync(path, 0o640);
    await writeFileAtomic(path, 'A=2\n');
    const info = statSync(path);
    expect([info.uid, info.gid, info.mode & 0o7777, readFileSync(path, 'utf8')]).toEqual([4242, 4343, 0o640, 'A=2\n']);
  });

  it('as a member of the file\'s group keeps the group; as a stranger to it refuses and leaves the file as it was', () => {
    expect(asRoot, 'this test needs root (to run writers as other users)').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-group-'));
    chmodSync(dir, 0o777);
    const write = (path: string, groups: number[]) => {
      // The library loads first, as root: CI's clone sits in a folder only root may enter.
      const script = `const { writeFileAtomic } = await import('secretbind');
        process.setgroups(${JSON.stringify(groups)}); process.setgid(65534); process.setuid(65534);
        try { await writeFileAtomic(${JSON.stringify(path)}, 'A=2\\n'); console.log('ok'); } catch (error) { console.log(error.code, error.message); }`;
      return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) }).stdout.trim();
    };
    const member = join(dir, 'member.env');
    writeFileSync(member, 'A=1\n');
    chownSync(member, 0, 4343);
    chmodSync(member, 0o660);
    expect(write(member, [4343])).toBe('ok');
    expect([statSync(member).uid, statSync(member).gid, statSync(member).mode & 0o777, readFileSync(member, 'utf8')]).toEqual([65534, 4343, 0o660, 'A=2\n']);

    const stranger = join(dir, 'stranger.env');
    writeFileSync(stranger, 'A=1\n');
    chownSync(stranger, 65534, 4343);
    chmodSync(stranger, 0o640);
    const answer = write(stranger, []);
    expect(answer).toMatch(/^PERMISSION_DENIED Cannot rewrite .*stranger\.env keeping its group \(gid 4343\)/);
    expect([statSync(stranger).gid, readFileSync(stranger, 'utf8')]).toEqual([4343, 'A=1\n']);
  });
});
