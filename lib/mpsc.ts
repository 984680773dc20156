// MPSC ring, LMAX-style (the JS twin of native/core/msgring_mpsc.h): producers
// in any thread or process claim sequences with a CAS, fill their slots and
// publish each slot by storing its sequence; the single consumer reads in
// sequence order. Fixed-size slots; see the layout in native/core/msgring_mpsc.h.
import { assertAttached, invalidArgType, outOfRange, validatePowerOfTwo, validateObject } from './internal/errors';
import {
  type EndpointOptions, type PeerStatus, RingEndpoint, type WaitOptions, type WaitAsyncOptions,
} from './internal/msgring/ring-base';
import { corruptError, ringLayout } from './internal/msgring/layout';
import { attachHeader, attachOffset, formatRing } from './internal/msgring/format';
import type { ShmRegion } from './shm';

export interface MpscFormatOptions {
  offset?: number;
  /** Bytes per slot, header (8 bytes) included: a power of two, 16 B to 1 MiB. */
  slotSize: number;
  /** Number of slots: a power of two >= 2. */
  slotCount: number;
}

export class MpscRing {
  readonly region: ShmRegion;
  readonly offset: number;
  readonly slotSize: number;
  readonly slotCount: number;
  /** Largest payload per message (slotSize - 8). */
  readonly maxMessage: number;

  private constructor(region: ShmRegion, offset: number) {
    const L = ringLayout();
    const u32 = attachHeader(region, offset, L.kindMpsc);
    this.region = region;
    this.offset = offset;
    this.slotSize = u32[L.offSlotSize >> 2];
    this.slotCount = u32[L.offSlotCount >> 2];
    this.maxMessage = u32[L.offMaxMessage >> 2];
  }

  static bytesNeeded(slotSize: number, slotCount: number): number {
    const L = ringLayout();
    validatePowerOfTwo(slotSize, 'slotSize', L.minSlotSize, L.maxSlotSize);
    validatePowerOfTwo(slotCount, 'slotCount', 2, L.maxCapacity / slotSize);
    return L.headerSize + slotSize * slotCount;
  }

  static format(region: ShmRegion, options: MpscFormatOptions): MpscRing {
    const L = ringLayout();
    const offset = attachOffset(region, options);
    const slotSize = validatePowerOfTwo(options.slotSize, 'options.slotSize', L.minSlotSize, L.maxSlotSize);
    const slotCount = validatePowerOfTwo(options.slotCount, 'options.slotCount', Math.max(2, L.minCapacity / slotSize), L.maxCapacity / slotSize);
    formatRing(region, offset, L.kindMpsc, slotSize, slotCount, slotSize * slotCount,
      (room) => outOfRange('options.slotCount', `small enough to fit the region (${room} bytes after the header)`, slotCount));
    return new MpscRing(region, offset);
  }

  static attach(region: ShmRegion, options: { offset?: number } = {}): MpscRing {
    return new MpscRing(region, attachOffset(region, options));
  }

  /** A producer; any number may exist, in any thread or process. */
  producer(options: EndpointOptions = {}): MpscProducer {
    return new MpscProducer(this, validateObject(options, 'options'));
  }

  /** The single consumer (ERR_RINGWIRE_RING_BUSY if a live one exists). */
  consumer(options: EndpointOptions = {}): MpscConsumer {
    return new MpscConsumer(this, validateObject(options, 'options'));
  }
}

abstract class MpscEndpoint extends RingEndpoint {
  readonly slotSize: number;
  readonly slotCount: number;
  readonly maxMessage: number;
  protected readonly mask: number;
  protected readonly data: number;
  protected readonly wIdx: number;
  protected readonly rIdx: number;

  protected constructor(ring: MpscRing, role: number | null, beat: number, opts: EndpointOptions) {
    super(ring.region, ring.offset, role, beat, opts);
    const L = ringLayout();
    this.slotSize = ring.slotSize;
    this.slotCount = ring.slotCount;
    this.maxMessage = ring.maxMessage;
    this.mask = ring.slotCount - 1;
    this.data = ring.offset + L.headerSize;
    this.wIdx = this.h + (L.offWriteIndex >> 2);
    this.rIdx = this.h + (L.offReadIndex >> 2);
  }

  /** Byte offset (in `bytes`) of the payload of sequence `seq`. */
  payloadOffset(seq: number): number {
    if (typeof seq !== 'number') throw invalidArgType('seq', 'of type number', seq);
    return this.data + (seq & this.mask) * this.slotSize + 8;
  }
}

