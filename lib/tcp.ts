// Size (~615 lines): TcpEndpoint's surface (setup, data, per-connection options, lifecycle) and its one native event switch; send accounting is internal/tcp/ledger.ts, batches internal/tcp/batch.ts.
// The low-level TCP API: connections are numbers, every event of a loop wake
// arrives in ONE callback (a TcpBatch read in place, payloads are views into
// the shared receive pool), writes to many connections go out in one
// submission per loop turn, and counters are read from native memory.
import {
  closedError,
  assertAttached, invalidArgType, invalidArgValue, outOfRange, type SystemError, validateBoolean, validateFunction, validateInteger, validateObject,
} from './internal/errors';
import type { AddressInfo } from './internal/sockaddr';
import {
  type Backend, EV, type TcpConnStats, type TcpStats, type TcpThreadState, backendOf, isResourceError, openConnection, openListener,
  opError, sendBytes, setKeepAlive, setOpt, sockName, sockaddrFor, tcpThread, validateMs, validatePort, writeAfterEnd, IPPROTO_TCP, TCP_NODELAY,
} from './internal/tcp/core';
import { native } from './internal/native';
import { loop, rethrowLater } from './internal/loop';

import { EventRecords, TcpBatch, TcpEvent, TcpListener } from './internal/tcp/batch';
import { SendLedger } from './internal/tcp/ledger';
import { tcpdirectChoice } from './internal/tcpdirect/thread';
import { TcpdirectEndpoint } from './internal/tcpdirect/tcp';
import { EBADF, ETIMEDOUT } from './internal/errno';
import { TCP_OP } from './internal/layout';

export { configureTcpBuffers, tcpStats } from './internal/tcp/core';
export { TcpBatch, TcpEvent, TcpListener } from './internal/tcp/batch';
export type { TcpEventType } from './internal/tcp/batch';
export type { TcpStats, TcpConnStats, BufferConfig } from './internal/tcp/core';

export interface TcpEndpointOptions {
  /** Called once per loop wake with every event of the endpoint's connections. */
  onBatch: (batch: TcpBatch) => void;
  /** 'tcpdirect' (createTcpEndpoint only): AMD TCPDirect, when compiled in; see lib/internal/tcpdirect/tcp.ts. */
  backend?: 'auto' | Backend | 'tcpdirect';
  /** Queued bytes per connection above which send() returns false (default 1 MiB). */
  highWaterMark?: number;
  /** Keep a connection open after the peer's FIN until end() (default false: end with it). */
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Sends of at least this many bytes use SENDMSG_ZC (io_uring; 0 = never). */
  zeroCopyThreshold?: number;
  /** Destroy connections without traffic for this many ms (0 = never). */
  idleTimeout?: number;
}

export interface TcpListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
  reusePort?: boolean;
  ipv6Only?: boolean;
  /** TCP_DEFER_ACCEPT: wake only when data arrives, waiting up to this many seconds. */
  deferAccept?: number;
}

export interface TcpConnectOptions {
  port: number;
  host?: string;
  /** Fail with ETIMEDOUT if not established within this many ms (0 = kernel default). */
  timeout?: number;
  localAddress?: string;
  localPort?: number;
}

interface Conn {
  listener: number;  // -1 for outbound
  /** Native counters of this connection: [st[so], st[so + 1]] = bytes read, written. */
  st: Float64Array;
  so: number;
  out: SendLedger;
  needDrain: boolean;
  connecting: boolean;
  ended: boolean;
  finished: boolean;
  peerEnded: boolean;
  destroyed: boolean;
  final?: TcpConnStats;
  timer?: NodeJS.Timeout;
  idleMark: number;
  idleSince: number;
}

/** What an endpoint holds natively, kept apart from it so a finalizer can release it. */
interface Owned {
  ids: Map<number, boolean>;  // id -> is a listener
  sweeper?: NodeJS.Timeout;
}

// GC semantics, as for UDP sockets: a ref'd endpoint is held by its thread's
// loop like a Node handle (dropping it closes nothing: close() it), while an
// unref'd one nobody references is collected and everything it still holds
// is closed here.
const endpoints = new FinalizationRegistry<Owned>((o) => {
  if (o.sweeper) clearInterval(o.sweeper);
  for (const [id, isListener] of o.ids) {
    if (isListener) native().tcpListenerClose(id);
    else native().tcpClose(id, false);
    loop().unregister(id);
  }
  o.ids.clear();
});

