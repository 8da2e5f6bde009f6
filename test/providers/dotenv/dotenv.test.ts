import { execFileSync, fork } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenvPackage from 'dotenv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretStore } from 'secretbind';
import { dotenv } from '../../../providers/dotenv/index.js';
import { formatBinding, parseDotenv } from '../../../providers/dotenv/parse.js';
import { describeProvider } from '../../conformance/provider.js';
import { describeWritableProvider } from '../../conformance/writes.js';
import { failure, KillWindow, watchWriter } from '../../helpers.js';

const SAMPLE = [
  '# database settings',
  'DB_USER=automation',
  'DB_PASSWORD="Ch3ck-MK!prod#2026" # managed-by: ops-tool',
  '',
  "export API_KEY='s3cr3t key'",
  'CANARY=canary-dotenv-8a1f2c',
  'MULTI="line one\\nline two"',
  'DB_USER=overridden',
].join('\n');

function fileWith(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'secretbind-dotenv-')), '.env');
  writeFileSync(path, text);
  return path;
}

const storeFor = (path: string): SecretStore => ({ name: 'env-file', type: 'dotenv', dotenv_path: path });

describeProvider({
  name: 'dotenv',
  capabilities: { bulk: true, check: true, hang: true },
  setup: () => {
    const path = fileWith(SAMPLE);
    return {
    provider: dotenv(),
    store: storeFor(path),
    // A read that really blocks: the path is a FIFO with no writer when the lookup opens it. The file is back at the
    // path 50 ms later (the blocked read keeps the FIFO), and the FIFO is released well after the deadline.
    hang: () => {
      renameSync(path, `${path}.saved`);
      execFileSync('mkfifo', [path]);
      setTimeout(() => {
        renameSync(path, `${path}.fifo`);
        renameSync(`${path}.saved`, path);
      }, 50);
      setTimeout(() => {
        closeSync(openSync(`${path}.fifo`, constants.O_WRONLY | constants.O_NONBLOCK)); // the blocked read sees end of file
        rmSync(`${path}.fifo`);
      }, 1000);
      return 'API_KEY';
    },
    known: { reference: 'API_KEY', value: 's3cr3t key' },
    knownField: { reference: 'DB_USER', value: 'overridden' },
    missingEntry: 'NOT_THERE',
    missingField: 'DB_USER#nope',
    badStores: [{ name: 'env-file', type: 'dotenv' }, { name: 'env-file', type: 'dotenv', dotenv_path: '' }],
    canary: { reference: 'CANARY', value: 'canary-dotenv-8a1f2c', missingFieldReference: 'CANARY#x' },
    };
  },
});

describeWritableProvider({
  name: 'dotenv',
  capabilities: { pageSize: 0, objectFields: false, guarded: true },
  setup: () => {
    const path = fileWith('# written by the conformance suite\nFOREIGN_BASE=1\n');
    return {
      provider: dotenv(),
      store: storeFor(path),
      seedForeign: (name, value) => writeFileSync(path, `${readFileSync(path, 'utf8')}${name}='${value}'\n`),
      names: ['Conformance_Name_With_Digits_123', '_LEADING_UNDERSCORE'],
      invalidNames: [
        ['with space', '[A-Za-z_][A-Za-z0-9_]*'],
        ['a/b', '[A-Za-z_][A-Za-z0-9_]*'],
        ['9STARTS_WITH_DIGIT', '[A-Za-z_][A-Za-z0-9_]*'],
        ['HASH\\#KEY', '[A-Za-z_][A-Za-z0-9_]*'],
        ['pässwörd', '[A-Za-z_][A-Za-z0-9_]*'],
      ],
      prefix: 'CONFORMANCE_',
    };
  },
});

