import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Every name an entry point exports, values and types alike, each as `kind name` (kind: value, type, or value+type
 * for a class), read with the TypeScript compiler from the sources.
 */
export function exportsOf(entryFiles: readonly string[]): Map<string, string[]> {
  const program = ts.createProgram([...entryFiles], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true, skipLibCheck: true, paths: { secretbind: [fileURLToPath(new URL('../../src/index.ts', import.meta.url))] } });
  const checker = program.getTypeChecker();
  const result = new Map<string, string[]>();
  for (const file of entryFiles) {
    const source = program.getSourceFile(file);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`no module symbol for ${file}`);
    const names = checker.getExportsOfModule(moduleSymbol).map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const value = (target.flags & ts.SymbolFlags.Value) !== 0;
      const type = (target.flags & (ts.SymbolFlags.Type | ts.SymbolFlags.Class)) !== 0;
      const kind = value && type ? 'value+type' : value ? 'value' : 'type';
      if (!value || type) return `${kind} ${symbol.name}`;
      // A function's or constant's signature, so a changed parameter or return type shows too.
      const declaration = target.valueDeclaration ?? target.declarations?.[0];
      const signature = declaration ? checker.typeToString(checker.getTypeOfSymbolAtLocation(target, declaration), undefined, ts.TypeFormatFlags.NoTruncation) : '?';
      return `${kind} ${symbol.name}: ${signature}`;
    });
    result.set(file, names.sort());
  }
  return result;
}