const pendingFlush: TcpEndpoint[] = [];
let inDispatch = false;
let hooked = false;

function flushAll(): void {
  inDispatch = false;
  // One endpoint's throwing onBatch must not strand the others' batches.
  while (pendingFlush.length) {
    try {
      pendingFlush.shift()!.flush();
    } catch (err) {
      rethrowLater(err);
    }
  }
}

export class TcpEndpoint {
  readonly backend: Backend;
  /** @internal */ readonly pool: Uint8Array;
  private readonly t: TcpThreadState;
  private readonly onBatch: (batch: TcpBatch) => void;
  private readonly batch: TcpBatch;
  private readonly conns = new Map<number, Conn>();
  private readonly listeners = new Map<number, TcpListener>();
  private readonly hwm: number;
  private readonly allowHalfOpen: boolean;
  private readonly sock: { noDelay: boolean; keepAlive: boolean; keepAliveInitialDelay: number; recvBufferSize: number; sendBufferSize: number; zeroCopyThreshold: number };
  private readonly idleTimeout: number;
  private sweeper?: NodeJS.Timeout;
  private readonly events = new EventRecords();
  private autoEnd: number[] = [];
  private queued = false;
  private refed = true;
  private handles = 0;
  private closing?: Promise<void>;
  private closeResolve?: () => void;
  private ids = new Int32Array(64);
  private results = new Int32Array(64);
  private readonly handler = (kind: number, a: number, b: number, id: number): void => this.onEvent(kind, a, b, id);
  private readonly owned: Owned = { ids: new Map() };

  constructor(opts: TcpEndpointOptions) {
    validateObject(opts, 'options');
    this.onBatch = validateFunction(opts.onBatch, 'options.onBatch') as (batch: TcpBatch) => void;
    this.backend = backendOf(opts.backend);
    this.hwm = opts.highWaterMark === undefined ? 1 << 20 : validateInteger(opts.highWaterMark, 'options.highWaterMark', 1, 2 ** 31 - 1);
    this.allowHalfOpen = opts.allowHalfOpen === undefined ? false : validateBoolean(opts.allowHalfOpen, 'options.allowHalfOpen');
    this.sock = {
      noDelay: opts.noDelay === undefined ? true : validateBoolean(opts.noDelay, 'options.noDelay'),
      keepAlive: opts.keepAlive === undefined ? false : validateBoolean(opts.keepAlive, 'options.keepAlive'),
      keepAliveInitialDelay: opts.keepAliveInitialDelay === undefined ? 0 : validateMs(opts.keepAliveInitialDelay, 'options.keepAliveInitialDelay'),
      recvBufferSize: opts.recvBufferSize === undefined ? 0 : validateInteger(opts.recvBufferSize, 'options.recvBufferSize', 1, 2 ** 31 - 1),
      sendBufferSize: opts.sendBufferSize === undefined ? 0 : validateInteger(opts.sendBufferSize, 'options.sendBufferSize', 1, 2 ** 31 - 1),
      zeroCopyThreshold: opts.zeroCopyThreshold === undefined ? 0 : validateInteger(opts.zeroCopyThreshold, 'options.zeroCopyThreshold', 0, 2 ** 31 - 1),
    };
    this.idleTimeout = opts.idleTimeout === undefined ? 0 : validateMs(opts.idleTimeout, 'options.idleTimeout');
    this.t = tcpThread();
    this.pool = this.t.pool(this.backend);
    this.batch = new TcpBatch(this);
    if (!hooked) {
      hooked = true;
      this.t.loop.onDispatchEnd(flushAll);
    }
    endpoints.register(this, this.owned, this);
  }

  /** @internal Loop events while unref'd (the loop then holds us weakly). */
  onLoopEvent(kind: number, a: number, b: number, id: number): void {
    this.onEvent(kind, a, b, id);
  }

  // ---- setup ------------------------------------------------------------------

