// SPSC message ring over a shared region: the JS twin of
// native/core/msgring_spsc.h (same bytes, same protocol), so either side may be
// JS or C++, in this process, a worker or another process. The hot path is
// typed-array arithmetic plus one Atomics store per batch: no native call
// per message. See the byte-by-byte layout in native/core/msgring_layout.h.
import { assertAttached, invalidArgType, outOfRange, validateInteger, validatePowerOfTwo, validateObject } from './internal/errors';
import {
  type EndpointOptions, type PeerStatus, RingEndpoint, type WaitOptions, type WaitAsyncOptions,
} from './internal/msgring/ring-base';
import { corruptError, ringLayout } from './internal/msgring/layout';
import { attachHeader, attachOffset, formatRing } from './internal/msgring/format';
import type { ShmRegion } from './shm';

export interface SpscFormatOptions {
  /** Byte offset of the ring in the region (multiple of 64, default 0). */
  offset?: number;
  /** Data bytes: a power of two, 64 B to 1 GiB. The header adds 512 bytes. */
  capacity: number;
}

function rangeTooLarge(length: unknown, max: number): RangeError {
  return outOfRange('length', `an integer from 0 to ${max} (the ring's maxMessage)`, length);
}

function badType(type: unknown): RangeError {
  return outOfRange('type', 'a 32-bit unsigned integer', type);
}

/** A formatted SPSC ring inside a region; hands out its two endpoints. */
export class SpscRing {
  readonly region: ShmRegion;
  readonly offset: number;
  readonly capacity: number;
  /** Largest payload one message may carry (capacity / 2 - 8). */
  readonly maxMessage: number;

  private constructor(region: ShmRegion, offset: number) {
    const L = ringLayout();
    const u32 = attachHeader(region, offset, L.kindSpsc);
    this.region = region;
    this.offset = offset;
    this.capacity = u32[L.offCapacity >> 2];
    this.maxMessage = u32[L.offMaxMessage >> 2];
  }

  /** Bytes a ring of `capacity` takes in a region (header included). */
  static bytesNeeded(capacity: number): number {
    validatePowerOfTwo(capacity, 'capacity', ringLayout().minCapacity, ringLayout().maxCapacity);
    return ringLayout().headerSize + capacity;
  }

  /** Writes a fresh ring header (nobody may be attached) and attaches. */
  static format(region: ShmRegion, options: SpscFormatOptions): SpscRing {
    const L = ringLayout();
    const offset = attachOffset(region, options);
    const capacity = validatePowerOfTwo(options.capacity, 'options.capacity', L.minCapacity, L.maxCapacity);
    formatRing(region, offset, L.kindSpsc, capacity, 0, capacity,
      (room) => outOfRange('options.capacity', `at most the region's room after the header (${room} bytes)`, capacity));
    return new SpscRing(region, offset);
  }

  /** Attaches to a ring another party formatted; a bad header throws ERR_RINGWIRE_BAD_RING. */
  static attach(region: ShmRegion, options: { offset?: number } = {}): SpscRing {
    return new SpscRing(region, attachOffset(region, options));
  }

  /** The producing side (one per ring at a time: ERR_RINGWIRE_RING_BUSY otherwise). */
  producer(options: EndpointOptions = {}): SpscProducer {
    return new SpscProducer(this, validateObject(options, 'options'));
  }

  /** The consuming side (one per ring at a time). */
  consumer(options: EndpointOptions = {}): SpscConsumer {
    return new SpscConsumer(this, validateObject(options, 'options'));
  }
}

/** What both SPSC endpoints hold: the ring's sizes and the u32 indices of its two indices. */
abstract class SpscEndpoint extends RingEndpoint {
  readonly capacity: number;
  readonly maxMessage: number;
  protected readonly mask: number;
  protected readonly data: number;   // byte offset of the data area in the region
  protected readonly wIdx: number;   // u32 index of writeIndex
  protected readonly rIdx: number;   // u32 index of readIndex

