// Thread placement helpers: pin the calling thread (main or a worker) to
// CPUs, read its affinity and the CPU it is running on right now.
import * as os from 'node:os';
import { check, checkValue, invalidArgType, outOfRange } from './internal/errors';
import { native } from './internal/native';

/** Pins the calling JS thread to `cpus` (one CPU or a list). */
export function pinThread(cpus: number | number[]): void {
  const list = Array.isArray(cpus) ? cpus : [cpus];
  if (list.length === 0) throw outOfRange('cpus', 'a non-empty list', cpus);
  const max = os.cpus().length;
  for (const c of list) {
    if (typeof c !== 'number') throw invalidArgType('cpus', 'a number or an array of numbers', c);
    if (!Number.isInteger(c) || c < 0 || c >= max) throw outOfRange('cpu', `an integer >= 0 and < ${max}`, c);
  }
  check(native().pinThread(list), 'sched_setaffinity');
}

/** The CPUs the calling thread may run on. */
export function threadAffinity(): number[] {
  return checkValue(native().threadAffinity(), 'sched_getaffinity');
}

/** The CPU the calling thread is running on (sched_getcpu). */
export function currentCpu(): number {
  return check(native().currentCpu(), 'sched_getcpu');
}
