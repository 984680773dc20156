// The message-ring layout as JS sees it: the constants (read from the native
// C++ headers, native/core/msgring_layout.h, never duplicated here), the
// attach status codes and errors, and header validation (the same checks, in
// the same order, as rw::ring::Validate).
import { outOfRange, invalidArgValue, validateInteger } from '../errors';
import { native } from '../native';
import type { NativeRingLayout } from '../native/msgring';
import { ShmRegion } from '../../shm';

export type RingLayout = NativeRingLayout;

let cachedLayout: RingLayout | undefined;
/** The ring layout constants, as compiled into the native C++ rings. */
export function ringLayout(): RingLayout {
  if (!cachedLayout) cachedLayout = native().ringLayout;
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
