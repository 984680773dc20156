// The README's examples run as written: every JavaScript/TypeScript block is
// saved to a file the way a reader would (the name its first comment gives,
// e.g. `// rings.mjs`, else a .js file — CommonJS, as in a project without
// "type": "module") inside this package, so `require('ringwire')` resolves
// to it by name, and run with node. A block ends by itself or, a server, is
// stopped after a bounded time; either way nothing may be printed to stderr
// and every `// prints: X` comment must have been printed; one that ends by
// itself must also succeed when run a second time. A block preceded
// by `<!-- readme-example: skip "reason" -->` is skipped with that reason.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { skipReason } from './helpers/skip';

const root = path.resolve(__dirname, '..');
const dir = path.join(root, '.readme-examples');
const SERVER_MS = 4000;

interface Block { line: number; lang: string; code: string; skip?: string }

function blocks(md: string): Block[] {
  const out: Block[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(js|javascript|mjs|cjs|ts|typescript)\s*$/.exec(lines[i]);
    if (!m) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    const skip = /<!-- readme-example: skip "(.+)" -->/.exec(lines[start - 1] ?? '')?.[1];
    out.push({ line: start + 1, lang: m[1], code: `${body.join('\n')}\n`, skip });
  }
  return out;
}

function fileName(b: Block, n: number): string {
  const named = /^\/\/ ([\w.-]+\.(?:m?js|cjs|m?ts))\b/.exec(b.code)?.[1];
  if (named) return named;
  return `example-${n}.${b.lang.startsWith('t') ? 'ts' : 'js'}`;
}

function run(file: string): Promise<{ code: number | null; stdout: string; stderr: string; stopped: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env } });
    let stdout = '';
    let stderr = '';
    let stopped = false;
    const stop = () => {
      stopped = true;
      p.kill('SIGKILL');
    };
    const t = setTimeout(stop, SERVER_MS);
    p.stdout.on('data', (d: Buffer) => { stdout += d; });
    p.stderr.on('data', (d: Buffer) => { stderr += d; });
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr, stopped });
    });
  });
}

const md = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const all = blocks(md);

describe('README examples', () => {
  it('the README has the examples this test runs (ESM and CommonJS, express, fastify, undici)', () => {
    expect(all.length).toBeGreaterThanOrEqual(10);
    const code = all.map((b) => b.code).join('\n');
    for (const s of ["require('express')", "require('fastify')", "require('undici')", "from 'ringwire'"]) expect(code).toContain(s);
    // Top-level await only in ES modules (a .js file is CommonJS).
    for (const [n, b] of all.entries()) if (/^(await |(const|let) .* = await )/m.test(b.code) && !b.skip) expect(fileName(b, n), `README.md:${b.line}`).toMatch(/\.mjs$/);
  });

  for (const [n, b] of all.entries()) {
    it.skipIf(skipReason(b.skip && `README.md:${b.line}: ${b.skip}`))(`README.md:${b.line} runs as written (${fileName(b, n)})`, async () => {
      fs.mkdirSync(dir, { recursive: true });
      let file = path.join(dir, fileName(b, n));
      let code = b.code;
      if (/\.m?ts$/.test(file)) {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const ts = require('typescript') as typeof import('typescript');
        const esm = file.endsWith('.mts');
        code = ts.transpileModule(code, { compilerOptions: { module: esm ? ts.ModuleKind.ESNext : ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
        file = file.replace(/ts$/, 'js');
      }
      fs.writeFileSync(file, code);
      const prints = [...b.code.matchAll(/\/\/ prints: (.+)$/gm)].map((m) => m[1].trim());
      try {
        // A block that ends by itself is run twice: a reader runs it again
        // (the shared-memory example once left its region behind: EEXIST).
        for (let round = 0; round < 2; round++) {
          const r = await run(file);
          expect(r.stderr, `README.md:${b.line} stderr (run ${round + 1})`).toBe('');
          if (!r.stopped) expect(r.code, `README.md:${b.line} exit code (run ${round + 1})`).toBe(0);
          for (const p of prints) expect(r.stdout, `README.md:${b.line} should print "${p}"`).toContain(p);
          if (r.stopped) break;
        }
      } finally {
        fs.rmSync(file, { force: true });
      }
    }, SERVER_MS + 20_000);
  }
});
