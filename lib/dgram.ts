// `ringwire/dgram`: node:dgram's API over ringwire's UDP sockets, so
// existing code moves by changing one import. Behaviour follows node:dgram
// (event order, error codes, implicit bind on first send); test/dgram-compat
// runs the same scenarios against both and compares what they observe.
import { EventEmitter } from 'node:events';
import * as dns from 'node:dns';
import * as net from 'node:net';
import { assertAttached, invalidArgType, outOfRange, safeString, systemError, validateFunction } from './errors';
import type { AddressInfo } from './sockaddr';
import { type Backend, UdpSocket } from './udp';

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

type Msg = string | Uint8Array | DataView | readonly (string | Uint8Array | DataView)[];

const NOT_RUNNING = () => Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
const BAD_STATE = (what: string) => systemError(-9, what); // EBADF, as node:dgram before bind

function toBuffer(m: string | Uint8Array | DataView): Buffer {
  if (typeof m === 'string') return Buffer.from(m);
  // List items are checked like a lone message (node:dgram does the same).
  if (!ArrayBuffer.isView(m)) throw invalidArgType('buffer list arguments', 'of type string or an instance of Buffer, TypedArray, or DataView', m);
  assertAttached(m, 'buffer list arguments');
  return Buffer.from(m.buffer, m.byteOffset, m.byteLength);
}

export class Socket extends EventEmitter {
  private readonly sock: UdpSocket;
  private readonly type: SocketType;
  private readonly lookup: typeof dns.lookup;
  private state: 'unbound' | 'binding' | 'bound' | 'closed' = 'unbound';
  private connectState: 'none' | 'connecting' | 'connected' = 'none';
  private queue: (() => void)[] = [];
  // Destinations already known to be numeric: skips net.isIP per send.
  private readonly numericHosts = new Set<string>();
  private readonly opts: SocketOptions;