  listen(opts: TcpListenOptions = {}): TcpListener {
    validateObject(opts, 'options');
    const port = opts.port === undefined ? 0 : validatePort(opts.port);
    if (opts.host !== undefined && typeof opts.host !== 'string') throw invalidArgType('options.host', 'of type string', opts.host);
    if (opts.host !== undefined) sockaddrFor(opts.host, port);
    const backlog = opts.backlog === undefined ? 511 : validateInteger(opts.backlog, 'options.backlog', 0, 65535);
    const reusePort = opts.reusePort === undefined ? false : validateBoolean(opts.reusePort, 'options.reusePort');
    const ipv6Only = opts.ipv6Only === undefined ? false : validateBoolean(opts.ipv6Only, 'options.ipv6Only');
    const deferAccept = opts.deferAccept === undefined ? 0 : validateInteger(opts.deferAccept, 'options.deferAccept', 0, 3600);
    this.ensureOpen();
    const id = openListener(this.t, { ...this.sock, backend: this.backend, host: opts.host, port, backlog, reusePort, ipv6Only, deferAccept });
    const l = new TcpListener(id);
    this.listeners.set(id, l);
    this.track(id, true);
    return l;
  }

  /** Starts a connection; its Connect (or Error) event follows. */
  connect(opts: TcpConnectOptions): number {
    validateObject(opts, 'options');
    const port = validatePort(opts.port, 'options.port', false);
    if (opts.host !== undefined && typeof opts.host !== 'string') throw invalidArgType('options.host', 'of type string', opts.host);
    const { sa, family } = sockaddrFor(opts.host ?? '127.0.0.1', port);
    const timeout = opts.timeout === undefined ? 0 : validateMs(opts.timeout, 'options.timeout');
    let local: Uint8Array | null = null;
    if (opts.localAddress !== undefined || opts.localPort !== undefined) {
      const lp = opts.localPort === undefined ? 0 : validatePort(opts.localPort, 'options.localPort');
      const la = sockaddrFor(opts.localAddress ?? (family === 4 ? '0.0.0.0' : '::'), lp, 'options.localAddress');
      if (la.family !== family) throw invalidArgValue('options.localAddress', opts.localAddress, 'must have the family of options.host');
      local = la.sa;
    }
    this.ensureOpen();
    const id = openConnection(this.t, { ...this.sock, backend: this.backend, sa, local, timeout });
    if (id < 0) throw opError(id, TCP_OP.connect, { address: opts.host ?? '127.0.0.1', port });
    const c = this.newConn(id, -1);
    c.connecting = true;
    if (timeout && this.backend === 'epoll') {
      c.timer = setTimeout(() => {
        if (c.connecting && !c.destroyed) this.fail(id, c, ETIMEDOUT, TCP_OP.connect);
      }, timeout);
    }
    return id;
  }

  // ---- data -------------------------------------------------------------------

  /** Queues bytes; false when the connection's queue is above the high-water mark (a Drain follows). */
  send(conn: number, data: Uint8Array | string): boolean {
    const c = this.conns.get(conn);
    if (!c) throw this.unknown(conn);
    const bytes = sendBytes(data);
    if (c.destroyed) return false;
    if (c.ended) throw writeAfterEnd();
    return this.accepted(conn, c, bytes.length, native().tcpSend(conn, bytes, 0, bytes.length, false), bytes);
  }

  /**
   * Queues a copy of Data event `i` of the batch being delivered on `conn`
   * (an echo, or one hop of a proxy) without making a view: the bytes go
   * from the receive pool to the send queue in native code. Returns what
   * send() returns.
   */
  sendFrom(conn: number, batch: TcpBatch, i: number): boolean {
    if (batch !== this.batch) throw invalidArgValue('batch', batch, 'must be the batch this endpoint is delivering');
    if (!Number.isInteger(i) || i < 0 || i >= batch.count) throw outOfRange('i', `>= 0 and < ${batch.count}`, i);
    if (batch.type(i) !== TcpEvent.Data) throw invalidArgValue('i', i, 'must be the index of a Data event');
    const c = this.conns.get(conn);
    if (!c) throw this.unknown(conn);
    if (c.destroyed) return false;
    if (c.ended) throw writeAfterEnd();
    const len = batch.length(i);
    return this.accepted(conn, c, len, native().tcpSendPool(conn, batch.offset(i), len));
  }

