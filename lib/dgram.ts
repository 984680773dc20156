// Size (~644 lines): a drop-in follows node:dgram's behaviour method by method (Node's own lib/dgram.js is ~1100 lines); argument coercion and send()'s shuffling are in internal/dgram/args.ts.
// `ringwire/dgram`: node:dgram's API over ringwire's UDP sockets, so
// existing code moves by changing one import. Behaviour follows node:dgram
// (argument shuffling and validation order, event order, error shapes,
// implicit bind on first send, handles that keep the loop alive only once
// bound); test/dgram-compat runs the same scenarios against both and
// compares what they observe.
//
// Deliberate differences (README: "Drop-in differences"): bind({ fd }) and
// bind(handle) throw ERR_FEATURE_UNAVAILABLE_ON_PLATFORM; cluster
// round-robin sharing of a bound port does not exist (each socket binds).
import { EventEmitter } from 'node:events';
import * as dns from 'node:dns';
import * as net from 'node:net';
import * as util from 'node:util';
import { invalidArgType, validateFunction } from './internal/errors';
import type { AddressInfo } from './internal/sockaddr';
import { type Backend, type UdpBatch, UdpSocket } from './udp';
import { scopeIndex } from './internal/udp/options';
import { IS_CONNECTED, type Msg, type SendCb, coded, normalizeSendArgs, validateBufferSizeOptions, validateSendPort, validateString } from './internal/dgram/args';

export type SocketType = 'udp4' | 'udp6';

export interface SocketOptions {
  type: SocketType;
  reuseAddr?: boolean;
  reusePort?: boolean;
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  lookup?: typeof dns.lookup;
  signal?: AbortSignal;
  /** ringwire extension: 'auto' (default), 'io_uring' or 'epoll'. */
  backend?: 'auto' | Backend;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

type LookupFn = (host: string, family: number, cb: (err: Error | null, ip: string) => void) => void;

const NOT_RUNNING = () => coded(new Error('Not running'), 'ERR_SOCKET_DGRAM_NOT_RUNNING');
const NOT_CONNECTED = () => coded(new Error('Not connected'), 'ERR_SOCKET_DGRAM_NOT_CONNECTED');
const ALREADY_BOUND = () => coded(new Error('Socket is already bound'), 'ERR_SOCKET_ALREADY_BOUND');
const BAD_TYPE = () => coded(new TypeError('Bad socket type specified. Valid types are: udp4, udp6'), 'ERR_SOCKET_BAD_TYPE');
const EINVAL = -22;
const EBADF = -9;
const ECANCELED = -125;

/** node:dgram's ErrnoException: "<syscall> <CODE>", nothing else. */
function errnoException(errno: number, syscall: string): Error {
  const code = util.getSystemErrorName(errno);
  return Object.assign(new Error(`${syscall} ${code}`), { errno, code, syscall });
}

/** node:dgram's ExceptionWithHostPort: the address always, the port only when non-zero. */
function exceptionWithHostPort(errno: number, syscall: string, address: string | undefined, port: number | undefined): Error {
  const code = util.getSystemErrorName(errno);
  let details = '';
  if (port && port > 0) details = ` ${address}:${port}`;
  else if (address) details = ` ${address}`;
  const e = Object.assign(new Error(`${syscall} ${code}${details}`), { errno, code, syscall, address });
  if (port) (e as { port?: number }).port = port;
  return e;
}

const errnoOf = (e: unknown): number => {
  const n = (e as { errno?: unknown })?.errno;
  return typeof n === 'number' && n < 0 ? n : EINVAL;
};

function validateNumber(v: unknown, name: string): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  return v;
}

const enum Bind { Unbound, Binding, Bound }
const enum Conn { None, Connecting, Connected }

const V4_CACHE_LIMIT = 1024;

/** Work waiting for the implicit bind; sends are told apart so close() can drop them. */
interface Queued {
  run: () => void;
  send: boolean;
}

