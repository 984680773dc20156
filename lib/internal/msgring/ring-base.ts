// What the SPSC and MPSC rings share: the layout (constants come from the
// native C++ headers, never duplicated here), header validation (the same
// checks, in the same order, as rw::ring::Validate), roles and liveness, and
// the futex waits JS cannot do itself on external memory.
import * as fs from 'node:fs';
import { outOfRange, invalidArgValue, systemError, validateInteger, validateObject, validateOneOf, validateBoolean } from '../errors';
import { loop } from '../loop';
import { native } from '../native';
import { type RegionDependent, ShmRegion } from '../../shm';
import { closedError } from '../errors';
import { EAGAIN, ECANCELED, EINVAL, EOPNOTSUPP, ETIMEDOUT } from '../errno';

export interface RingLayout {
  magic: number; version: number; headerSize: number; align: number;
  kindSpsc: number; kindMpsc: number; flagRecordHeader: number; recordHeader: number; padding: number;
  minCapacity: number; maxCapacity: number; slotHeader: number; minSlotSize: number; maxSlotSize: number;
  offMagic: number; offVersion: number; offHeaderSize: number; offKind: number; offFlags: number;
  offCapacity: number; offSlotSize: number; offSlotCount: number; offMaxMessage: number; offChecksum: number;
  offWriteIndex: number; offReadIndex: number; offConsumerWaiting: number; offProducerWaiting: number;
  offWakeSeq: number; offProducerPid: number; offConsumerPid: number;
  offProducerHeartbeat: number; offConsumerHeartbeat: number;
  offProducerFence: number; offConsumerFence: number;
  statusText: Record<number, string>;
}

let cachedLayout: RingLayout | undefined;
/** The ring layout constants, as compiled into the native C++ rings. */
export function ringLayout(): RingLayout {
  if (!cachedLayout) cachedLayout = native().ringLayout as RingLayout;
  return cachedLayout;
}

// Status codes shared with native/core/msgring_layout.h (enum Status).
export const Status = {
  ok: 0, tooSmall: 1, misaligned: 2, magic: 3, version: 4, headerSize: 5, kind: 6,
  flags: 7, capacity: 8, slots: 9, checksum: 10, indices: 11,
} as const;

export type CodedError = Error & { code: string; status?: number };

export function badRingError(status: number, where: string): CodedError {
  const e = new Error(`cannot attach ring at ${where}: ${ringLayout().statusText[status] ?? `status ${status}`}`) as CodedError;
  e.code = 'ERR_RINGWIRE_BAD_RING';
  e.status = status;
  return e;
}

export function corruptError(what: string): CodedError {
  const e = new Error(`ring corrupted: ${what}`) as CodedError;
  e.code = 'ERR_RINGWIRE_RING_CORRUPT';
  return e;
}

const isPow2 = (v: number) => v > 0 && (v & (v - 1)) === 0;

/** FNV-1a over the metadata line before the checksum (as rw::ring::Checksum). */
export function headerChecksum(bytes: Uint8Array, base: number): number {
  const L = ringLayout();
  let h = 2166136261;
  for (let i = 0; i < L.offChecksum; i++) h = Math.imul(h ^ bytes[base + i], 16777619) >>> 0;
  return h;
}

/** Validates the header at byte `base` of `buf` (the JS twin of rw::ring::Validate). */
export function validateRing(buf: ArrayBuffer, base: number, kind: number): number {
  const L = ringLayout();
  if (base % L.align !== 0) return Status.misaligned;
  if (buf.byteLength - base < L.headerSize) return Status.tooSmall;
  const u32 = new Uint32Array(buf, base, L.headerSize / 4);
  const w = (off: number) => u32[off >> 2];
  if (Atomics.load(u32, L.offMagic >> 2) !== L.magic) return Status.magic;
  if (w(L.offVersion) !== L.version) return Status.version;
  if (w(L.offChecksum) !== headerChecksum(new Uint8Array(buf), base)) return Status.checksum;
  if (w(L.offHeaderSize) !== L.headerSize) return Status.headerSize;
  if (w(L.offKind) !== kind) return Status.kind;
  const cap = w(L.offCapacity);
  if (!isPow2(cap) || cap < L.minCapacity || cap > L.maxCapacity) return Status.capacity;
  if (buf.byteLength - base - L.headerSize < cap) return Status.tooSmall;
  if (kind === L.kindSpsc) {
    if (w(L.offFlags) !== L.flagRecordHeader) return Status.flags;
    if (w(L.offSlotSize) || w(L.offSlotCount) || w(L.offMaxMessage) !== cap / 2 - L.recordHeader) return Status.slots;
  } else {
    if (w(L.offFlags) !== 0) return Status.flags;
    const ss = w(L.offSlotSize);
    const sc = w(L.offSlotCount);
    if (!isPow2(ss) || ss < 16 || !isPow2(sc) || sc < 2 || ss * sc !== cap || w(L.offMaxMessage) !== ss - 8) return Status.slots;
  }
  for (let off = 36; off < 60; off += 4) if (w(off)) return Status.checksum;
  const limit = kind === L.kindSpsc ? cap : w(L.offSlotCount);
  for (let attempt = 0; ; attempt++) {
    const r = Atomics.load(u32, L.offReadIndex >> 2);
    const wi = Atomics.load(u32, L.offWriteIndex >> 2);
    const aligned = kind !== L.kindSpsc || ((r | wi) & 7) === 0;
    if (aligned && ((wi - r) >>> 0) <= limit) break;
    if (attempt === 3) return Status.indices;
  }
  return Status.ok;
}

