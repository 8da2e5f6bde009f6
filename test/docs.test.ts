/**
 * The docs cannot drift from the code: the reference pages list exactly what the code knows (error codes, store
 * fields, metrics, command flags), every relative link and anchor in the README, CONTRIBUTING.md and docs/ resolves,
 * and the README stays short and keeps its two commands.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_STORE_TYPES, createSyncMetrics, ERROR_CODES } from 'secretbind';
import { HELP } from '../src/cli/help.js';
import { STORE_FIELDS } from '../src/stores/fields.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

function markdownUnder(folder: string): string[] {
  return readdirSync(join(root, folder)).flatMap((name) => {
    const path = `${folder}/${name}`;
    return statSync(join(root, path)).isDirectory() ? markdownUnder(path) : name.endsWith('.md') ? [path] : [];
  });
}

const DOCS = markdownUnder('docs').sort();
const LINKED = ['README.md', 'CONTRIBUTING.md', ...DOCS];

/** The text with fenced code blocks blanked out (line count kept), so their `#` lines and `[x](y)` are not markdown. */
function withoutFences(text: string): string {
  let fenced = false;
  return text
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return '';
      }
      return fenced ? '' : line;
    })
    .join('\n');
}

/** Level-2 sections: heading text (as written) to the text up to the next level-2 heading. */
function sections(text: string): Map<string, string> {
  const found = new Map<string, string>();
  let current: string | undefined;
  let body: string[] = [];
  const close = () => {
    if (current !== undefined) found.set(current, body.join('\n'));
  };
  for (const line of withoutFences(text).split('\n')) {
    const heading = /^## (.+?)\s*$/.exec(line);
    if (heading) {
      close();
      current = heading[1]!;
      body = [];
    } else body.push(line);
  }
  close();
  return found;
}

/** Like sections(), but code blocks kept: command usage lines live in them. */
function sectionsWithCode(text: string): Map<string, string> {
  const headings = [...sections(text).keys()];
  const lines = text.split('\n');
  const plain = withoutFences(text).split('\n');
  const found = new Map<string, string>();
  let current: string | undefined;
  let body: string[] = [];
  lines.forEach((line, index) => {
    const heading = /^## (.+?)\s*$/.exec(plain[index]!);
    if (heading && headings.includes(heading[1]!)) {
      if (current !== undefined) found.set(current, body.join('\n'));
      current = heading[1]!;
      body = [];
    } else body.push(line);
  });
  if (current !== undefined) found.set(current, body.join('\n'));
  return found;
}

/** The cells of every table row outside code blocks, separator rows left out; `\|` stays inside its cell. */
function tableRows(text: string): string[][] {
  return withoutFences(text)
    .split('\n')
    .filter((line) => line.trimStart().startsWith('|') && !/^\s*\|[\s:|-]+\|\s*$/.test(line))
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

/** The `code` spans of a cell. */
const codeSpans = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);

const sorted = (values: Iterable<string>): string[] => [...values].sort();

/** Long flags in a text: `--json`, `--if-version`. */
const flagsIn = (text: string): Set<string> => new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((match) => match[0]));

/** GitHub's heading anchors for a markdown file, duplicates numbered as GitHub does. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of withoutFences(text).split('\n')) {
    const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Every inline link target of a markdown file, outside code blocks and code spans. */