  protected constructor(ring: SpscRing, role: number, beat: number, opts: EndpointOptions) {
    super(ring.region, ring.offset, role, beat, opts);
    const L = ringLayout();
    this.capacity = ring.capacity;
    this.maxMessage = ring.maxMessage;
    this.mask = ring.capacity - 1;
    this.data = ring.offset + L.headerSize;
    this.wIdx = this.h + (L.offWriteIndex >> 2);
    this.rIdx = this.h + (L.offReadIndex >> 2);
  }
}

export class SpscProducer extends SpscEndpoint {
  private readonly cwIdx: number;    // consumerWaiting
  private claimPos: number;
  private committed: number;
  private cachedRead: number;
  private beats = 0;

  /** @internal use SpscRing.producer(). */
  constructor(ring: SpscRing, opts: EndpointOptions) {
    const L = ringLayout();
    super(ring, L.offProducerPid, L.offProducerHeartbeat, opts);
    this.cwIdx = this.h + (L.offConsumerWaiting >> 2);
    this.claimPos = this.committed = Atomics.load(this.u32, this.wIdx);
    this.cachedRead = Atomics.load(this.u32, this.rIdx);
  }

  protected roleName(): string {
    return 'producer';
  }

  /**
   * Claims room for one message of `length` bytes and returns the byte
   * offset (into `bytes` / the region's buffer) where its payload goes, or
   * -1 when the ring is full. Nothing is visible until commit().
   */
  tryClaim(length: number, type = 0): number {
    if (this.closed) this.check('tryClaim');
    // typeof first: a comparison would coerce (and throw for a Symbol).
    if (typeof length !== 'number') throw invalidArgType('length', 'of type number', length);
    if (!(length >= 0 && length <= this.maxMessage) || (length | 0) !== length) throw rangeTooLarge(length, this.maxMessage);
    if (typeof type !== 'number') throw invalidArgType('type', 'of type number', type);
    if (type >>> 0 !== type) throw badType(type);
    const need = 8 + ((length + 7) & ~7);
    let pos = this.claimPos;
    let off = pos & this.mask;
    const toEnd = this.capacity - off;
    const total = need > toEnd ? need + toEnd : need;
    if (((pos - this.cachedRead) >>> 0) + total > this.capacity) {
      // Atomics.load (acquire): the consumer is done with what it released.
      const r = Atomics.load(this.u32, this.rIdx);
      const used = (pos - r) >>> 0;
      if (used > this.capacity || (r & 7) !== 0) throw corruptError(`readIndex ${r} is impossible (writeIndex ${pos})`);
      this.cachedRead = r;
      if (used + total > this.capacity) return -1;
    }
    const u32 = this.u32;
    if (need > toEnd) {
      // A record never wraps: pad out the lap and start again at 0.
      u32[(this.data + off) >> 2] = 0xffffffff;
      pos = (pos + toEnd) >>> 0;
      off = 0;
    }
    const at = (this.data + off) >> 2;
    u32[at] = length;
    u32[at + 1] = type;
    this.claimPos = (pos + need) >>> 0;
    return this.data + off + 8;
  }

  /** tryClaim() returning a view of the payload (null when full). */
  claim(length: number, type = 0): Uint8Array | null {
    const off = this.tryClaim(length, type);
    return off < 0 ? null : this.bytes.subarray(off, off + length);
  }

  /** Claims and copies one message (no commit). False when full. */
  write(data: ArrayBufferView, type = 0): boolean {
    if (!ArrayBuffer.isView(data)) throw invalidArgType('data', 'an instance of Buffer, TypedArray, or DataView', data);
    assertAttached(data, 'data');
    const src = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const off = this.tryClaim(src.length, type);
    if (off < 0) return false;
    this.bytes.set(src, off);
    return true;
  }

  /** write() + commit(). */
  send(data: ArrayBufferView, type = 0): boolean {
    if (!this.write(data, type)) return false;
    this.commit();
    return true;
  }

