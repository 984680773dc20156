// The PacketRing object over a native ring handle: batches of frames read in
// place from the frame area, frame ownership checked on every release and
// send (double release, foreign offsets -> error, never a frame handed to
// the kernel twice), a transmit path, and counters read without a native
// call. Options and opening live in packet-ring.ts.
import { EventEmitter } from 'node:events';
import { closedError, invalidArgType, invalidArgValue, outOfRange, systemError, validateFunction, validateInteger } from '../errors';
import { native } from '../native';
import type { NativePacketRing, NativePacketRingLayout, PacketRingHandle } from '../native/packet';

/** Counter names, in the order of struct PacketStats (native/core/packet_backend.h, RW_PACKET_STATS); openPacketRing() refuses an addon whose list differs (checkLayout). */
export const PACKET_STAT_NAMES = [
  'rxFrames', 'rxBytes', 'rxBatches', 'txFrames', 'txBytes', 'txCompleted',
  'wakeups', 'rxKicks', 'txKicks', 'kickErrors',
  'fillRingEmpty', 'rxDropped', 'rxRingFull', 'rxInvalidDescs', 'txInvalidDescs', 'txRingEmpty',
  'rxTruncated', 'txErrors', 'txStalls', 'releaseErrors', 'statsRefreshes', 'holdoffs',
] as const;

export type PacketRingStats = Record<(typeof PACKET_STAT_NAMES)[number], number>;
export type PacketRingBackend = 'af_xdp' | 'socket' | 'ef_vi';

export interface PacketRingInfo {
  backend: PacketRingBackend;
  /** Why this backend (e.g. why 'auto' did not pick AF_XDP). */
  reason: string;
  interface: string;
  ifindex: number;
  queue: number;
  /** RX queues of the interface. */
  queueCount: number;
  port: number;
  /** AF_XDP: where the XDP program runs; null for other backends. */
  xdpMode: 'native' | 'skb' | null;
  xdpModeReason: string | null;
  /** AF_XDP: how the socket is bound; null for other backends. */
  bindMode: 'zerocopy' | 'copy' | null;
  needWakeup: boolean;
  frameSize: number;
  frameCount: number;
  rxFrameCount: number;
  txFrameCount: number;
  batchSize: number;
  /** 'auto' (adaptive), a fixed period in µs, or 0 (off). */
  coalesceUs: number | 'auto';
  busyPoll: number;
  /** Socket backend: one dual-stack socket serves IPv4 and IPv6. */
  dualStack: boolean;
}

/** Layout constants exported by the addon (native/core/packet_ring.h). */
type Layout = NativePacketRingLayout;

/** The part of the native open's result a PacketRing is built from. */
export type NativeRing = Pick<NativePacketRing, 'handle' | 'area' | 'control' | 'sections'>;

let layoutCache: Layout | undefined;
export const packetRingLayout = (): Layout => layoutCache ?? (layoutCache = native().packetRingLayout);

const STATE_NAMES = ['free (TX pool)', 'owned by the kernel', 'owned by the application', 'already released', 'reserved for sending', 'queued for sending', 'being sent'];

function notOwned(offset: number, state: number): Error {
  const err = new Error(`Frame at offset ${offset} is not the application's to give back (it is ${STATE_NAMES[state] ?? `in state ${state}`})`) as Error & { code: string };
  err.code = 'ERR_FRAME_NOT_OWNED';
  return err;
}

function ringClosed(op: string): Error {
  return closedError('Packet ring', op);
}

function receiveOnly(): Error {
  const err = new Error('Packet ring is receive-only (opened with txFrameCount: 0)') as Error & { code: string };
  err.code = 'ERR_PACKET_RING_RECEIVE_ONLY';
  return err;
}

interface Held {
  handle: PacketRingHandle;
  onGone: () => void;
}

// A ring dropped without close(): close it (and forget its queue).
const registry = new FinalizationRegistry<Held>((held) => {
  native().packetRingClose(held.handle);
  held.onGone();
});

/** One receive batch, read in place; valid until the callback returns (views until release). */
export class FrameBatch {
  /** Frames in this batch. */
  count = 0;
  constructor(private readonly ring: PacketRing, private readonly descs: Uint32Array) {}
  /** The whole frame area; frame i is umem[offset(i) .. offset(i) + length(i)). */
  get umem(): Uint8Array {
    return this.ring.umem;
  }
  /** Where frame i starts in the frame area (its Ethernet header). */
  offset(i: number): number {
    return this.descs[i * 2];
  }
  length(i: number): number {
    return this.descs[i * 2 + 1];
  }
  /** A view of frame i (allocates a view; offset()/length() do not). */
  frame(i: number): Uint8Array {
    const o = this.descs[i * 2];
    return this.ring.umem.subarray(o, o + this.descs[i * 2 + 1]);
  }
  release(i: number): void {
    this.ring.release(this.descs[i * 2]);
  }
  /** Sends frame i back out (after rewriting it in place, e.g. swapUdpFrame). */
  send(i: number, length = this.descs[i * 2 + 1]): void {
    this.ring.send(this.descs[i * 2], length);
  }
  /** Releases every frame of the batch the application still owns (not those sent or released). */
  releaseAll(): void {
    for (let i = 0; i < this.count; i++) if (this.ring.owns(this.descs[i * 2])) this.ring.release(this.descs[i * 2]);
  }
}