  constructor(opts: SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void) {
    super();
    this.opts = opts;
    this.type = opts.type;
    this.lookup = opts.lookup ?? dns.lookup;
    this.sock = new UdpSocket({
      type: opts.type,
      backend: opts.backend,
      reuseAddr: opts.reuseAddr,
      reusePort: opts.reusePort,
      ipv6Only: opts.ipv6Only,
    });
    this.sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.emit('message', msg, rinfo));
    this.sock.on('error', (err: Error) => this.emit('error', err));
    if (listener) this.on('message', listener);
    if (opts.signal) {
      const onAbort = () => this.close();
      if (opts.signal.aborted) process.nextTick(onAbort);
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  private healthCheck(): void {
    if (this.state === 'closed') throw NOT_RUNNING();
  }

  bind(port?: number | { port?: number; address?: string; exclusive?: boolean } | (() => void), address?: string | (() => void), callback?: () => void): this {
    this.healthCheck();
    if (this.state !== 'unbound') throw Object.assign(new Error('Socket is already bound'), { code: 'ERR_SOCKET_ALREADY_BOUND' });
    let p: number | undefined;
    let addr: string | undefined;
    let cb: (() => void) | undefined;
    if (typeof port === 'function') cb = port;
    else if (port !== null && typeof port === 'object') {
      p = port.port;
      addr = port.address;
      cb = typeof address === 'function' ? address : callback;
    } else {
      p = port;
      if (typeof address === 'function') cb = address;
      else {
        addr = address;
        cb = callback;
      }
    }
    if (p !== undefined && (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535)) {
      throw Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${safeString(p)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    if (cb) this.once('listening', cb);
    this.state = 'binding';
    const host = addr ?? (this.type === 'udp4' ? '0.0.0.0' : '::');
    this.lookup(host, { family: this.type === 'udp4' ? 4 : 6 }, (err, ip) => {
      if (this.state === 'closed') return;
      if (err) {
        this.state = 'unbound';
        this.emit('error', err);
        return;
      }
      try {
        this.sock.bind(p ?? 0, ip);
        if (this.opts.recvBufferSize) this.sock.setRecvBufferSize(this.opts.recvBufferSize);
        if (this.opts.sendBufferSize) this.sock.setSendBufferSize(this.opts.sendBufferSize);
      } catch (e) {
        this.state = 'unbound';
        this.emit('error', e);
        return;
      }
      this.state = 'bound';
      this.emit('listening');
      const q = this.queue;
      this.queue = [];
      for (const f of q) f();
    });
    return this;
  }

  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    this.healthCheck();
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw Object.assign(new RangeError(`Port should be > 0 and < 65536. Received ${safeString(port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    if (this.connectState !== 'none') throw Object.assign(new Error('Already connected'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
    this.connectState = 'connecting';
    if (callback) this.once('connect', callback);
    const go = () => {
      const host = (address as string | undefined) ?? (this.type === 'udp4' ? '127.0.0.1' : '::1');
      this.lookup(host, { family: this.type === 'udp4' ? 4 : 6 }, (err, ip) => {
        if (this.state === 'closed') return;
        try {
          if (err) throw err;
          this.sock.connect(port, ip);
        } catch (e) {
          this.connectState = 'none';
          process.nextTick(() => this.emit('error', e));
          return;
        }
        this.connectState = 'connected';
        this.emit('connect');
      });
    };
    if (this.state === 'unbound') {
      this.bind(0);
      this.queue.push(go);
    } else if (this.state === 'binding') this.queue.push(go);
    else go();
  }

  disconnect(): void {
    this.healthCheck();
    if (this.connectState !== 'connected') throw Object.assign(new Error('Not connected'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    this.sock.disconnect();
    this.connectState = 'none';
  }

  send(msg: Msg, ...args: unknown[]): void {
    this.healthCheck();
    if (ArrayBuffer.isView(msg)) assertAttached(msg, 'msg');
    // Argument shuffling exactly as node:dgram does it, quirks included
    // (e.g. a connected socket given (msg, port, address) sends to its peer).
    let [offset, length, port, address, cb] = args as [unknown, unknown, unknown, unknown, unknown];
    const connected = this.connectState === 'connected';
    let sliceIt = false;
    if (!connected) {
      if (address || (port && typeof port !== 'function')) sliceIt = true;
      else {
        cb = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === 'number') {
        sliceIt = true;
        if (typeof port === 'function') {
          cb = port;
          port = null;
        }
      } else cb = offset;
      if (port || address) throw Object.assign(new Error('Already connected'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
    }
    if (typeof address === 'function') {
      cb = address;
      address = undefined;
    }
    if (typeof cb !== 'function') cb = undefined;
    if (!sliceIt) {
      offset = undefined;
      length = undefined;
    }
    if (!connected && this.connectState !== 'connecting') {
      if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
        throw Object.assign(new RangeError(`Port should be > 0 and < 65536. Received ${safeString(port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
      }
    }
    const done0 = cb as ((err: Error | null, bytes?: number) => void) | undefined;
    let data: Buffer;
    if (Array.isArray(msg)) data = Buffer.concat(msg.map((m) => toBuffer(m)));
    else if (typeof msg === 'string' || ArrayBuffer.isView(msg)) data = toBuffer(msg as string | Uint8Array | DataView);
    else throw invalidArgType('buffer', 'of type string or an instance of Buffer, TypedArray, or DataView', msg);
    if (typeof offset === 'number') {
      if (offset < 0 || offset > data.length) throw outOfRange('offset', `>= 0 && <= ${data.length}`, offset);
      const len = typeof length === 'number' ? length : data.length - offset;
      if (len < 0 || offset + len > data.length) throw outOfRange('length', `>= 0 && <= ${data.length - offset}`, length);
      data = data.subarray(offset, offset + len);
    }
    if (address !== undefined && address !== null && typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    const done = (err: Error | null, bytes?: number) => {
      if (done0) done0(err, bytes);
      else if (err) this.emit('error', err);
    };
    // Without a callback nobody waits for the completion (as in node:dgram,
    // where such a send is fire-and-forget): queue() needs no completion
    // event at all, and failures still reach 'error'.
    const out = (p: number | undefined, host: string | undefined) => {
      if (done0) this.sock.send(data, p, host, done);
      else this.sock.queue(data, p, host);
    };
    const go = () => {
      if (this.state === 'closed') return;
      if (this.connectState === 'connected') return out(undefined, undefined);
      const p = port as number;
      const host = (address as string | undefined) ?? (this.type === 'udp4' ? '127.0.0.1' : '::1');
      if (this.numericHosts.has(host)) return out(p, host);
      if (net.isIP(host)) {
        if (this.numericHosts.size > 1024) this.numericHosts.clear();
        this.numericHosts.add(host);
        return out(p, host);
      }
      this.lookup(host, { family: this.type === 'udp4' ? 4 : 6 }, (err, ip) => {
        if (err) return done(err);
        out(p, ip);
      });
    };
    if (this.state === 'unbound') {
      this.bind(0);
      this.queue.push(go);
    } else if (this.state === 'binding' || this.connectState === 'connecting') this.queue.push(go);
    else go();
  }

  close(callback?: () => void): this {
    if (this.state === 'closed') throw NOT_RUNNING();
    if (typeof callback === 'function') this.once('close', callback);
    this.state = 'closed';
    this.queue = [];
    // node:dgram emits 'close' on the next tick of a synchronous close.
    this.sock.close().then(() => this.emit('close'));
    return this;
  }

  address(): AddressInfo {
    this.healthCheck();
    if (this.state !== 'bound') throw BAD_STATE('getsockname');
    return this.sock.address();
  }

  remoteAddress(): AddressInfo {
    this.healthCheck();
    if (this.connectState !== 'connected') throw Object.assign(new Error('Not connected'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    return this.sock.remoteAddress();
  }

  private bound(what: string): UdpSocket {
    this.healthCheck();
    if (this.state !== 'bound') throw BAD_STATE(what);
    return this.sock;
  }

  setBroadcast(flag: boolean): void {
    this.bound('setBroadcast').setBroadcast(flag);
  }

  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    return this.bound('setTTL').setTTL(ttl);
  }

  setMulticastTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    return this.bound('setMulticastTTL').setMulticastTTL(ttl);
  }

  setMulticastLoopback(flag: boolean): boolean {
    return this.bound('setMulticastLoopback').setMulticastLoopback(flag);
  }

  setMulticastInterface(iface: string): void {
    this.bound('setMulticastInterface').setMulticastInterface(iface);
  }

  addMembership(group: string, iface?: string): void {
    this.healthCheck();
    if (typeof group !== 'string') throw invalidArgType('multicastAddress', 'of type string', group);
    // node:dgram binds implicitly here if needed; the option works unbound.
    this.sock.addMembership(group, iface);
  }

  dropMembership(group: string, iface?: string): void {
    this.healthCheck();
    if (typeof group !== 'string') throw invalidArgType('multicastAddress', 'of type string', group);
    this.sock.dropMembership(group, iface);
  }

  private bufferSizeSock(): UdpSocket {
    this.healthCheck();
    if (this.state !== 'bound') {
      // The shape of node:dgram's SystemError for the same mistake.
      const which = 'uv_recv_buffer_size';
      const e = new Error(`Could not get or set buffer size: ${which} returned EBADF (bad file descriptor)`);
      Object.defineProperty(e, 'name', { value: 'SystemError' });
      throw Object.assign(e, { code: 'ERR_SOCKET_BUFFER_SIZE', info: { errno: -9, code: 'EBADF', message: 'bad file descriptor', syscall: which }, errno: -9, syscall: which });
    }
    return this.sock;
  }

  setRecvBufferSize(size: number): void {
    this.bufferSizeSock().setRecvBufferSize(size);
  }

  setSendBufferSize(size: number): void {
    this.bufferSizeSock().setSendBufferSize(size);
  }

  getRecvBufferSize(): number {
    return this.bufferSizeSock().getRecvBufferSize();
  }

  getSendBufferSize(): number {
    return this.bufferSizeSock().getSendBufferSize();
  }

  ref(): this {
    this.sock.ref();
    return this;
  }

  unref(): this {
    this.sock.unref();
    return this;
  }

  /** ringwire extension: the underlying socket (batch receive, stats). */
  get ringwire(): UdpSocket {
    return this.sock;
  }
}

export function createSocket(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket {
  const opts = typeof type === 'string' ? { type } : type;
  if (opts === null || typeof opts !== 'object') throw invalidArgType('type', "one of 'udp4' or 'udp6'", type);
  if (opts.type !== 'udp4' && opts.type !== 'udp6') {
    throw Object.assign(new TypeError(`Bad socket type specified. Valid types are: udp4, udp6`), { code: 'ERR_SOCKET_BAD_TYPE' });
  }
  return new Socket(opts, listener);
}