describe('Provider: dotenv reads as the dotenv package does', () => {
  const asMap = (text: string) => Object.fromEntries(parseDotenv(text).map((binding) => [binding.key, binding.value]));

  it.each([
    ['unquoted with a comment', 'A=plain value # comment'],
    ['double quotes expand \\n and \\r', 'A="x\\ny\\rz"'],
    ['single quotes keep everything', "A='x\\ny # not a comment'"],
    ['backticks span lines', 'A=`one\ntwo`'],
    ['double quotes span lines', 'A="one\ntwo"'],
    ['export and a colon separator', 'export A=1\nB: 2'],
    ['a quote that never closes', 'A="open'],
    ['junk after a quoted value', "A='q'x'"],
    ['empty values', 'A=\nB=""\nC=#comment'],
    ['later keys win', 'A=1\nA=2'],
    ['keys with dots and dashes', 'a.b-c=1'],
    ['Windows line ends', 'A=1\r\nB="2"\r\n'],
    ['escaped quotes stay escaped', 'A="say \\"hi\\""'],
  ])('%s', (_, text) => {
    expect(asMap(text)).toEqual(dotenvPackage.parse(text));
  });

  it('agrees with the dotenv package on generated files (property)', () => {
    const piece = fc.constantFrom('A', 'B_2', 'x.y', '=', ': ', ' ', '\t', '"', "'", '`', '#', '\\n', '\\', 'value', 'ü', '\n', 'export ', '# c');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        const text = pieces.join('');
        expect(asMap(text)).toEqual(dotenvPackage.parse(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('formats any value so that the dotenv package reads it back exactly, or refuses it (property)', () => {
    const refused: string[] = [];
    const text = fc.string({ unit: fc.constantFrom('a', ' ', '"', "'", '`', '#', '\\', 'n', 'r', '\n', 'é', '=') });
    fc.assert(
      fc.property(text, (value) => {
        const line = formatBinding('KEY', value, 'secretbind');
        if (line === undefined) {
          refused.push(value);
          return;
        }
        expect(dotenvPackage.parse(line)).toEqual({ KEY: value });
      }),
      { numRuns: 3000 },
    );
    // What no quoting holds: both ' and ` and, against double quotes, a " or a literal \n or \r (which they expand).
    for (const value of refused) expect(value.includes("'") && value.includes('`') && (value.includes('"') || /\\[nr]/.test(value)), JSON.stringify(value)).toBe(true);
  });
});

describe('Provider: dotenv writes', () => {
  function setup(text: string) {
    const path = fileWith(text);
    const repository = new MemoryBindingRepository().putStore(storeFor(path));
    const resolver = createSecretResolver({ repository, providers: [dotenv()], cryptographyKey: [] });
    return { path, resolver };
  }

  it('keeps comments, blank lines and the order of other keys, and replaces only the written line', async () => {
    const { path, resolver } = setup('# header\n\nKEEP=1\nOWNED=old # managed-by: secretbind\n# footer\nLAST=2\n');
    await resolver.writeEntry('env-file', 'OWNED', 'new value');
    await resolver.writeEntry('env-file', 'ADDED', 'x');
    expect(readFileSync(path, 'utf8')).toBe("# header\n\nKEEP=1\nOWNED='new value' # managed-by: secretbind\n# footer\nLAST=2\nADDED='x' # managed-by: secretbind\n");
  });

  it('creates a missing file with mode 0600 and keeps an existing file mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-dotenv-'));
    const path = join(dir, '.env');
    const repository = new MemoryBindingRepository().putStore(storeFor(path));
    const resolver = createSecretResolver({ repository, providers: [dotenv()], cryptographyKey: [] });
    await resolver.writeEntry('env-file', 'NEW_KEY', 'v');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const shared = fileWith('A=1\n');
    const { chmodSync } = await import('node:fs');
    chmodSync(shared, 0o640);
    const other = createSecretResolver({ repository: new MemoryBindingRepository().putStore(storeFor(shared)), providers: [dotenv()], cryptographyKey: [] });
    await other.writeEntry('env-file', 'B', '2');
    expect(statSync(shared).mode & 0o777).toBe(0o640);
  });

  it('removes every binding of an owned key, leaving the rest of the file alone', async () => {
    const { path, resolver } = setup('A=1 # managed-by: secretbind\nB=2\nA=3 # managed-by: secretbind\n');
    await resolver.removeEntry('env-file', 'A');
    expect(readFileSync(path, 'utf8')).toBe('B=2\n');
  });

  it('refuses to remove a key when an earlier duplicate is not ours', async () => {
    const { path, resolver } = setup('A=theirs\nA=ours # managed-by: secretbind\n');
    expect((await failure(resolver.removeEntry('env-file', 'A'))).code).toBe('ENTRY_NOT_OWNED');
    expect(readFileSync(path, 'utf8')).toBe('A=theirs\nA=ours # managed-by: secretbind\n');
  });

  it('serialises concurrent writers in one process: every write lands', async () => {
    const { path, resolver } = setup('');
    await Promise.all(Array.from({ length: 40 }, (_, index) => resolver.writeEntry('env-file', `KEY_${index}`, `value-${index}`)));
    const parsed = dotenvPackage.parse(readFileSync(path, 'utf8'));
    expect(Object.keys(parsed)).toHaveLength(40);
    for (let index = 0; index < 40; index++) expect(parsed[`KEY_${index}`]).toBe(`value-${index}`);
  });

  it('leaves the old or the new file when the writing process is killed at a random point (30 kills)', { timeout: 120_000 }, async () => {
    const path = fileWith('KEEP=unchanged\n');
    const worker = fileURLToPath(new URL('./writer.ts', import.meta.url));
    const seen = new Set<string>();
    const window = new KillWindow(40);
    for (let round = 0; round < 30; round++) {
      const child = fork(worker, [path, String(round)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      const writer = watchWriter(child);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await writer.ready;
      await new Promise((resolve) => setTimeout(resolve, window.delay()));
      child.kill('SIGKILL');
      await exited;
      window.observe(writer.firstWriteMs());
      const parsed = dotenvPackage.parse(readFileSync(path, 'utf8'));
      expect(parsed.KEEP).toBe('unchanged');
      seen.add(parsed.COUNTER ?? 'none');
      // Every COUNTER value is one a writer wrote whole: round-index, nothing torn.
      if (parsed.COUNTER !== undefined) expect(parsed.COUNTER).toMatch(/^\d+-\d+-padding-x{200}$/);
    }
    // A later writer still gets the lock a killed one left behind.
    const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(storeFor(path)), providers: [dotenv()], cryptographyKey: [] });
    await resolver.writeEntry('env-file', 'COUNTER', 'final', { adopt: true });
    expect(dotenvPackage.parse(readFileSync(path, 'utf8')).COUNTER).toBe('final');
    expect(seen.size).toBeGreaterThan(1);
  });
});
