// net.Socket over ringwire connections: a stream.Duplex whose reads come
// from the shared receive pool (copied into a Buffer per event, as Node's
// own onread does) and whose writes are queued natively and leave in one
// submission per loop turn. Events, errors and their order follow node:net.
import * as dns from 'node:dns';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { assertAttached, invalidArgType, invalidArgValue, outOfRange, safeString, systemError, validateFunction } from './errors';
import { native } from './native';
import { encodeSockaddr } from './sockaddr';
import {
  type Backend, EV, IPPROTO_TCP, TCP_NODELAY, type TcpThreadState, backendOf, openConnection, opError, setKeepAlive, setOpt,
  sockName, tcpThread, validatePort,
} from './tcp-core';

export interface SocketConstructorOpts {
  allowHalfOpen?: boolean;
  readable?: boolean;
  writable?: boolean;
  /** ringwire: Nagle off by default (Node's default is on). */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  signal?: AbortSignal;
  /** ringwire: 'auto' (default; RINGWIRE_BACKEND honoured), 'io_uring' or 'epoll'. */
  backend?: 'auto' | Backend;
}

export interface TcpSocketConnectOpts {
  port: number | string;
  host?: string;
  localAddress?: string;
  localPort?: number;
  family?: number;
  lookup?: typeof dns.lookup;
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

interface Waiter {
  end: number;
  cb: (err?: Error | null) => void;
}

const kAttach = Symbol('ringwire.attach');
const errCode = (msg: string, code: string, Ctor: ErrorConstructor = Error): Error => Object.assign(new Ctor(msg), { code });

function checkChunk(chunk: unknown, encoding: unknown): void {
  if (ArrayBuffer.isView(chunk)) assertAttached(chunk, 'chunk');
  if (encoding !== undefined && encoding !== null && typeof encoding !== 'string' && typeof encoding !== 'function') {
    throw invalidArgType('encoding', 'of type string', encoding);
  }
}

export class Socket extends Duplex {
  connecting = false;
  server: unknown = null;
  timeout?: number;
  /** @internal */ _server: { _socketClosed(): void } | null = null;
  private id = -1;
  private t?: TcpThreadState;
  private pool?: Uint8Array;
  private st?: Float64Array;
  private so = 0;
  private readonly backend: Backend;
  private written = 0;
  private waiting: Waiter[] = [];
  private kept: Uint8Array[] = [];
  private keptEnd: number[] = [];
  private reading = true;
  private refed = true;
  private released = false;
  private finalCb?: (err?: Error | null) => void;
  private timer?: NodeJS.Timeout;
  private peer?: net.AddressInfo;
  private final = { read: 0, written: 0 };
  private hadErrorForClose = false;
  private resetOnDestroy = false;
  private noDelayOpt: boolean;
  private keepAliveOpt: boolean;
  private keepAliveDelay: number;
  private connectPeer?: { address: string; port: number };
  private readonly onEvent = (kind: number, a: number, b: number): void => this.handle(kind, a, b);

  constructor(options: SocketConstructorOpts = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    if ((options as { objectMode?: boolean }).objectMode) throw invalidArgValue('options.objectMode', true, 'is not supported');
    if ((options as { fd?: number }).fd !== undefined) throw invalidArgValue('options.fd', (options as { fd?: number }).fd, 'is not supported by ringwire/net');
    if (options.keepAliveInitialDelay !== undefined && typeof options.keepAliveInitialDelay !== 'number') {
      throw invalidArgType('options.keepAliveInitialDelay', 'of type number', options.keepAliveInitialDelay);
    }
    super({
      // `readable`/`writable` false start that side ended, as in node:net.
      ...({ readable: options.readable, writable: options.writable } as object),
      allowHalfOpen: Boolean(options.allowHalfOpen),
      emitClose: false,
      autoDestroy: true,
      decodeStrings: false,
      highWaterMark: options.highWaterMark,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      signal: options.signal,
    });
    this.backend = backendOf(options.backend);
    this.noDelayOpt = options.noDelay === undefined ? true : Boolean(options.noDelay);
    this.keepAliveOpt = Boolean(options.keepAlive);
    this.keepAliveDelay = Math.max(0, options.keepAliveInitialDelay ?? 0);
    this.on('end', onReadableStreamEnd);
  }

