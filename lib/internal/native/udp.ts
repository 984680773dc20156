// native/binding/udp_binding.cc: UDP sockets owned by the thread's loop,
// named by loop id (a wrong or stale id is -EBADF, never a crash).

/** Loop id of a UDP socket (returned by udpOpen). */
export type UdpId = number;

export interface NativeUdpOpen {
  id: UdpId;
  /** The receive pool (buffers the descriptors point into). */
  pool: ArrayBuffer;
  /** Receive descriptors, udpLayout.descSize bytes each. */
  descs: ArrayBuffer;
}

export interface NativeUdpLayout {
  descSize: number;
  payloadOffset: number;
  payloadLength: number;
  flags: number;
  nameOffset: number;
  nameLength: number;
  tsSec: number;
  tsNsec: number;
  flagTruncated: number;
  flagTimestamp: number;
  statsFields: number;
  statNames: string[];
  headerSpace: number;
  inlineSend: number;
  evRecv: number;
  evSent: number;
  evRecvError: number;
  evClosed: number;
}

export interface NativeUdp {
  /**
   * backend 0 = io_uring, 1 = epoll; family 4 | 6. `stats` must hold
   * udpLayout.statsFields doubles (shorter: -EINVAL). The socket or -errno.
   */
  udpOpen(backend: 0 | 1, family: 4 | 6, bufferCount: number, bufferSize: number, timestamps: boolean,
    zcThreshold: number, stats: Float64Array): NativeUdpOpen | number;
  /** sockaddr bytes (lib/internal/sockaddr.ts). 0 or -errno. */
  udpBind(id: UdpId, sockaddr: Uint8Array): number;
  /** null disconnects. 0 or -errno. */
  udpConnect(id: UdpId, sockaddr: Uint8Array | null): number;
  /** getpeername (peer) / getsockname: sockaddr bytes, or -errno. */
  udpName(id: UdpId, peer: boolean): Buffer | number;
  /** An int option, or raw bytes (ip_mreq...). 0 or -errno. */
  udpSetOpt(id: UdpId, level: number, name: number, value: number | Uint8Array): number;
  /** An int option boxed as [value] (values may be negative), or -errno. */
  udpGetOpt(id: UdpId, level: number, name: number): [number] | number;
  /** Starts receiving: 0 or -errno. */
  udpStart(id: UdpId): number;
  /** The kernel drop counter into stats: 0 or -errno. */
  udpRefreshDrops(id: UdpId): number;
  /** 0 (bytes copied), 1 (bytes kept until a sent event with `token`), or -errno. */
  udpSend(id: UdpId, bytes: Uint8Array, offset: number, length: number, sockaddr: Uint8Array | null, token: number): number;
  /** Sends receive-pool bytes to a sockaddr in the pool: 0 | 1 (kept) or -errno. */
  udpReply(id: UdpId, payloadOffset: number, length: number, nameOffset: number, nameLength: number): number;
  /**
   * `addrs` holds one sockaddr per `addrStride` bytes (or one for all).
   * The count queued (stops at the first error), or -errno when the first failed.
   */
  udpSendBatch(id: UdpId, bufs: Uint8Array[], addrs: Uint8Array | null, addrStride: number, token: number): number;
  /** Closes; the closed event follows. A wrong id is ignored. */
  udpClose(id: UdpId): void;
  udpLayout: NativeUdpLayout;
}
