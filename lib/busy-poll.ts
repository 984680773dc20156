// busyPoll(): the thread stops sleeping between events for a while after
// each one, as kernel-bypass users run (Onload's EF_POLL_USEC, the kernel's
// SO_BUSY_POLL): its loop spins on the io_uring completion queue (ring
// memory), on libuv's epoll set (epoll-backend sockets, packet rings, other
// handles: one non-blocking poll() per empty spin), and dispatches what it
// finds at once. Timers, immediates and other handles still run between
// spin slices. How each source is seen and why the sleeping path keeps its
// guarantees: native/binding/busy_poll.cc and native/core/uring_loop.h.
import { native } from './internal/native';
import { check, checkValue, invalidArgType, outOfRange, validateObject } from './internal/errors';
import { currentLoop, loop } from './internal/loop';
import { ADAPTIVE_POLL_MAX_US, type AdaptivePollSetting } from './internal/adaptive-poll';
import { checkLayout } from './internal/layout';

export interface BusyPollOptions {
  /**
   * Keep spinning this long (µs) after the last event: the last poll that
   * found work or the last wake-up. `Infinity` spins until stop(), for a
   * dedicated (isolated, pinned) core. Like Onload's EF_POLL_USEC.
   */
  budgetUs: number;
  /**
   * Longest stretch (µs) spent spinning before the loop runs timers,
   * immediates and other handles: the bound on their extra delay. Default 50.
   */
  sliceUs?: number;
}

/** What the mode has cost and found on this thread (since it first started). */
export interface BusyPollStats {
  /** Polls made. */
  spins: number;
  /** Polls that found work. */
  found: number;
  /** Time spent spinning, µs: CPU the mode burns. */
  spinUs: number;
  /** Non-blocking system calls the polls made. */
  syscalls: number;
  /** Times the budget ran out and the thread went back to sleeping. */
  sleeps: number;
  /** Spin slices (one per loop turn while spinning). */
  slices: number;
}

const MAX_BUDGET_US = 3600e6;
const MAX_SLICE_US = 1e6;

/**
 * The fields of struct BusyPollStats (native/binding/loop_binding.h), in
 * its order: typed here for BusyPollStats, and busyPoll() refuses an addon
 * whose busyPollStatNames differ (checkLayout, test/layout.test.ts).
 */
export const BUSY_POLL_STAT_NAMES = ['spins', 'found', 'spinUs', 'syscalls', 'sleeps', 'slices'] as const satisfies readonly (keyof BusyPollStats)[];
// Compile-time: every field of BusyPollStats is in the list.
const everyFieldNamed: [Exclude<keyof BusyPollStats, (typeof BUSY_POLL_STAT_NAMES)[number]>] extends [never] ? true : never = true;
void everyFieldNamed;

let statsView: Float64Array | undefined;
let statNames: readonly (keyof BusyPollStats)[] = [];
let active: BusyPoller | undefined;

function readStats(): BusyPollStats {
  const out = {} as BusyPollStats;
  for (let i = 0; i < statNames.length; i++) out[statNames[i]] = statsView ? statsView[i] : 0;
  return out;
}

/** The running mode of this thread; stop() ends it. */
export class BusyPoller {
  readonly budgetUs: number;
  readonly sliceUs: number;
  private stopped = false;
  private readonly base: BusyPollStats;

  /** @internal */
  constructor(budgetUs: number, sliceUs: number) {
    this.budgetUs = budgetUs;
    this.sliceUs = sliceUs;
    this.base = readStats();
  }

  get running(): boolean {
    return !this.stopped;
  }

  /** Counters since this busyPoll() call (read from shared memory, no native call). */
  get stats(): BusyPollStats {
    const now = readStats();
    const out = {} as BusyPollStats;
    for (const k of statNames) out[k] = now[k] - this.base[k];
    return out;
  }

