// native/tcpdirect/zf_binding.cc: the optional TCPDirect backend, compiled
// only with RINGWIRE_TCPDIRECT_ROOT. An addon built without it has none of
// these properties: `Native` carries them as optional, and code that uses
// them narrows first (hasTcpdirect / tcpdirectNative in ../native.ts).
// Every function but tcpdirectProbe/tcpdirectStart returns -EBADF when this
// thread's stack was not started. Ids are zocket ids of that stack.
import type { SystemFailure } from './types';

export interface NativeTcpdirectProbe {
  /** zf_version_short(), padded with build info. */
  version: string;
  /** zf_init() result: 0 or -errno. */
  init: number;
  /** zf_stack_alloc() result: 0 or -errno. */
  stack: number;
}

export interface NativeTcpdirectStart {
  /** tcpdirectLayout.maxRecords records of recordWords int32s. */
  records: ArrayBuffer;
  /** The stack's receive pool the records point into. */
  pool: ArrayBuffer;
  /** 0, or the -errno of zf_waitable_fd_get (then a 1 ms timer drives the stack). */
  waitableFd: number;
}

export interface NativeTcpdirectLayout {
  recordWords: number;
  maxRecords: number;
  udpData: number;
  tcpAccept: number;
  tcpConnect: number;
  tcpData: number;
  tcpEnd: number;
  tcpError: number;
  tcpDrain: number;
}

/** Called with the number of records of this batch. */
export type TcpdirectDispatch = (count: number) => void;

export interface NativeTcpdirect {
  tcpdirectProbe(): NativeTcpdirectProbe;
  /** Starts this thread's stack (once: -EALREADY after), or the failing step. */
  tcpdirectStart(dispatch: TcpdirectDispatch): NativeTcpdirectStart | SystemFailure;
  /** A UDP zocket id, or -errno. */
  tcpdirectUdpOpen(): number;
  /** ip in host order. The bound port, or -errno. */
  tcpdirectUdpBind(id: number, ip: number, port: number): number;
  /** Bytes sent, or -errno. */
  tcpdirectUdpSend(id: number, ip: number, port: number, bytes: Uint8Array): number;
  /** A listener id, or -errno. */
  tcpdirectTcpListen(ip: number, port: number): number;
  /** localIp 0 (and localPort 0) = the route's choice. A connection id, or -errno. */
  tcpdirectTcpConnect(ip: number, port: number, localIp: number, localPort: number): number;
  /** 0 (all with the stack), 1 (partly queued: a drain record follows), or -errno. */
  tcpdirectTcpSend(id: number, bytes: Uint8Array): number;
  /** 0 or -errno. */
  tcpdirectTcpShutdown(id: number): number;
  /** [ip (host order), port], or -errno. */
  tcpdirectName(id: number, peer: boolean): [number, number] | number;
  /** 0 or -errno. */
  tcpdirectFree(id: number): number;
  /** -EBADF without a started stack, else undefined (the binding returns nothing on success). */
  tcpdirectSetRef(ref: boolean): number | undefined;
  /** Failed zf_waitable_fd_prime calls, or -EBADF. */
  tcpdirectPrimeErrors(): number;
  /** -EBADF without a started stack, else undefined (the binding returns nothing on success). */
  tcpdirectSpin(us: number): number | undefined;
  /** One reactor pass: records delivered (0 inside a batch callback), or -EBADF. */
  tcpdirectPoll(): number;
  tcpdirectLayout: NativeTcpdirectLayout;
}