  /**
   * Many writes, each to its own connection, in one native call; they leave
   * together with the loop turn's submission. Returns how many connections
   * are now above the high-water mark.
   */
  sendBatch(conns: ArrayLike<number>, data: Uint8Array[]): number {
    if (!Array.isArray(conns) && !(conns instanceof Int32Array) && !(conns instanceof Uint32Array) && !(conns instanceof Float64Array)) {
      throw invalidArgType('conns', 'an Array or Int32Array of connection ids', conns);
    }
    if (!Array.isArray(data)) throw invalidArgType('data', 'an Array of Uint8Array', data);
    const n = conns.length;
    if (data.length < n) throw invalidArgValue('data', data.length, `must hold one buffer per connection (${n})`);
    if (this.ids.length < n) {
      this.ids = new Int32Array(n * 2);
      this.results = new Int32Array(n * 2);
    }
    const ids = this.ids;
    for (let i = 0; i < n; i++) {
      const c = this.conns.get(this.knownConn(conns[i]));
      if (!c) throw this.unknown(conns[i]);
      if (!(data[i] instanceof Uint8Array)) throw invalidArgType(`data[${i}]`, 'an instance of Uint8Array', data[i]);
      assertAttached(data[i], `data[${i}]`);
      if (c.ended && !c.destroyed) throw writeAfterEnd();
      ids[i] = c.destroyed ? -1 : conns[i];
    }
    native().tcpSendBatch(ids, data, this.results, n);
    let full = 0;
    for (let i = 0; i < n; i++) {
      if (ids[i] < 0) continue;
      if (!this.accepted(ids[i], this.conns.get(ids[i])!, data[i].length, this.results[i], data[i])) full++;
    }
    return full;
  }

  /** `bytes` is only needed when native code keeps a reference (r === 1). */
  private accepted(id: number, c: Conn, len: number, r: number, bytes?: Uint8Array): boolean {
    if (r < 0) {
      this.fail(id, c, r, 2);
      return false;
    }
    c.out.add(len, r === 1 ? bytes : undefined);
    if (c.out.queued >= this.hwm) {
      // Completions are reported (sent events) only when someone waits.
      if (!c.needDrain) native().tcpNotifySent(id);
      c.needDrain = true;
      return false;
    }
    return true;
  }

  /** Bytes queued and not yet handed to the kernel. */
  queuedBytes(conn: number): number {
    const c = this.conns.get(conn);
    return c && !c.destroyed ? c.out.queued : 0;
  }

  /** Half-close after queued data (our FIN); Close follows once the peer has ended too. */
  end(conn: number): void {
    const c = this.conns.get(conn);
    if (!c) throw this.unknown(conn);
    if (c.ended || c.destroyed) return;
    c.ended = true;
    const r = native().tcpShutdown(conn);
    if (r < 0) this.fail(conn, c, r, 5);
    else if (r === 1) this.onFinished(conn, c);
  }

  /** Closes now; queued writes are dropped. `reset` sends RST instead of FIN. */
  destroy(conn: number, reset = false): void {
    const c = this.conns.get(conn);
    if (!c || c.destroyed) return;
    c.destroyed = true;
    c.final = this.t.connStats(conn);
    if (c.timer) clearTimeout(c.timer);
    native().tcpClose(conn, reset);
  }

  pause(conn: number): void {
    if (this.conns.get(conn)?.destroyed === false) native().tcpSetReading(conn, false);
  }

  resume(conn: number): void {
    if (this.conns.get(conn)?.destroyed === false) native().tcpSetReading(conn, true);
  }

  setNoDelay(conn: number, noDelay = true): void {
    const v = validateBoolean(noDelay, 'noDelay') ? 1 : 0;
    this.checkOpt(setOpt(this.knownConn(conn), IPPROTO_TCP, TCP_NODELAY, v));
  }

  setKeepAlive(conn: number, enable = false, initialDelay = 0): void {
    const on = validateBoolean(enable, 'enable');
    const delay = validateMs(initialDelay, 'initialDelay');
    this.checkOpt(setKeepAlive(this.knownConn(conn), on, delay));
  }

  /** `conn` if it is one of this endpoint's connections (checked before any native call). */
  private knownConn(conn: unknown): number {
    if (typeof conn !== 'number') throw invalidArgType('conn', 'of type number', conn);
    if (!this.conns.has(conn)) throw this.unknown(conn);
    return conn;
  }

  private checkOpt(r: number): void {
    if (r < 0 && r !== EBADF) throw opError(r, 0); // 0: no operation, the error names 'socket'
  }

