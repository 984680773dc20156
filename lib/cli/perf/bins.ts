// Finds (and on first use builds) the C yardstick: rw-server, rw-client,
// rw-syscost from bench/c, with the addon's flags (the Makefile reads
// native/common-flags.txt). From a clone they go to build/bench; from an
// npm install whose directory is read-only, to a per-user cache directory.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../internal/native';

export interface BenchBins {
  dir: string;
  server: string;
  client: string;
  syscost: string;
  /** True when this call ran make. */
  built: boolean;
}

const NAMES = ['rw-server', 'rw-client', 'rw-syscost'] as const;

function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  let version = '0';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // keep '0'
  }
  return path.join(base, 'ringwire', `bench-${version}`);
}

/** Where the binaries live (or will be built). RINGWIRE_BENCH_DIR overrides. */
export function benchDir(): string {
  if (process.env.RINGWIRE_BENCH_DIR) return path.resolve(process.env.RINGWIRE_BENCH_DIR);
  const buildDir = path.join(packageRoot, 'build');
  const local = path.join(buildDir, 'bench');
  if (upToDate(local)) return local;
  const canWrite = fs.existsSync(local) ? writable(local) : fs.existsSync(buildDir) ? writable(buildDir) : writable(packageRoot);
  return canWrite ? local : cacheDir();
}

function newestSource(): number {
  const src = path.join(packageRoot, 'bench', 'c');
  let newest = 0;
  const consider = (p: string) => {
    try {
      newest = Math.max(newest, fs.statSync(p).mtimeMs);
    } catch {
      // missing: make will say so
    }
  };
  for (const f of fs.existsSync(src) ? fs.readdirSync(src) : []) if (/\.(c|h)$|^Makefile$/.test(f)) consider(path.join(src, f));
  consider(path.join(packageRoot, 'native', 'common-flags.txt'));
  return newest;
}

function upToDate(dir: string): boolean {
  const src = newestSource();
  return NAMES.every((n) => {
    try {
      return fs.statSync(path.join(dir, n)).mtimeMs >= src;
    } catch {
      return false;
    }
  });
}

/** Returns the binaries, building them first when missing or stale. */
export function benchBins(log: (msg: string) => void = () => {}): BenchBins {
  const dir = benchDir();
  let built = false;
  if (!upToDate(dir)) {
    const makefile = path.join(packageRoot, 'bench', 'c', 'Makefile');
    if (!fs.existsSync(makefile)) throw new Error(`the C benchmark sources are missing (${makefile})`);
    fs.mkdirSync(dir, { recursive: true });
    log(`building the C reference programs into ${dir} ...`);
    try {
      execFileSync('make', ['-s', '-C', path.dirname(makefile), `OUT=${dir}`], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      throw new Error(`building bench/c failed (needs make, a C compiler and liburing-dev): ${err.stderr?.toString().trim() || err.message}`);
    }
    built = true;
  }
  return {
    dir,
    server: path.join(dir, 'rw-server'),
    client: path.join(dir, 'rw-client'),
    syscost: path.join(dir, 'rw-syscost'),
    built,
  };
}
