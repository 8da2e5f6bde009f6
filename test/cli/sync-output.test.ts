/** `secretbind sync` in text mode says what stopped a pass and how to confirm it (review issue item 18). */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), readSecret: async () => '', env: {}, stderrIsTerminal: false });
  return { status, stdout, stderr };
}

describe('Command: sync shows a DELETE_GUARD row without its reason or the count to confirm (regression)', () => {
  it('prints the reason and the exact command that confirms the removals, then that command removes them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-guard-'));
    const source = join(dir, 'source.env');
    const destination = join(dir, 'destination.env');
    writeFileSync(source, 'A=1\nB=2\nC=3\n');
    writeFileSync(destination, '');
    const config = join(dir, 'secretbind.json');
    writeFileSync(config, JSON.stringify({ stores: [{ name: 'src', type: 'dotenv', dotenv_path: source }, { name: 'dst', type: 'dotenv', dotenv_path: destination }], bindings: [], sync: [{ name: 'copy', source: 'src', entries: ['A', 'B', 'C'], destination: 'dst', name_template: 'COPY_{{ .SecretPath }}', max_deletes: 1 }] }));
    expect((await run(['sync', '--config', config])).status).toBe(0);
    writeFileSync(source, 'A=1\n');
    const guarded = await run(['sync', '--config', config]);
    expect(guarded.status).toBe(1);
    expect(guarded.stdout).toMatch(/COPY_B\s+error\s+CLIENT_SIDE_ERROR\s+DELETE_GUARD/);
    expect(guarded.stdout).toContain('copy: nothing was removed (DELETE_GUARD): this pass would remove 2 entries, more than max_deletes (1).');
    const line = /confirm with: (secretbind sync .*)$/m.exec(guarded.stdout)?.[1];
    expect(line).toBe(`secretbind sync --config ${config} --only copy --allow-deletes 2`);
    expect(readFileSync(destination, 'utf8')).toContain('COPY_B');
    const confirmed = await run(line!.split(' ').slice(1));
    expect(confirmed.status).toBe(0);
    expect(readFileSync(destination, 'utf8')).not.toMatch(/COPY_B|COPY_C/);
  });
});
