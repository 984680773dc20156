// What the SPSC and MPSC endpoints share: roles and liveness, and the
// futex waits JS cannot do itself on external memory. The layout and header
// validation are in layout.ts, format/attach in format.ts.
import * as fs from 'node:fs';
import { systemError, validateInteger, validateObject, validateOneOf, validateBoolean } from '../errors';
import { loop } from '../loop';
import { native } from '../native';
import type { RegionDependent, ShmRegion } from '../../shm';
import { closedError } from '../errors';
import { EAGAIN, ECANCELED, EINVAL, EOPNOTSUPP, ETIMEDOUT } from '../errno';
import type { CodedError } from './layout';


/** Whether `pid` runs (a zombie counts as gone). */
export function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
}

export interface PeerStatus {
  /** Pid recorded by the peer (0: none attached or detached cleanly). */
  pid: number;
  /** The peer's process still runs. */
  alive: boolean;
  /** Milliseconds since its last heartbeat (null before the first one). */
  heartbeatAgeMs: number | null;
}

export type WaitStrategy = 'spin' | 'yield' | 'block';
export interface WaitOptions {
  /** 'spin' burns the CPU, 'yield' spins then sched_yield()s, 'block' sleeps in a futex. */
  strategy?: WaitStrategy;
  /** Milliseconds; -1 (default) waits forever. */
  timeout?: number;
  /** Spins before yielding / sleeping. */
  spins?: number;
}
export interface WaitAsyncOptions {
  timeout?: number;
}
/**
 * The words of one wait (byte offsets from the ring's start): the waiter's
 * flag, its wake sequence (the futex word), the peer's fence flag (-1: none)
 * and whether other endpoints share the flag (MPSC producers).
 */
export interface WaitWords {
  flag: number;
  seq: number;
  peerFence: number;
  shared?: boolean;
}

let waitTestHook: ((step: 'armed') => void) | null = null;
/**
 * @internal Tests only: runs `fn` inside every ring wait's W1, after the flag
 * store and before the re-check, to make the protocol's interleavings
 * reproducible (the C++ twin is RW_MSGRING_TEST_HOOK).
 */
export function setWaitTestHook(fn: ((step: 'armed') => void) | null): void {
  waitTestHook = fn;
}
export interface EndpointOptions {
  /** Take the role even if a live process holds it (default false). */
  force?: boolean;
  /** Heartbeat period in ms (0 disables the timer). */
  heartbeatMs?: number;
}

const INT_MAX = 0x7fffffff;
const POOL_AGAIN = 1;

let uringFutex: boolean | undefined;

function waitBackend(): 'io_uring' | 'threadpool' {
  if (process.env.RINGWIRE_FUTEX_BACKEND === 'threadpool') return 'threadpool';
  return uringFutex === false ? 'threadpool' : 'io_uring';
}

/**
 * An asynchronous futex wait on the u32 at data offset `offset` while it
 * holds `expected`: io_uring FUTEX_WAIT on this thread's loop, or a
 * threadpool wait where the kernel lacks it. Resolves with 0 (woken or the
 * value differs), -ETIMEDOUT, or -ECANCELED (region or endpoint closed).
 */
export function futexWaitAsync(region: ShmRegion, offset: number, expected: number, timeoutMs: number): Promise<number> {
  const handle = region.nativeHandle('waitAsync');
  return new Promise<number>((resolve, reject) => {
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    // The fallback: one native waiter thread per JS thread multiplexes
    // every pending wait (futex_binding.cc). POOL_AGAIN (a slice ended,
    // wait again) is still honoured but no longer sent.
    const pool = () => {
      if (region.closed) return resolve(ECANCELED);
      const left = deadline === Infinity ? -1 : Math.max(0, Math.ceil(deadline - performance.now()));
      const r = native().futexWaitAsync(region.nativeHandle('waitAsync'), offset, expected, left, (res: number) => {
        if (res === POOL_AGAIN) pool();
        else resolve(res);
      });
      if (r < 0) reject(systemError(r, 'futex'));
    };
    if (waitBackend() === 'threadpool') return pool();
    let l: ReturnType<typeof loop>;
    try {
      l = loop();
    } catch {
      // No io_uring in this thread at all (disabled, seccomp): threadpool.
      uringFutex = false;
      return pool();
    }
    const id = native().futexWaitUring(handle, offset, expected, timeoutMs);
    if (id < 0) {
      uringFutex = false;
      return pool();
    }
    l.ref();
    l.register(id, (_kind, res) => {
      l.unregister(id);
      l.unref();
      // A kernel without IORING_OP_FUTEX_WAIT rejects the opcode: remember
      // and use the threadpool from now on.
      if ((res === EINVAL || res === EOPNOTSUPP) && uringFutex === undefined) {
        uringFutex = false;
        if (region.closed) return resolve(ECANCELED);
        return pool();
      }
      if (res === 0 || res === EAGAIN /* the value already differed */) uringFutex = true;
      resolve(res === EAGAIN ? 0 : res);
    });
  });
}

