/** `secretbind sync --watch`: passes on an interval, health on --listen, SIGHUP reloads (a bad config is kept out), SIGTERM stops cleanly, a second signal exits at once. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function files() {
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-cli-watch-'));
  writeFileSync(join(dir, 'source.env'), 'DB_PASSWORD=watch-canary-1\n');
  writeFileSync(join(dir, 'dest.env'), '');
  const config = join(dir, 'secretbind.yaml');
  const write = (definitions: string[]) =>
    writeFileSync(config, ['stores:', `  - { name: source, type: dotenv, dotenv_path: ${join(dir, 'source.env')} }`, `  - { name: dest, type: dotenv, dotenv_path: ${join(dir, 'dest.env')} }`, 'bindings: []', 'sync:', ...definitions, ''].join('\n'));
  write(['  - { name: copy, source: source, entries: [DB_PASSWORD], destination: dest, name_template: "COPY_{{ .SecretPath }}" }']);
  return { dir, config, write };
}

function daemon(argv: string[]) {
  let stderr = '';
  let handler: ((signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP') => void) | undefined;
  const exits: number[] = [];
  const finished = main(argv, {
    stdout: () => {},
    stderr: (text) => void (stderr += text),
    readSecret: async () => '',
    env: {},
    stderrIsTerminal: false,
    onSignal: (listener) => {
      handler = listener;
      return () => (handler = undefined);
    },
    exit: (code) => void exits.push(code),
  });
  return { finished, signal: (name: 'SIGTERM' | 'SIGINT' | 'SIGHUP') => handler!(name), stderr: () => stderr, exits };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await sleep(20);
  }
}

describe('Command: sync --watch', () => {
  it('runs passes, serves health, reloads on SIGHUP (refusing a bad config), and exits 0 on SIGTERM after saving state', async () => {
    const { dir, config, write } = files();
    const run = daemon(['sync', '--watch', '--config', config, '--interval', '200ms', '--listen', '127.0.0.1:0', '--log-format', 'json']);
    await until(() => run.stderr().includes('Sync pass finished'));
    const lines = run.stderr().trim().split('\n').map((line) => JSON.parse(line) as { message?: string; detail?: { url?: string } });
    const url = lines.find((line) => line.message === 'Listening')!.detail!.url!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(readFileSync(join(dir, 'dest.env'), 'utf8')).toContain('COPY_DB_PASSWORD=');

    writeFileSync(config, 'stores: [');
    run.signal('SIGHUP');
    await until(() => run.stderr().includes('Reload refused'));
    write([
      '  - { name: copy, source: source, entries: [DB_PASSWORD], destination: dest, name_template: "COPY_{{ .SecretPath }}" }',
      '  - { name: again, source: source, entries: [DB_PASSWORD], destination: dest, name_template: "AGAIN_{{ .SecretPath }}" }',
    ]);
    run.signal('SIGHUP');
    await until(() => run.stderr().includes('Configuration reloaded'));
    await until(() => readFileSync(join(dir, 'dest.env'), 'utf8').includes('AGAIN_DB_PASSWORD='));

    run.signal('SIGTERM');
    expect(await run.finished).toBe(0);
    expect(run.exits).toEqual([]);
    expect(run.stderr()).toContain('"message":"Stopped"');
    expect(JSON.parse(readFileSync(join(dir, 'secretbind.sync-state.json'), 'utf8')).associations.map((record: { entry: string }) => record.entry).sort()).toEqual(['AGAIN_DB_PASSWORD', 'COPY_DB_PASSWORD']);
    expect(run.stderr()).not.toContain('watch-canary');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('exits at once on a second signal during shutdown', async () => {
    const { config } = files();
    const run = daemon(['sync', '--watch', '--config', config, '--interval', '200ms']);
    await until(() => run.stderr().includes('Sync pass finished'));
    run.signal('SIGINT');
    run.signal('SIGINT');
    expect(run.exits).toEqual([130]);
    expect(await run.finished).toBe(0);
  });

  it('refuses bad daemon options with exit 2', async () => {
    const { config } = files();
    for (const [args, message] of [
      [['--interval', 'soon'], '--interval: expected a duration'],
      [['--jitter', '150%'], '--jitter'],
      [['--leader-elect'], '--lease NAMESPACE/NAME'],
      [['--dry-run'], 'exclude each other'],
    ] as const) {
      let stderr = '';
      const status = await main(['sync', '--watch', '--config', config, ...args], { stdout: () => {}, stderr: (text) => void (stderr += text), readSecret: async () => '', env: {}, stderrIsTerminal: false, onSignal: () => () => {} });
      expect(status, stderr).toBe(2);
      expect(stderr).toContain(message);
    }
  });
});
