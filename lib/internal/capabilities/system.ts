// What the process and machine allow, outside any one facility: the
// kernel release, seccomp, the fd limit, NUMA nodes.
import * as os from 'node:os';
import type { Capabilities } from '../../capabilities';
import { limit, parseRange, type ProbeContext, readText } from './util';

export function kernelRelease(): Capabilities['kernel'] {
  const release = os.release();
  const [major, minor] = release.split('.').map((x) => parseInt(x, 10));
  return { release, major, minor };
}

/** The Seccomp: line of /proc/self/status (2 = a filter), null if absent. */
export function seccompMode(): number | null {
  const m = /^Seccomp:\s+(\d+)/m.exec(readText('/proc/self/status') ?? '');
  return m ? Number(m[1]) : null;
}

export function seccompInfo(mode: number | null): Capabilities['seccomp'] {
  return { mode, reason: mode === 2 ? 'a seccomp filter is active; some syscalls may be blocked' : undefined };
}

export function nofileLimits({ p }: ProbeContext): Capabilities['nofile'] {
  return { soft: p ? limit(p.nofileSoft) : null, hard: p ? limit(p.nofileHard) : null };
}

export function numaNodes(): Capabilities['numa'] {
  const online = readText('/sys/devices/system/node/online');
  return { nodes: online ? parseRange(online) : [0] };
}