/** The active wait backend for waitAsync() in this thread. */
export function futexBackend(): 'io_uring' | 'threadpool' {
  return waitBackend();
}

export function parseWaitOptions(options: unknown): { strategy: WaitStrategy; timeout: number; spins: number } {
  const o = validateObject(options, 'options');
  const strategy = o.strategy === undefined ? 'spin' : validateOneOf(o.strategy, 'options.strategy', ['spin', 'yield', 'block'] as const);
  const timeout = o.timeout === undefined ? -1 : validateInteger(o.timeout, 'options.timeout', -1, INT_MAX);
  const spins = o.spins === undefined ? 1000 : validateInteger(o.spins, 'options.spins', 0, INT_MAX);
  return { strategy, timeout, spins };
}

export function parseTimeout(options: unknown): number {
  const o = validateObject(options, 'options');
  return o.timeout === undefined ? -1 : validateInteger(o.timeout, 'options.timeout', -1, INT_MAX);
}

/**
 * One side of a ring in this thread: typed-array views over the region, the
 * role word (pid) it holds, its heartbeat, and the wait plumbing.
 */
export abstract class RingEndpoint implements RegionDependent {
  readonly region: ShmRegion;
  /** Byte offset of the ring in the region. */
  readonly offset: number;
  /** Bytes of the whole region; message offsets index into it. */
  readonly bytes: Uint8Array;
  protected readonly u32: Uint32Array;
  protected readonly h: number;  // u32 index of the ring header
  protected closed = false;
  private readonly roleOff: number;
  private readonly heartbeatOff: number;
  private timer: NodeJS.Timeout | null = null;
  // In-flight waitAsync() calls: their resolver and futex word offset.
  private readonly waits = new Map<(r: number) => void, number>();

  protected constructor(region: ShmRegion, offset: number, roleOff: number | null, heartbeatOff: number, opts: EndpointOptions) {
    this.region = region;
    this.offset = offset;
    const buf = region.buffer;
    this.bytes = new Uint8Array(buf);
    this.u32 = new Uint32Array(buf);
    this.h = offset >> 2;
    this.roleOff = roleOff === null ? -1 : offset + roleOff;
    this.heartbeatOff = offset + heartbeatOff;
    const force = opts.force === undefined ? false : validateBoolean(opts.force, 'options.force');
    const beat = opts.heartbeatMs === undefined ? 1000 : validateInteger(opts.heartbeatMs, 'options.heartbeatMs', 0, INT_MAX);
    if (this.roleOff >= 0) this.takeRole(force);
    region.addDependent(this);
    this.heartbeat();
    if (beat > 0) {
      // A weak reference: the timer must not keep an abandoned endpoint (and
      // through it the mapping) alive.
      const self = new WeakRef(this);
      const timer = setInterval(() => {
        const e = self.deref();
        if (e) e.heartbeat();
        else clearInterval(timer);
      }, beat);
      timer.unref();
      this.timer = timer;
    }
  }

  private takeRole(force: boolean): void {
    const i = this.roleOff >> 2;
    const pid = process.pid;
    for (;;) {
      const prev = Atomics.compareExchange(this.u32, i, 0, pid);
      if (prev === 0) break;
      // A dead holder's slot may be taken over; a live one only with force.
      if (!force && processAlive(prev)) {
        const e = new Error(`ring already has a ${this.roleName()} (pid ${prev}${prev === pid ? ', this process' : ''})`) as CodedError;
        e.code = 'ERR_RINGWIRE_RING_BUSY';
        this.region.removeDependent(this);
        throw e;
      }
      if (Atomics.compareExchange(this.u32, i, prev, pid) === prev) break;
    }
    // If this thread ends (worker terminated) or the region closes without
    // close(), native code gives the role back.
    native().shmClearOnClose(this.region.nativeHandle('attach'), this.roleOff, pid, true);
  }

