// Size (~633 lines): one class whose length is its public surface (dgram's methods, send/queue/reply/sendBatch, 14 option setters as one-liners); option policy is in internal/udp/options.ts, backend choice in internal/backend.ts.
// UDP sockets on the per-thread io_uring (or the epoll backend): options,
// validation and the event model live here; the native side does syscalls
// and ring operations only.
import { EventEmitter } from 'node:events';
import * as dns from 'node:dns';
import * as net from 'node:net';
import { type Backend, resolveBackend } from './internal/backend';
import {
  assertAttached, check, checkValue, invalidArgType, invalidArgValue, outOfRange, socketClosed, systemError,
  validateFunction, validateObject,
} from './internal/errors';
import { loop, type ThreadLoop } from './internal/loop';
import { native } from './internal/native';
import type { NativeUdp } from './internal/native/udp';
import { type AddressInfo, SockaddrCache, decodeSockaddr, encodeSockaddr, mapIPv4 } from './internal/sockaddr';
import { UdpBatch } from './internal/udp/batch';
import { tcpdirectChoice } from './internal/tcpdirect/thread';
import { TcpdirectUdpSocket } from './internal/tcpdirect/udp';
import { ENOBUFS } from './internal/errno';
import { UDP_DESC, UDP_EV, checkLayout } from './internal/layout';
import { SOCKOPT, UDP_STAT_NAMES, type UdpStats, UdpStatsView } from './internal/udp/stats';
import {
  type Sockopt, broadcastOpt, bufferSizeOpt, busyPollOpt, checkAddress, membershipOpt, multicastIfOpt, multicastLoopOpt,
  multicastTtlOpt, parseUdpOptions, priorityOpt, scopeIndex, sourceMembershipOpt, tosOpt, ttlOpt, validatePort,
} from './internal/udp/options';

export type { AddressInfo } from './internal/sockaddr';
export type { UdpStats } from './internal/udp/stats';
export { UdpBatch } from './internal/udp/batch';

export type { Backend } from './internal/backend';
export { resolveBackend } from './internal/backend';

export interface UdpSocketOptions {
  type: 'udp4' | 'udp6';
  /** 'tcpdirect': AMD TCPDirect, when compiled in (see lib/internal/tcpdirect/udp.ts for what differs). */
  backend?: 'auto' | Backend | 'tcpdirect';
  reuseAddr?: boolean;
  reusePort?: boolean;
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Receive buffers in the provided-buffer ring (power of two). */
  bufferCount?: number;
  /** Bytes per receive buffer, headers included (power of two). */
  bufferSize?: number;
  /** Kernel receive timestamps per datagram (SO_TIMESTAMPNS). */
  timestamps?: boolean;
  /** Datagrams at least this large use SEND_ZC (0 = never). */
  zeroCopyThreshold?: number;
  /** Busy-poll budget in µs (SO_BUSY_POLL). */
  busyPoll?: number;
}

export type SendCallback = (err: Error | null, bytes?: number) => void;

export interface Datagram {
  data: Uint8Array;
  port?: number;
  address?: string;
}

interface Pending {
  cb?: SendCallback;
  keep?: Uint8Array | Uint8Array[];
  left: number;
  bytes: number;
  err: Error | null;
}

// The hot send entry, looked up once per thread instead of per datagram.
let udpSendFn: NativeUdp['udpSend'] | undefined;
let udpReplyFn: NativeUdp['udpReply'] | undefined;
const udpReplyNative = (id: number, off: number, len: number, name: number, nameLen: number): number =>
  (udpReplyFn ??= native().udpReply)(id, off, len, name, nameLen);
const udpSendNative = (id: number, b: Uint8Array, off: number, len: number, to: Uint8Array | null, token: number): number =>
  (udpSendFn ??= native().udpSend)(id, b, off, len, to, token);

// Options only the kernel stack has: 'auto' keeps such sockets off TCPDirect.
const TCPDIRECT_UNSUPPORTED = ['reuseAddr', 'reusePort', 'ipv6Only', 'recvBufferSize', 'sendBufferSize', 'bufferCount', 'bufferSize', 'timestamps', 'zeroCopyThreshold', 'busyPoll'] as const;

let tokenSeq = 0;
function nextToken(): number {
  tokenSeq = (tokenSeq + 1) >>> 0;
  if (tokenSeq === 0) tokenSeq = 1;
  return tokenSeq;
}

