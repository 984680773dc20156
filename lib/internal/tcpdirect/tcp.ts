// TCP endpoints on TCPDirect (backend: 'tcpdirect'): zftl listeners, zft
// connections, the same TcpBatch / TcpEvent records as the io_uring
// endpoint (lib/tcp.ts). Received bytes arrive by zero-copy zft_zc_recv and
// are copied once into the thread's pool; sends go straight to
// zft_send_single, and what the stack's send queue cannot take waits in a
// native queue (send() then returns false and a Drain follows).
// Differences: IPv4 only, listen() needs one local address (no wildcard),
// no pause()/resume(), no per-connection socket options; the stack's
// zocket limits (ZF_ATTR max_tcp_endpoints, max_tcp_listen_endpoints) are
// RangeErrors.
import { closedError, invalidArgType, invalidArgValue, outOfRange, type SystemError, systemError, validateFunction, validateInteger, validateObject } from '../errors';
import type { AddressInfo } from '../sockaddr';
import { EventRecords, TcpBatch, TcpEvent } from '../tcp/batch';
import { sendBytes, writeAfterEnd } from '../tcp/core';
import { type ZfThread, ipv4ToInt, zf, zfError, zfName, zfThread } from './thread';
import { EBADF } from '../errno';

export class TcpdirectListener {
  private closing?: Promise<void>;
  /** @internal */ constructor(readonly id: number, private readonly ep: TcpdirectEndpoint) {}

  address(): AddressInfo {
    const a = zfName(this.id, false);
    if (!a) throw zfError(EBADF, 'zftl_getname');
    return a;
  }

