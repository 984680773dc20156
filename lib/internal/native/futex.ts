// native/binding/futex_binding.cc: the futex calls JS cannot make itself on
// a region's words (Atomics.wait/notify refuse external buffers), plus the
// small helpers the message rings use. `offset` is a data-relative byte
// offset of a 32-bit word: -EBADF for a closed region, -EINVAL for a bad offset.
import type { RegionHandle } from './shm';

/** Completion of futexWaitAsync: 0 (changed / woken), -ETIMEDOUT or -ECANCELED. */
export type FutexWaitCallback = (result: number) => void;

export interface NativeFutex {
  /** Woken waiters, or -errno. */
  futexWake(handle: RegionHandle, offset: number, count: number): number;
  /** Blocks this thread: 0 (changed / woken / interrupted), -EAGAIN, -ETIMEDOUT or -errno. timeoutMs -1 = none. */
  futexWait(handle: RegionHandle, offset: number, expected: number, timeoutMs: number): number;
  /** Waits on the environment's waiter thread; 0 (cb follows) or -errno. */
  futexWaitAsync(handle: RegionHandle, offset: number, expected: number, timeoutMs: number, cb: FutexWaitCallback): number;
  /**
   * IORING_OP_FUTEX_WAIT on this thread's loop: the loop id whose
   * futexWaitDoneEvent (a = result, as FutexWaitCallback's) follows, or
   * -errno (-ENOTCONN without a started loop).
   */
  futexWaitUring(handle: RegionHandle, offset: number, expected: number, timeoutMs: number): number;
  /** Waits cancelled on that word (they complete with -ECANCELED), or -errno. */
  futexCancel(handle: RegionHandle, offset: number): number;
  /** The loop event kind of a finished futexWaitUring. */
  futexWaitDoneEvent: number;
  /** membarrier: the waiter's half of the asymmetric fence. 0 or -errno. */
  heavyFence(): number;
  schedYield(): void;
  /** CLOCK_MONOTONIC in ms as a uint32 (wraps every ~49.7 days, like the heartbeat words). */
  monotonicMs(): number;
}