const registry = new FinalizationRegistry<number>((id) => {
  // A socket dropped without close(): release the fd, ring buffers and pool.
  native().udpClose(id);
  loop().unregister(id);
});

export class UdpSocket extends EventEmitter {
  readonly type: 'udp4' | 'udp6';
  readonly backend: Backend;
  /** Why this backend: 'requested', or what 'auto' found (and passed over). */
  readonly backendReason: string;
  private readonly fam: 4 | 6;
  private id: number;
  private readonly loop: ThreadLoop;
  private pool: Uint8Array;
  private descs: Uint32Array;
  private statsView: UdpStatsView;
  private readonly addrCache: SockaddrCache;
  private readonly pending = new Map<number, Pending>();
  private readonly batch: UdpBatch;
  private batchListener?: (batch: UdpBatch) => void;
  private bound = false;
  private receiving = false;
  private connected = false;
  private peer: Uint8Array | null = null;
  private closed = false;
  private refed = true;
  private closePromise?: Promise<void>;
  private closeResolve?: () => void;
  private iterQueue?: { items: { msg: Buffer; rinfo: AddressInfo & { size: number } }[]; wake?: () => void };
  private readonly lookup = dns.lookup;

  constructor(opts: UdpSocketOptions) {
    super();
    const o = parseUdpOptions(opts as unknown as Record<string, unknown>);
    this.type = o.type;
    const choice = resolveBackend(o.backend);
    this.backendReason = choice.reason;
    this.fam = o.fam;
    this.backend = choice.backend;
    this.loop = loop();
    checkLayout('udp', { statNames: UDP_STAT_NAMES });
    const stats = new Float64Array(UDP_STAT_NAMES.length);
    const r = checkValue(native().udpOpen(this.backend === 'io_uring' ? 0 : 1, this.fam, o.bufferCount, o.bufferSize, o.timestamps, o.zeroCopyThreshold, stats),
      this.backend === 'io_uring' ? 'io_uring_register' : 'socket');
    this.id = r.id;
    this.pool = new Uint8Array(r.pool);
    this.descs = new Uint32Array(r.descs);
    this.statsView = new UdpStatsView(stats);
    this.addrCache = new SockaddrCache(this.fam);
    this.batch = new UdpBatch(this.pool, this.descs, o.bufferSize - UDP_DESC.headerSpace);
    // Held strongly while ref'd (like a Node handle); an unref'd socket
    // nobody references is collected and closed by the registry.
    this.loop.attach(this.id, this, true);
    this.loop.ref();
    registry.register(this, this.id, this);
    try {
      for (const so of o.sockopts) this.apply(so);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  // ---- events from the loop -------------------------------------------------

  /** @internal loop events for this socket. */
  onLoopEvent(kind: number, a: number, b: number): void {
    switch (kind) {
      case UDP_EV.recv: // descriptors [0, a)
        this.deliver(a);
        break;
      case UDP_EV.sent: // token a, result b
        this.onSent(a, b);
        break;
      case UDP_EV.recvError:
        this.emit('error', systemError(a, 'recvmsg'));
        break;
      case UDP_EV.closed:
        this.onClosed();
        break;
    }
  }

  private deliver(count: number): void {
    // Closed by a callback earlier in this dispatch: the pool is detached.
    if (this.closed) return;
    const batch = this.batch;
    batch.count = count;
    if (this.batchListener) this.batchListener(batch);
    const q = this.iterQueue;
    if (this.listenerCount('message') === 0 && !q) return;
    for (let i = 0; i < count && !this.closed; i++) {
      const msg = Buffer.from(batch.payload(i)); // 'message' owns its bytes
      const rinfo = { ...batch.source(i), size: msg.length };
      if (q) q.items.push({ msg, rinfo });
      this.emit('message', msg, rinfo);
    }
    if (q?.wake) {
      const w = q.wake;
      q.wake = undefined;
      w();
    }
  }

  private onSent(token: number, res: number): void {
    const p = this.pending.get(token);
    const err = res < 0 ? systemError(res, 'send') : null;
    if (!p) {
      // Sends cancelled by our own close() are not errors (as in node:dgram).
      if (err && !this.closed) this.emit('error', err);
      return;
    }
    if (err && !p.err) p.err = err;
    else if (res > 0) p.bytes += res;
    if (--p.left > 0) return;
    this.pending.delete(token);
    if (p.cb) p.cb(p.err, p.bytes);
    else if (p.err && !this.closed) this.emit('error', p.err);
  }

  private onClosed(): void {
    this.loop.unregister(this.id);
    if (this.refed) {
      this.refed = false;
      this.loop.unref();
    }
    for (const [, p] of this.pending) {
      p.cb?.(p.err ?? socketClosed('send'));
    }
    this.pending.clear();
    this.closeResolve?.();
    this.emit('close');
  }

  // ---- receive --------------------------------------------------------------

  /** Batch receive: one call per batch, views valid until the callback returns. */
  onBatch(listener: ((batch: UdpBatch) => void) | null): this {
    if (listener !== null) validateFunction(listener, 'listener');
    this.batchListener = listener ?? undefined;
    this.startReceiving();
    return this;
  }

  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    // EventEmitter turns any other key into a property name, which can throw
    // without a code (a detached view's toString).
    if (typeof event !== 'string' && typeof event !== 'symbol') throw invalidArgType('eventName', 'of type string or symbol', event);
    super.on(event, listener);
    if (event === 'message') this.startReceiving();
    return this;
  }

  private startReceiving(): void {
    if (this.receiving || this.closed || !this.bound) return;
    this.receiving = true;
    check(native().udpStart(this.id), 'recvmsg');
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<{ msg: Buffer; rinfo: AddressInfo & { size: number } }> {
    const q = (this.iterQueue ??= { items: [] });
    this.startReceiving();
    const closed = new Promise<void>((r) => this.once('close', r));
    while (!this.closed || q.items.length) {
      if (q.items.length) {
        yield q.items.shift()!;
        continue;
      }
      await Promise.race([new Promise<void>((r) => { q.wake = r; }), closed]);
    }
  }

  // ---- addressing -------------------------------------------------------------

  private ensureOpen(syscall: string): void {
    if (this.closed) throw socketClosed(syscall);
  }

  private checkAddress(address: string, name = 'address'): string {
    return checkAddress(this.fam, address, name);
  }

  /** Binds synchronously; returns the bound address. */
  bind(port = 0, address?: string): AddressInfo {
    this.ensureOpen('bind');
    validatePort(port);
    const addr = address === undefined ? (this.fam === 4 ? '0.0.0.0' : '::') : this.checkAddress(address);
    if (this.bound) throw Object.assign(new Error('Socket is already bound'), { code: 'ERR_SOCKET_ALREADY_BOUND' });
    const sa = encodeSockaddr(this.fam, this.fam === 6 ? mapIPv4(addr) : addr, port, this.fam === 6 ? scopeIndex(addr) ?? 0 : 0);
    check(native().udpBind(this.id, sa), 'bind', { address: addr, port });
    this.bound = true;
    if (this.batchListener || this.listenerCount('message') || this.iterQueue) this.startReceiving();
    return this.address();
  }

  connect(port: number, address?: string): void {
    this.ensureOpen('connect');
    validatePort(port, 'port', false);
    const addr = address === undefined ? (this.fam === 4 ? '127.0.0.1' : '::1') : this.checkAddress(address);
    if (!this.bound) this.bind(0);
    const peer = this.addrCache.get(addr, port);
    check(native().udpConnect(this.id, peer), 'connect', { address: addr, port });
    this.connected = true;
    this.peer = peer;
  }

  disconnect(): void {
    this.ensureOpen('disconnect');
    if (!this.connected) throw Object.assign(new Error('Not connected'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    check(native().udpConnect(this.id, null), 'connect');
    this.connected = false;
    this.peer = null;
  }

  address(): AddressInfo {
    this.ensureOpen('getsockname');
    const r = native().udpName(this.id, false);
    if (typeof r === 'number') throw systemError(r, 'getsockname');
    return decodeSockaddr(r);
  }

  remoteAddress(): AddressInfo {
    this.ensureOpen('getpeername');
    const r = native().udpName(this.id, true);
    if (typeof r === 'number') throw systemError(r, 'getpeername');
    return decodeSockaddr(r);
  }

  // ---- send -----------------------------------------------------------------

  private dest(port: number | undefined, address: string | undefined): Uint8Array | null {
    if (!this.connected && address !== undefined && typeof port === 'number') {
      const hit = this.addrCache.lookup(address, port);
      if (hit !== undefined) return hit;
    }
    if (port === undefined) {
      if (!this.connected) throw Object.assign(new Error('port is required on an unconnected socket'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
      // The peer is named explicitly: a send queued for this loop turn
      // still reaches it if disconnect() runs before the flush.
      return this.peer;
    }
    validatePort(port, 'port', false);
    if (this.connected) throw Object.assign(new Error('Already connected'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
    const addr = address === undefined ? (this.fam === 4 ? '127.0.0.1' : '::1') : address;
    // A cached destination was validated when it was first seen.
    return this.addrCache.lookup(addr, port) ?? this.addrCache.set(this.checkAddress(addr), port);
  }

  private toBytes(data: unknown, name = 'data'): Uint8Array {
    if (data instanceof Uint8Array) {
      assertAttached(data, name);
      return data;
    }
    if (typeof data === 'string') return Buffer.from(data);
    if (ArrayBuffer.isView(data)) {
      assertAttached(data, name);
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    throw invalidArgType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', data);
  }

  private submit(bytes: Uint8Array, to: Uint8Array | null, cb: SendCallback | undefined): void {
    if (!this.bound) this.bind(0);
    // Every datagram is copied by native code before udpSend returns, so a
    // completion is only needed when somebody waits for the result.
    const token = cb ? nextToken() : 0;
    const r = udpSendNative(this.id, bytes, 0, bytes.length, to, token);
    if (r < 0) {
      const err = systemError(r, 'send');
      if (cb) process.nextTick(cb, err);
      else process.nextTick(() => this.emit('error', err));
      return;
    }
    if (token) this.pending.set(token, { cb, keep: r === 1 ? bytes : undefined, left: 1, bytes: 0, err: null });
  }

  /**
   * Sends one datagram. With a callback it is called when the kernel has
   * taken the datagram; without one a Promise is returned.
   */
  send(data: Uint8Array | string, port?: number, address?: string): Promise<number>;
  send(data: Uint8Array | string, port: number | undefined, address: string | undefined, cb: SendCallback): void;
  send(data: Uint8Array | string, port?: number, address?: string, cb?: SendCallback): Promise<number> | void {
    this.ensureOpen('send');
    const bytes = this.toBytes(data);
    if (cb !== undefined) validateFunction(cb, 'callback');
    if (address !== undefined && typeof address === 'string' && net.isIP(address) === 0) {
      // Hostnames resolve first, as dgram does.
      const run = (done: SendCallback) => this.lookup(address, { family: this.fam }, (err, ip) => {
        if (err) return done(err);
        try {
          this.submit(bytes, this.dest(port, ip), done);
        } catch (e) {
          done(e as Error);
        }
      });
      if (cb) return void run(cb);
      return new Promise((res, rej) => run((e, n) => (e ? rej(e) : res(n ?? 0))));
    }
    const to = this.dest(port, address);
    if (cb) return this.submit(bytes, to, cb);
    return new Promise<number>((res, rej) => this.submit(bytes, to, (e, n) => (e ? rej(e) : res(n ?? 0))));
  }

  /**
   * Queues a datagram with no completion at all: the fastest path. Errors
   * surface as 'error' events.
   */
  queue(data: Uint8Array, port?: number, address?: string): void {
    this.ensureOpen('send');
    if (!(data instanceof Uint8Array)) throw invalidArgType('data', 'an instance of Buffer or Uint8Array', data);
    assertAttached(data, 'data');
    const to = this.dest(port, address);
    if (!this.bound) this.bind(0);
    this.submit(data, to, undefined);
  }

  /**
   * Sends `data` (default: the datagram itself) back to the source of
   * datagram `i` of the batch being delivered: the kernel's sockaddr is
   * copied straight from the receive pool, so nothing is parsed or
   * allocated. Only valid inside the batch callback.
   */
  reply(batch: UdpBatch, i: number, data?: Uint8Array): void {
    this.ensureOpen('send');
    if (batch !== this.batch) throw invalidArgValue('batch', batch, 'must be the batch this socket is delivering');
    if (!Number.isInteger(i) || i < 0 || i >= batch.count) throw outOfRange('i', `>= 0 and < ${batch.count}`, i);
    if (data === undefined && batch.length(i) <= this.inlineSend) {
      // Copied by the native side (payload and sockaddr both from the pool)
      // before the pool buffer is recycled: five numbers cross, nothing else.
      const r = udpReplyNative(this.id, batch.offset(i), batch.length(i), batch.sourceOffset(i), batch.sourceLength(i));
      if (r < 0) process.nextTick(() => this.emit('error', systemError(r, 'send')));
      return;
    }
    const src = this.nameView(batch.sourceOffset(i), batch.sourceLength(i));
    if (data === undefined) data = Buffer.from(batch.payload(i)); // large: must outlive the pool slot
    else if (!(data instanceof Uint8Array)) throw invalidArgType('data', 'an instance of Buffer or Uint8Array', data);
    else assertAttached(data, 'data');
    this.submit(data, Uint8Array.prototype.slice.call(src), undefined);
  }

  private nameView(offset: number, length: number): Uint8Array {
    return this.pool.subarray(offset, offset + length);
  }

  private get inlineSend(): number {
    return UDP_DESC.inlineSend;
  }

  /**
   * Many datagrams in one native call and one submission. Each item may
   * name its own destination; the callback (or Promise) settles when all
   * are sent.
   */
  sendBatch(datagrams: (Uint8Array | Datagram)[], cb?: SendCallback): Promise<number> | void {
    this.ensureOpen('send');
    if (!Array.isArray(datagrams)) throw invalidArgType('datagrams', 'an Array', datagrams);
    if (cb !== undefined) validateFunction(cb, 'callback');
    const n = datagrams.length;
    const bufs: Uint8Array[] = new Array(n);
    let addrs: Uint8Array | null = null;
    const stride = this.fam === 4 ? 16 : 28;
    let perItem = false;
    for (let i = 0; i < n; i++) {
      const d = datagrams[i];
      if (d instanceof Uint8Array) {
        assertAttached(d, `datagrams[${i}]`);
        bufs[i] = d;
      } else {
        validateObject(d, `datagrams[${i}]`);
        bufs[i] = this.toBytes(d.data, `datagrams[${i}].data`);
        if (d.port !== undefined) perItem = true;
      }
    }
    if (perItem) {
      addrs = new Uint8Array(n * stride);
      for (let i = 0; i < n; i++) {
        const d = datagrams[i] as Datagram;
        if (d instanceof Uint8Array || d.port === undefined) throw invalidArgValue(`datagrams[${i}].port`, undefined, 'is required when any datagram names a destination');
        addrs.set(this.dest(d.port, d.address)!, i * stride);
      }
    } else if (!this.connected) {
      throw Object.assign(new Error('sendBatch without destinations needs a connected socket'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    }
    if (!this.bound) this.bind(0);
    const run = (done: SendCallback) => {
      const token = nextToken();
      const r = native().udpSendBatch(this.id, bufs, addrs, addrs ? stride : 0, token);
      if (r < 0) return process.nextTick(done, systemError(r, 'sendmmsg'));
      if (r === 0) return process.nextTick(done, null, 0);
      this.pending.set(token, { cb: done, keep: bufs, left: r, bytes: 0, err: r < n ? systemError(ENOBUFS, 'sendmmsg') : null });
    };
    if (cb) return void run(cb);
    return new Promise((res, rej) => run((e, bytes) => (e ? rej(e) : res(bytes ?? 0))));
  }

  // ---- options --------------------------------------------------------------

  /** Sets one option built (and validated) by internal/udp/options.ts. */
  private apply(o: Sockopt, syscall = 'setsockopt'): void {
    this.ensureOpen(syscall);
    check(native().udpSetOpt(this.id, o.level, o.name, o.value), syscall);
  }

  private getOpt(name: number): number {
    this.ensureOpen('getsockopt');
    const r = native().udpGetOpt(this.id, SOCKOPT.SOL_SOCKET, name);
    if (typeof r === 'number') throw systemError(r, 'getsockopt');
    return r[0];
  }

  setBroadcast(flag: boolean): void {
    this.apply(broadcastOpt(flag));
  }

  setTTL(ttl: number): number {
    this.apply(ttlOpt(this.fam, ttl));
    return ttl;
  }

  setMulticastTTL(ttl: number): number {
    this.apply(multicastTtlOpt(this.fam, ttl));
    return ttl;
  }

  setMulticastLoopback(flag: boolean): boolean {
    this.apply(multicastLoopOpt(this.fam, flag));
    return flag;
  }

  /** IPv4: the local interface address; IPv6: an interface index. */
  setMulticastInterface(iface: string | number): void {
    this.apply(multicastIfOpt(this.fam, iface));
  }

  addMembership(group: string, iface?: string | number): void {
    this.apply(membershipOpt(this.fam, true, group, iface), 'addMembership');
  }

  dropMembership(group: string, iface?: string | number): void {
    this.apply(membershipOpt(this.fam, false, group, iface), 'dropMembership');
  }

  /**
   * Source-specific multicast: datagrams sent to `group` by `source` only.
   * `iface`: the local IPv4 address, or the IPv6 interface index.
   */
  addSourceSpecificMembership(source: string, group: string, iface?: string | number): void {
    this.apply(sourceMembershipOpt(true, source, group, iface), 'addSourceSpecificMembership');
  }

  dropSourceSpecificMembership(source: string, group: string, iface?: string | number): void {
    this.apply(sourceMembershipOpt(false, source, group, iface), 'dropSourceSpecificMembership');
  }

  setTOS(tos: number): void {
    this.apply(tosOpt(this.fam, tos));
  }

  setPriority(priority: number): void {
    this.apply(priorityOpt(priority));
  }

  setBusyPoll(usec: number): void {
    this.apply(busyPollOpt(usec));
  }

  /** The CPU that last processed this socket's receive (SO_INCOMING_CPU). */
  get incomingCpu(): number {
    return this.getOpt(SOCKOPT.SO_INCOMING_CPU);
  }

  setRecvBufferSize(size: number): void {
    this.apply(bufferSizeOpt(true, size));
  }

  setSendBufferSize(size: number): void {
    this.apply(bufferSizeOpt(false, size));
  }

  getRecvBufferSize(): number {
    return this.getOpt(SOCKOPT.SO_RCVBUF);
  }

  getSendBufferSize(): number {
    return this.getOpt(SOCKOPT.SO_SNDBUF);
  }

  // ---- lifecycle ----------------------------------------------------------------

  /**
   * Counters the native side writes into a JS-owned Float64Array (still
   * readable after close). kernelDrops comes from the kernel's SO_MEMINFO:
   * refreshed at most every 8 ms while datagrams arrive, and here.
   */
  get stats(): UdpStats {
    if (!this.closed) native().udpRefreshDrops(this.id);
    return this.statsView.read();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  ref(): this {
    if (!this.refed && !this.closed) {
      this.refed = true;
      this.loop.ref();
      this.loop.setStrong(this.id, this, true);
    }
    return this;
  }

  unref(): this {
    if (this.refed && !this.closed) {
      this.refed = false;
      this.loop.unref();
      this.loop.setStrong(this.id, this, false);
    }
    return this;
  }

  /**
   * Idempotent. Pending receives are cancelled; sends already with the
   * kernel complete first. Views into the pool are detached at once.
   */
  close(cb?: () => void): Promise<void> {
    if (!this.closePromise) {
      native().udpRefreshDrops(this.id); // the last count stays readable
      this.closed = true;
      this.closePromise = new Promise<void>((r) => {
        this.closeResolve = r;
      });
      // The loop stays ref'd until the kernel has let go (like a closing
      // Node handle), so the close callback always runs.
      if (!this.refed) {
        this.loop.ref();
        this.loop.setStrong(this.id, this, true);
      }
      this.refed = true;
      registry.unregister(this);
      native().udpClose(this.id);
      this.iterQueue?.wake?.();
    }
    if (cb) this.closePromise.then(cb);
    return this.closePromise;
  }
}

export function createUdpSocket(opts: UdpSocketOptions): UdpSocket {
  validateObject(opts, 'options');
  const tcpdirect = tcpdirectChoice(opts as unknown as Record<string, unknown>, TCPDIRECT_UNSUPPORTED);
  // The TCPDirect socket has this class's surface, minus what TCPDirect lacks.
  if (tcpdirect !== undefined) return new TcpdirectUdpSocket(opts, tcpdirect) as unknown as UdpSocket;
  return new UdpSocket(opts);
}
