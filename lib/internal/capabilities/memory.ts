// Memory facilities: /dev/shm, huge pages (reserved pool and memfd), and
// the locked-memory limit.
import * as fs from 'node:fs';
import type { Capabilities } from '../../capabilities';
import { errName, limit, meminfo, type ProbeContext } from './util';

export function shmCapability(): Capabilities['shm'] {
  const path = '/dev/shm';
  let freeBytes: number | null = null;
  let reason: string | undefined;
  try {
    const st = fs.statfsSync(path);
    freeBytes = st.bavail * st.bsize;
    fs.accessSync(path, fs.constants.W_OK);
  } catch (e) {
    reason = `${path} is not usable (${(e as NodeJS.ErrnoException).code})`;
  }
  return { available: !reason, reason, path, freeBytes };
}

export function hugepagesCapability({ p }: ProbeContext): Capabilities['hugepages'] {
  const mi = meminfo();
  const total = mi.HugePages_Total ?? 0;
  const free = mi.HugePages_Free ?? 0;
  let reason: string | undefined;
  if (total === 0) reason = 'no huge pages reserved (vm.nr_hugepages = 0)';
  else if (free === 0) reason = 'all reserved huge pages are in use';
  return {
    available: total > 0 && free > 0,
    reason,
    pageSizeBytes: mi.Hugepagesize ? mi.Hugepagesize * 1024 : null,
    total,
    free,
    memfdHugetlb: p ? errName(p.memfdHuge) : 'unknown',
  };
}

export function memlockLimits({ p }: ProbeContext): Capabilities['memlock'] {
  const soft = p ? limit(p.memlockSoft) : null;
  const hard = p ? limit(p.memlockHard) : null;
  return {
    soft,
    hard,
    reason: soft !== null && soft < 64 * 1024 * 1024 ? `RLIMIT_MEMLOCK is ${soft} bytes; locking large regions or UMEMs needs more` : undefined,
  };
}
