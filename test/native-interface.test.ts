// The typed native interface (lib/internal/native/*.ts, one file per binding
// file) against the addon actually loaded: an export added in C++ without a
// type, a typed export the addon no longer has, a function typed as a value
// (or the reverse), or a layout object whose fields drifted would otherwise
// only show up as `undefined` at a call site that the compiler approved.
// The declared shape is read with the TypeScript compiler from the sources.
import * as path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { hasTcpdirect, native } from '../lib/internal/native';

const root = path.resolve(__dirname, '..');

interface Declared {
  optional: boolean;
  fn: boolean;
  /** Field names of a plain object type (layouts, constants); null for others. */
  fields: Map<string, Declared> | null;
}

function declaredNative(): Map<string, Declared> {
  const cfg = ts.readConfigFile(path.join(root, 'tsconfig.json'), ts.sys.readFile);
  const opts = ts.parseJsonConfigFileContent(cfg.config, ts.sys, root).options;
  const file = path.join(root, 'lib/internal/native.ts');
  const program = ts.createProgram([file], { ...opts, noEmit: true });
  const checker = program.getTypeChecker();
  const src = program.getSourceFile(file)!;
  const alias = checker.getSymbolAtLocation(
    src.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'Native')!.name,
  )!;
  const shape = (type: ts.Type, depth: number): Map<string, Declared> | null => {
    // Arrays, records with an index signature and callables are not field lists.
    if (depth > 2 || checker.isArrayType(type) || type.getCallSignatures().length || type.getStringIndexType() || type.getNumberIndexType()) return null;
    const props = checker.getPropertiesOfType(type);
    if (!props.length || !(type.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection))) return null;
    const out = new Map<string, Declared>();
    for (const p of props) {
      const t = checker.getNonNullableType(checker.getTypeOfSymbol(p));
      out.set(p.name, {
        optional: (p.flags & ts.SymbolFlags.Optional) !== 0,
        fn: t.getCallSignatures().length > 0,
        fields: shape(t, depth + 1),
      });
    }
    return out;
  };
  return shape(checker.getDeclaredTypeOfSymbol(alias), 0)!;
}

function compare(where: string, declared: Map<string, Declared>, actual: Record<string, unknown>, problems: string[], tcpdirect: boolean): void {
  for (const [name, d] of declared) {
    const v = actual[name];
    const required = !d.optional || (where === 'native()' && name.startsWith('tcpdirect') && tcpdirect);
    if (v === undefined) {
      if (required) problems.push(`${where}.${name} is declared but the addon has none`);
      continue;
    }
    if (d.fn !== (typeof v === 'function')) problems.push(`${where}.${name} is declared as ${d.fn ? 'a function' : 'a value'}, the addon's is a ${typeof v}`);
    if (d.fields && v && typeof v === 'object') compare(`${where}.${name}`, d.fields, v as Record<string, unknown>, problems, tcpdirect);
  }
  for (const name of Object.keys(actual)) {
    if (!declared.has(name)) problems.push(`${where}.${name} is exported by the addon but declared by no facility interface`);
  }
}

describe('native interface: the declared types match the loaded addon', () => {
  it('every export (and every field of the layout/constant objects) is declared, exists, and is a function exactly when declared as one', () => {
    const declared = declaredNative();
    // Sanity: the reader found the facilities (an empty map would pass vacuously).
    expect(declared.size).toBeGreaterThan(80);
    expect(declared.get('udpOpen')?.fn).toBe(true);
    expect(declared.get('udpLayout')?.fields?.has('evRecv')).toBe(true);
    const problems: string[] = [];
    compare('native()', declared, native() as unknown as Record<string, unknown>, problems, hasTcpdirect(native()));
    expect(problems).toEqual([]);
  }, 60_000);
});