/** A membership address as Node's binding reads it: a string, or a primitive it stringifies. */
function membershipString(v: unknown, name: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  throw invalidArgType(name, 'of type string', v);
}

export class Socket extends EventEmitter {
  readonly type: SocketType;
  private handle: UdpSocket | null;
  private readonly sock: UdpSocket;
  private readonly lookupFn: LookupFn;
  private readonly defaultLookup: boolean;
  private bindState = Bind.Unbound;
  private connectState = Conn.None;
  private queue?: Queued[];
  private queuedBytes = 0;
  private queuedCount = 0;
  private wantRef = true;
  // Sends with a callback not yet completed: each holds the loop, as a
  // libuv send request does, even on an unref()'d socket.
  private sendsInFlight = 0;
  private readonly recvBufferSize?: number;
  private readonly sendBufferSize?: number;
  // Destinations already known to be numeric: skips net.isIP per send.
  private readonly numericHosts = new Set<string>();
  // Source address strings per IPv4 peer: one string per peer, not per datagram.
  private readonly v4Names = new Map<number, string>();
  private poolBuf?: Buffer;
  private readonly onBatch = (batch: UdpBatch): void => this.deliver(batch);
  private stopped = false;
  private abortCleanup?: () => void;
  private reuseAddr?: boolean;

