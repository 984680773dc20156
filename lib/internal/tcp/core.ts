// Per-thread TCP state shared by the batch API (lib/tcp.ts) and the net layer
// (lib/net.ts): the native thread handle, the receive pools (one per
// backend), the per-connection counter table and the checks both layers
// apply before any native call.
import * as net from 'node:net';
import { capabilities } from '../../capabilities';
import { assertAttached, checkValue, invalidArgType, invalidArgValue, outOfRange, systemError, type SystemError, validateInteger, validatePowerOfTwo } from '../errors';
import { loop, type ThreadLoop } from '../loop';
import { native } from '../native';
import type { NativeTcpLayout } from '../native/tcp';
import { type AddressInfo, decodeSockaddr, encodeSockaddr } from '../sockaddr';
import { type Backend, resolveBackend } from '../backend';
import { EADDRNOTAVAIL, EAFNOSUPPORT, EMFILE, ENFILE, ENOBUFS, ENOMEM, ENOSYS } from '../errno';
import { SOCKOPT, TCP_EV, TCP_OP_SYSCALL, checkLayout } from '../layout';

export type { Backend } from '../backend';

// The names of struct TcpStats / TcpConnStats (native/core/tcp.h), typed
// here for stats()'s type; checkLayout() refuses an addon whose
// tcpLayout.statNames / connStatNames differ (test/layout.test.ts).
export const TCP_STAT_NAMES = [
  'accepted', 'connected', 'closed', 'active', 'bytesRead', 'bytesWritten', 'recvEvents', 'bundles',
  'starvations', 'rearms', 'sendCalls', 'sendChunks', 'zcSends', 'zcCopied', 'acceptCalls', 'acceptErrors', 'errors',
] as const;
export const CONN_STAT_NAMES = ['bytesRead', 'bytesWritten', 'queuedBytes', 'recvEvents', 'sendCalls', 'zcSends', 'starvations'] as const;
export type TcpStats = Record<(typeof TCP_STAT_NAMES)[number], number>;
export type TcpConnStats = Record<(typeof CONN_STAT_NAMES)[number], number>;

/** Native event kinds, read from tcpLayout.ev* (lib/internal/layout.ts). */
export const EV = TCP_EV;

// Socket option numbers, from the addon's system headers (layout.ts).
export const { SOL_SOCKET, SO_KEEPALIVE, SO_SNDBUF, SO_RCVBUF, IPPROTO_TCP, TCP_NODELAY, TCP_KEEPIDLE } = SOCKOPT;

export function opError(errno: number, op: number, extra?: { address?: string; port?: number }): SystemError {
  return systemError(errno, TCP_OP_SYSCALL[op] ?? 'socket', extra);
}

export interface BufferConfig {
  /** Receive buffers in the io_uring provided-buffer ring (power of two). */
  bufferCount?: number;
  /** Bytes per receive buffer (power of two). */
  bufferSize?: number;
}

const pending: Required<BufferConfig> = { bufferCount: 2048, bufferSize: 4096 };

export class TcpThreadState {
  readonly id: number;
  readonly loop: ThreadLoop;
  readonly layout: NativeTcpLayout;
  readonly global: Float64Array;
  private readonly pools: (Uint8Array | undefined)[] = [undefined, undefined];
  private readonly chunks: Float64Array[] = [];
  private readonly mask: number;
  private readonly slots: number;
  readonly fields: number;

  constructor() {
    checkLayout('tcp', { statNames: TCP_STAT_NAMES, connStatNames: CONN_STAT_NAMES });
    this.loop = loop();
    const r = checkValue(native().tcpInit(), 'io_uring_setup');
    this.id = r.id;
    this.global = new Float64Array(r.stats);
    this.layout = native().tcpLayout;
    this.mask = this.layout.indexMask;
    this.slots = this.layout.chunkSlots;
    this.fields = this.layout.connStatsFields;
  }

  /** The receive pool of a backend (created on first use). */
  pool(backend: Backend): Uint8Array {
    const i = backend === 'io_uring' ? 0 : 1;
    let p = this.pools[i];
    if (!p) {
      p = new Uint8Array(checkValue(native().tcpPool(this.id, i, pending.bufferCount, pending.bufferSize),
        backend === 'io_uring' ? 'io_uring_register' : 'mmap'));
      this.pools[i] = p;
    }
    return p;
  }

