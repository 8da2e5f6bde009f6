import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The floor plan of src/ (CONTRIBUTING.md "Layout"), checked over the TypeScript import graph, type-only imports
// included: no circles, each folder entered only through its index.ts, each room importing only the rooms below it,
// providers and the command importing only the public package; and the size limits of functions and files.
const root = fileURLToPath(new URL('..', import.meta.url));

/** Which rooms each room may import (through their doors). `cli` imports the package by name, like a user. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  stores: ['core'],
  access: ['core', 'stores'],
  resolve: ['core', 'stores', 'access'],
  sync: ['core', 'stores', 'access'],
  migrate: ['core', 'stores', 'access', 'resolve', 'sync'],
  log: ['core'],
  cli: [],
};

/** Functions and files allowed over the limits, and why. Empty: none is. */
const LONG_FUNCTIONS: Record<string, string> = {};
const LONG_FILES: Record<string, string> = {};
const MAX_FUNCTION_LINES = 80;
const MAX_FILE_LINES = 350;

function filesUnder(folder: string): string[] {
  return readdirSync(join(root, folder)).flatMap((name) => {
    const path = join(folder, name);
    return statSync(join(root, path)).isDirectory() ? filesUnder(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every import and re-export specifier of a file (static, dynamic and type-only). */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) found.push(node.arguments[0].text);
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) found.push(node.argument.literal.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** A relative specifier as the repository path of the .ts file it names. */
function target(file: string, specifier: string): string {
  return relative(root, resolve(root, dirname(file), specifier)).replace(/\.js$/, '.ts');
}

const sources = filesUnder('src');
const graph = new Map(sources.map((file) => [file, specifiers(file).filter((specifier) => specifier.startsWith('.')).map((specifier) => target(file, specifier))]));
const roomOf = (file: string): string | undefined => file.split('/')[1]?.endsWith('.ts') ? undefined : file.split('/')[1];

describe('layout', () => {
  it('has no import circle in src/ (type-only imports count)', () => {
    // Tarjan's strongly connected components: any with more than one file, or a file importing itself, is a circle.
    const circles: string[][] = [];
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    let counter = 0;
    const connect = (file: string): void => {
      index.set(file, counter);
      low.set(file, counter++);
      stack.push(file);
      onStack.add(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (!index.has(next)) {
          connect(next);
          low.set(file, Math.min(low.get(file)!, low.get(next)!));
        } else if (onStack.has(next)) low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
      if (low.get(file) !== index.get(file)) return;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1 || graph.get(file)!.includes(file)) circles.push(component.sort());
    };
    for (const file of graph.keys()) if (!index.has(file)) connect(file);
    expect(circles).toEqual([]);
  });

  it('enters each folder only through its index.ts, and each room imports only the rooms below it', () => {
    const problems: string[] = [];
    for (const [file, targets] of graph) {
      const from = roomOf(file);
      for (const to of targets) {
        const room = roomOf(to);
        if (room === undefined || room === from) continue;
        if (!to.endsWith(`src/${room}/index.ts`) && to !== `src/${room}/index.ts`) problems.push(`${file} reaches into ${to} (import ../${room}/index.js)`);
        if (from !== undefined && !MAY_IMPORT[from]?.includes(room)) problems.push(`${file} imports room ${room}, which ${from} may not`);
      }
    }
    for (const room of new Set(sources.map(roomOf).filter((room) => room !== undefined))) {
      if (!(room in MAY_IMPORT)) problems.push(`src/${room}/ is not in the floor plan (MAY_IMPORT)`);
      if (room !== 'cli' && !sources.includes(`src/${room}/index.ts`)) problems.push(`src/${room}/ has no index.ts`);
    }
    expect(problems).toEqual([]);
  });

  it('keeps src/index.ts to re-exports from the doors', () => {
    const text = readFileSync(join(root, 'src/index.ts'), 'utf8');
    const statements = ts.createSourceFile('index.ts', text, ts.ScriptTarget.Latest, true).statements;
    expect(statements.filter((statement) => !ts.isExportDeclaration(statement)).map((statement) => statement.getText().slice(0, 60))).toEqual([]);
    expect(graph.get('src/index.ts')!.filter((to) => !/^src\/[a-z]+\/index\.ts$/.test(to))).toEqual([]);
  });

  it('lets providers and the command import only the public package, node, their peers and their own folder', () => {
    const builtins = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
    const problems: string[] = [];
    for (const file of [...filesUnder('providers'), ...sources.filter((source) => roomOf(source) === 'cli')]) {
      const folder = file.startsWith('providers/') ? file.split('/').slice(0, 2).join('/') : 'src/cli';
      for (const specifier of specifiers(file)) {
        if (specifier.startsWith('.')) {
          const to = target(file, specifier);
          if (!to.startsWith(`${folder}/`)) problems.push(`${file} imports ${specifier}: outside ${folder}/`);
        } else if (specifier.startsWith('secretbind/') && file.startsWith('providers/')) problems.push(`${file} imports ${specifier}: a provider imports only 'secretbind'`);
        else if (!builtins.has(specifier) && !/^(@[\w.-]+\/)?[\w.-]+/.test(specifier)) problems.push(`${file} imports ${specifier}: not a package name`);
      }
    }
    expect(problems).toEqual([]);
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines and no file over ${MAX_FILE_LINES} in src/`, () => {
    const long: string[] = [];
    for (const file of sources) {
      const text = readFileSync(join(root, file), 'utf8');
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (lines > MAX_FILE_LINES && !(file in LONG_FILES)) long.push(`${file}: ${lines} lines`);
      const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body) {
          const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
          const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
          const name = node.name?.getText() ?? (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent) ? node.parent.name.getText() : `(line ${start + 1})`);
          if (end - start + 1 > MAX_FUNCTION_LINES && !(`${file} ${name}` in LONG_FUNCTIONS)) long.push(`${file} ${name}: ${end - start + 1} lines`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(long).toEqual([]);
  });
});