  constructor(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void) {
    super();
    // Everything is validated before a socket exists: a throwing
    // constructor leaves nothing open (node:dgram's order: buffer sizes, lookup, type, signal).
    let opts: SocketOptions | undefined;
    let t: unknown = type;
    if (type !== null && typeof type === 'object') {
      opts = type;
      t = type.type;
    }
    if (opts !== undefined) validateBufferSizeOptions(opts);
    const lookup = opts?.lookup;
    if (lookup !== undefined) validateFunction(lookup, 'lookup');
    if (t !== 'udp4' && t !== 'udp6') throw BAD_TYPE();
    const signal = opts?.signal;
    if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
    }
    this.type = t;
    const fam = t === 'udp4' ? 4 : 6;
    this.defaultLookup = lookup === undefined || lookup === dns.lookup;
    const lk = (lookup ?? dns.lookup) as unknown as LookupFn;
    // As node:dgram: lookup(host, family, cb), the empty host meaning loopback.
    this.lookupFn = (host, _f, cb) => lk(host || (fam === 4 ? '127.0.0.1' : '::1'), fam, cb);
    this.recvBufferSize = opts?.recvBufferSize;
    this.reuseAddr = opts?.reuseAddr;
    this.sendBufferSize = opts?.sendBufferSize;
    this.handle = this.sock = new UdpSocket({
      type: t,
      backend: opts?.backend,
      reuseAddr: opts?.reuseAddr,
      reusePort: opts?.reusePort,
      ipv6Only: opts?.ipv6Only,
    });
    // A socket that is not bound receives nothing and holds nothing: like
    // libuv's UDP handle it keeps the loop alive only once bound.
    this.handle.unref();
    this.handle.onBatch(this.onBatch);
    this.handle.on('error', (err: Error & { syscall?: string }) => {
      // node:dgram reports send failures only to a send callback.
      if (err.syscall === 'send' || err.syscall === 'sendmmsg') return;
      this.emit('error', err);
    });
    if (typeof listener === 'function') this.on('message', listener);
    if (signal !== undefined) {
      const onAborted = () => {
        if (this.handle) this.close();
      };
      if (signal.aborted) onAborted();
      else {
        signal.addEventListener('abort', onAborted, { once: true });
        this.abortCleanup = () => signal.removeEventListener('abort', onAborted);
      }
    }
  }

  // ---- receive -------------------------------------------------------------------

  private deliver(batch: UdpBatch): void {
    const pool = (this.poolBuf ??= Buffer.from(batch.pool.buffer, batch.pool.byteOffset, batch.pool.byteLength));
    const family = this.type === 'udp4' ? 'IPv4' : 'IPv6';
    for (let i = 0; i < batch.count; i++) {
      // A listener may close the socket: the pool is gone with it.
      if (this.handle === null) return;
      const off = batch.offset(i);
      const len = batch.length(i);
      const msg = Buffer.allocUnsafe(len); // 'message' owns its bytes, as in node:dgram
      pool.copy(msg, 0, off, off + len);
      const ip = batch.ipv4(i);
      let address: string;
      let fam: 'IPv4' | 'IPv6' = family;
      if (ip !== 0 && family === 'IPv4') {
        address = this.v4Names.get(ip) ?? this.nameV4(ip);
      } else {
        const src = batch.source(i);
        address = src.address;
        fam = src.family;
      }
      this.emit('message', msg, { address, family: fam, port: batch.port(i), size: len });
    }
  }

  private nameV4(ip: number): string {
    if (this.v4Names.size >= V4_CACHE_LIMIT) this.v4Names.clear();
    const s = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
    this.v4Names.set(ip, s);
    return s;
  }

  // ---- bind / connect ----------------------------------------------------------------

  private healthCheck(): UdpSocket {
    if (this.handle === null) throw NOT_RUNNING();
    return this.handle;
  }

  /** Bound, open and not stopped by _stopReceiving(): 'message' events come. */
  private get receiving(): boolean {
    return this.handle !== null && this.bindState === Bind.Bound && !this.stopped;
  }

  private set receiving(v: boolean) {
    this.stopped = !v;
    this.handle?.onBatch(v ? this.onBatch : null);
  }

  /** node:dgram's stopReceiving(): datagrams stop reaching 'message' for good. */
  private stopReceiving(): void {
    this.receiving = false;
  }

  bind(port?: unknown, address?: unknown, ..._rest: unknown[]): this {
    // eslint-disable-next-line prefer-rest-params
    const args = arguments;
    this.healthCheck();
    if (this.bindState !== Bind.Unbound) throw ALREADY_BOUND();
    const last = args.length ? args[args.length - 1] : undefined;
    let p: unknown = port;
    let addr: unknown;
    if (port !== null && typeof port === 'object') {
      const o = port as { port?: unknown; address?: unknown; fd?: unknown; recvStart?: unknown };
      if (typeof o.recvStart === 'function' || (Number.isInteger(o.fd) && (o.fd as number) > 0)) {
        throw coded(new Error('bind() to an existing handle or file descriptor is not available in ringwire/dgram'), 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM');
      }
      addr = o.address || '';
      p = o.port;
    } else {
      addr = typeof address === 'function' ? '' : address;
    }
    this.bindState = Bind.Binding;
    if (typeof last === 'function') {
      // node:dgram's pair: either outcome removes both, so a retried bind
      // does not accumulate listeners.
      const cb = last as () => void;
      const removeListeners = function (this: Socket) {
        this.removeListener('error', removeListeners);
        this.removeListener('listening', onListening);
      };
      const onListening = function (this: Socket) {
        removeListeners.call(this);
        cb.call(this);
      };
      this.on('error', removeListeners);
      this.on('listening', onListening);
    }
    const host = (addr as string) || (this.type === 'udp4' ? '0.0.0.0' : '::');
    // The C++ side of node:dgram takes the port as a uint32 and keeps 16 bits.
    const portNum = ((Number(p) >>> 0) & 0xffff);
    this.lookupFn(host, 0, (err, ip) => {
      const h = this.handle;
      if (h === null) return;
      if (err) {
        this.bindState = Bind.Unbound;
        this.emit('error', err);
        return;
      }
      try {
        h.bind(portNum, ip);
      } catch (e) {
        this.bindState = Bind.Unbound;
        this.emit('error', exceptionWithHostPort(errnoOf(e), 'bind', ip, p as number));
        return;
      }
      this.bindState = Bind.Bound;
      if (this.wantRef) h.ref();
      if (this.recvBufferSize) this.setRecvBufferSize(this.recvBufferSize);
      if (this.sendBufferSize) this.setSendBufferSize(this.sendBufferSize);
      this.emit('listening');
    });
    return this;
  }

  connect(port: unknown, address?: unknown, callback?: unknown): void {
    const p = validateSendPort(port);
    if (typeof address === 'function') {
      callback = address;
      address = '';
    } else if (address === undefined) address = '';
    validateString(address, 'address');
    if (this.connectState !== Conn.None) throw IS_CONNECTED();
    this.healthCheck();
    this.connectState = Conn.Connecting;
    if (this.bindState === Bind.Unbound) this.bind({ port: 0, exclusive: true }, null);
    if (this.bindState !== Bind.Bound) {
      this.enqueue(() => this.doConnect(p, address as string, callback as (() => void) | undefined));
      return;
    }
    this.doConnect(p, address as string, callback as (() => void) | undefined);
  }

  private doConnect(port: number, address: string, callback?: (err?: Error) => void): void {
    if (typeof callback === 'function') this.once('connect', callback);
    this.lookupFn(address, 0, (ex, ip) => {
      const h = this.handle;
      if (h === null) return;
      let err: Error | null = ex;
      if (!err) {
        try {
          h.connect(port, ip);
        } catch (e) {
          err = exceptionWithHostPort(errnoOf(e), 'connect', address, port);
        }
      }
      if (err) {
        this.connectState = Conn.None;
        process.nextTick(() => {
          if (typeof callback === 'function') {
            this.removeListener('connect', callback);
            callback(err!);
          } else this.emit('error', err);
        });
        return;
      }
      this.connectState = Conn.Connected;
      process.nextTick(() => this.emit('connect'));
    });
  }

  disconnect(): void {
    if (this.connectState !== Conn.Connected) throw NOT_CONNECTED();
    try {
      this.healthCheck().disconnect();
    } catch (e) {
      throw errnoException(errnoOf(e), 'connect');
    }
    this.connectState = Conn.None;
  }

  // Work waiting for 'listening' (node:dgram's send queue): dropped if the bind fails.
  private enqueue(run: () => void, send = false): void {
    if (this.queue === undefined) {
      this.queue = [];
      const onError = () => {
        this.removeListener('listening', onSuccess);
        this.queue = undefined;
        this.queuedBytes = this.queuedCount = 0;
      };
      const onSuccess = () => {
        this.removeListener(EventEmitter.errorMonitor, onError);
        const q = this.queue!;
        this.queue = undefined;
        this.queuedBytes = this.queuedCount = 0;
        for (const op of q) op.run();
      };
      this.once(EventEmitter.errorMonitor, onError);
      this.once('listening', onSuccess);
    }
    this.queue.push({ run, send });
  }

  // ---- send --------------------------------------------------------------------

  send(buffer: Msg, offset?: unknown, length?: unknown, port?: unknown, address?: unknown, callback?: unknown): void {
    const connected = this.connectState === Conn.Connected;
    const { data, port: p, address: host, callback: cb } = normalizeSendArgs(connected, buffer, offset, length, port, address, callback);
    const h = this.healthCheck();
    if (this.bindState === Bind.Unbound) this.bind({ port: 0, exclusive: true }, null);
    if (this.bindState !== Bind.Bound) {
      this.queuedBytes += data.length;
      this.queuedCount++;
      this.enqueue(() => this.send(data, p, host, cb), true);
      return;
    }
    if (connected) return this.doSend(h, null, data, undefined, undefined, cb);
    // The default lookup answers a numeric host with itself: skip it.
    if (this.defaultLookup && host) {
      if (this.numericHosts.has(host)) return this.doSend(h, host, data, host, p, cb);
      if (net.isIP(host)) {
        if (this.numericHosts.size > 1024) this.numericHosts.clear();
        this.numericHosts.add(host);
        return this.doSend(h, host, data, host, p, cb);
      }
    }
    this.lookupFn(host ?? '', 0, (ex, ip) => {
      if (ex) {
        if (cb) process.nextTick(cb, ex);
        else process.nextTick(() => this.emit('error', ex));
        return;
      }
      // host is null when the caller passed null: the error's address stays as given.
      if (this.handle) this.doSend(this.handle, ip, data, host as string | undefined, p, cb);
    });
  }

  private doSend(h: UdpSocket, ip: string | null, data: Uint8Array, address: string | undefined, port: number | undefined, cb: SendCb | undefined): void {
    try {
      // Without a callback nobody waits for the completion (as in node:dgram,
      // where such a send is fire-and-forget and its failure unreported).
      if (cb === undefined) return h.queue(data, port, ip ?? undefined);
      this.holdLoop();
      h.send(data, port, ip ?? undefined, (err, bytes) => {
        this.releaseLoop();
        if (!err) return cb(null, bytes);
        // Cancelled by close(): libuv reports ECANCELED for the same case.
        const errno = (err as { code?: string }).code === 'ERR_RINGWIRE_CLOSED' ? ECANCELED : errnoOf(err);
        cb(exceptionWithHostPort(errno, 'send', address, port));
      });
    } catch (e) {
      if (!cb) return;
      this.releaseLoop();
      process.nextTick(cb, exceptionWithHostPort(errnoOf(e), 'send', address, port));
    }
  }

  private holdLoop(): void {
    if (this.sendsInFlight++ === 0 && !this.wantRef) this.handle?.ref();
  }

  private releaseLoop(): void {
    if (--this.sendsInFlight === 0 && !this.wantRef) this.handle?.unref();
  }

  sendto(buffer: Msg, offset: unknown, length: unknown, port: unknown, address: unknown, callback?: unknown): void {
    validateNumber(offset, 'offset');
    validateNumber(length, 'length');
    validateNumber(port, 'port');
    validateString(address, 'address');
    this.send(buffer, offset, length, port, address, callback);
  }

  getSendQueueSize(): number {
    return this.queuedBytes;
  }

  getSendQueueCount(): number {
    return this.queuedCount;
  }

  // ---- close ---------------------------------------------------------------------

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    if (this.queue !== undefined) {
      // node:dgram resolves a queued send's destination only after the
      // bind, when this close() has already run: the datagram is dropped
      // and its callback never called. Queued connects still go first.
      this.queue = this.queue.filter((op) => !op.send);
      this.queuedBytes = this.queuedCount = 0;
      this.queue.push({ run: () => this.close(), send: false });
      return this;
    }
    const h = this.healthCheck();
    this.handle = null;
    this.abortCleanup?.();
    h.close().then(() => this.emit('close'));
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.handle === null) return;
    await new Promise<void>((resolve) => this.close(resolve));
  }

  address(): AddressInfo {
    const h = this.healthCheck();
    if (this.bindState !== Bind.Bound) throw errnoException(EBADF, 'getsockname');
    return h.address();
  }

  remoteAddress(): AddressInfo {
    const h = this.healthCheck();
    if (this.connectState !== Conn.Connected) throw NOT_CONNECTED();
    return h.remoteAddress();
  }

  // ---- options -------------------------------------------------------------------

  /** The socket for an option call: node:dgram's handle has no fd before bind (EBADF). */
  private opt<T>(syscall: string, f: (h: UdpSocket) => T): T {
    const h = this.healthCheck();
    if (this.bindState !== Bind.Bound) throw errnoException(EBADF, syscall);
    try {
      return f(h);
    } catch (e) {
      throw errnoException(errnoOf(e), syscall);
    }
  }

  setBroadcast(arg: unknown): void {
    this.opt('setBroadcast', (h) => h.setBroadcast(!!arg));
  }

  setTTL(ttl: number): number {
    validateNumber(ttl, 'ttl');
    return this.opt('setTTL', (h) => {
      const v = ttl | 0; // the binding's Int32 conversion; libuv allows 1-255
      if (v < 1 || v > 255) throw errnoException(EINVAL, 'setTTL');
      h.setTTL(v);
      return ttl;
    });
  }

  setMulticastTTL(ttl: number): number {
    validateNumber(ttl, 'ttl');
    return this.opt('setMulticastTTL', (h) => {
      const v = ttl | 0;
      if (v < 0 || v > 255) throw errnoException(EINVAL, 'setMulticastTTL');
      h.setMulticastTTL(v);
      return ttl;
    });
  }

  setMulticastLoopback<T>(arg: T): T {
    this.opt('setMulticastLoopback', (h) => h.setMulticastLoopback(!!arg));
    return arg;
  }

  setMulticastInterface(interfaceAddress: string): void {
    this.healthCheck();
    validateString(interfaceAddress, 'interfaceAddress');
    this.opt('setMulticastInterface', (h) => {
      if (this.type === 'udp4') {
        if (!net.isIPv4(interfaceAddress)) throw errnoException(EINVAL, 'setMulticastInterface');
        h.setMulticastInterface(interfaceAddress);
      } else {
        // '::%eth0' / '::%2': the interface is the scope.
        if (!net.isIPv6(interfaceAddress.replace(/%.*$/, ''))) throw errnoException(EINVAL, 'setMulticastInterface');
        h.setMulticastInterface(scopeIndex(interfaceAddress) ?? 0);
      }
    });
  }

  /**
   * A membership call's interface as UdpSocket takes it, checked the way
   * libuv parses the group (IPv4, else IPv6) and reads the rest in the
   * group's family: any miss is EINVAL, as there.
   */
  private multicastIface(group: string, iface: unknown, syscall: string, source?: string): string | number | undefined {
    // Node's binding converts the interface to a string. Primitives convert
    // as there; an object (a detached view, a Proxy, one whose toString
    // throws) is a type error here, before any conversion can throw an
    // uncoded error of its own.
    const i = iface === undefined || iface === null ? undefined : membershipString(iface, 'interfaceAddress');
    if (net.isIPv4(group)) {
      if ((source !== undefined && !net.isIPv4(source)) || (i !== undefined && !net.isIPv4(i))) throw errnoException(EINVAL, syscall);
      return i;
    }
    if (net.isIPv6(group)) {
      if ((source !== undefined && !net.isIPv6(source)) || (i !== undefined && !net.isIPv6(i.replace(/%.*$/, '')))) throw errnoException(EINVAL, syscall);
      return i === undefined ? undefined : scopeIndex(i) ?? 0;
    }
    throw errnoException(EINVAL, syscall);
  }

  private membership(join: boolean, group: unknown, iface: unknown): void {
    const h = this.healthCheck();
    const syscall = join ? 'addMembership' : 'dropMembership';
    if (!group) throw coded(new TypeError('The "multicastAddress" argument must be specified'), 'ERR_MISSING_ARGS');
    const g = membershipString(group, 'multicastAddress');
    const ifArg = this.multicastIface(g, iface, syscall);
    try {
      if (join) h.addMembership(g, ifArg);
      else h.dropMembership(g, ifArg);
    } catch (e) {
      throw errnoException(errnoOf(e), syscall);
    }
  }

  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.membership(true, multicastAddress, interfaceAddress);
  }

  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.membership(false, multicastAddress, interfaceAddress);
  }

  private sourceMembership(join: boolean, source: unknown, group: unknown, iface: unknown): void {
    const h = this.healthCheck();
    const syscall = join ? 'addSourceSpecificMembership' : 'dropSourceSpecificMembership';
    validateString(source, 'sourceAddress');
    validateString(group, 'groupAddress');
    const ifArg = this.multicastIface(group as string, iface, syscall, source as string);
    try {
      if (join) h.addSourceSpecificMembership(source as string, group as string, ifArg);
      else h.dropSourceSpecificMembership(source as string, group as string, ifArg);
    } catch (e) {
      throw errnoException(errnoOf(e), syscall);
    }
  }

  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.sourceMembership(true, sourceAddress, groupAddress, interfaceAddress);
  }

  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.sourceMembership(false, sourceAddress, groupAddress, interfaceAddress);
  }

  private bufferSizeSock(which: 'recv' | 'send'): UdpSocket {
    const h = this.healthCheck();
    if (this.bindState !== Bind.Bound) {
      // The shape of node:dgram's SystemError for the same mistake.
      const syscall = which === 'recv' ? 'uv_recv_buffer_size' : 'uv_send_buffer_size';
      const e = new Error(`Could not get or set buffer size: ${syscall} returned EBADF (bad file descriptor)`);
      Object.defineProperty(e, 'name', { value: 'SystemError' });
      throw Object.assign(e, { code: 'ERR_SOCKET_BUFFER_SIZE', info: { errno: EBADF, code: 'EBADF', message: 'bad file descriptor', syscall }, errno: EBADF, syscall });
    }
    return h;
  }

  setRecvBufferSize(size: number): void {
    this.bufferSizeSock('recv').setRecvBufferSize(size);
  }

  setSendBufferSize(size: number): void {
    this.bufferSizeSock('send').setSendBufferSize(size);
  }

  getRecvBufferSize(): number {
    return this.bufferSizeSock('recv').getRecvBufferSize();
  }

  getSendBufferSize(): number {
    return this.bufferSizeSock('send').getSendBufferSize();
  }

  ref(): this {
    this.wantRef = true;
    if (this.handle && this.bindState === Bind.Bound) this.handle.ref();
    return this;
  }

  unref(): this {
    this.wantRef = false;
    if (this.sendsInFlight === 0) this.handle?.unref();
    return this;
  }

  /** ringwire extension: the underlying socket (batch receive, stats). */
  get ringwire(): UdpSocket {
    return this.sock;
  }
}

