/**
 * A child running a sync pass is killed at random points; the next pass must converge: every destination entry holds
 * its source value, and the pass after that writes nothing (no duplicate write, nothing missing).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenvPackage from 'dotenv';
import { describe, expect, it } from 'vitest';
import { createSyncEngine, JsonFileSyncState, MemoryBindingRepository } from 'secretbind';
import { dotenv } from '../../providers/dotenv/index.js';

const KILLS = 30;

describe('Sync: a pass killed at random points', () => {
  it(`converges on the next pass with no duplicate or missing write (${KILLS} kills)`, { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-sync-crash-'));
    const source = join(dir, 'source.env');
    const destination = join(dir, 'destination.env');
    const statePath = join(dir, 'state.json');
    writeFileSync(destination, '');
    const keys = Array.from({ length: 20 }, (_, index) => `KEY_${index}`);
    const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'dotenv', dotenv_path: source }).putStore({ name: 'dst', type: 'dotenv', dotenv_path: destination });
    const definitions = [{ name: 'copy', source: 'src', entries: keys, destination: 'dst', name_template: 'COPY_{{ .SecretPath }}' }];
    let killedMidway = 0;
    for (let round = 0; round < KILLS; round++) {
      // Each round changes some source values, so the killed pass had real work.
      writeFileSync(source, keys.map((key, index) => `${key}=value-${index}-${index % 3 === round % 3 ? round : 0}`).join('\n') + '\n');
      const child = fork(fileURLToPath(new URL('./crash-child.ts', import.meta.url)), [source, destination, statePath], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      let done = false;
      const exited = new Promise((resolve) => child.once('exit', resolve)); // it may finish before the kill
      child.on('message', (message) => void (message === 'done' && (done = true)));
      await new Promise<void>((resolve) => child.once('message', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 60));
      child.kill('SIGKILL');
      await exited;
      if (!done) killedMidway++;
      // The next pass converges...
      const engine = createSyncEngine({ repository, providers: [dotenv()], definitions, state: new JsonFileSyncState(statePath) });
      const converging = await engine.run();
      expect(converging.every((item) => item.outcome === 'done'), JSON.stringify(converging.filter((item) => item.outcome !== 'done'))).toBe(true);
      const sourceValues = dotenvPackage.parse(readFileSync(source, 'utf8'));
      const copied = dotenvPackage.parse(readFileSync(destination, 'utf8'));
      for (const key of keys) expect(copied[`COPY_${key}`]).toBe(sourceValues[key]);
      // ...and the one after it has nothing left to write.
      const settled = await createSyncEngine({ repository, providers: [dotenv()], definitions, state: new JsonFileSyncState(statePath) }).run();
      expect(settled.every((item) => item.action === 'unchanged'), JSON.stringify(settled.filter((item) => item.action !== 'unchanged'))).toBe(true);
    }
    expect(killedMidway).toBeGreaterThan(0);
  });
});
