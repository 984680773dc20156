// Size (~760 lines): net.Socket's stream side, connect and address fallback, as node:net keeps them together (Node's own lib/net.js is ~2500 lines).
// net.Socket over ringwire connections: a stream.Duplex whose reads come
// from the shared receive pool (copied into a Buffer per event, as Node's
// own onread does) and whose writes are queued natively and leave in one
// submission per loop turn. Events, errors and their order follow node:net.
import * as dns from 'node:dns';
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import { Duplex } from 'node:stream';
import { inspect } from 'node:util';
import { assertAttached, invalidArgType, invalidArgValue, outOfRange, safeString, systemError, validateFunction } from '../errors';
import { native } from '../native';
import { encodeSockaddr } from '../sockaddr';
import { SendLedger } from '../tcp/ledger';
import {
  type Backend, EV, IPPROTO_TCP, TCP_NODELAY, type TcpThreadState, backendOf, openConnection, opError, setKeepAlive, setOpt,
  sockName, tcpThread, validatePort,
} from '../tcp/core';

const ECANCELED = osConstants.errno.ECANCELED;
/** Node 22 and later fail writes cancelled by destroy(); Node 20 completes them. */
const CANCELLED_WRITES_FAIL = Number(process.versions.node.split('.')[0]) >= 22;

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
  /** As node:net: reads land in `buffer` (or one it returns) and go to `callback`, not 'data'. */
  onread?: { buffer: Uint8Array | (() => Uint8Array); callback: (nread: number, buf: Uint8Array) => unknown };
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
const CHUNK_MAX = 64 * 1024;
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
  private onread?: SocketConstructorOpts['onread'];
  // onread bytes that arrived after the callback asked to pause, and an EOF behind them.
  private onreadStash?: Buffer[];
  private onreadEof = false;
  private poolBuf?: Buffer;
  private st?: Float64Array;
  private so = 0;
  private readonly backend: Backend;
  private out = new SendLedger();
  // Bytes pushed to the stream so far: exact at each 'data', as node:net's.
  private readCount = 0;
  // Bytes given to write() while the connection is still being made.
  private connectPending = 0;
  private waiting: Waiter[] = [];
  private reading = true;
  private refed = true;
  // Whether this socket holds the loop now: as a libuv stream, only while
  // it connects, reads, or has a write or shutdown waiting for the kernel.
  private holding = false;
  private released = false;
  // tcpClose() called, its Closed event not yet here.
  private closingHandle = false;
  // The stream called _read() (node:net starts its handle reading only then).
  private readAsked = false;
  private finalCb?: (err?: Error | null) => void;
  private timer?: NodeJS.Timeout;
  private peer?: net.AddressInfo;
  private hadErrorForClose = false;
  private resetOnDestroy = false;
  private noDelayOpt: boolean;
  private keepAliveOpt: boolean;
  private keepAliveDelay: number;
  private connectPeer?: { address: string; port: number };
  private readonly onEvent = (kind: number, a: number, b: number): void => this.handle(kind, a, b);

  constructor(options: SocketConstructorOpts = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    for (const k of ['objectMode', 'readableObjectMode', 'writableObjectMode'] as const) {
      const v = (options as Record<string, unknown>)[k];
      if (v) throw invalidArgValue(`options.${k}`, v, 'is not supported');
    }
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
    // node:net takes onread only when well formed, and ignores it otherwise.
    const onread = options.onread;
    if (onread !== null && typeof onread === 'object' && (onread.buffer instanceof Uint8Array || typeof onread.buffer === 'function') &&
        typeof onread.callback === 'function') {
      this.onread = onread;
    }
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
    this.poolBuf = undefined;
    [this.st, this.so] = t.statsSlot(id);
    this.out.attach(this.st, this.so);
    t.loop.register(id, this.onEvent);
    this.syncRef();
  }

  private syncRef(): void {
    // A closing handle holds the loop even when unref()ed, as libuv's
    // closing handles do (uv_loop_alive), so that 'close' is emitted.
    const want = this.id >= 0 && !this.released && (this.closingHandle ||
      (this.refed && (this.connecting || this.reading || this.waiting.length > 0 || this.finalCb !== undefined)));
    if (want === this.holding) return;
    this.holding = want;
    if (want) this.t!.loop.ref();
    else this.t!.loop.unref();
  }

  // ---- native events ----------------------------------------------------------

  private handle(kind: number, a: number, b: number): void {
    switch (kind) {
      case EV.data: {
        this._unrefTimer();
        const pool = (this.poolBuf ??= Buffer.from(this.pool!.buffer, this.pool!.byteOffset, this.pool!.byteLength));
        if (this.onread) {
          this.feedOnread(pool, a, a + b);
          return;
        }
        // Chunks of at most 64 KiB, as libuv reads them for node:net: a
        // larger allocation is a fresh mmap (glibc's threshold) whose page
        // faults cost more than the copy (measured: 582 KiB per event made
        // the 64 KiB stream row spend 35-60 us of user time per 64 KiB).
        let more = true;
        for (let off = a, end = a + b; off < end; off += CHUNK_MAX) {
          const n = Math.min(CHUNK_MAX, end - off);
          const chunk = Buffer.allocUnsafe(n);
          pool.copy(chunk, 0, off, off + n);
          this.readCount += n;
          more = this.push(chunk);
          if (this.destroyed) return;
        }
        if (!more && this.reading) this.readStop();
        return;
      }
      case EV.sent:
        this.onSent();
        return;
      case EV.end:
        this.readStop();
        // libuv asks for a buffer before the read that finds the EOF too.
        if (this.onread && typeof this.onread.buffer === 'function' && !this.onreadStash?.length) this.onread.buffer();
        if (this.onreadStash?.length) {
          this.onreadEof = true;
          return;
        }
        this.push(null);
        this.read(0);
        return;
      case EV.error:
        if (b === 3 && this.connecting && this.attempts) {
          this.attemptFailed(a, false);
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
        this.syncRef();
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
    if (this.attempts) {
      clearTimeout(this.attempts.timer);
      this.attempts = undefined;
    }
    this.connecting = false;
    this.syncRef();
    this._unrefTimer();
    this.emit('connect');
    this.emit('ready');
    // node:net starts reading after 'connect' only when the socket was not
    // paused meanwhile (afterConnect: read(0) unless isPaused()); a paused
    // socket's handle is not reading, so it does not hold the loop.
    // Reading a stream asked for (a 'readable' listener's read(0) makes it
    // paused too) goes on.
    if ((this.isPaused() && !this.readAsked) || (!this.readableFlowing && this.readableLength >= Math.max(1, this.readableHighWaterMark))) this.readStop();
  }

  private onSent(): void {
    const sent = this.out.releaseSent();
    while (this.waiting.length && this.waiting[0].end <= sent) this.waiting.shift()!.cb(null);
    this.syncRef();
  }

  /** node:net's onread: each read copied into the user's buffer, at most its length at a time. */
  private feedOnread(src: Buffer, off: number, end: number): void {
    const o = this.onread!;
    while (off < end) {
      if (!this.reading || this.destroyed) {
        // Paused by the callback: the rest waits for resume(), in order.
        if (!this.destroyed) (this.onreadStash ??= []).push(Buffer.from(src.subarray(off, end)));
        return;
      }
      const buf = typeof o.buffer === 'function' ? o.buffer() : o.buffer;
      const n = Math.min(buf.length, end - off);
      src.copy(buf, 0, off, off + n);
      off += n;
      this.readCount += n;
      if (o.callback.call(this, n, buf) === false) this.readStop();
    }
  }

  override pause(): this {
    // With onread there is no stream buffer to fill: pausing stops reading.
    if (this.onread && !this.connecting) this.readStop();
    return super.pause();
  }

  override resume(): this {
    if (this.onread && !this.connecting && !this.reading && !this.destroyed) {
      this.readStart();
      const stash = this.onreadStash;
      this.onreadStash = undefined;
      if (stash) for (const b of stash) this.feedOnread(b, 0, b.length);
      if (this.onreadEof && !(this.onreadStash as Buffer[] | undefined)?.length) {
        this.onreadEof = false;
        this.readStop();
        this.push(null);
        this.read(0);
      }
    }
    return super.resume();
  }

  private readStop(): void {
    if (!this.reading || this.id < 0 || this.released) return;
    this.reading = false;
    native().tcpSetReading(this.id, false);
    this.syncRef();
  }

  private readStart(): void {
    if (this.reading || this.id < 0 || this.released) return;
    this.reading = true;
    native().tcpSetReading(this.id, true);
    this.syncRef();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    if (this.id >= 0) this.t!.loop.unregister(this.id);
    if (this.holding) {
      this.holding = false;
      this.t!.loop.unref();
    }
    // Writes the kernel had not taken, as node:net completes them once the
    // stream is destroyed: Node 20 calls them back with null
    // (stream_base_commons onWriteComplete checks `stream.destroyed` first),
    // Node 22 and later with `write ECANCELED` (measured on 20.20, 22.23,
    // 24.22, 26.12). A write that failed was already called back with its error.
    const cancelled = CANCELLED_WRITES_FAIL ? opError(-ECANCELED, 2) : null;
    for (const w of this.waiting.splice(0)) w.cb(cancelled);
    this.out.clear();
  }

  // ---- stream internals ------------------------------------------------------------

  override _read(): void {
    this.readAsked = true;
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
      let n = 0;
      for (const b of bufs) n += b.length;
      this.connectPending += n;
      const onClose = () => cb(errCode('Socket closed before the connection was established', 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION'));
      this.once('close', onClose);
      this.once('connect', () => {
        this.off('close', onClose);
        this.connectPending -= n;
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
    let last = bufs.length - 1;
    while (last > 0 && bufs[last].length === 0) last--;
    for (let i = 0; i <= last; i++) {
      const b = bufs[i];
      if (b.length === 0) continue;
      // The last chunk may send the whole write at once, as node:net's
      // uv_try_write does (TcpConnHandle::SendNow says when).
      const r = native().tcpSend(this.id, b, 0, b.length, false, i === last ? 1 : 0);
      if (r < 0) {
        cb(opError(r, 2));
        return;
      }
      // r === 1: sent from our memory, kept until the kernel has it.
      this.out.add(b.length, r === 1 ? b : undefined);
      if (r === 1) mustWait = true;
    }
    // All with the kernel (sent in the call), or copied and below the
    // high-water mark: done now, as Node is when uv_try_write takes
    // everything. Otherwise wait for the kernel.
    const queued = this.out.queued;
    if (queued === 0 || (!mustWait && queued < this.writableHighWaterMark)) {
      if (mustWait) this.out.releaseSent();
      cb(null);
      return;
    }
    this.waiting.push({ end: this.out.written, cb });
    native().tcpNotifySent(this.id);
    this.syncRef();
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
    this.syncRef();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.connecting = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.attempts) clearTimeout(this.attempts.timer);
    this.attempts = undefined;
    this.hadErrorForClose = !!err;
    // The server counts the connection gone now, as node:net does (its
    // 'close' may precede this socket's).
    this._server?._socketClosed();
    this._server = null;
    if (this.id >= 0 && !this.released) {
      native().tcpClose(this.id, this.resetOnDestroy);
      this.closingHandle = true;
      this.syncRef();
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
    if (this.destroyed) {
      // A closed socket may connect again (node:net undestroys it).
      this.id = -1;
      this.released = false;
      this.peer = undefined;
      this.out.written = 0;
      this.readCount = 0;
      this.connectPending = 0;
      this.hadErrorForClose = false;
      this.resetOnDestroy = false;
      this.nextAddrs = undefined;
      this.autoSelectFamilyAttemptedAddresses = undefined;
      this.closingHandle = false;
      (this as unknown as { _undestroy(): void })._undestroy();
    }
    if (Object.prototype.hasOwnProperty.call(this, 'write')) delete (this as { write?: unknown }).write;
    if (cb) this.once('connect', cb);
    const path = (options as { path?: unknown }).path;
    if (path !== undefined && path !== null && path !== '') {
      if (typeof path !== 'string') throw invalidArgType('options.path', 'of type string', path);
      // IPC: reported like a failed connect, as an 'error' event.
      process.nextTick(() => this.destroy(ipcUnavailable('connect', String(path))));
      return this;
    }
    // node:net's checks, in its order (lookupAndConnect).
    if (options.port === undefined) throw Object.assign(new TypeError('The "options" or "port" or "path" argument must be specified'), { code: 'ERR_MISSING_ARGS' });
    if (options.localAddress && !net.isIP(options.localAddress)) {
      throw Object.assign(new TypeError(`Invalid IP address: ${safeString(options.localAddress)}`), { code: 'ERR_INVALID_IP_ADDRESS' });
    }
    if (options.localPort && typeof options.localPort !== 'number') throw invalidArgType('options.localPort', 'of type number', options.localPort);
    if (typeof options.port !== 'number' && typeof options.port !== 'string') throw invalidArgType('options.port', 'one of type number or string', options.port);
    const port = nodePort(options.port);
    const asf = (options as { autoSelectFamily?: unknown }).autoSelectFamily;
    if (asf != null && typeof asf !== 'boolean') throw invalidArgType('options.autoSelectFamily', 'of type boolean', asf);
    const asfTimeout = (options as { autoSelectFamilyAttemptTimeout?: unknown }).autoSelectFamilyAttemptTimeout;
    if (asfTimeout != null) {
      if (typeof asfTimeout !== 'number') throw invalidArgType('options.autoSelectFamilyAttemptTimeout', 'of type number', asfTimeout);
      if (!Number.isInteger(asfTimeout)) throw outOfRange('options.autoSelectFamilyAttemptTimeout', 'an integer', asfTimeout);
      if (asfTimeout < 1 || asfTimeout > 2 ** 31 - 1) throw outOfRange('options.autoSelectFamilyAttemptTimeout', '>= 1 && <= 2147483647', asfTimeout);
    }
    const autoSelect = (asf as boolean | undefined) ?? net.getDefaultAutoSelectFamily();
    // node:net waits at least 10 ms per attempt.
    const attemptMs = Math.max(10, (asfTimeout as number | undefined) ?? net.getDefaultAutoSelectFamilyAttemptTimeout());
    if (options.lookup != null && !net.isIP(String(options.host))) validateFunction(options.lookup, 'options.lookup');
    // node:net's socketToDnsFamily: the family names as AddressInfo gives them.
    const rawFamily = options.family as unknown;
    const family = rawFamily === 'IPv4' ? 4 : rawFamily === 'IPv6' ? 6 : rawFamily;
    if (family !== undefined && family !== 0 && family !== 4 && family !== 6) {
      throw invalidArgValue('options.family', rawFamily, 'must be one of: 0, 4, 6');
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
    // node:net's dns options: ADDRCONFIG unless a family or hints were given;
    // dns.lookup rejects bad hints by throwing, here as there.
    const hints = (options as { hints?: number }).hints || 0;
    const dnsopts: dns.LookupOptions = { family: family === 4 || family === 6 ? family : 0, hints: hints === 0 && family !== 4 && family !== 6 ? dns.ADDRCONFIG : hints };
    if (dnsopts.family === 0 && !options.localAddress && autoSelect) {
      lookup(host, { ...dnsopts, all: true }, (err: NodeJS.ErrnoException | null, addrs: dns.LookupAddress[]) => {
        if (!this.connecting) return;
        if (err) {
          this.emit('lookup', err, undefined, undefined, host);
          process.nextTick(() => this.destroy(err));
          return;
        }
        this.connectMultiple(host, Array.isArray(addrs) ? addrs : [], port, options, attemptMs);
      });
      return this;
    }
    lookup(host, dnsopts, (err: NodeJS.ErrnoException | null, ip: string | dns.LookupAddress[], addressType?: number) => {
      this.emit('lookup', err, ip, addressType, host);
      if (!this.connecting) return;
      if (err) {
        process.nextTick(() => this.destroy(err));
      } else if (typeof ip !== 'string' || !net.isIP(ip)) {
        process.nextTick(() => this.destroy(invalidIp(ip)));
      } else if (addressType !== 4 && addressType !== 6) {
        process.nextTick(() => this.destroy(invalidFamily(addressType, options)));
      } else {
        this.connectTo([ip], port, options);
      }
    });
    return this;
  }

  /**
   * node:net's autoSelectFamily (happy eyeballs, RFC 8305): the addresses
   * alternate between families, the first answer's family first; each
   * attempt has `attemptMs` before the next starts, and only when every one
   * failed does the socket fail, with all their errors.
   */
  private connectMultiple(host: string, addrs: dns.LookupAddress[], port: number, options: TcpSocketConnectOpts, attemptMs: number): void {
    const groups: string[][] = [[], []];
    let first: 4 | 6 | undefined;
    for (const a of addrs) {
      this.emit('lookup', null, a?.address, a?.family, host);
      if (!this.connecting) return;
      if (net.isIP(a?.address) && (a.family === 4 || a.family === 6)) {
        first ??= a.family;
        const g = groups[a.family === first ? 0 : 1];
        if (!g.includes(a.address)) g.push(a.address);
      }
    }
    if (!groups[0].length) {
      // Nothing usable: node:net fails on the first answer (and says
      // nothing when there was none).
      const a = addrs[0];
      if (!a) return;
      const err = !net.isIP(a.address) ? invalidIp(a.address) : invalidFamily(a.family, options);
      process.nextTick(() => this.destroy(err));
      return;
    }
    const order: string[] = [];
    for (let i = 0; i < Math.max(groups[0].length, groups[1].length); i++) {
      if (i < groups[0].length) order.push(groups[0][i]);
      if (i < groups[1].length) order.push(groups[1][i]);
    }
    if (order.length === 1) {
      this.connectTo(order, port, options);
      return;
    }
    this.autoSelectFamilyAttemptedAddresses = [];
    this.attempts = { errors: [], attemptMs };
    this.connectTo(order, port, options);
  }

  /** node:net: `address:port` of each address tried by autoSelectFamily. */
  autoSelectFamilyAttemptedAddresses?: string[];
  // The autoSelectFamily attempts in progress: their errors, the timer of the current one.
  private attempts?: { errors: Error[]; attemptMs: number; timer?: NodeJS.Timeout };

  /** Connects to addrs[0]; the rest are autoSelectFamily's next attempts (connectMultiple). */
  private connectTo(addrs: string[], port: number, options: TcpSocketConnectOpts): void {
    if (!this.connecting || this.destroyed) return;
    const address = addrs[0];
    const fam = net.isIP(address) as 4 | 6;
    this.connectPeer = { address, port };
    if (this.attempts) {
      this.autoSelectFamilyAttemptedAddresses!.push(`${address}:${port}`);
      this.emit('connectionAttempt', address, port, fam);
    }
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
    const at = this.attempts;
    if (at) {
      clearTimeout(at.timer);
      at.timer = this.nextAddrs.addrs.length ? setTimeout(() => this.attemptFailed(-110, true), at.attemptMs) : undefined;
    }
  }

  /** An autoSelectFamily attempt failed (errno) or ran out of time: the next one, or every error. */
  private attemptFailed(errno: number, timedOut: boolean): void {
    const at = this.attempts!;
    clearTimeout(at.timer);
    at.timer = undefined;
    const peer = this.connectPeer!;
    const fam = net.isIP(peer.address);
    const ex = systemError(errno, 'connect', peer);
    at.errors.push(ex);
    this.emit(timedOut ? 'connectionAttemptTimeout' : 'connectionAttemptFailed', peer.address, peer.port, fam, ...(timedOut ? [] : [ex]));
    if (!this.connecting || this.destroyed) return;
    if (this.nextAddrs?.addrs.length) {
      this.tryNextAddress();
      return;
    }
    this.attempts = undefined;
    // node:net's NodeAggregateError: every attempt's error, the first's code.
    const all = Object.assign(new AggregateError(at.errors, ''), { code: (at.errors[0] as NodeJS.ErrnoException).code });
    this.destroy(all);
  }

  // A refused address is dropped quietly and the next one tried.
  private tryNextAddress(): void {
    const next = this.nextAddrs!;
    native().tcpClose(this.id, false);
    this.t!.loop.unregister(this.id);
    if (this.holding) {
      this.holding = false;
      this.t!.loop.unref();
    }
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

  // The counters read as undefined on the prototype, as node:net's do.
  get bytesRead(): number {
    return this.readCount;
  }

  /** Bytes handed to the kernel queue plus those still buffered in the stream, as node:net counts. */
  get bytesWritten(): number {
    if (this.out === undefined) return undefined as unknown as number;
    let n = this.out.written + this.connectPending;
    const buffered = (this as unknown as { writableBuffer: { chunk: Buffer | string; encoding: BufferEncoding }[] }).writableBuffer;
    for (const c of buffered) {
      n += typeof c.chunk === 'string' ? Buffer.byteLength(c.chunk, c.encoding) : c.chunk.length;
    }
    return n;
  }

  /** node:net: the writable length while a handle exists (connecting included). */
  get bufferSize(): number | undefined {
    return (this.id >= 0 || this.connecting === true) && !this.released ? this.writableLength : undefined;
  }

  get pending(): boolean {
    // node:net: no handle (never connected, or released by destroy()) or connecting.
    return !(this.id >= 0) || this.destroyed || this.connecting === true;
  }

  /** node:net's old name for `connecting`. */
  get _connecting(): boolean | undefined {
    return this.connecting;
  }

  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  ref(): this {
    this.refed = true;
    if (this.id >= 0) this.syncRef();
    return this;
  }

  unref(): this {
    this.refed = false;
    if (this.id >= 0) this.syncRef();
    return this;
  }

  /** Closes with RST instead of FIN (SO_LINGER 0). */
  resetAndDestroy(): this {
    // Still connecting (a lookup or a connect in flight): reset once
    // connected, as node:net does, rather than report a closed socket.
    if (this.connecting && !this.destroyed) {
      this.once('connect', () => {
        this.resetOnDestroy = true;
        this.destroy();
      });
      return this;
    }
    if (this.id < 0 || this.released) return this.destroy(errCode('Socket is closed', 'ERR_SOCKET_CLOSED'));
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

function specificType(v: unknown): string {
  if (v == null) return String(v);
  if (typeof v === 'function') return `function ${v.name}`;
  if (typeof v === 'object') return v.constructor?.name ? `an instance of ${v.constructor.name}` : inspect(v, { depth: -1 });
  let shown = inspect(v, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof v} (${shown})`;
}

/** node:net's validatePort: numbers and numeric strings, 0-65535 (1- without allowZero). */
export function nodePort(port: unknown, name = 'Port', allowZero = true): number {
  if ((typeof port !== 'number' && typeof port !== 'string') || (typeof port === 'string' && port.trim().length === 0) ||
      +port !== (+port >>> 0) || +port > 0xffff || (+port === 0 && !allowZero)) {
    throw Object.assign(new RangeError(`${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${specificType(port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
  }
  return +port | 0;
}

/** node:net's ERR_INVALID_IP_ADDRESS: a lookup answered something that is not an address. */
function invalidIp(ip: unknown): Error {
  return errCode(`Invalid IP address: ${String(ip)}`, 'ERR_INVALID_IP_ADDRESS', TypeError as ErrorConstructor);
}

/** node:net's ERR_INVALID_ADDRESS_FAMILY: a lookup answered a family other than 4 or 6. */
function invalidFamily(family: unknown, o: TcpSocketConnectOpts): Error {
  return Object.assign(new RangeError(`Invalid address family: ${String(family)} ${String(o.host)}:${String(o.port)}`), {
    code: 'ERR_INVALID_ADDRESS_FAMILY', host: o.host, port: o.port,
  });
}

/** IPC (Unix domain socket) paths: ringwire/net is TCP only. */
export function ipcUnavailable(syscall: string, path: string): Error {
  return Object.assign(
    new Error(`${syscall} ${path}: the feature IPC paths (Unix domain sockets) is unavailable in ringwire/net, which is TCP only; use node:net for IPC`),
    { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM', syscall, path },
  );
}

/** node:net's rule: a string that is not a non-negative number is a pipe path. */
export const isPipeName = (s: unknown): s is string => typeof s === 'string' && !(Number(s) >= 0);

export function normalizeConnectArgs(args: unknown[]): [TcpSocketConnectOpts, (() => void) | undefined] {
  let options: TcpSocketConnectOpts;
  const a0 = args[0];
  if (typeof a0 === 'object' && a0 !== null) options = { ...(a0 as TcpSocketConnectOpts) };
  else if (isPipeName(a0)) options = { path: a0 } as unknown as TcpSocketConnectOpts;
  else {
    options = { port: a0 as number };
    if (typeof args[1] === 'string') options.host = args[1];
  }
  const last = args[args.length - 1];
  return [options, typeof last === 'function' ? (last as () => void) : undefined];
}

export { kAttach };