  /** @internal An accepted connection. */
  [kAttach](id: number, t: TcpThreadState, pauseOnConnect: boolean): void {
    this.bind(id, t);
    if (pauseOnConnect) {
      this.readStop();
      this.pause();
    }
  }

  private bind(id: number, t: TcpThreadState): void {
    this.id = id;
    this.t = t;
    this.pool = t.pool(this.backend);
    [this.st, this.so] = t.statsSlot(id);
    t.loop.register(id, this.onEvent);
    if (this.refed) t.loop.ref();
  }

  // ---- native events ----------------------------------------------------------

  private handle(kind: number, a: number, b: number): void {
    switch (kind) {
      case EV.data: {
        const chunk = Buffer.allocUnsafe(b);
        chunk.set(this.pool!.subarray(a, a + b));
        this._unrefTimer();
        if (!this.push(chunk) && this.reading) this.readStop();
        return;
      }
      case EV.sent:
        this.onSent();
        return;
      case EV.end:
        this.readStop();
        this.push(null);
        this.read(0);
        return;
      case EV.error:
        if (b === 3 && this.connecting && this.nextAddrs && this.nextAddrs.addrs.length) {
          this.tryNextAddress();
          return;
        }
        this.destroy(opError(a, b, b === 3 ? this.connectPeer : undefined));
        return;
      case EV.connect:
        this.onConnected();
        return;
      case EV.shutdown: {
        const cb = this.finalCb;
        this.finalCb = undefined;
        // ENOTCONN: the peer is already gone; the stream still finishes.
        cb?.(a < 0 && a !== -107 ? systemError(a, 'shutdown') : null);
        return;
      }
      case EV.closed:
        this.release();
        process.nextTick(() => this.emit('close', this.hadErrorForClose));
    }
  }


  private onConnected(): void {
    if (this.destroyed) return;
    this.connecting = false;
    this._unrefTimer();
    this.emit('connect');
    this.emit('ready');
    if (!this.readableFlowing && this.readableLength >= this.readableHighWaterMark) this.readStop();
  }

  private onSent(): void {
    const sent = this.st![this.so + 1];
    while (this.kept.length && this.keptEnd[0] <= sent) {
      this.kept.shift();
      this.keptEnd.shift();
    }
    while (this.waiting.length && this.waiting[0].end <= sent) this.waiting.shift()!.cb(null);
  }

  private readStop(): void {
    if (!this.reading || this.id < 0 || this.released) return;
    this.reading = false;
    native().tcpSetReading(this.id, false);
  }

  private readStart(): void {
    if (this.reading || this.id < 0 || this.released) return;
    this.reading = true;
    native().tcpSetReading(this.id, true);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    if (this.id >= 0) {
      this.t!.loop.unregister(this.id);
      if (this.refed) this.t!.loop.unref();
    }
    const err = errCode('Cannot call write after a stream was destroyed', 'ERR_STREAM_DESTROYED');
    for (const w of this.waiting.splice(0)) w.cb(err);
    this.kept = [];
    this.keptEnd = [];
  }

  // ---- stream internals ------------------------------------------------------------

  override _read(): void {
    if (this.connecting || this.id < 0) {
      this.once('connect', () => this._read());
      return;
    }
    this.readStart();
  }

