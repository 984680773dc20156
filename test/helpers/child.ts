// Child node processes for the tests: the built package's path, a bounded
// synchronous run (runChild) and a streaming one (nodeChild + collect).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const root = path.resolve(__dirname, '..', '..');
/** The built package (npm run build:ts), as child processes require it. */
export const dist = path.join(root, 'dist');

/** Runs `node [args] -e code` to completion, bounded by `timeout` ms (30 s); stdout/stderr as strings. */
export function runChild(code: string, opts: { args?: string[]; uid?: number; timeout?: number } = {}) {
  return spawnSync(process.execPath, [...(opts.args ?? []), '-e', code], {
    encoding: 'utf8', timeout: opts.timeout ?? 30_000, uid: opts.uid, env: { ...process.env },
  });
}

/** Runs `code` in a child node process that has `rw` (the built package) in scope. */
export function nodeChild(code: string, opts: { args?: string[]; stdio?: ('pipe' | 'inherit' | 'ignore' | number)[]; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const script = `const rw = require(${JSON.stringify(dist)}); ${code}`;
  return spawn(process.execPath, [...(opts.args ?? []), '-e', script], {
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output until it exits; kills it and rejects after `timeoutMs`. */
export function collect(child: ChildProcess, timeoutMs = 20_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