export class MpscProducer extends MpscEndpoint {
  private cachedRead: number;
  private readonly cwIdx: number;

  /** @internal use MpscRing.producer(). */
  constructor(ring: MpscRing, opts: EndpointOptions) {
    const L = ringLayout();
    // Producers hold no role word (there are many); liveness is the consumer's.
    super(ring, null, L.offProducerHeartbeat, opts);
    this.cachedRead = Atomics.load(this.u32, this.rIdx);
    this.cwIdx = this.h + (L.offConsumerWaiting >> 2);
    // Informational only: the most recently attached producer.
    Atomics.store(this.u32, this.h + (L.offProducerPid >> 2), process.pid);
  }

  protected roleName(): string {
    return 'producer';
  }

  /**
   * Claims `count` consecutive sequences; returns the first, or -1 when
   * fewer slots are free. Each must then be published.
   */
  tryClaim(count = 1): number {
    if (this.closed) this.check('tryClaim');
    if (typeof count !== 'number') throw invalidArgType('count', 'of type number', count);
    if (!(count >= 1 && count <= this.slotCount) || (count | 0) !== count) throw outOfRange('count', `an integer from 1 to ${this.slotCount}`, count);
    const u32 = this.u32;
    let c = Atomics.load(u32, this.wIdx);
    for (;;) {
      if (((c - this.cachedRead) >>> 0) + count > this.slotCount) {
        const r = Atomics.load(u32, this.rIdx);
        const used = (c - r) | 0;
        if (used < 0) {
          // Our c is stale: other producers claimed and the consumer read
          // past it meanwhile. Not corruption; look again.
          this.cachedRead = r;
          c = Atomics.load(u32, this.wIdx);
          continue;
        }
        if (used > this.slotCount) throw corruptError(`readIndex ${r} is impossible (writeIndex ${c})`);
        this.cachedRead = r;
        if (used + count > this.slotCount) return -1;
      }
      // The CAS only reserves sequence numbers; visibility comes from publish().
      const prev = Atomics.compareExchange(u32, this.wIdx, c, (c + count) >>> 0);
      if (prev === c) return c;
      c = prev;
    }
  }

  /** Makes sequence `seq` visible with `length` payload bytes. */
  publish(seq: number, length: number): void {
    if (this.closed) this.check('publish');
    if (typeof seq !== 'number') throw invalidArgType('seq', 'of type number', seq);
    if (typeof length !== 'number') throw invalidArgType('length', 'of type number', length);
    if (!(length >= 0 && length <= this.maxMessage) || (length | 0) !== length) throw outOfRange('length', `an integer from 0 to ${this.maxMessage}`, length);
    const slot = (this.data + (seq & this.mask) * this.slotSize) >> 2;
    this.u32[slot + 1] = length;
    // seq_cst store: payload and length are visible before the marker, the
    // marker before we read consumerWaiting.
    Atomics.store(this.u32, slot, (seq + 1) >>> 0);
    // W2 (ring-base.ts waitFor): take the flag, then bump and wake the
    // consumer's wake sequence.
    if (Atomics.load(this.u32, this.cwIdx) !== 0 && Atomics.exchange(this.u32, this.cwIdx, 0) !== 0) {
      this.wake(ringLayout().offConsumerWakeSeq);
    }
  }

  /** Claim + copy + publish one message; false when full. */
  write(data: ArrayBufferView): boolean {
    if (!ArrayBuffer.isView(data)) throw invalidArgType('data', 'an instance of Buffer, TypedArray, or DataView', data);
    assertAttached(data, 'data');
    const src = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (src.length > this.maxMessage) throw outOfRange('data.byteLength', `at most ${this.maxMessage} (the ring's maxMessage)`, src.length);
    const seq = this.tryClaim(1);
    if (seq < 0) return false;
    this.bytes.set(src, this.payloadOffset(seq));
    this.publish(seq, src.length);
    return true;
  }

  private readonly hasRoom = (): boolean =>
    ((Atomics.load(this.u32, this.wIdx) - Atomics.load(this.u32, this.rIdx)) >>> 0) < this.slotCount;

  /** Waits synchronously until a slot is free. */
  wait(options: WaitOptions = {}): boolean {
    const L = ringLayout();
    return this.waitSync(this.hasRoom, { flag: L.offProducerWaiting, seq: L.offProducerWakeSeq, peerFence: -1, shared: true }, options);
  }