  protected abstract roleName(): string;

  /** Records liveness for the peer (also runs on a timer). */
  heartbeat(): void {
    if (this.closed) return;
    Atomics.store(this.u32, this.heartbeatOff >> 2, native().monotonicMs() >>> 0);
  }

  protected peerOf(pidOff: number, beatOff: number): PeerStatus {
    this.check('peer');
    const pid = Atomics.load(this.u32, (this.offset + pidOff) >> 2);
    const beat = Atomics.load(this.u32, (this.offset + beatOff) >> 2);
    const age = beat === 0 ? null : ((native().monotonicMs() >>> 0) - beat) >>> 0;
    return { pid, alive: processAlive(pid), heartbeatAgeMs: age };
  }

  protected check(op: string): void {
    if (this.closed) throw closedError(`ring ${this.roleName()}`, op);
  }

  /**
   * The wait protocol, shared by every ring wait here and in C++
   * (native/core/msgring_layout.h, "Futex words", has the full argument):
   *   W1  the waiter reads its wake sequence, stores its flag = 1, then
   *       re-reads the ring (ready());
   *   W2  the waker stores its index, then reads the flag; only if it is 1
   *       does it exchange it to 0, bump the wake sequence and FUTEX_WAKE it;
   *   W3  the waiter sleeps on the wake sequence while it holds W1's value.
   * All accesses are seq_cst (Atomics), so either W1's re-read sees the
   * index move or W2's read sees the flag (Dekker); a waker that saw it
   * bumps the sequence after W1 read it, so the sleep either is queued
   * first (the wake finds it) or compares unequal and returns at once
   * (futex(2): FUTEX_WAIT's compare and queueing are atomic against
   * FUTEX_WAKE). No wake is spent before its sleep - which is what happened
   * when W1 read the sleep word after the flag store: progress that did not
   * satisfy the waiter, landing in between, spent the flag on a wake nobody
   * heard and left the waiter asleep with its flag clear.
   */
  protected async waitFor(ready: () => boolean, w: WaitWords, timeout: number): Promise<boolean> {
    if (ready()) return true;
    const deadline = timeout < 0 ? Infinity : performance.now() + timeout;
    this.enterWait(w);
    try {
      for (;;) {
        this.check('waitAsync');
        const arm = this.arm(ready, w);
        if (arm.ready) break;
        let left = deadline === Infinity ? -1 : Math.ceil(deadline - performance.now());
        // (-1 means "forever" to the native side: a deadline just passed must not become it.)
        if (deadline !== Infinity && left <= 0) break;
        if (arm.polling) left = 1;
        const wordOff = this.offset + w.seq;
        const r = await new Promise<number>((resolve, reject) => {
          this.waits.set(resolve, wordOff);
          futexWaitAsync(this.region, wordOff, arm.expected, left).then((v) => {
            this.waits.delete(resolve);
            resolve(v);
          }, reject);
        });
        if (this.closed) throw closedError(`ring ${this.roleName()}`, 'waitAsync');
        // ECANCELED while still open: another endpoint of this thread cancelled
        // waits on the same word; just wait again.
        if (r === ETIMEDOUT && !arm.polling) break;
      }
    } finally {
      this.leaveWait(w);
    }
    return ready();
  }

  /**
   * W1. `expected` is the wake sequence W3 sleeps on; `polling`: a C++ peer
   * relies on our fence and it could not be issued, so sleep in 1 ms slices.
   */
  private arm(ready: () => boolean, w: WaitWords): { ready: boolean; polling: boolean; expected: number } {
    // seq_cst load, then seq_cst store: the sequence is read before the flag
    // is visible, so every bump by a waker that sees this flag comes after it.
    const expected = Atomics.load(this.u32, (this.offset + w.seq) >> 2);
    Atomics.store(this.u32, (this.offset + w.flag) >> 2, 1);
    if (waitTestHook) waitTestHook('armed');
    const polling = !this.fenceForPeer(w.peerFence);
    return { ready: ready(), polling, expected };
  }

