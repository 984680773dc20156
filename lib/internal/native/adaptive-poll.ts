// native/binding/adaptive_poll.cc (registered by InitLoop): the adaptive
// poll before the thread's loop sleeps.

export interface NativeAdaptivePoll {
  /** The poll's ceiling in µs, 0 = off. 0 or -errno (the loop could not start). */
  adaptivePollSet(maxUs: number): number;
  /** struct AdaptivePollStats as Float64 counters (field order: adaptivePollStatNames), or -errno. */
  adaptivePollStats(): ArrayBuffer | number;
  adaptivePollStatNames: string[];
}