  /** Resolves true once a slot is free, false on timeout. */
  waitAsync(options: WaitAsyncOptions = {}): Promise<boolean> {
    const L = ringLayout();
    return this.waitAsyncFor(options, () => this.hasRoom, { flag: L.offProducerWaiting, seq: L.offProducerWakeSeq, peerFence: -1, shared: true });
  }

  /** The consumer's liveness. */
  peer(): PeerStatus {
    const L = ringLayout();
    return this.peerOf(L.offConsumerPid, L.offConsumerHeartbeat);
  }
}

export class MpscConsumer extends MpscEndpoint {
  messageLength = 0;
  private readPos: number;
  private released: number;
  private readonly pwIdx: number;
  private beats = 0;

  /** @internal use MpscRing.consumer(). */
  constructor(ring: MpscRing, opts: EndpointOptions) {
    const L = ringLayout();
    super(ring, L.offConsumerPid, L.offConsumerHeartbeat, opts);
    this.readPos = this.released = Atomics.load(this.u32, this.rIdx);
    this.pwIdx = this.h + (L.offProducerWaiting >> 2);
  }

  protected roleName(): string {
    return 'consumer';
  }

  /** Payload offset of the next message in sequence, or -1 if it is not published yet. */
  tryRead(): number {
    if (this.closed) this.check('tryRead');
    const slot = (this.data + (this.readPos & this.mask) * this.slotSize) >> 2;
    // Atomics.load (acquire): pairs with publish(); the payload is complete.
    if (Atomics.load(this.u32, slot) !== ((this.readPos + 1) >>> 0)) return -1;
    const len = this.u32[slot + 1];
    if (len > this.maxMessage) throw corruptError(`slot length ${len} exceeds maxMessage ${this.maxMessage}`);
    this.messageLength = len;
    this.readPos = (this.readPos + 1) >>> 0;
    return (slot << 2) + 8;
  }

  read(): Uint8Array | null {
    const off = this.tryRead();
    return off < 0 ? null : this.bytes.subarray(off, off + this.messageLength);
  }

  /** Frees every slot read so far (one store). */
  release(): void {
    if (this.readPos === this.released || this.closed) return;
    this.released = this.readPos;
    // seq_cst store, then the flag (W2 of ring-base.ts waitFor); a taken
    // flag bumps and wakes the producers' wake sequence.
    Atomics.store(this.u32, this.rIdx, this.released);
    if (Atomics.load(this.u32, this.pwIdx) !== 0 && Atomics.exchange(this.u32, this.pwIdx, 0) !== 0) {
      this.wake(ringLayout().offProducerWakeSeq);
    }
    if (++this.beats === 4096) {
      this.beats = 0;
      this.heartbeat();
    }
  }

  poll(fn: (payload: Uint8Array) => void, max = Infinity): number {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    if (typeof max !== 'number' || Number.isNaN(max)) throw invalidArgType('max', 'a number', max);
    let n = 0;
    try {
      while (n < max) {
        const off = this.tryRead();
        if (off < 0) break;
        n++;
        fn(this.bytes.subarray(off, off + this.messageLength));
      }
    } finally {
      if (!this.closed) this.release();
    }
    return n;
  }

  /**
   * A sequence was claimed but is still unpublished: a producer is slow or
   * died between claim and publish (the ring cannot pass that hole).
   */
  stalled(): boolean {
    this.check('stalled');
    return Atomics.load(this.u32, this.wIdx) !== this.readPos && !this.ready();
  }

  private readonly ready = (): boolean =>
    Atomics.load(this.u32, (this.data + (this.readPos & this.mask) * this.slotSize) >> 2) === ((this.readPos + 1) >>> 0);

  wait(options: WaitOptions = {}): boolean {
    const L = ringLayout();
    return this.waitSync(this.ready, { flag: L.offConsumerWaiting, seq: L.offConsumerWakeSeq, peerFence: -1 }, options);
  }

  waitAsync(options: WaitAsyncOptions = {}): Promise<boolean> {
    const L = ringLayout();
    return this.waitAsyncFor(options, () => this.ready, { flag: L.offConsumerWaiting, seq: L.offConsumerWakeSeq, peerFence: -1 });
  }

  /** Liveness of the most recent producer heartbeat (pid is not tracked for many producers). */
  peer(): PeerStatus {
    const L = ringLayout();
    return this.peerOf(L.offProducerPid, L.offProducerHeartbeat);
  }

  override close(): void {
    if (!this.closed && !this.region.closed) this.release();
    super.close();
  }
}
