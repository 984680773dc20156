// The facts a result is meaningless without: CPU, kernel, Node, liburing,
// the cost of a null syscall today, what io_uring offers here, and how much
// time the host stole from this VM while we measured.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../internal/native';

export interface CpuTimes {
  /** Sum of all fields of the `cpu` line of /proc/stat (USER_HZ ticks). */
  total: number;
  steal: number;
  idle: number;
}

/** The aggregate `cpu` line of /proc/stat, or undefined off Linux. */
export function readCpuTimes(): CpuTimes | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice; guest
    // time is already inside user/nice.
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { total, steal: f[7] ?? 0, idle: (f[3] ?? 0) + (f[4] ?? 0) };
  } catch {
    return undefined;
  }
}

/** Steal as a percentage of all CPU time between two readings. */
export function stealPercent(a: CpuTimes | undefined, b: CpuTimes | undefined): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return (100 * (b.steal - a.steal)) / (b.total - a.total);
}

/** Busy (non-idle, non-steal) percentage of all CPUs between two readings. */
export function busyPercent(a: CpuTimes | undefined, b: CpuTimes | undefined): number | null {
  if (!a || !b || b.total <= a.total) return null;
  const d = b.total - a.total;
  return (100 * (d - (b.idle - a.idle) - (b.steal - a.steal))) / d;
}

export interface MachineFacts {
  cpuModel: string;
  cpus: number;
  kernel: string;
  node: string;
  ringwire: string;
  liburing: string | null;
  syscallNs: number | null;
  io_uring: Record<string, unknown> | null;
  loadavg: number[];
  hostname: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // fall through
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function liburingVersion(): string | null {
  const tries: [string, string[]][] = [
    ['dpkg-query', ['-W', '-f=${Version}', 'liburing-dev']],
    ['pkg-config', ['--modversion', 'liburing']],
    ['rpm', ['-q', '--qf', '%{VERSION}', 'liburing-devel']],
  ];
  for (const [cmd, args] of tries) {
    try {
      const v = execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
      if (v) return v;
    } catch {
      // next
    }
  }
  return null;
}

function syscallCost(syscost: string | undefined): number | null {
  if (!syscost) return null;
  try {
    const out = execFileSync(syscost, [], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 }).toString();
    const j = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { getppid_ns?: number };
    return typeof j.getppid_ns === 'number' ? j.getppid_ns : null;
  } catch {
    return null;
  }
}

function uringSummary(): Record<string, unknown> | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { capabilities } = require('../../capabilities') as typeof import('../../capabilities');
    const u = capabilities().io_uring;
    return {
      available: u.available,
      reason: u.reason ?? null,
      setup: u.setup,
      singleIssuerDeferTaskrun: u.singleIssuerDeferTaskrun,
      multishotRecv: u.multishotRecv,
      multishotAccept: u.multishotAccept,
      providedBufferRings: u.providedBufferRings,
      sendZc: u.sendZc,
      bundles: u.bundles,
    };
  } catch {
    return null;
  }
}

export function ringwireVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function machineFacts(syscost?: string): MachineFacts {
  return {
    cpuModel: cpuModel(),
    cpus: os.cpus().length,
    kernel: os.release(),
    node: process.version,
    ringwire: ringwireVersion(),
    liburing: liburingVersion(),
    syscallNs: syscallCost(syscost),
    io_uring: uringSummary(),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    hostname: os.hostname(),
  };
}