  /**
   * Publishes every claimed message with one store. Wakes the consumer
   * (one futex syscall) only if it flagged itself as sleeping.
   */
  commit(): void {
    if (this.claimPos === this.committed || this.closed) return;
    this.committed = this.claimPos;
    // Atomics.store is seq_cst: the records written above are visible
    // before the index (release), and the index before we read the flag.
    // W2 of the wait protocol (ring-base.ts waitFor): take the flag, then
    // bump and wake the consumer's wake sequence.
    Atomics.store(this.u32, this.wIdx, this.committed);
    if (Atomics.load(this.u32, this.cwIdx) !== 0 && Atomics.exchange(this.u32, this.cwIdx, 0) !== 0) {
      this.wake(ringLayout().offConsumerWakeSeq);
    }
    if (++this.beats === 4096) {
      this.beats = 0;
      this.heartbeat();
    }
  }

  /** Bytes currently free (a message needs 8 + its length rounded up to 8, plus padding at a lap end). */
  get freeBytes(): number {
    this.check('freeBytes');
    return this.capacity - ((this.claimPos - Atomics.load(this.u32, this.rIdx)) >>> 0);
  }

  private fits(length: number): () => boolean {
    const need = 8 + ((length + 7) & ~7);
    return () => {
      const toEnd = this.capacity - (this.claimPos & this.mask);
      const total = need > toEnd ? need + toEnd : need;
      return ((this.claimPos - Atomics.load(this.u32, this.rIdx)) >>> 0) + total <= this.capacity;
    };
  }

  private lengthArg(options: { length?: number }): number {
    const len = options.length === undefined ? 0 : validateInteger(options.length, 'options.length', 0);
    if (len > this.maxMessage) throw rangeTooLarge(len, this.maxMessage);
    return len;
  }

  /** Waits (synchronously) until a message of `length` bytes fits. */
  wait(options: WaitOptions & { length?: number } = {}): boolean {
    const L = ringLayout();
    return this.waitSync(this.fits(this.lengthArg(validateObject(options, 'options'))), { flag: L.offProducerWaiting, seq: L.offProducerWakeSeq, peerFence: L.offConsumerFence }, options);
  }

  /** Resolves true once a message of `length` bytes fits, false on timeout. Never blocks the event loop. */
  waitAsync(options: WaitAsyncOptions & { length?: number } = {}): Promise<boolean> {
    const L = ringLayout();
    return this.waitAsyncFor(options, () => this.fits(this.lengthArg(validateObject(options, 'options'))),
      { flag: L.offProducerWaiting, seq: L.offProducerWakeSeq, peerFence: L.offConsumerFence });
  }

  /** The consumer's liveness. */
  peer(): PeerStatus {
    const L = ringLayout();
    return this.peerOf(L.offConsumerPid, L.offConsumerHeartbeat);
  }

  /**
   * Detaches. Claims not yet committed are dropped, never published: a
   * half-written message must not become visible.
   */
  override close(): void {
    this.claimPos = this.committed;
    super.close();
  }
}

export class SpscConsumer extends SpscEndpoint {
  /** Payload length of the message tryRead() returned last. */
  messageLength = 0;
  /** Type tag of the message tryRead() returned last. */
  messageType = 0;
  private readonly pwIdx: number;    // producerWaiting
  private readPos: number;
  private released: number;
  private cachedWrite: number;
  private beats = 0;

  /** @internal use SpscRing.consumer(). */
  constructor(ring: SpscRing, opts: EndpointOptions) {
    const L = ringLayout();
    super(ring, L.offConsumerPid, L.offConsumerHeartbeat, opts);
    this.pwIdx = this.h + (L.offProducerWaiting >> 2);
    this.readPos = this.released = Atomics.load(this.u32, this.rIdx);
    this.cachedWrite = Atomics.load(this.u32, this.wIdx);
  }

  protected roleName(): string {
    return 'consumer';
  }

