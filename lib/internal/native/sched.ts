// native/binding/sched_binding.cc: placement of the calling JS thread.

export interface NativeSched {
  /** sched_setaffinity(0) to these CPUs (out-of-range numbers ignored): 0 or -errno. */
  pinThread(cpus: number[]): number;
  /** The calling thread's CPUs, or -errno. */
  threadAffinity(): number[] | number;
  /** sched_getcpu(): the CPU, or -errno. */
  currentCpu(): number;
}
