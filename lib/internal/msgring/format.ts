// What SpscRing and MpscRing share when they format or attach a ring: the
// options object and offset checks, the room check, the native format call
// and the header validation on attach. Only the ring kind and the sizes
// differ between the two, so they are arguments here.
import { validateObject } from '../errors';
import { native } from '../native';
import { badRingError, ringLayout, Status, validateRing, validateRingOffset } from './layout';
import type { ShmRegion } from '../../shm';

/**
 * Validates the ring header of `kind` at `offset` of `region` and returns a
 * u32 view over that header (throws ERR_RINGWIRE_BAD_RING otherwise).
 */
export function attachHeader(region: ShmRegion, offset: number, kind: number): Uint32Array {
  const L = ringLayout();
  const st = validateRing(region.buffer, offset, kind);
  if (st !== Status.ok) throw badRingError(st, `offset ${offset} of ${region.name ?? 'an anonymous region'}`);
  return new Uint32Array(region.buffer, offset, L.headerSize / 4);
}

/** The ring offset an attach() `options` object names (default 0), validated against `region`. */
export function attachOffset(region: ShmRegion, options: unknown): number {
  const o = validateObject(options, 'options');
  return validateRingOffset(region, o.offset ?? 0);
}

/**
 * Checks that a ring with `dataBytes` after its header fits `region` at
 * `offset` (else throws `tooBig(room)`), then writes a fresh header natively
 * (nobody may be attached). `a`, `b` are ringFormat's size arguments (SPSC:
 * capacity, 0; MPSC: slotSize, slotCount). The caller attaches.
 */
export function formatRing(
  region: ShmRegion, offset: number, kind: number, a: number, b: number,
  dataBytes: number, tooBig: (room: number) => RangeError,
): void {
  const L = ringLayout();
  if (offset + L.headerSize + dataBytes > region.size) throw tooBig(region.size - offset - L.headerSize);
  const st = native().ringFormat(region.nativeHandle('format'), offset, kind, a, b);
  if (st !== Status.ok) throw badRingError(st, `offset ${offset}`);
}
