// native/binding/ring_binding.cc: message-ring (SPSC/MPSC) layout constants
// from native/core/msgring_layout.h, and format/validate through the code
// the C++ peers run. A status is a ring::Status value (0 ok, 1.. a defect
// named in ringLayout.statusText), or -EBADF for a closed region.
import type { RegionHandle } from './shm';

export interface NativeRingLayout {
  magic: number;
  version: number;
  headerSize: number;
  align: number;
  kindSpsc: number;
  kindMpsc: number;
  flagRecordHeader: number;
  recordHeader: number;
  padding: number;
  minCapacity: number;
  maxCapacity: number;
  slotHeader: number;
  minSlotSize: number;
  maxSlotSize: number;
  offMagic: number;
  offVersion: number;
  offHeaderSize: number;
  offKind: number;
  offFlags: number;
  offCapacity: number;
  offSlotSize: number;
  offSlotCount: number;
  offMaxMessage: number;
  offChecksum: number;
  offWriteIndex: number;
  offReadIndex: number;
  offConsumerWaiting: number;
  offProducerWaiting: number;
  offConsumerWakeSeq: number;
  offProducerWakeSeq: number;
  offProducerPid: number;
  offConsumerPid: number;
  offProducerHeartbeat: number;
  offConsumerHeartbeat: number;
  offProducerFence: number;
  offConsumerFence: number;
  /** Status number -> its text, for every status from kOk to kErrIndices. */
  statusText: Record<number, string>;
}

export interface NativeMsgring {
  /** SPSC: a = capacity; MPSC: a = slot size, b = slot count. A status. */
  ringFormat(handle: RegionHandle, offset: number, kind: number, a: number, b: number): number;
  /** The C++ peers' verdict on the ring at `offset`: a status. */
  ringValidate(handle: RegionHandle, offset: number, kind: number): number;
  ringLayout: NativeRingLayout;
}