export function validateRingOffset(region: ShmRegion, offset: unknown): number {
  if (!(region instanceof ShmRegion)) throw invalidArgValue('region', region, 'must be a ShmRegion');
  const L = ringLayout();
  const off = validateInteger(offset, 'options.offset', 0, Math.max(0, region.size - L.headerSize));
  if (off % L.align !== 0) throw outOfRange('options.offset', `a multiple of ${L.align}`, off);
  return off;
}

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
   * Sleeps until `ready()` or timeout: sets the waiting flag, re-checks,
   * then waits on the futex word while it still holds the value seen.
   */
  protected async waitFor(ready: () => boolean, flagOff: number, wordOff: number, peerFenceOff: number, timeout: number): Promise<boolean> {
    if (ready()) return true;
    const flag = (this.offset + flagOff) >> 2;
    const wordIdx = (this.offset + wordOff) >> 2;
    const deadline = timeout < 0 ? Infinity : performance.now() + timeout;
    for (;;) {
      this.check('waitAsync');
      // seq_cst (Atomics): the flag is visible before we re-read the word;
      // the peer stores the word before it reads the flag, so one of us sees the other.
      Atomics.store(this.u32, flag, 1);
      const polling = !this.fenceForPeer(peerFenceOff);
      const seen = Atomics.load(this.u32, wordIdx);
      if (ready()) break;
      let left = deadline === Infinity ? -1 : Math.ceil(deadline - performance.now());
      // (-1 means "forever" to the native side: a deadline just passed must not become it.)
      if (deadline !== Infinity && left <= 0) break;
      if (polling) left = 1;
      const r = await new Promise<number>((resolve, reject) => {
        this.waits.set(resolve, this.offset + wordOff);
        futexWaitAsync(this.region, this.offset + wordOff, seen, left).then((v) => {
          this.waits.delete(resolve);
          resolve(v);
        }, reject);
      });
      if (this.closed) throw closedError(`ring ${this.roleName()}`, 'waitAsync');
      // ECANCELED while still open: another endpoint of this thread cancelled
      // waits on the same word; just wait again.
      if (r === ETIMEDOUT && !polling) break;
    }
    if (!this.closed) Atomics.store(this.u32, flag, 0);
    return ready();
  }

  /**
   * What every waitAsync() does around waitFor(): a closed endpoint or a bad
   * option rejects the promise instead of throwing. `ready` builds the
   * predicate (after the closed check, so it may validate options too).
   */
  protected waitAsyncFor(options: unknown, ready: () => () => boolean, flagOff: number, wordOff: number, peerFenceOff: number): Promise<boolean> {
    try {
      this.check('waitAsync');
      return this.waitFor(ready(), flagOff, wordOff, peerFenceOff, parseTimeout(options));
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

  /** Synchronous wait with the chosen strategy. */
  protected waitSync(ready: () => boolean, flagOff: number, wordOff: number, peerFenceOff: number, options: unknown): boolean {
    const { strategy, timeout, spins } = parseWaitOptions(options);
    this.check('wait');
    const deadline = timeout < 0 ? Infinity : performance.now() + timeout;
    for (let i = 0; i < spins; i++) if (ready()) return true;
    const n = native();
    if (strategy === 'block') {
      const flag = (this.offset + flagOff) >> 2;
      const wordIdx = (this.offset + wordOff) >> 2;
      const handle = this.region.nativeHandle('wait');
      let ok = false;
      for (;;) {
        Atomics.store(this.u32, flag, 1);
        const slice = this.fenceForPeer(peerFenceOff) ? 100 : 1;
        const seen = Atomics.load(this.u32, wordIdx);
        if ((ok = ready())) break;
        const left = deadline === Infinity ? slice : Math.min(slice, Math.ceil(deadline - performance.now()));
        if (left <= 0) break;
        n.futexWait(handle, this.offset + wordOff, seen, left);
      }
      Atomics.store(this.u32, flag, 0);
      return ok || ready();
    }
    for (let i = 0; ; i++) {
      if (ready()) return true;
      if (strategy === 'yield') n.schedYield();
      if ((i & 255) === 0 && performance.now() >= deadline) return ready();
    }
  }

  protected wakeWord(wordOff: number): void {
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