  // Checked before Node's Writable sees them: it would build a Buffer over a
  // detached view, or format a non-string encoding, and throw without a code.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override write(...args: any[]): boolean {
    checkChunk(args[0], args[1]);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (super.write as any)(...args);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override end(...args: any[]): this {
    if (typeof args[0] !== 'function' && args[0] !== undefined && args[0] !== null) checkChunk(args[0], args[1]);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (super.end as any)(...args);
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeChunks([typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void {
    this.writeChunks(chunks.map((c) => (typeof c.chunk === 'string' ? Buffer.from(c.chunk, c.encoding) : c.chunk)), cb);
  }

  private writeChunks(bufs: Uint8Array[], cb: (err?: Error | null) => void): void {
    if (this.connecting) {
      const onClose = () => cb(errCode('Socket closed before the connection was established', 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION'));
      this.once('close', onClose);
      this.once('connect', () => {
        this.off('close', onClose);
        this.writeChunks(bufs, cb);
      });
      return;
    }
    if (this.id < 0 || this.released) {
      cb(errCode('Socket is closed', 'ERR_SOCKET_CLOSED'));
      return;
    }
    this._unrefTimer();
    let mustWait = false;
    for (const b of bufs) {
      if (b.length === 0) continue;
      const r = native().tcpSend(this.id, b, 0, b.length, false);
      if (r < 0) {
        cb(opError(r, 2));
        return;
      }
      this.written += b.length;
      if (r === 1) {
        // Sent from our memory: keep it until the kernel has it.
        mustWait = true;
        this.kept.push(b);
        this.keptEnd.push(this.written);
      }
    }
    // Copied and below the high-water mark: done now, as Node is when
    // uv_try_write takes everything. Otherwise wait for the kernel.
    if (!mustWait && this.written - this.st![this.so + 1] < this.writableHighWaterMark) {
      cb(null);
      return;
    }
    this.waiting.push({ end: this.written, cb });
    native().tcpNotifySent(this.id);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.connecting) {
      this.once('connect', () => this._final(cb));
      return;
    }
    if (this.id < 0 || this.released) {
      cb();
      return;
    }
    const r = native().tcpShutdown(this.id);
    if (r !== 0) {
      // 1: nothing was queued and the FIN went out now.
      cb(r > 0 || r === -107 ? null : systemError(r, 'shutdown'));
      return;
    }
    this.finalCb = cb;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.connecting = false;
    if (this.timer) clearTimeout(this.timer);
    this.hadErrorForClose = !!err;
    // The server counts the connection gone now, as node:net does (its
    // 'close' may precede this socket's).
    this._server?._socketClosed();
    this._server = null;
    if (this.id >= 0 && !this.released) {
      this.final = { read: this.st![this.so], written: this.st![this.so + 1] };
      native().tcpClose(this.id, this.resetOnDestroy);
      cb(err);
    } else {
      cb(err);
      this.released = true;
      process.nextTick(() => this.emit('close', !!err));
    }
  }


  // ---- connect ---------------------------------------------------------------------

  connect(options: TcpSocketConnectOpts, connectionListener?: () => void): this;
  connect(port: number, host?: string, connectionListener?: () => void): this;
  connect(port: number, connectionListener?: () => void): this;
  connect(...args: unknown[]): this {
    const [options, cb] = normalizeConnectArgs(args);
    if (cb) this.once('connect', cb);
    if ((options as { path?: string }).path !== undefined) throw invalidArgValue('options.path', (options as { path?: string }).path, 'is not supported by ringwire/net (TCP only)');
    if (options.port === undefined) throw Object.assign(new TypeError('The "options" or "port" or "path" argument must be specified'), { code: 'ERR_MISSING_ARGS' });
    if (typeof options.port !== 'number' && typeof options.port !== 'string') throw invalidArgType('options.port', 'of type number or string', options.port);
    const port = validatePort(options.port, 'Port', false);
    if (options.localAddress !== undefined && !net.isIP(options.localAddress)) {
      throw Object.assign(new TypeError(`Invalid IP address: ${safeString(options.localAddress)}`), { code: 'ERR_INVALID_IP_ADDRESS' });
    }
    if (options.localPort !== undefined && typeof options.localPort !== 'number') throw invalidArgType('options.localPort', 'of type number', options.localPort);
    if (options.lookup !== undefined) validateFunction(options.lookup, 'options.lookup');
    if (options.family !== undefined && options.family !== 0 && options.family !== 4 && options.family !== 6) {
      throw invalidArgValue('options.family', options.family, 'must be one of: 0, 4, 6');
    }
    if (options.noDelay !== undefined) this.noDelayOpt = Boolean(options.noDelay);
    if (options.keepAlive !== undefined) this.keepAliveOpt = Boolean(options.keepAlive);
    if (options.keepAliveInitialDelay !== undefined) this.keepAliveDelay = Math.max(0, Number(options.keepAliveInitialDelay) || 0);
    if (options.timeout) this.setTimeout(options.timeout);
    if (this.id >= 0) throw errCode('Socket is already connected', 'ERR_SOCKET_CONNECTED');
    this.connecting = true;
    const host = options.host || 'localhost';
    if (net.isIP(host)) {
      process.nextTick(() => this.connectTo([host], port, options));
      return this;
    }
    const lookup = options.lookup ?? dns.lookup;
    const family = options.family === 4 || options.family === 6 ? options.family : 0;
    lookup(host, { family, all: true }, (err: NodeJS.ErrnoException | null, addrs: dns.LookupAddress[] | string) => {
      if (!this.connecting) return;
      const list = Array.isArray(addrs) ? addrs.map((x) => x.address) : typeof addrs === 'string' ? [addrs] : [];
      this.emit('lookup', err, list[0], list[0] ? net.isIP(list[0]) : undefined, host);
      if (err || list.length === 0) {
        process.nextTick(() => this.destroy(err ?? errCode(`getaddrinfo ENOTFOUND ${host}`, 'ENOTFOUND')));
        return;
      }
      this.connectTo(list, port, options);
    });
    return this;
  }

  /** Tries each address in turn (a sequential stand-in for autoSelectFamily). */
  private connectTo(addrs: string[], port: number, options: TcpSocketConnectOpts): void {
    if (!this.connecting || this.destroyed) return;
    const address = addrs[0];
    const fam = net.isIP(address) as 4 | 6;
    this.connectPeer = { address, port };
    let local: Uint8Array | null = null;
    if (options.localAddress || options.localPort) {
      const la = options.localAddress ?? (fam === 4 ? '0.0.0.0' : '::');
      if (net.isIP(la) !== fam) {
        this.destroy(systemError(-22, 'bind', { address: la, port: options.localPort ?? 0 }));
        return;
      }
      local = encodeSockaddr(fam, la, options.localPort ?? 0);
    }
    const t = tcpThread();
    const id = openConnection(t, {
      backend: this.backend, sa: encodeSockaddr(fam, address, port), local, timeout: 0,
      noDelay: this.noDelayOpt, keepAlive: this.keepAliveOpt, keepAliveInitialDelay: this.keepAliveDelay,
      recvBufferSize: 0, sendBufferSize: 0, zeroCopyThreshold: 0,
    });
    if (id < 0) {
      this.destroy(systemError(id, local ? 'bind' : 'connect', { address, port }));
      return;
    }
    this.bind(id, t);
    this.nextAddrs = { addrs: addrs.slice(1), port, options };
  }

  // A refused address is dropped quietly and the next one tried.
  private tryNextAddress(): void {
    const next = this.nextAddrs!;
    native().tcpClose(this.id, false);
    this.t!.loop.unregister(this.id);
    if (this.refed) this.t!.loop.unref();
    this.id = -1;
    this.connectTo(next.addrs, next.port, next.options);
  }

  private nextAddrs?: { addrs: string[]; port: number; options: TcpSocketConnectOpts };

  // ---- options, addresses ---------------------------------------------------------------

  setNoDelay(noDelay = true): this {
    this.noDelayOpt = Boolean(noDelay);
    if (this.id >= 0 && !this.released) setOpt(this.id, IPPROTO_TCP, TCP_NODELAY, this.noDelayOpt ? 1 : 0);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAliveOpt = Boolean(enable);
    // Number() of a Symbol or a detached view throws: only numbers and numeric strings count.
    const delay = typeof initialDelay === 'number' || typeof initialDelay === 'string' ? Number(initialDelay) : 0;
    this.keepAliveDelay = Math.max(0, delay || 0);
    if (this.id >= 0 && !this.released) setKeepAlive(this.id, this.keepAliveOpt, this.keepAliveDelay);
    return this;
  }

  setTimeout(msecs: number, callback?: () => void): this {
    if (this.destroyed) return this;
    if (typeof msecs !== 'number') throw invalidArgType('msecs', 'of type number', msecs);
    if (!(msecs >= 0) || msecs > 2 ** 31 - 1 || !Number.isFinite(msecs)) throw outOfRange('msecs', 'a non-negative finite number', msecs);
    this.timeout = msecs;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (msecs === 0) {
      if (callback !== undefined) this.removeListener('timeout', validateFunction(callback, 'callback') as () => void);
      return this;
    }
    this.timer = setTimeout(() => this.emit('timeout'), msecs);
    this.timer.unref();
    if (callback !== undefined) this.once('timeout', validateFunction(callback, 'callback') as () => void);
    return this;
  }

  /** @internal Activity restarts the idle timer (Node's name, used by node:http). */
  _unrefTimer(): void {
    this.timer?.refresh();
  }

  address(): net.AddressInfo | Record<string, never> {
    if (this.id < 0 || this.released) return {};
    return (sockName(this.id, false) as net.AddressInfo | undefined) ?? {};
  }

  private peerInfo(): net.AddressInfo | undefined {
    if (!this.peer && this.id >= 0 && !this.released && !this.connecting) this.peer = sockName(this.id, true) as net.AddressInfo | undefined;
    return this.peer;
  }

  get remoteAddress(): string | undefined {
    return this.peerInfo()?.address;
  }

  get remotePort(): number | undefined {
    return this.peerInfo()?.port;
  }

  get remoteFamily(): string | undefined {
    return this.peerInfo()?.family;
  }

  get localAddress(): string | undefined {
    return (this.address() as net.AddressInfo).address;
  }

  get localPort(): number | undefined {
    return (this.address() as net.AddressInfo).port;
  }

  get localFamily(): string | undefined {
    return (this.address() as net.AddressInfo).family;
  }

  get bytesRead(): number {
    return this.id >= 0 && !this.destroyed ? this.st![this.so] : this.final.read;
  }

  /** Bytes handed to the kernel queue plus those still buffered in the stream, as node:net counts. */
  get bytesWritten(): number {
    let n = this.written;
    const buffered = (this as unknown as { writableBuffer: { chunk: Buffer | string; encoding: BufferEncoding }[] }).writableBuffer;
    for (const c of buffered) {
      n += typeof c.chunk === 'string' ? Buffer.byteLength(c.chunk, c.encoding) : c.chunk.length;
    }
    return n;
  }

  get bufferSize(): number | undefined {
    return this.id >= 0 ? this.writableLength : undefined;
  }

  get pending(): boolean {
    return this.id < 0 || this.connecting;
  }

  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  ref(): this {
    if (!this.refed) {
      this.refed = true;
      if (this.id >= 0 && !this.released) this.t!.loop.ref();
    }
    return this;
  }

  unref(): this {
    if (this.refed) {
      this.refed = false;
      if (this.id >= 0 && !this.released) this.t!.loop.unref();
    }
    return this;
  }

  /** Closes with RST instead of FIN (SO_LINGER 0). */
  resetAndDestroy(): this {
    if (this.id < 0) return this.destroy(errCode('Socket is closed', 'ERR_SOCKET_CLOSED'));
    this.resetOnDestroy = true;
    return this.destroy();
  }

  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** ringwire: per-connection counters read from native memory. */
  get ringwireStats(): { bytesRead: number; bytesWritten: number; queuedBytes: number } | undefined {
    if (this.id < 0 || this.released || this.destroyed) return undefined;
    const s = this.st!;
    return { bytesRead: s[this.so], bytesWritten: s[this.so + 1], queuedBytes: s[this.so + 2] };
  }
}

// After the peer's FIN (allowHalfOpen false), writes fail like node:net's.
function onReadableStreamEnd(this: Socket): void {
  if (this.allowHalfOpen) return;
  this.write = function writeAfterFIN(this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (!this.writableEnded) return Duplex.prototype.write.call(this, chunk, encoding as BufferEncoding, cb as () => void);
    if (typeof encoding === 'function') cb = encoding;
    const er = errCode('This socket has been ended by the other party', 'EPIPE');
    if (typeof cb === 'function') process.nextTick(cb as (e: Error) => void, er);
    this.destroy(er);
    return false;
  } as Socket['write'];
}

export function normalizeConnectArgs(args: unknown[]): [TcpSocketConnectOpts, (() => void) | undefined] {
  let options: TcpSocketConnectOpts;
  const a0 = args[0];
  if (typeof a0 === 'object' && a0 !== null) options = { ...(a0 as TcpSocketConnectOpts) };
  else {
    options = { port: a0 as number };
    if (typeof args[1] === 'string') options.host = args[1];
  }
  const last = args[args.length - 1];
  return [options, typeof last === 'function' ? (last as () => void) : undefined];
}

export { kAttach };