  hasPool(): boolean {
    return this.pools[0] !== undefined || this.pools[1] !== undefined;
  }

  /** The counters array holding connection `id` and the slot's offset in it. */
  statsSlot(id: number): [Float64Array, number] {
    const index = id & this.mask;
    const c = (index / this.slots) | 0;
    let arr = this.chunks[c];
    if (!arr) {
      arr = new Float64Array(checkValue(native().tcpStatsChunk(this.id, c), 'malloc'));
      this.chunks[c] = arr;
    }
    return [arr, (index % this.slots) * this.fields];
  }

  connStats(id: number): TcpConnStats {
    const [arr, off] = this.statsSlot(id);
    const out = {} as TcpConnStats;
    for (let i = 0; i < CONN_STAT_NAMES.length; i++) out[CONN_STAT_NAMES[i]] = arr[off + i];
    return out;
  }

  stats(): TcpStats {
    const out = {} as TcpStats;
    for (let i = 0; i < TCP_STAT_NAMES.length; i++) out[TCP_STAT_NAMES[i]] = this.global[i];
    return out;
  }
}

let state: TcpThreadState | undefined;

export function tcpThread(): TcpThreadState {
  if (!state) state = new TcpThreadState();
  return state;
}

/** Thread-wide counters (undefined before the first TCP socket). */
export function tcpStats(): TcpStats | undefined {
  return state?.stats();
}

/**
 * Sizes of this thread's shared receive pool. Call before the first TCP
 * socket of the thread; the pool then holds bufferCount * bufferSize bytes
 * (8 MiB by default) however many connections there are.
 */
export function configureTcpBuffers(cfg: BufferConfig): void {
  if (cfg === null || typeof cfg !== 'object') throw invalidArgType('config', 'of type object', cfg);
  const count = cfg.bufferCount === undefined ? pending.bufferCount : validatePowerOfTwo(cfg.bufferCount, 'config.bufferCount', 64, 32768);
  const size = cfg.bufferSize === undefined ? pending.bufferSize : validatePowerOfTwo(cfg.bufferSize, 'config.bufferSize', 1024, 1 << 20);
  if (count * size > 2 ** 31 - 1) throw outOfRange('config.bufferCount * config.bufferSize', '< 2 GiB', count * size);
  if (state?.hasPool()) throw Object.assign(new Error('TCP receive buffers are already in use on this thread'), { code: 'ERR_INVALID_STATE' });
  pending.bufferCount = count;
  pending.bufferSize = size;
}

export function backendOf(requested: unknown, name = 'options.backend'): Backend {
  if (requested === undefined) return resolveBackend('auto').backend;
  if (requested !== 'auto' && requested !== 'io_uring' && requested !== 'epoll') {
    if (typeof requested !== 'string') throw invalidArgType(name, "one of 'auto', 'io_uring', 'epoll'", requested);
    throw invalidArgValue(name, requested, "must be one of: 'auto', 'io_uring', 'epoll'");
  }
  const b = resolveBackend(requested).backend;
  if (b === 'io_uring' && !capabilities().io_uring.available) {
    throw systemError(ENOSYS, 'io_uring_setup', { message: capabilities().io_uring.reason });
  }
  return b;
}