/** @internal Native open results openPacketRing() hands to the constructor (once each). */
export const issuedRings = new WeakSet<object>();

export class PacketRing extends EventEmitter {
  readonly info: PacketRingInfo;
  private area: Uint8Array;
  private readonly handle: PacketRingHandle;
  private readonly ctrl: Uint32Array;
  private readonly statsView: Float64Array;
  private readonly releaseQ: Uint32Array;
  private readonly stage: Uint32Array;
  private readonly reservedView: Uint32Array;
  private readonly owner: Uint8Array;
  private readonly batch: FrameBatch;
  private readonly shift: number;
  private readonly L: Layout;
  private readonly dispatchFn: (count: number, flags: number, err: number) => void;
  private cb: ((batch: FrameBatch) => void) | null = null;
  private inDispatch = false;
  private flushQueued = false;
  private wantDrain = false;
  private closed = false;
  private closing?: Promise<void>;
  private frozen?: PacketRingStats;
  private readonly onGone: () => void;

  /** @internal Use openPacketRing(); `coalesce` is the native coalescing policy (lib/packet-ring.ts), null for off. */
  constructor(r: NativeRing, info: PacketRingInfo, onGone: () => void, coalesce: number[] | null = null) {
    // The class is exported (instanceof, types) but only openPacketRing()
    // makes rings: anything else is refused before a view or native call
    // (native code checks the handle's type tag as well).
    if (!issuedRings.has(r as object)) throw invalidArgValue('ring', r, 'must come from openPacketRing()');
    issuedRings.delete(r);
    super();
    this.info = Object.freeze({ ...info });
    this.L = packetRingLayout();
    this.handle = r.handle;
    this.onGone = onGone;
    const s = r.sections;
    const n = info.frameCount;
    this.area = new Uint8Array(r.area);
    this.ctrl = new Uint32Array(r.control, s.ctrl, 16);
    this.statsView = new Float64Array(r.control, s.stats, this.L.statsFields);
    this.releaseQ = new Uint32Array(r.control, s.release, n);
    this.stage = new Uint32Array(r.control, s.stage, n * 2);
    this.reservedView = new Uint32Array(r.control, s.reserved, n);
    this.owner = new Uint8Array(r.control, s.owner, n);
    this.batch = new FrameBatch(this, new Uint32Array(r.control, s.rxDescs, info.batchSize * 2));
    this.shift = Math.log2(info.frameSize);
    this.dispatchFn = (count, flags, err) => this.dispatch(count, flags, err);
    const ret = native().packetRingStart(this.handle, this.dispatchFn, false, coalesce);
    if (ret < 0) {
      native().packetRingClose(this.handle);
      onGone();
      throw systemError(ret, 'uv_poll_init');
    }
    registry.register(this, { handle: this.handle, onGone }, this);
  }

  /** The frame area (the UMEM for AF_XDP); detached (length 0) after close. */
  get umem(): Uint8Array {
    return this.area;
  }

  /** Installs the receive callback (one call per batch); null stops receiving. */
  onBatch(cb: ((batch: FrameBatch) => void) | null): this {
    if (this.closed) throw ringClosed('onBatch');
    if (cb !== null) validateFunction(cb, 'callback');
    this.cb = cb;
    native().packetRingSetActive(this.handle, cb !== null);
    return this;
  }

  private dispatch(count: number, flags: number, err: number): void {
    if (flags & this.L.dispatchRx) {
      this.batch.count = count;
      if (this.cb) {
        this.inDispatch = true;
        try {
          this.cb(this.batch);
        } finally {
          this.inDispatch = false;
        }
      }
    }
    if (flags & this.L.dispatchTxReady) this.drained();
    if (flags & this.L.dispatchError) this.emit('error', systemError(err, 'poll', { message: `packet ring on ${this.info.interface}` }));
  }

  private frameIndex(offset: number, name: string): number {
    if (typeof offset !== 'number' || !(offset >= 0 && offset < this.area.length) || offset !== Math.floor(offset)) {
      if (this.closed) throw ringClosed(name);
      throw outOfRange(name, `a frame offset within the frame area (0 to ${this.area.length - 1})`, offset);
    }
    return offset >>> this.shift;
  }

  /** True when the frame containing `offset` is the application's (received, not yet released or sent). */
  owns(offset: number): boolean {
    if (typeof offset !== 'number') throw invalidArgType('offset', 'of type number', offset);
    const f = offset >>> this.shift;
    return !this.closed && offset >= 0 && offset < this.area.length && (this.owner[f] & this.L.frameStateMask) === this.L.frameUser;
  }

