// Shared helpers for the region and ring tests: unique names, child
// processes that load the built package, the C++ peer build, and the
// fd/mapping counts the leak checks compare.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const root = path.resolve(__dirname, '..', '..');
export const dist = path.join(root, 'dist');

let counter = 0;
/** A region name no other test (or test run) uses. */
export function uniqueName(tag: string): string {
  return `t-${tag}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

/** Removes /dev/shm/ringwire.<name> if a failed test left it. */
export function removeShm(name: string): void {
  try {
    fs.unlinkSync(`/dev/shm/ringwire.${name}`);
  } catch {
    /* already gone */
  }
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

let peerPath: string | undefined;
/** Builds test/fixtures/ring_peer.cc with the addon's flags (native/common-flags.txt). */
export function buildPeer(): string {
  if (peerPath) return peerPath;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringwire-peer-'));
  const out = path.join(dir, 'ring_peer');
  const flags = fs.readFileSync(path.join(root, 'native', 'common-flags.txt'), 'utf8').trim().split(/\s+/);
  execFileSync('g++', ['-std=c++17', ...flags, '-I', path.join(root, 'native'),
    path.join(root, 'test', 'fixtures', 'ring_peer.cc'), path.join(root, 'native', 'core', 'shm.cc'), '-o', out], { stdio: 'pipe' });
  peerPath = out;
  return out;
}

export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Lines of /proc/self/maps that map shared memory we create (named or memfd). */
export function shmMappings(): string[] {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n')
    .filter((l) => l.includes('/dev/shm/ringwire.') || l.includes('/memfd:ringwire'));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