  /**
   * The next committed message: returns the byte offset of its payload in
   * `bytes` (valid until release()) and sets messageLength / messageType,
   * or returns -1 when there is none. Throws ERR_RINGWIRE_RING_CORRUPT
   * instead of ever reading outside the ring.
   */
  tryRead(): number {
    if (this.closed) this.check('tryRead');
    let pos = this.readPos;
    if (pos === this.cachedWrite) {
      // Atomics.load (acquire): pairs with the producer's commit.
      const w = Atomics.load(this.u32, this.wIdx);
      if (w === pos) return -1;
      if (((w - this.released) >>> 0) > this.capacity || (w & 7) !== 0) throw corruptError(`writeIndex ${w} is impossible (readIndex ${this.released})`);
      this.cachedWrite = w;
    }
    const u32 = this.u32;
    let off = pos & this.mask;
    let len = u32[(this.data + off) >> 2];
    if (len === 0xffffffff) {
      // The lap's rest must lie inside the committed data (a padding record
      // is never committed alone); otherwise the jump would carry readPos
      // past the write index into stale records.
      if (((this.cachedWrite - pos) >>> 0) <= this.capacity - off) throw corruptError('padding record outside the committed data');
      pos = (pos + this.capacity - off) >>> 0;
      off = 0;
      len = u32[this.data >> 2];
    }
    if (len > this.maxMessage) throw corruptError(`record length ${len} exceeds maxMessage ${this.maxMessage}`);
    const need = 8 + ((len + 7) & ~7);
    if (((this.cachedWrite - pos) >>> 0) < need || off + need > this.capacity) throw corruptError('record runs past the committed data');
    this.messageLength = len;
    this.messageType = u32[((this.data + off) >> 2) + 1];
    this.readPos = (pos + need) >>> 0;
    return this.data + off + 8;
  }

  /** tryRead() as a zero-copy view (valid until release()), or null. */
  read(): Uint8Array | null {
    const off = this.tryRead();
    return off < 0 ? null : this.bytes.subarray(off, off + this.messageLength);
  }

  /** Returns everything read so far to the producer (one store). */
  release(): void {
    if (this.readPos === this.released || this.closed) return;
    this.released = this.readPos;
    // seq_cst store: our reads finish before the producer may reuse the
    // bytes, and the index is visible before we read producerWaiting.
    // W2 (ring-base.ts waitFor): take the flag, then bump and wake the
    // producer's wake sequence.
    Atomics.store(this.u32, this.rIdx, this.released);
    if (Atomics.load(this.u32, this.pwIdx) !== 0 && Atomics.exchange(this.u32, this.pwIdx, 0) !== 0) {
      this.wake(ringLayout().offProducerWakeSeq);
    }
    if (++this.beats === 4096) {
      this.beats = 0;
      this.heartbeat();
    }
  }

  /** Reads up to `max` messages, calling fn(view, type) for each, then releases. Returns the count. */
  poll(fn: (payload: Uint8Array, type: number) => void, max = Infinity): number {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    if (typeof max !== 'number' || Number.isNaN(max)) throw invalidArgType('max', 'a number', max);
    let n = 0;
    try {
      while (n < max) {
        const off = this.tryRead();
        if (off < 0) break;
        n++;
        fn(this.bytes.subarray(off, off + this.messageLength), this.messageType);
      }
    } finally {
      if (!this.closed) this.release();
    }
    return n;
  }

  /** Whether a committed message is waiting. */
  hasMessages(): boolean {
    this.check('hasMessages');
    return Atomics.load(this.u32, this.wIdx) !== this.readPos;
  }

  private readonly ready = (): boolean => Atomics.load(this.u32, this.wIdx) !== this.readPos;

  /** Waits synchronously for a message: 'spin', 'yield' or 'block' (futex). */
  wait(options: WaitOptions = {}): boolean {
    const L = ringLayout();
    return this.waitSync(this.ready, { flag: L.offConsumerWaiting, seq: L.offConsumerWakeSeq, peerFence: L.offProducerFence }, options);
  }

  /** Resolves true when a message is there, false on timeout; never blocks the event loop. */
  waitAsync(options: WaitAsyncOptions = {}): Promise<boolean> {
    const L = ringLayout();
    return this.waitAsyncFor(options, () => this.ready, { flag: L.offConsumerWaiting, seq: L.offConsumerWakeSeq, peerFence: L.offProducerFence });
  }

  /** The producer's liveness. */
  peer(): PeerStatus {
    const L = ringLayout();
    return this.peerOf(L.offProducerPid, L.offProducerHeartbeat);
  }

  /** Releases what was read, then detaches. */
  override close(): void {
    if (!this.closed && !this.region.closed) this.release();
    super.close();
  }
}