  remoteAddress(conn: number): AddressInfo | undefined {
    return this.conns.has(conn) ? sockName(conn, true) : undefined;
  }

  localAddress(conn: number): AddressInfo | undefined {
    return this.conns.has(conn) ? sockName(conn, false) : undefined;
  }

  /** Per-connection counters, read from native memory (a snapshot once destroyed). */
  connStats(conn: number): TcpConnStats | undefined {
    const c = this.conns.get(conn);
    if (!c) return undefined;
    return c.final ? { ...c.final } : this.t.connStats(conn);
  }

  /** Thread-wide counters of every TCP socket on this thread. */
  get stats(): TcpStats {
    return this.t.stats();
  }

  get connections(): number {
    return this.conns.size;
  }

  /** @internal */
  listenerById(id: number): TcpListener | undefined {
    return this.listeners.get(id);
  }

  // ---- lifecycle ----------------------------------------------------------------

  ref(): this {
    if (!this.refed) {
      this.refed = true;
      for (let i = 0; i < this.handles; i++) this.t.loop.ref();
      for (const id of this.owned.ids.keys()) {
        this.t.loop.unregister(id);
        this.t.loop.register(id, this.handler);
      }
    }
    return this;
  }

  /** Like a Node handle: no longer keeps the process alive; if also unreachable, GC closes it. */
  unref(): this {
    if (this.refed) {
      this.refed = false;
      for (let i = 0; i < this.handles; i++) this.t.loop.unref();
      for (const id of this.owned.ids.keys()) this.t.loop.attach(id, this, false);
    }
    return this;
  }

  /** Closes every listener and destroys every connection; resolves when all are gone. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = new Promise<void>((r) => { this.closeResolve = r; });
      endpoints.unregister(this);
      // The close must complete even if unref'd, like a closing Node handle.
      this.ref();
      if (this.sweeper) clearInterval(this.sweeper);
      for (const l of this.listeners.values()) l.close();
      for (const id of this.conns.keys()) this.destroy(id);
      if (this.handles === 0) this.closeResolve!();
    }
    return this.closing;
  }

  private ensureOpen(): void {
    if (this.closing) throw closedError('TCP endpoint', 'use');
  }

  private unknown(conn: unknown): Error {
    // typeof first: String() of a Symbol or a detached view throws.
    const what = typeof conn === 'number' ? String(conn) : `(${typeof conn})`;
    return closedError(`Connection ${what}`, 'use');
  }

  private track(id: number, isListener = false): void {
    this.owned.ids.set(id, isListener);
    if (this.refed) this.t.loop.register(id, this.handler);
    else this.t.loop.attach(id, this, false);
    this.handles++;
    if (this.refed) this.t.loop.ref();
  }

  private untrack(id: number): void {
    this.owned.ids.delete(id);
    this.t.loop.unregister(id);
    this.handles--;
    if (this.refed) this.t.loop.unref();
    if (this.handles === 0 && this.closeResolve) this.closeResolve();
  }

  private newConn(id: number, listener: number): Conn {
    const [st, so] = this.t.statsSlot(id);
    const c: Conn = {
      listener, st, so, out: new SendLedger(st, so), needDrain: false, connecting: false,
      ended: false, finished: false, peerEnded: false, destroyed: false, idleMark: -1, idleSince: 0,
    };
    this.conns.set(id, c);
    this.track(id);
    if (this.idleTimeout && !this.sweeper) {
      // Through a WeakRef: the timer must not keep an unref'd endpoint alive.
      const self = new WeakRef(this);
      this.sweeper = setInterval(() => self.deref()?.sweep(), Math.max(10, this.idleTimeout >> 2));
      this.sweeper.unref();
      this.owned.sweeper = this.sweeper;
    }
    return c;
  }

  // ---- events -------------------------------------------------------------------

  private push(type: number, conn: number, a: number, b: number, err?: SystemError): void {
    this.events.push(type, conn, a, b, err);
    if (!this.queued) {
      this.queued = true;
      pendingFlush.push(this);
      // Outside a native dispatch (an error raised by a call), deliver soon.
      if (!inDispatch) process.nextTick(flushAll);
    }
  }

  /** @internal Hands the pending records to the user in one call. */
  flush(): void {
    this.queued = false;
    const batch = this.batch;
    if (!this.events.handOff(batch)) return;
    try {
      this.onBatch(batch);
    } finally {
      this.events.takeBack(batch);
      if (this.autoEnd.length) this.endPeerEnded();
    }
  }

