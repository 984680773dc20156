// Packet rings: native/binding/packet_ring_binding.cc (the handle: start,
// flush, reserve, close) and packetRingOpen/packetSockHeadroom from
// native/binding/packet_open_binding.cc (opening on the thread pool). A ring
// is held by JS as a tagged External (kPacketRingTag): any other value is
// "no ring" (-EBADF, or ignored where the function returns nothing).
import type { Brand } from './types';

/** The External naming an open packet ring. */
export type PacketRingHandle = Brand<object, 'PacketRingHandle'>;

/** packetRingOpen's options, validated in lib/packet-ring.ts. */
export interface NativePacketRingOpenOptions {
  /** 0 AF_XDP, 1 AF_PACKET socket, 2 ef_vi. */
  backend: 0 | 1 | 2;
  ifname: string;
  ifindex: number;
  queue: number;
  queueCount: number;
  port: number;
  frameSize: number;
  frameCount: number;
  rxFrames: number;
  batchSize: number;
  /** XskBindMode: 0 auto, 1 copy, 2 zero-copy (native/core/xdp.h). */
  bindMode: 0 | 1 | 2;
  /** XdpAttachMode: 0 auto, 1 native, 2 skb (native/core/bpf_prog.h). */
  xdpMode: 0 | 1 | 2;
  /** 0 off, 1 on, 2 auto. */
  needWakeup: 0 | 1 | 2;
  /** SO_BUSY_POLL µs (0 = off). */
  busyPoll: number;
  /** 6 bytes (socket backend's source MAC). */
  mac: Uint8Array;
  /** IPv4 address in host order (ef_vi filter). */
  localIp: number;
  /** Another ring of this thread on the interface, whose XDP program to share. */
  share: PacketRingHandle | null;
}

/** Byte offsets of the control block's sections (struct PacketRingLayout). */
export interface NativePacketRingSections {
  ctrl: number;
  stats: number;
  rxDescs: number;
  release: number;
  stage: number;
  reserved: number;
  owner: number;
}

/** What packetRingOpen resolves to. */
export interface NativePacketRing {
  handle: PacketRingHandle;
  /** The frame area (UMEM); detached by close. */
  area: ArrayBuffer;
  /** The control block (counters, descriptors, frame owners); detached by close. */
  control: ArrayBuffer;
  sections: NativePacketRingSections;
  zeroCopy: boolean;
  needWakeup: boolean;
  dualStack: boolean;
  /** AF_XDP only: the XDP program runs in native (driver) mode. */
  xdpNative?: boolean;
  /** AF_XDP only: why the attach mode is what it is ('' when nothing to say). */
  xdpNote?: string;
}

/** What packetRingOpen rejects with (errno negative). */
export interface NativePacketRingOpenFailure {
  errno: number;
  syscall: string;
  detail: string;
}

/** Called per batch: `count` frames (dispatchRx), dispatchTxReady, or dispatchError with err = -errno. */
export type PacketRingDispatch = (count: number, flags: number, err: number) => void;

export interface NativePacketRingLayout {
  ctrlRxCount: number;
  ctrlReleaseCount: number;
  ctrlStageCount: number;
  ctrlReserveCount: number;
  ctrlFreeTx: number;
  frameFree: number;
  frameKernel: number;
  frameUser: number;
  frameReleased: number;
  frameReserved: number;
  frameStaged: number;
  frameInFlight: number;
  frameRxHome: number;
  frameStateMask: number;
  descSize: number;
  statsFields: number;
  statNames: string[];
  dispatchRx: number;
  dispatchTxReady: number;
  dispatchError: number;
}

export interface NativePacket {
  /** Opens on the thread pool; rejects with NativePacketRingOpenFailure. */
  packetRingOpen(opts: NativePacketRingOpenOptions): Promise<NativePacketRing>;
  /** Bytes the socket backend keeps in front of each frame. */
  packetSockHeadroom: number;
  /**
   * Starts polling. coalesce: [minUs, maxUs, enterFrames, stayFrames,
   * targetFrames] or null (off). 0 or -errno (-EBADF: closed or started).
   */
  packetRingStart(handle: PacketRingHandle, dispatch: PacketRingDispatch, active: boolean, coalesce: number[] | null): number;
  packetRingSetActive(handle: PacketRingHandle, active: boolean): void;
  packetRingSetRef(handle: PacketRingHandle, ref: boolean): void;
  /** Returns released frames and submits staged ones: frames queued to the kernel, or -errno. */
  packetRingFlush(handle: PacketRingHandle): number;
  /** Frames reserved for sending (up to count), or -EBADF. */
  packetRingReserve(handle: PacketRingHandle, count: number): number;
  packetRingRefreshStats(handle: PacketRingHandle): void;
  /** 0 closed (or already closed / not a ring), 1 deferred to the end of the running batch. */
  packetRingClose(handle: PacketRingHandle): number;
  packetRingLayout: NativePacketRingLayout;
}
