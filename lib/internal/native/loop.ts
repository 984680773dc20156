// native/binding/loop_binding.cc: the per-thread io_uring loop every
// loop-owned handle (UDP, TCP, io_uring futex waits) delivers events through.

/** One wake mode the ring tried at start (struct WakeAttempt, loop_binding.h). */
export interface NativeWakeAttempt {
  mode: 'eventfd' | 'ringfd';
  /** The ring's setup result: 0 or -errno. */
  setup: number;
  checked: boolean;
  passed: boolean;
  /** µs; -1 = never. */
  sameThreadUs: number;
  /** µs; -1 = never, -2 = not run. */
  crossThreadUs: number;
  /** The check's own failure: 0 or -errno. */
  err: number;
  /** What failed, in words ('' when it passed). */
  why: string;
}

export interface NativeLoopStart {
  /** loopEventCapacity events of loopEventSize bytes: [id, kind, a, b] as int32. */
  events: ArrayBuffer;
  /** struct UringLoopStats: Float64 counters. */
  stats: ArrayBuffer;
  deferTaskrun: boolean;
  taskrunFlag: boolean;
  /** 0, or the -errno that made sockets fall back to epoll. */
  uringError: number;
  /** The mode in use; null when none passed its self-check. */
  wake: 'eventfd' | 'ringfd' | null;
  requestedWake: 'auto' | 'ringfd' | 'eventfd';
  wakeAttempts: NativeWakeAttempt[];
}

/** Called once per batch with the range [start, end) of the events buffer. */
export type LoopDispatch = (start: number, end: number) => void;

export interface NativeLoop {
  /** Starts (or returns) this thread's loop: the shared views, or -errno. */
  loopStart(dispatch: LoopDispatch): NativeLoopStart | number;
  loopSetRef(ref: boolean): void;
  /** Submits queued SQEs: io_uring_submit's result (count or -errno); 0 without a loop. */
  loopFlush(): number;
  /** sizeof(LoopEvent) in bytes. */
  loopEventSize: number;
  loopEventCapacity: number;
}
