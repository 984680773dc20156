// native/binding/busy_poll.cc (registered by InitLoop): busy polling of the
// thread's loop.

export interface NativeBusyPoll {
  /** budgetUs -1 = forever. 0 or -errno (the loop could not start). */
  busyPollStart(budgetUs: number, sliceUs: number): number;
  busyPollStop(): void;
  /** struct BusyPollStats as Float64 counters (field order: busyPollStatNames), or -errno. */
  busyPollStats(): ArrayBuffer | number;
  busyPollStatNames: string[];
}
