#!/usr/bin/env node
/**
 * The `secretbind` executable: wires the command line to the real process. It starts fast: Node's module compile
 * cache is switched on before anything else loads (Node >= 22.1), `--help` is answered without loading the library,
 * and the command imports only the provider entry points its configuration uses.
 */
import nodeModule from 'node:module';
import { HELP } from './help.js';

(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

/** Reads stdin to its end; on a terminal, prompts and reads one line without echo. */
function readSecret(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
      stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      stdin.on('error', reject);
    });
  }
  process.stderr.write('Password: ');
  return new Promise((resolve, reject) => {
    let typed = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const onData = (text: string): void => {
      for (const char of text) {
        if (char === '\r' || char === '\n') {
          finish();
          return resolve(typed);
        }
        if (char === '\u0003') {
          finish();
          return reject(Object.assign(new Error('interrupted'), { code: 'ABORT_ERR' }));
        }
        typed = char === '\u007f' || char === '\b' ? typed.slice(0, -1) : typed + char;
      }
    };
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

const argv = process.argv.slice(2);
if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
  process.stdout.write(`${HELP.main}\n`);
} else {
  const { main } = await import('./main.js');
  process.exitCode = await main(argv, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readSecret,
    env: process.env,
    stderrIsTerminal: Boolean(process.stderr.isTTY),
    onSignal(handler) {
      const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
      const listeners = signals.map((signal) => [signal, () => handler(signal)] as const);
      for (const [signal, listener] of listeners) process.on(signal, listener);
      return () => {
        for (const [signal, listener] of listeners) process.off(signal, listener);
      };
    },
    exit: (code) => process.exit(code),
  });
}