// node:dgram's deprecated private API (DEP0112), for code that still reads
// it: the same names, warning once as there, on the Node versions that
// still have it (Node 26 removed it: measured on 24.22 and 26.12).
// `_handle` is ringwire's own socket (null once closed), not a libuv
// UDPWrap; `_queue` holds what waits for the implicit bind, in this
// module's own shape.
type Internals = { handle: UdpSocket | null; bindState: number; queue?: unknown; reuseAddr?: boolean; receiving: boolean };
const HAS_DEP0112_MEMBERS = Number(process.versions.node.split('.')[0]) < 26;
function privateState(name: string, get: (s: Internals) => unknown, set: (s: Internals, v: never) => void): void {
  if (!HAS_DEP0112_MEMBERS) return;
  Object.defineProperty(Socket.prototype, name, {
    configurable: true,
    enumerable: false,
    get: util.deprecate(function (this: Socket) {
      return get(this as unknown as Internals);
    }, `Socket.prototype.${name} is deprecated`, 'DEP0112'),
    set: util.deprecate(function (this: Socket, v: never) {
      set(this as unknown as Internals, v);
    }, `Socket.prototype.${name} is deprecated`, 'DEP0112'),
  });
}
privateState('_handle', (s) => s.handle, (s, v) => void (s.handle = v));
privateState('_receiving', (s) => s.receiving, (s, v) => void (s.receiving = v));
privateState('_bindState', (s) => s.bindState, (s, v) => void (s.bindState = v));
privateState('_queue', (s) => s.queue, (s, v) => void (s.queue = v));
privateState('_reuseAddr', (s) => s.reuseAddr, (s, v) => void (s.reuseAddr = v));
for (const [name, fn] of [
  ['_healthCheck', function (this: Socket) {
    (this as unknown as { healthCheck(): void }).healthCheck();
  }],
  ['_stopReceiving', function (this: Socket) {
    (this as unknown as { stopReceiving(): void }).stopReceiving();
  }],
] as const) {
  if (!HAS_DEP0112_MEMBERS) break;
  Object.defineProperty(Socket.prototype, name, {
    configurable: true,
    enumerable: false,
    writable: true,
    value: util.deprecate(fn, `Socket.prototype.${name}() is deprecated`, 'DEP0112'),
  });
}

export function createSocket(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket {
  return new Socket(type, listener);
}