  private endPeerEnded(): void {
    const list = this.autoEnd;
    this.autoEnd = [];
    for (const id of list) {
      const c = this.conns.get(id);
      if (!c || c.destroyed) continue;
      this.end(id);
      if (c.finished) this.destroy(id);
    }
  }

  private fail(id: number, c: Conn, errno: number, op: number): void {
    if (c.destroyed) return;
    this.push(TcpEvent.Error, id, errno, op, opError(errno, op));
    this.destroy(id);
  }

  private onEvent(kind: number, a: number, b: number, id: number): void {
    inDispatch = true;
    if (kind === EV.data) {
      this.push(TcpEvent.Data, id, a, b);
      return;
    }
    const c = this.conns.get(id);
    switch (kind) {
      case EV.sent:
        if (c) this.onSent(id, c);
        return;
      case EV.accept:
        this.newConn(a, id);
        this.push(TcpEvent.Accept, a, id, 0);
        return;
      case EV.connect:
        if (!c) return;
        c.connecting = false;
        if (c.timer) clearTimeout(c.timer);
        this.push(TcpEvent.Connect, id, 0, 0);
        return;
      case EV.end:
        if (!c) return;
        c.peerEnded = true;
        this.push(TcpEvent.End, id, 0, 0);
        // Our end follows after the user has seen the batch, so data that
        // arrived with the FIN can still be answered.
        if (!this.allowHalfOpen) this.autoEnd.push(id);
        else if (c.finished) this.destroy(id);
        return;
      case EV.shutdown:
        if (!c) return;
        if (a < 0) this.fail(id, c, a, 5);
        else this.onFinished(id, c);
        return;
      case EV.error:
        if (c) {
          this.fail(id, c, a, b);
        } else if (this.listeners.has(id)) {
          this.push(TcpEvent.Error, -1, id, b, opError(a, b));
          // Out of fds/memory: the listener stopped; try again shortly.
          if (isResourceError(a)) setTimeout(() => native().tcpListenStart(id), 100).unref();
        }
        return;
      case EV.closed:
        if (c) {
          this.conns.delete(id);
          if (c.timer) clearTimeout(c.timer);
          this.push(TcpEvent.Close, id, 0, 0);
        } else {
          const l = this.listeners.get(id);
          this.listeners.delete(id);
          l?.resolveClose?.();
        }
        this.untrack(id);
    }
  }

  private onFinished(id: number, c: Conn): void {
    c.finished = true;
    // Both directions done: release the connection.
    if (c.peerEnded && !this.autoEnd.includes(id)) this.destroy(id);
  }

  private onSent(id: number, c: Conn): void {
    // Large writes were sent from the caller's memory: release them.
    const sent = c.out.releaseSent();
    if (c.needDrain && c.out.written === sent) {
      c.needDrain = false;
      this.push(TcpEvent.Drain, id, 0, 0);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, c] of this.conns) {
      if (c.destroyed) continue;
      const mark = c.st[c.so] + c.st[c.so + 1];
      if (mark !== c.idleMark) {
        c.idleMark = mark;
        c.idleSince = now;
      } else if (now - c.idleSince >= this.idleTimeout) {
        this.push(TcpEvent.Timeout, id, 0, 0);
        this.destroy(id);
      }
    }
  }
}

/** A TCP endpoint: listeners and connections whose events arrive in one batch callback. */
export function createTcpEndpoint(opts: TcpEndpointOptions): TcpEndpoint {
  validateObject(opts, 'options');
  const tcpdirect = tcpdirectChoice(opts as unknown as Record<string, unknown>, TCPDIRECT_UNSUPPORTED);
  // Same batch API (TcpBatch, TcpEvent), minus what TCPDirect lacks.
  if (tcpdirect !== undefined) return new TcpdirectEndpoint(opts, tcpdirect) as unknown as TcpEndpoint;
  return new TcpEndpoint(opts);
}

// Options only the kernel stack has: 'auto' keeps such endpoints off TCPDirect.
const TCPDIRECT_UNSUPPORTED = ['keepAlive', 'keepAliveInitialDelay', 'recvBufferSize', 'sendBufferSize', 'zeroCopyThreshold', 'idleTimeout', 'highWaterMark'] as const;