function linksOf(text: string): string[] {
  const prose = withoutFences(text).replace(/`[^`\n]*`/g, 'code');
  return [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!);
}

describe('docs/reference/errors.md', () => {
  const documented = tableRows(read('docs/reference/errors.md'))
    .filter((cells) => /^`[A-Z][A-Z_]*`$/.test(cells[0] ?? ''))
    .map((cells) => ({ code: codeSpans(cells[0]!)[0]!, meaning: cells[1] ?? '', todo: cells[2] ?? '' }));

  it.each([...ERROR_CODES])('documents %s: what it means and what to do', (code) => {
    const rows = documented.filter((row) => row.code === code);
    expect(rows, `${code} needs exactly one row in docs/reference/errors.md`).toHaveLength(1);
    expect(rows[0]!.meaning).not.toBe('');
    expect(rows[0]!.todo).not.toBe('');
  });

  it('documents no code that ERROR_CODES does not have', () => {
    expect(documented.map((row) => row.code).filter((code) => !(ERROR_CODES as readonly string[]).includes(code))).toEqual([]);
  });
});

describe('docs/reference/store-fields.md', () => {
  const page = sections(read('docs/reference/store-fields.md'));
  const typeSections = new Map([...page].flatMap(([heading, body]) => (/^`[a-z_]+`$/.test(heading) ? [[heading.slice(1, -1), body] as const] : [])));
  const fieldsIn = (body: string): string[] => tableRows(body).flatMap((cells) => codeSpans(cells[0] ?? ''));

  it('has the validator table for exactly the built-in store types', () => {
    expect(sorted(BUILT_IN_STORE_TYPES)).toEqual(sorted(Object.keys(STORE_FIELDS)));
  });

  it.each([...BUILT_IN_STORE_TYPES])('documents every field of %s under its own heading, and no other', (type) => {
    const body = typeSections.get(type);
    expect(body, `docs/reference/store-fields.md needs a section "## \`${type}\`"`).toBeDefined();
    const documented = fieldsIn(body!);
    expect(documented.length, `a field of ${type} is documented twice`).toBe(new Set(documented).size);
    expect(sorted(documented)).toEqual(sorted(Object.keys(STORE_FIELDS[type]!)));
  });

  it('has a section for no store type the code does not know', () => {
    expect([...typeSections.keys()].filter((type) => !BUILT_IN_STORE_TYPES.includes(type))).toEqual([]);
  });
});

describe('store type READMEs', () => {
  const providerFolders = readdirSync(join(root, 'providers')).filter((name) => statSync(join(root, 'providers', name)).isDirectory());

  it('has one provider folder, with a README, for each built-in store type', () => {
    expect(sorted(providerFolders)).toEqual(sorted(BUILT_IN_STORE_TYPES));
    for (const type of providerFolders) expect(existsSync(join(root, 'providers', type, 'README.md')), type).toBe(true);
  });

  it.each(['README.md', 'docs/README.md', 'docs/stores.md'])('%s links every store type\'s README', (file) => {
    const base = dirname(join(root, file));
    const targets = new Set(linksOf(read(file)).map((link) => relative(root, resolve(base, link.split('#')[0]!))));
    expect(BUILT_IN_STORE_TYPES.filter((type) => !targets.has(`providers/${type}/README.md`))).toEqual([]);
  });
});

describe('docs/reference/metrics.md', () => {
  type Declared = { name: string; type: string; labels: string[] };

  /** prom-client, with each metric's constructor recording what the code declares: name, type and labels. */
  async function declaredMetrics(): Promise<{ declared: Declared[]; exposed: Map<string, string> }> {
    const prom = (await import('prom-client')) as unknown as { default?: Record<string, unknown> } & Record<string, unknown>;
    const real = (prom.default ?? prom) as Record<string, unknown>;
    const declared: Declared[] = [];
    const recording = (type: string, constructor: unknown) =>
      new Proxy(constructor as new (...args: unknown[]) => object, {
        construct(target, args: unknown[]) {
          const options = args[0] as { name: string; labelNames?: readonly string[] };
          declared.push({ name: options.name, type, labels: [...(options.labelNames ?? [])] });
          return Reflect.construct(target, args) as object;
        },
      });
    const lib = { ...real, Gauge: recording('gauge', real.Gauge), Counter: recording('counter', real.Counter), Histogram: recording('histogram', real.Histogram), Summary: recording('summary', real.Summary) };
    const metrics = await createSyncMetrics({ lib });
    const exposed = new Map([...(await metrics.metrics()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1]!, match[2]!] as const));
    return { declared, exposed };
  }

  const documented = tableRows(read('docs/reference/metrics.md'))
    .filter((cells) => /^`[a-z_:]+`$/.test(cells[0] ?? ''))
    .map((cells) => ({ name: codeSpans(cells[0]!)[0]!, type: cells[1] ?? '', labels: codeSpans(cells[2] ?? '') }));

  it('documents every metric the daemon exports, with its type and labels, and no other', async () => {
    const { declared, exposed } = await declaredMetrics();
    // What the registry serves is what was declared: no metric made some other way escapes the check.
    expect(sorted(exposed.keys())).toEqual(sorted(declared.map((metric) => metric.name)));
    for (const metric of declared) expect(exposed.get(metric.name), metric.name).toBe(metric.type);
    const byName = (metrics: Declared[]) => [...metrics].map((metric) => ({ ...metric, labels: sorted(metric.labels) })).sort((a, b) => a.name.localeCompare(b.name));
    expect(byName(documented)).toEqual(byName(declared));
  });

  it('lists each metric once', () => {
    expect(documented.length).toBe(new Set(documented.map((metric) => metric.name)).size);
  });
});

describe('docs/command.md', () => {
  const text = read('docs/command.md');
  const commands = Object.keys(HELP).filter((command) => command !== 'main');
  const global = flagsIn(/Every command takes ([^.]*)\./.exec(HELP.main!)?.[1] ?? '');
  const bySection = new Map([...sectionsWithCode(text)].flatMap(([heading, body]) => {
    const match = /^`secretbind ([a-z-]+)`$/.exec(heading);
    return match ? [[match[1]!, body] as const] : [];
  }));

  it('knows the flags every command takes', () => {
    expect(sorted(global)).toEqual(['--help', '--json']);
  });

  it.each(commands)('documents every flag the help of %s prints, each in its section\'s flag table, and no flag it does not know', (command) => {
    const body = bySection.get(command);
    expect(body, `docs/command.md needs a section "## \`secretbind ${command}\`"`).toBeDefined();
    const explained = new Set(tableRows(body!).flatMap((cells) => [...flagsIn(cells[0] ?? '')]));
    const known = flagsIn(HELP[command]!);
    expect(sorted(known).filter((flag) => !explained.has(flag) && !global.has(flag))).toEqual([]);
    expect(sorted(flagsIn(body!)).filter((flag) => !known.has(flag) && !global.has(flag))).toEqual([]);
  });

  it('has a section for no command the help does not know, and names no flag the help does not know', () => {
    expect([...bySection.keys()].filter((command) => !commands.includes(command))).toEqual([]);
    const known = new Set(Object.values(HELP).flatMap((help) => [...flagsIn(help)]));
    expect(sorted(flagsIn(text)).filter((flag) => !known.has(flag))).toEqual([]);
  });
});

describe('links', () => {
  it.each(LINKED)('every relative link in %s points at a file that exists, and every #anchor at a heading', (file) => {
    const base = dirname(join(root, file));
    const broken: string[] = [];
    for (const link of linksOf(read(file))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue;
      const hash = link.indexOf('#');
      const path = hash === -1 ? link : link.slice(0, hash);
      const anchor = hash === -1 ? undefined : decodeURIComponent(link.slice(hash + 1));
      const target = path === '' ? join(root, file) : resolve(base, decodeURIComponent(path));
      if (!existsSync(target)) {
        broken.push(`${link}: no file ${relative(root, target)}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!target.endsWith('.md') || statSync(target).isDirectory()) {
        broken.push(`${link}: an anchor into something that is not a markdown file`);
        continue;
      }
      if (!anchorsOf(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${link}: no heading #${anchor} in ${relative(root, target)}`);
    }
    expect(broken).toEqual([]);
  });

  it('README.md and docs/README.md link every page of docs/', () => {
    for (const index of ['README.md', 'docs/README.md']) {
      const base = dirname(join(root, index));
      const targets = new Set(linksOf(read(index)).map((link) => relative(root, resolve(base, link.split('#')[0]!))));
      expect(DOCS.filter((page) => page !== index && !targets.has(page)), index).toEqual([]);
    }
  });
});

describe('README.md', () => {
  it('stays under 15,000 bytes', () => {
    expect(statSync(join(root, 'README.md')).size).toBeLessThan(15_000);
  });

  it('keeps the two commands in "Try it": npm ci && npm run demo, and npm test', () => {
    const tryIt = sectionsWithCode(read('README.md')).get('Try it') ?? '';
    const commands = tryIt.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim());
    expect(commands).toContain('npm ci && npm run demo');
    expect(commands).toContain('npm test');
  });
});