export function validatePort(port: unknown, name = 'options.port', allowZero = true): number {
  if (typeof port === 'string' && /^\d+$/.test(port)) port = Number(port);
  if (typeof port !== 'number') throw invalidArgType(name, 'of type number', port);
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw Object.assign(new RangeError(`${name} should be >= ${allowZero ? 0 : 1} and < 65536. Received ${String(port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
  }
  return port;
}

/** Numeric address (or 'localhost') -> sockaddr bytes; names need dns first. */
export function sockaddrFor(host: string, port: number, name = 'options.host'): { sa: Uint8Array; family: 4 | 6; address: string } {
  const address = host === 'localhost' ? '127.0.0.1' : host;
  const v = net.isIP(address);
  if (v === 0) throw invalidArgValue(name, host, 'must be a numeric IPv4/IPv6 address or "localhost"');
  return { sa: encodeSockaddr(v as 4 | 6, address, port), family: v as 4 | 6, address };
}

export function sockName(id: number, peer: boolean): AddressInfo | undefined {
  const r = native().tcpName(id, peer);
  if (typeof r === 'number') return undefined;
  return decodeSockaddr(r);
}

export function validateMs(v: unknown, name: string): number {
  return validateInteger(v, name, 0, 2 ** 31 - 1);
}

export const isResourceError = (errno: number): boolean => errno === EMFILE || errno === ENFILE || errno === ENOBUFS || errno === ENOMEM;

export interface SocketParams {
  noDelay: boolean;
  keepAlive: boolean;
  /** ms; rounded up to whole seconds (TCP_KEEPIDLE). */
  keepAliveInitialDelay: number;
  recvBufferSize: number;
  sendBufferSize: number;
  zeroCopyThreshold: number;
}

export interface ListenParams extends SocketParams {
  backend: Backend;
  /** Numeric address or 'localhost'; undefined = '::' (dual stack), else 0.0.0.0. */
  host?: string;
  port: number;
  backlog: number;
  reusePort: boolean;
  ipv6Only: boolean;
  /** TCP_DEFER_ACCEPT seconds (0 = off). */
  deferAccept: number;
  /** Accepted connections do not read until told to (node:net's pauseOnConnect). */
  pauseOnConnect?: boolean;
}

/** socket + options + bind + listen + accept armed; throws a 'listen' error. */
export function openListener(t: TcpThreadState, p: ListenParams): number {
  t.pool(p.backend);
  const flags = 1 | (p.reusePort ? 2 : 0) | (p.ipv6Only ? 4 : 0) | (p.noDelay ? 8 : 0) | (p.keepAlive ? 16 : 0) | (p.pauseOnConnect ? 32 : 0);
  const attempt = (host: string): number => {
    const { sa } = sockaddrFor(host, p.port);
    return native().tcpListen(t.id, p.backend === 'io_uring' ? 0 : 1, sa, p.backlog, flags,
      Math.ceil(p.keepAliveInitialDelay / 1000), p.deferAccept, p.recvBufferSize, p.sendBufferSize, p.zeroCopyThreshold);
  };
  let host = p.host ?? '::';
  let r = attempt(host);
  if (p.host === undefined && (r === EAFNOSUPPORT || r === EADDRNOTAVAIL)) {
    host = '0.0.0.0';
    r = attempt(host);
  }
  if (r < 0) throw systemError(r, 'listen', { address: host, port: p.port });
  return r;
}

export interface ConnectParams extends SocketParams {
  backend: Backend;
  sa: Uint8Array;
  local: Uint8Array | null;
  /** ms; io_uring uses a linked timeout, epoll a timer in the caller. */
  timeout: number;
}

/** A connection id, or -errno when the socket could not even be created. */
export function openConnection(t: TcpThreadState, p: ConnectParams): number {
  t.pool(p.backend);
  const keepAlive = p.keepAlive ? Math.ceil(p.keepAliveInitialDelay / 1000) : -1;
  return native().tcpConnect(t.id, p.backend === 'io_uring' ? 0 : 1, p.sa, p.local, p.backend === 'io_uring' ? p.timeout : 0,
    p.noDelay, keepAlive, p.recvBufferSize, p.sendBufferSize, p.zeroCopyThreshold);
}

/** setsockopt on a connection or listener; -errno or 0. */
export function setOpt(id: number, level: number, name: number, value: number): number {
  return native().tcpSetOpt(id, level, name, value);
}

export function setKeepAlive(id: number, enable: boolean, delayMs: number): number {
  let r = setOpt(id, SOL_SOCKET, SO_KEEPALIVE, enable ? 1 : 0);
  if (r === 0 && enable && delayMs > 0) r = setOpt(id, IPPROTO_TCP, TCP_KEEPIDLE, Math.max(1, Math.ceil(delayMs / 1000)));
  return r;
}

/** A send()'s data as bytes (a string is UTF-8 encoded); TypeError for anything else or a detached view. */
export function sendBytes(data: unknown): Uint8Array {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  if (!(bytes instanceof Uint8Array)) throw invalidArgType('data', 'of type string or an instance of Uint8Array', data);
  assertAttached(bytes, 'data');
  return bytes;
}

/** send()/sendBatch() on a connection after end(). */
export function writeAfterEnd(): Error {
  return Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
}