  // Waits in progress per flag on this endpoint (async ones and a sync one
  // can overlap). The last to leave clears the flag, unless other endpoints
  // share it (MPSC producers): clearing it under a peer that sleeps on it
  // would lose that peer's wake-up; left set, it costs the waker one
  // FUTEX_WAKE that finds nobody.
  private readonly waiting = new Map<number, number>();

  private enterWait(w: WaitWords): void {
    this.waiting.set(w.flag, (this.waiting.get(w.flag) ?? 0) + 1);
  }

  private leaveWait(w: WaitWords): void {
    const n = (this.waiting.get(w.flag) ?? 1) - 1;
    if (n > 0) {
      this.waiting.set(w.flag, n);
      return;
    }
    this.waiting.delete(w.flag);
    // seq_cst store; a waker that reads 0 skips its FUTEX_WAKE, and nobody
    // of ours sleeps on the flag any more.
    if (!w.shared && !this.closed) Atomics.store(this.u32, (this.offset + w.flag) >> 2, 0);
  }

  /**
   * What every waitAsync() does around waitFor(): a closed endpoint or a bad
   * option rejects the promise instead of throwing. `ready` builds the
   * predicate (after the closed check, so it may validate options too).
   */
  protected waitAsyncFor(options: unknown, ready: () => () => boolean, w: WaitWords): Promise<boolean> {
    try {
      this.check('waitAsync');
      return this.waitFor(ready(), w, parseTimeout(options));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * A C++ peer that publishes without a StoreLoad fence (its fence flag is
   * set) relies on the waiter for it: membarrier() between our flag store
   * and our re-check. False when that failed: the caller must poll.
   */
  private fenceForPeer(peerFenceOff: number): boolean {
    if (peerFenceOff < 0 || Atomics.load(this.u32, (this.offset + peerFenceOff) >> 2) === 0) return true;
    return native().heavyFence() === 0;
  }

  /** Synchronous wait with the chosen strategy (block: the protocol of waitFor, in 100 ms slices). */
  protected waitSync(ready: () => boolean, w: WaitWords, options: unknown): boolean {
    const { strategy, timeout, spins } = parseWaitOptions(options);
    this.check('wait');
    const deadline = timeout < 0 ? Infinity : performance.now() + timeout;
    for (let i = 0; i < spins; i++) if (ready()) return true;
    const n = native();
    if (strategy === 'block') {
      const handle = this.region.nativeHandle('wait');
      let ok = false;
      this.enterWait(w);
      try {
        for (;;) {
          const arm = this.arm(ready, w);
          if ((ok = arm.ready)) break;
          const slice = arm.polling ? 1 : 100;
          const left = deadline === Infinity ? slice : Math.min(slice, Math.ceil(deadline - performance.now()));
          if (left <= 0) break;
          n.futexWait(handle, this.offset + w.seq, arm.expected, left);
        }
      } finally {
        this.leaveWait(w);
      }
      return ok || ready();
    }
    for (let i = 0; ; i++) {
      if (ready()) return true;
      if (strategy === 'yield') n.schedYield();
      if ((i & 255) === 0 && performance.now() >= deadline) return ready();
    }
  }

  /** W2 after the exchange: bumps the wake sequence at `seqOff`, then wakes its sleepers. */
  protected wake(seqOff: number): void {
    // seq_cst add: after the exchange that took the flag, before the wake.
    Atomics.add(this.u32, (this.offset + seqOff) >> 2, 1);
    this.wakeWord(seqOff);
  }

  private wakeWord(wordOff: number): void {
    native().futexWake(this.region.nativeHandle('wake'), this.offset + wordOff, INT_MAX);
  }

  /** Detaches this side (gives the role back); the region stays open. */
  close(): void {
    if (this.closed) return;
    if (this.roleOff >= 0 && !this.region.closed) {
      Atomics.compareExchange(this.u32, this.roleOff >> 2, process.pid, 0);
      native().shmClearOnClose(this.region.nativeHandle('close'), this.roleOff, 0, false);
    }
    this.detach();
    this.region.removeDependent(this);
  }

  /** @internal the region closed under us. */
  regionClosed(): void {
    this.detach();
  }

  private detach(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // Pending waits end now; their native halves are cancelled (a region
    // close cancels them natively).
    const handle = this.region.closed ? null : this.region.nativeHandle('close');
    for (const [resolve, off] of this.waits) {
      if (handle) native().futexCancel(handle, off);
      resolve(ECANCELED);
    }
    this.waits.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