  /** Stops spinning; the thread sleeps between events again. Safe to call twice. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (active === this) {
      active = undefined;
      native().busyPollStop();
    }
  }
}

/**
 * Turns busy polling on for the calling thread (main or worker) and returns
 * its handle. One at a time per thread: a second call while one runs throws
 * ERR_INVALID_STATE. The mode does not keep the process alive.
 */
export function busyPoll(options: BusyPollOptions): BusyPoller {
  const o = validateObject(options, 'options');
  const budget = o.budgetUs;
  if (typeof budget !== 'number') throw invalidArgType('options.budgetUs', 'of type number', budget);
  if (Number.isNaN(budget) || budget < 0 || (budget > MAX_BUDGET_US && budget !== Infinity)) {
    throw outOfRange('options.budgetUs', `>= 0 && <= ${MAX_BUDGET_US}, or Infinity`, budget);
  }
  let slice = 50;
  if (o.sliceUs !== undefined) {
    if (typeof o.sliceUs !== 'number') throw invalidArgType('options.sliceUs', 'of type number', o.sliceUs);
    if (!Number.isFinite(o.sliceUs) || o.sliceUs < 1 || o.sliceUs > MAX_SLICE_US) throw outOfRange('options.sliceUs', `>= 1 && <= ${MAX_SLICE_US}`, o.sliceUs);
    slice = o.sliceUs;
  }
  if (active?.running) {
    const e = new Error('busyPoll() is already running on this thread; stop() it first') as Error & { code: string };
    e.code = 'ERR_INVALID_STATE';
    throw e;
  }
  loop(); // the thread's ring and dispatch (the spin reaps into it)
  const n = native();
  if (!statsView) {
    checkLayout('busyPoll', { statNames: BUSY_POLL_STAT_NAMES });
    statsView = new Float64Array(checkValue(n.busyPollStats(), 'io_uring_setup'));
    statNames = BUSY_POLL_STAT_NAMES;
  }
  check(n.busyPollStart(budget === Infinity ? -1 : budget, slice), 'io_uring_setup');
  active = new BusyPoller(budget, slice);
  return active;
}

/** This thread's running busy poller, if any. */
export function currentBusyPoller(): BusyPoller | undefined {
  return active?.running ? active : undefined;
}

// ---------------------------------------------------------------------------
// The adaptive poll before sleeping (native/binding/adaptive_poll.cc): on by
// default, a short poll before the loop sleeps whose window adapts to how
// soon the next wake-up comes, like the kernel's halt polling.

export type { AdaptivePollSetting } from './internal/adaptive-poll';

/** What the adaptive poll has cost and found on this thread. */
export interface AdaptivePollStats {
  /** Loop turns that polled before sleeping. */
  polls: number;
  /** Polls that found work: sleeps (and wake-ups) saved. */
  hits: number;
  /** Poll iterations. */
  spins: number;
  /** Time spent polling, µs: the CPU it costs. */
  spinUs: number;
  /** Non-blocking system calls made while polling. */
  syscalls: number;
  /** The window now, µs (0: the thread sleeps at once). */
  windowUs: number;
  /** Times the poll paused itself because it did not pay (no hits, or a peer on the same CPU). */
  pauses: number;
}

export const ADAPTIVE_POLL_STAT_NAMES = ['polls', 'hits', 'spins', 'spinUs', 'syscalls', 'windowUs', 'pauses'] as const satisfies readonly (keyof AdaptivePollStats)[];
const everyAdaptiveFieldNamed: [Exclude<keyof AdaptivePollStats, (typeof ADAPTIVE_POLL_STAT_NAMES)[number]>] extends [never] ? true : never = true;
void everyAdaptiveFieldNamed;

let adaptiveView: Float64Array | undefined;

/**
 * Sets the adaptive poll's ceiling for the calling thread: the most CPU
 * time (µs) its loop may spend polling per wake-up instead of sleeping.
 * 0 turns it off. The process-wide default is RINGWIRE_ADAPTIVE_POLL_US,
 * else 50 µs. busyPoll(), while it runs, replaces it.
 */
export function adaptivePoll(options: { maxUs: number }): AdaptivePollSetting {
  const o = validateObject(options, 'options');
  const max = o.maxUs;
  if (typeof max !== 'number') throw invalidArgType('options.maxUs', 'of type number', max);
  if (!Number.isFinite(max) || max < 0 || max > ADAPTIVE_POLL_MAX_US) throw outOfRange('options.maxUs', `>= 0 && <= ${ADAPTIVE_POLL_MAX_US}`, max);
  const l = loop();
  if (l.wake !== null) check(native().adaptivePollSet(max), 'io_uring_setup');
  l.adaptivePoll = { maxUs: l.wake !== null ? max : 0, source: 'adaptivePoll()' };
  return { ...l.adaptivePoll };
}

/** The calling thread's adaptive poll: its ceiling and counters (undefined before its loop starts). */
export function adaptivePollInfo(): (AdaptivePollSetting & { stats: AdaptivePollStats }) | undefined {
  const l = currentLoop();
  if (!l) return undefined;
  if (!adaptiveView) {
    checkLayout('adaptivePoll', { statNames: ADAPTIVE_POLL_STAT_NAMES });
    adaptiveView = new Float64Array(checkValue(native().adaptivePollStats(), 'io_uring_setup'));
  }
  const stats = {} as AdaptivePollStats;
  ADAPTIVE_POLL_STAT_NAMES.forEach((k, i) => {
    stats[k] = adaptiveView![i];
  });
  return { ...l.adaptivePoll, stats };
}
