// The JS half of the per-thread io_uring loop: one dispatch function that
// the native side calls once per wake with every event of that wake, routed
// here by handle id. Each JS thread (main, worker) has its own instance
// because each has its own module registry.
import { native } from './native';
import { check, checkValue, systemError } from './errors';
import { adaptivePollFromEnv, type AdaptivePollSetting } from './adaptive-poll';

export type EventHandler = (kind: number, a: number, b: number, id: number) => void;

/** An object that receives loop events and may be held weakly (unref'd). */
export interface LoopTarget {
  onLoopEvent(kind: number, a: number, b: number, id: number): void;
}

/**
 * Rethrows `err` outside the current dispatch, on the next tick: it then
 * reaches process 'uncaughtException' (or ends the process) exactly as an
 * exception from a Node callback would, after the rest of the wake's events.
 */
export function rethrowLater(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

export interface LoopStats {
  submissions: number;
  completions: number;
  enterCalls: number;
  wakeups: number;
  sqFullFlushes: number;
  cqOverflows: number;
}

const STAT_NAMES = ['submissions', 'completions', 'enterCalls', 'wakeups', 'sqFullFlushes', 'cqOverflows'] as const;

/** One wake mode the thread's ring tried when it started (see uring_loop.h). */
export interface WakeAttempt {
  mode: 'eventfd' | 'ringfd';
  /** The ring's setup: 'ok' or an errno name. */
  setup: string;
  /** The self-check ran (setup succeeded) and what it found. */
  checked: boolean;
  passed: boolean;
  /** µs from a write on this thread to the wake fd being readable; -1 = never. */
  sameThreadUs: number;
  /** µs from a write on another thread to a poll() on the wake fd waking; -1 = never, -2 = not run. */
  crossThreadUs: number;
  /** What failed, in words ('' when it passed). */
  why: string;
}

export interface WakeInfo {
  /** The mode in use; null when no mode passed and sockets use the epoll backend. */
  mode: 'eventfd' | 'ringfd' | null;
  /** From RINGWIRE_URING_WAKE: 'auto' (ring fd), 'ringfd' or 'eventfd'. */
  requested: 'auto' | 'ringfd' | 'eventfd';
  deferTaskrun: boolean;
  /** The ring sets IORING_SQ_TASKRUN when completions wait to be posted (busyPoll reads it). */
  taskrunFlag: boolean;
  attempts: WakeAttempt[];
  /** Why a mode was given up, when one was. */
  fallback?: string;
}

function errnoName(e: number): string {
  return e === 0 ? 'ok' : systemError(e, 'io_uring_setup').code;
}

function describeAttempt(a: WakeAttempt): string {
  if (a.setup !== 'ok') return `${a.mode}: ring setup failed (${a.setup})`;
  const t = (us: number) => (us === -2 ? 'not run' : us < 0 ? 'never' : `${(us / 1000).toFixed(us < 1000 ? 3 : 1)} ms`);
  return `${a.mode}: ${a.why} (same thread ${t(a.sameThreadUs)}, other thread ${t(a.crossThreadUs)})`;
}

let warned = false;

export class ThreadLoop {
  readonly events: Int32Array;
  private readonly statsView: Float64Array;
  readonly wake: 'eventfd' | 'ringfd' | null;
  readonly deferTaskrun: boolean;
  readonly wakeInfo: WakeInfo;
  private readonly handlers = new Map<number, EventHandler>();
  // Targets held weakly: an unref'd handle nobody references can be
  // collected, and its FinalizationRegistry entry then closes it.
  private readonly weak = new Map<number, WeakRef<LoopTarget>>();
  private readonly endHooks: (() => void)[] = [];
  private refs = 0;
  /** The adaptive poll's ceiling on this thread (native/binding/adaptive_poll.cc). */
  adaptivePoll: AdaptivePollSetting;

  constructor() {
    const r = checkValue(native().loopStart((start, end) => this.dispatch(start, end)), 'io_uring_setup');
    this.events = new Int32Array(r.events);
    this.statsView = new Float64Array(r.stats);
    this.wake = r.wake;
    this.deferTaskrun = r.deferTaskrun;
    const attempts: WakeAttempt[] = r.wakeAttempts.map((a) => ({
      mode: a.mode,
      setup: errnoName(a.setup),
      checked: a.checked,
      passed: a.passed,
      sameThreadUs: a.sameThreadUs,
      crossThreadUs: a.crossThreadUs,
      why: a.checked && !a.passed && a.err < 0 ? `${a.why} (${errnoName(a.err)})` : a.why,
    }));
    this.adaptivePoll = adaptivePollFromEnv();
    if (r.wake !== null && this.adaptivePoll.maxUs > 0) check(native().adaptivePollSet(this.adaptivePoll.maxUs), 'io_uring_setup');
    const failed = attempts.filter((a) => a.setup !== 'ok' || !a.passed);
    this.wakeInfo = {
      mode: r.wake,
      requested: r.requestedWake,
      deferTaskrun: r.deferTaskrun,
      taskrunFlag: !!r.taskrunFlag,
      attempts,
      fallback: failed.length ? failed.map(describeAttempt).join('; ') : undefined,
    };
    // A failed self-check is a slow or broken path avoided: say so once,
    // so that nobody wonders why the mode they asked for is not in use.
    const checkFailed = failed.some((a) => a.setup === 'ok');
    if (checkFailed && !warned) {
      warned = true;
      const now = r.wake ? `using the ${r.wake} mode` : 'sockets use the epoll backend';
      process.emitWarning(`io_uring wake self-check failed, ${now}: ${this.wakeInfo.fallback}. See \`ringwire doctor\`.`, {
        code: 'RINGWIRE_WAKE_FALLBACK',
      });
    }
  }

  private dispatch(start: number, end: number): void {
    const ev = this.events;
    // A user callback that throws must not cost the other handles their
    // events of this wake: the exception is rethrown on its own tick (so it
    // reaches 'uncaughtException' like any callback's, or ends the process
    // when nobody listens) and dispatch resumes with the next event.
    let i = start;
    while (i < end) {
      try {
        for (; i < end; i++) {
          const o = i * 4;
          const h = this.handlers.get(ev[o]);
          if (h !== undefined) h(ev[o + 1], ev[o + 2], ev[o + 3], ev[o]);
          else this.weak.get(ev[o])?.deref()?.onLoopEvent(ev[o + 1], ev[o + 2], ev[o + 3], ev[o]);
        }
      } catch (err) {
        i++;
        rethrowLater(err);
      }
    }
    // Facilities that hand users one callback per batch deliver it here,
    // while the batch's receive buffers are still valid.
    for (let k = 0; k < this.endHooks.length; k++) {
      try {
        this.endHooks[k]();
      } catch (err) {
        rethrowLater(err);
      }
    }
  }

  /** Runs after each dispatched chunk of events. */
  onDispatchEnd(fn: () => void): void {
    this.endHooks.push(fn);
  }

  register(id: number, h: EventHandler): void {
    this.handlers.set(id, h);
  }

  unregister(id: number): void {
    this.handlers.delete(id);
    this.weak.delete(id);
  }

  /** Routes events for `id` to `target`, held strongly or weakly. */
  attach(id: number, target: LoopTarget, strong: boolean): void {
    this.setStrong(id, target, strong);
  }

  setStrong(id: number, target: LoopTarget, strong: boolean): void {
    if (strong) {
      this.weak.delete(id);
      this.handlers.set(id, (k, a, b, i) => target.onLoopEvent(k, a, b, i));
    } else {
      this.handlers.delete(id);
      this.weak.set(id, new WeakRef(target));
    }
  }

  /** A ref'd handle keeps the process alive, like a Node handle. */
  ref(): void {
    if (this.refs++ === 0) native().loopSetRef(true);
  }

  unref(): void {
    if (this.refs > 0 && --this.refs === 0) native().loopSetRef(false);
  }

  /** Counters of the thread's ring, read without a native call. */
  get stats(): LoopStats {
    const out = {} as LoopStats;
    STAT_NAMES.forEach((k, i) => {
      out[k] = this.statsView[i];
    });
    return out;
  }
}

let threadLoop: ThreadLoop | undefined;

/** The thread's loop if something started it, without starting one. */
export function currentLoop(): ThreadLoop | undefined {
  return threadLoop;
}

/** The thread's ring wake mode and its self-check (starts the ring). */
export function wakeInfo(): WakeInfo {
  return loop().wakeInfo;
}

export function loop(): ThreadLoop {
  if (!threadLoop) threadLoop = new ThreadLoop();
  return threadLoop;
}

/** Ring counters for this thread (undefined before the first socket). */
export function loopStats(): LoopStats | undefined {
  return threadLoop?.stats;
}
