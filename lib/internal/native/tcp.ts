// native/binding/tcp_binding.cc: TCP listeners and connections owned by the
// thread's loop, named by loop id. Ids come back in loop events (an
// Int32Array), so they are plain numbers; native checks every id's type
// (FindAs, handle.h): a wrong, stale or foreign id is -EBADF.

/** Loop id of this thread's TCP state (tcpInit). */
export type TcpThreadId = number;
/** Loop id of a listener (tcpListen) or a connection (tcpConnect, accept events). */
export type TcpHandleId = number;

export interface NativeTcpInit {
  id: TcpThreadId;
  /** struct TcpStats: tcpLayout.statsFields doubles. */
  stats: ArrayBuffer;
  /** 0, or the -errno that keeps the io_uring backend from this thread. */
  uringError: number;
}

export interface NativeTcpLayout {
  statsFields: number;
  connStatsFields: number;
  statNames: string[];
  connStatNames: string[];
  chunkSlots: number;
  indexMask: number;
  copyMax: number;
  evAccept: number;
  evData: number;
  evEnd: number;
  evSent: number;
  evError: number;
  evConnect: number;
  evShutdown: number;
  evClosed: number;
  opRead: number;
  opWrite: number;
  opConnect: number;
  opAccept: number;
  opShutdown: number;
}

export interface NativeTcp {
  /** This thread's TCP state (one per thread; JS caches it), or -errno. */
  tcpInit(): NativeTcpInit | number;
  /** The receive pool of backend 0 (io_uring) / 1 (epoll), created on first call, or -errno. */
  tcpPool(thread: TcpThreadId, backend: 0 | 1, count: number, size: number): ArrayBuffer | number;
  /** Per-connection counters: tcpLayout.chunkSlots slots, or -errno. */
  tcpStatsChunk(thread: TcpThreadId, chunk: number): ArrayBuffer | number;
  /**
   * flags: 1 reuseAddr | 2 reusePort | 4 v6Only | 8 noDelay | 16 keepAlive; keepAliveSecs, deferSecs, rcvbuf, sndbuf: 0 =
   * leave the default. The listener id, or -errno.
   */
  tcpListen(thread: TcpThreadId, backend: 0 | 1, sockaddr: Uint8Array, backlog: number, flags: number,
    keepAliveSecs: number, deferSecs: number, rcvbuf: number, sndbuf: number, zcThreshold: number): number;
  /** 0 or -EBADF. */
  tcpListenStart(id: TcpHandleId): number;
  /** 0 or -EBADF. */
  tcpListenPause(id: TcpHandleId): number;
  tcpListenerClose(id: TcpHandleId): void;
  /**
   * keepAliveSecs -1 = off, 0 = on with the system idle time. The connection
   * id (failures from then on arrive as error events), or -errno.
   */
  tcpConnect(thread: TcpThreadId, backend: 0 | 1, sockaddr: Uint8Array, local: Uint8Array | null, timeoutMs: number,
    noDelay: boolean, keepAliveSecs: number, rcvbuf: number, sndbuf: number, zcThreshold: number): number;
  /**
   * 0 (copied), 1 (bytes kept until sent), or -errno. `notify` asks for sent
   * events. `now`: 1 sends the queue in the call, 0 holds it for the turn's
   * flush, absent sends it only for the connection's first send of a dispatch.
   */
  tcpSend(id: TcpHandleId, bytes: Uint8Array, offset: number, length: number, notify: boolean, now?: 0 | 1): number;
  /** Queues a copy of receive-pool bytes: 0 or -errno. */
  tcpSendPool(id: TcpHandleId, offset: number, length: number): number;
  /** results[i] as tcpSend's return for ids[i]/bufs[i]; returns count, or -EINVAL. */
  tcpSendBatch(ids: Int32Array, bufs: Uint8Array[], results: Int32Array, count: number): number;
  tcpNotifySent(id: TcpHandleId): void;
  /** 0 or -errno. */
  tcpShutdown(id: TcpHandleId): number;
  /** reset: RST instead of FIN. */
  tcpClose(id: TcpHandleId, reset: boolean): void;
  tcpSetReading(id: TcpHandleId, reading: boolean): void;
  /** An int option on a connection or listener: 0 or -errno. */
  tcpSetOpt(id: TcpHandleId, level: number, name: number, value: number): number;
  /** An int option boxed as [value] (values may be negative), or -errno. */
  tcpGetOpt(id: TcpHandleId, level: number, name: number): [number] | number;
  /** getpeername (peer) / getsockname: sockaddr bytes, or -errno. */
  tcpName(id: TcpHandleId, peer: boolean): Buffer | number;
  tcpLayout: NativeTcpLayout;
}