  /**
   * Gives a frame back: a received frame returns to the fill ring, a
   * reserved TX frame to the TX pool. Throws ERR_FRAME_NOT_OWNED for a frame
   * the application does not own (released twice, never received, in flight).
   */
  release(offset: number): void {
    if (this.closed) throw ringClosed('release');
    const f = this.frameIndex(offset, 'offset');
    const st = this.owner[f];
    const s = st & this.L.frameStateMask;
    if (s !== this.L.frameUser && s !== this.L.frameReserved) throw notOwned(offset, s);
    this.owner[f] = (st & this.L.frameRxHome) | this.L.frameReleased;
    this.releaseQ[this.ctrl[this.L.ctrlReleaseCount]++] = f;
    this.scheduleFlush();
  }

  /**
   * Reserves up to `count` free TX frames; returns their offsets (a view
   * valid until the next reserve). Fewer than asked: wait for 'drain'.
   */
  reserve(count: number): Uint32Array {
    if (this.closed) throw ringClosed('reserve');
    if (this.info.txFrameCount === 0) throw receiveOnly();
    validateInteger(count, 'count', 1, this.info.frameCount);
    const k = native().packetRingReserve(this.handle, count);
    if (k < 0) throw systemError(k, 'reserve');
    if (k < count) this.wantDrain = true;
    return this.reservedView.subarray(0, k);
  }

  /**
   * Queues the frame at `offset` (a reserved TX frame, or a received frame
   * rewritten in place) for transmission of `length` bytes. Frames go out
   * together at the end of the current batch callback or microtask; they
   * return to their pool when the kernel completes them.
   */
  send(offset: number, length: number): void {
    if (this.closed) throw ringClosed('send');
    if (this.info.txFrameCount === 0) throw receiveOnly();
    const f = this.frameIndex(offset, 'offset');
    const room = this.info.frameSize - (offset & (this.info.frameSize - 1));
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 1 || length > room) throw outOfRange('length', `an integer from 1 to ${room} (the rest of the frame)`, length);
    const st = this.owner[f];
    const s = st & this.L.frameStateMask;
    if (s !== this.L.frameReserved && s !== this.L.frameUser) throw notOwned(offset, s);
    this.owner[f] = (st & this.L.frameRxHome) | this.L.frameStaged;
    const c = this.ctrl[this.L.ctrlStageCount]++;
    this.stage[c * 2] = offset;
    this.stage[c * 2 + 1] = length;
    this.scheduleFlush();
  }

  /** Pushes released and queued frames to the kernel now; returns frames queued for sending. */
  flush(): number {
    if (this.closed) throw ringClosed('flush');
    const r = native().packetRingFlush(this.handle);
    if (r < 0) throw systemError(r, 'sendto', { message: `packet ring on ${this.info.interface}` });
    if (this.wantDrain && this.freeTxFrames > 0) process.nextTick(() => this.drained());
    return r;
  }

  /** 'drain': TX frames are free again after a reserve() that came up short. */
  private drained(): void {
    if (!this.wantDrain || this.closed) return;
    this.wantDrain = false;
    this.emit('drain');
  }

  private scheduleFlush(): void {
    // Inside a batch callback the native side drains both queues when the
    // callback returns; elsewhere, once per microtask burst.
    if (this.inDispatch || this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      if (this.closed) return;
      const r = native().packetRingFlush(this.handle);
      if (r < 0) this.emit('error', systemError(r, 'sendto', { message: `packet ring on ${this.info.interface}` }));
      else if (this.wantDrain && this.freeTxFrames > 0) this.drained();
    });
  }

  /** TX frames free right now (without reaping completions). */
  get freeTxFrames(): number {
    return this.closed ? 0 : this.ctrl[this.L.ctrlFreeTx];
  }

  /** Counters, read from native memory (kernel counters refresh every 200 ms; see refreshStats). */
  get stats(): PacketRingStats {
    if (this.frozen) return { ...this.frozen };
    const out = {} as PacketRingStats;
    for (let i = 0; i < PACKET_STAT_NAMES.length; i++) out[PACKET_STAT_NAMES[i]] = this.statsView[i];
    return out;
  }

  /** Reads the kernel's counters (XDP_STATISTICS, socket drops) now. */
  refreshStats(): PacketRingStats {
    if (!this.closed) native().packetRingRefreshStats(this.handle);
    return this.stats;
  }

  ref(): this {
    if (!this.closed) native().packetRingSetRef(this.handle, true);
    return this;
  }

  unref(): this {
    if (!this.closed) native().packetRingSetRef(this.handle, false);
    return this;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Detaches the XDP program (when this was its last ring), closes the
   * socket and unmaps the frame area; every view of it becomes empty.
   * Safe to call twice; inside a batch callback it completes when the
   * callback returns.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.frozen = this.refreshStats();
    this.closed = true;
    this.cb = null;
    registry.unregister(this);
    const deferred = native().packetRingClose(this.handle) === 1;
    this.area = new Uint8Array(0);
    this.onGone();
    this.closing = new Promise<void>((resolve) => {
      const done = () => {
        this.emit('close');
        resolve();
      };
      // Closed inside a batch callback: the kernel objects go when the
      // native dispatch unwinds, before the next loop phase.
      if (deferred) setImmediate(done);
      else process.nextTick(done);
    });
    return this.closing;
  }
}