  pause(): void {
    throw Object.assign(new Error('pause() is not available on a tcpdirect listener'), { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM' });
  }

  resume(): void {}

  close(): Promise<void> {
    if (!this.closing) {
      this.ep.dropListener(this.id);
      this.closing = Promise.resolve();
    }
    return this.closing;
  }
}

interface Conn {
  written: number;
  needDrain: boolean;
  ended: boolean;
  peerEnded: boolean;
  destroyed: boolean;
  destroyOnDrain?: boolean;
  bytesRead: number;
  bytesWritten: number;
}

export class TcpdirectEndpoint {
  readonly backend = 'tcpdirect' as const;
  readonly backendReason: string;
  /** @internal */ readonly pool: Uint8Array;
  private readonly t: ZfThread;
  private readonly onBatch: (batch: TcpBatch) => void;
  private readonly batch: TcpBatch;
  private readonly allowHalfOpen: boolean;
  private readonly conns = new Map<number, Conn>();
  private readonly listeners = new Map<number, TcpdirectListener>();
  private readonly events = new EventRecords();
  private autoEnd: number[] = [];
  private refed = true;
  private handles = 0;
  private closing?: Promise<void>;
  private readonly dropHook: () => void;
  private readonly handler = (kind: number, a: number, b: number, _c: number, _d: number, id: number): void => this.onRecord(kind, a, b, id);

  constructor(opts: { onBatch: unknown; allowHalfOpen?: unknown }, reason: string) {
    validateObject(opts, 'options');
    this.onBatch = validateFunction(opts.onBatch, 'options.onBatch') as (batch: TcpBatch) => void;
    this.allowHalfOpen = opts.allowHalfOpen === true;
    this.backendReason = reason;
    this.t = zfThread();
    this.pool = this.t.pool;
    this.batch = new TcpBatch(this as never);
    this.dropHook = this.t.onDispatchEnd(() => this.flush());
  }

  /** @internal */
  listenerById(id: number): TcpdirectListener | undefined {
    return this.listeners.get(id);
  }

  listen(opts: { port?: number; host?: string } = {}): TcpdirectListener {
    validateObject(opts, 'options');
    this.ensureOpen();
    const port = opts.port === undefined ? 0 : validateInteger(opts.port, 'options.port', 0, 65535);
    if (opts.host === undefined || opts.host === '0.0.0.0') {
      throw invalidArgValue('options.host', opts.host, 'must be one local IPv4 address: zftl_listen refuses INADDR_ANY');
    }
    const id = zf().tcpdirectTcpListen(ipv4ToInt(opts.host, 'options.host'), port);
    if (id < 0) throw zfError(id, 'zftl_listen', 'max_tcp_listen_endpoints', { address: opts.host, port });
    const l = new TcpdirectListener(id, this);
    this.listeners.set(id, l);
    this.track(id);
    return l;
  }

  connect(opts: { port: number; host?: string; localAddress?: string; localPort?: number }): number {
    validateObject(opts, 'options');
    this.ensureOpen();
    const port = validateInteger(opts.port, 'options.port', 1, 65535);
    const host = opts.host ?? '127.0.0.1';
    const lip = opts.localAddress === undefined ? 0 : ipv4ToInt(opts.localAddress, 'options.localAddress');
    const lport = opts.localPort === undefined ? 0 : validateInteger(opts.localPort, 'options.localPort', 0, 65535);
    const id = zf().tcpdirectTcpConnect(ipv4ToInt(host, 'options.host'), port, lip, lport);
    if (id < 0) throw zfError(id, 'zft_connect', 'max_tcp_endpoints', { address: host, port });
    this.newConn(id);
    return id;
  }

  send(conn: number, data: Uint8Array | string): boolean {
    const c = this.conns.get(conn);
    if (!c) throw this.unknown(conn);
    const bytes = sendBytes(data);
    if (c.destroyed) return false;
    if (c.ended) throw writeAfterEnd();
    const r = zf().tcpdirectTcpSend(conn, bytes);
    if (r < 0) {
      this.fail(conn, c, r);
      return false;
    }
    c.written += bytes.length;
    c.bytesWritten += bytes.length;
    if (r === 1) c.needDrain = true;
    return r === 0;
  }

  sendFrom(conn: number, batch: TcpBatch, i: number): boolean {
    if (batch !== this.batch) throw invalidArgValue('batch', batch, 'must be the batch this endpoint is delivering');
    if (!Number.isInteger(i) || i < 0 || i >= batch.count) throw outOfRange('i', `>= 0 and < ${batch.count}`, i);
    if (batch.type(i) !== TcpEvent.Data) throw invalidArgValue('i', i, 'must be the index of a Data event');
    return this.send(conn, batch.data(i));
  }

  sendBatch(conns: ArrayLike<number>, data: Uint8Array[]): number {
    if (!Array.isArray(data)) throw invalidArgType('data', 'an Array of Uint8Array', data);
    let full = 0;
    for (let i = 0; i < conns.length; i++) if (!this.send(conns[i], data[i])) full++;
    return full;
  }

  queuedBytes(conn: number): number {
    return this.conns.get(conn)?.needDrain ? 1 : 0;
  }

  end(conn: number): void {
    const c = this.conns.get(conn);
    if (!c) throw this.unknown(conn);
    if (c.ended || c.destroyed) return;
    c.ended = true;
    const r = zf().tcpdirectTcpShutdown(conn);
    if (r < 0) this.fail(conn, c, r);
  }

  destroy(conn: number): void {
    const c = this.conns.get(conn);
    if (!c || c.destroyed) return;
    c.destroyed = true;
    zf().tcpdirectFree(conn);
    // zft_free needs no completion: the Close record follows in this turn.
    this.push(TcpEvent.Close, conn, 0, 0);
    this.conns.delete(conn);
    this.untrack(conn);
  }

  pause(): void {
    throw Object.assign(new Error('pause() is not available on a tcpdirect endpoint'), { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM' });
  }

  resume(): void {}

  remoteAddress(conn: number): AddressInfo | undefined {
    return this.conns.has(conn) ? zfName(conn, true) : undefined;
  }

  localAddress(conn: number): AddressInfo | undefined {
    return this.conns.has(conn) ? zfName(conn, false) : undefined;
  }

  connStats(conn: number): { bytesRead: number; bytesWritten: number } | undefined {
    const c = this.conns.get(conn);
    return c ? { bytesRead: c.bytesRead, bytesWritten: c.bytesWritten } : undefined;
  }

  get connections(): number {
    return this.conns.size;
  }

  ref(): this {
    if (!this.refed) {
      this.refed = true;
      for (let i = 0; i < this.handles; i++) this.t.ref();
    }
    return this;
  }

  unref(): this {
    if (this.refed) {
      this.refed = false;
      for (let i = 0; i < this.handles; i++) this.t.unref();
    }
    return this;
  }

  close(): Promise<void> {
    if (!this.closing) {
      for (const id of [...this.listeners.keys()]) this.dropListener(id);
      for (const id of [...this.conns.keys()]) this.destroy(id);
      this.closing = new Promise<void>((r) => process.nextTick(() => {
        this.flush();
        this.dropHook();
        r();
      }));
    }
    return this.closing;
  }

  /** @internal */
  dropListener(id: number): void {
    if (!this.listeners.delete(id)) return;
    zf().tcpdirectFree(id);
    this.untrack(id);
  }

  private ensureOpen(): void {
    if (this.closing) throw closedError('TCP endpoint', 'use');
  }

  private unknown(conn: unknown): Error {
    return closedError(`Connection ${String(conn)}`, 'use');
  }

  private track(id: number): void {
    this.t.register(id, this.handler);
    this.handles++;
    if (this.refed) this.t.ref();
  }

  private untrack(id: number): void {
    this.t.unregister(id);
    this.handles--;
    if (this.refed) this.t.unref();
  }

  private newConn(id: number): Conn {
    const c: Conn = { written: 0, needDrain: false, ended: false, peerEnded: false, destroyed: false, bytesRead: 0, bytesWritten: 0 };
    this.conns.set(id, c);
    this.track(id);
    return c;
  }

  private push(type: number, conn: number, a: number, b: number, err?: SystemError): void {
    this.events.push(type, conn, a, b, err);
    // Raised outside a dispatch (a failed send): deliver on the next tick.
    if (this.events.n === 1) process.nextTick(() => this.flush());
  }

  private flush(): void {
    const batch = this.batch;
    if (!this.events.handOff(batch)) return;
    try {
      this.onBatch(batch);
    } finally {
      this.events.takeBack(batch);
      const list = this.autoEnd;
      this.autoEnd = [];
      for (const id of list) {
        const c = this.conns.get(id);
        if (!c || c.destroyed) continue;
        this.end(id);
        // Bytes still in the native send queue go first (then the FIN).
        if (c.needDrain) c.destroyOnDrain = true;
        else this.destroy(id);
      }
    }
  }

  private fail(id: number, c: Conn, errno: number): void {
    if (c.destroyed) return;
    this.push(TcpEvent.Error, id, errno, 2, systemError(errno, 'write'));
    this.destroy(id);
  }

  private onRecord(kind: number, a: number, b: number, id: number): void {
    const L = this.t.layout;
    if (kind === L.tcpAccept) {
      // id is the listener; a the new connection (TcpBatch: conn, listener).
      this.newConn(a);
      this.push(TcpEvent.Accept, a, id, 0);
      return;
    }
    const c = this.conns.get(id);
    if (!c) return;
    switch (kind) {
      case L.tcpConnect:
        this.push(TcpEvent.Connect, id, 0, 0);
        break;
      case L.tcpData:
        c.bytesRead += b;
        this.push(TcpEvent.Data, id, a, b);
        break;
      case L.tcpEnd:
        c.peerEnded = true;
        this.push(TcpEvent.End, id, 0, 0);
        // Our end follows once the user has seen the batch, so data that
        // came with the FIN can still be answered (as in lib/tcp.ts).
        if (!this.allowHalfOpen || c.ended) this.autoEnd.push(id);
        break;
      case L.tcpDrain:
        if (c.needDrain) {
          c.needDrain = false;
          this.push(TcpEvent.Drain, id, 0, 0);
          if (c.destroyOnDrain) this.destroy(id);
        }
        break;
      case L.tcpError:
        this.fail(id, c, a);
        break;
    }
  }
}
