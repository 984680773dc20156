// `ringwire/net`: node:net's TCP API over ringwire connections, so a server
// or client moves by changing one import. Listening sockets accept with
// multishot accept (io_uring) or accept4 (epoll); see lib/internal/net/socket.ts for
// the Socket. test/net-compat.test.ts runs the same scenarios against
// node:net and this module and compares what they observe.
import * as dns from 'node:dns';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { invalidArgType, invalidArgValue, validateFunction } from './internal/errors';
import { Socket as SocketClass, type SocketConstructorOpts, type TcpSocketConnectOpts, ipcUnavailable, isPipeName, kAttach, nodePort, normalizeConnectArgs } from './internal/net/socket';
import { type Backend, EV, type TcpThreadState, backendOf, isResourceError, openListener, opError, sockName, tcpThread, validatePort } from './internal/tcp/core';
import { native } from './internal/native';
import { callable } from './internal/callable';

export type { SocketConstructorOpts, TcpSocketConnectOpts } from './internal/net/socket';
export const { isIP, isIPv4, isIPv6, BlockList, SocketAddress } = net;
// Process-wide defaults shared with node:net (they only steer lookups).
export const { getDefaultAutoSelectFamily, setDefaultAutoSelectFamily, getDefaultAutoSelectFamilyAttemptTimeout, setDefaultAutoSelectFamilyAttemptTimeout } = net;

let warnSimultaneousAccepts = true;
/**
 * A no-op on Linux in node:net too (it only matters for Windows) apart from
 * its DEP0121 warning, once per process; present only where node:net still
 * has it (removed in Node 24).
 */
export const _setSimultaneousAccepts: ((handle?: unknown) => void) | undefined =
  typeof (net as unknown as Record<string, unknown>)._setSimultaneousAccepts === 'function'
    ? () => {
        if (!warnSimultaneousAccepts) return;
        warnSimultaneousAccepts = false;
        process.emitWarning('net._setSimultaneousAccepts() is deprecated and will be removed.', 'DeprecationWarning', 'DEP0121');
      }
    : undefined;

type SocketType = SocketClass;
export type Socket = SocketClass;
export const Socket = callable(SocketClass);
export type Stream = SocketClass;
export const Stream = Socket;

export interface ServerOpts {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  /** ringwire: Nagle off by default (Node's default is on). */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
  /** ringwire: 'auto' (default; RINGWIRE_BACKEND honoured), 'io_uring' or 'epoll'. */
  backend?: 'auto' | Backend;
}

export interface ListenOptions {
  port?: number | string;
  host?: string;
  backlog?: number;
  exclusive?: boolean;
  ipv6Only?: boolean;
  /** ringwire: SO_REUSEPORT, for one server per thread on the same port. */
  reusePort?: boolean;
  /** ringwire: TCP_DEFER_ACCEPT seconds. */
  deferAccept?: number;
  /** Aborting it closes the server. */
  signal?: AbortSignal;
}

const notRunning = () => Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });

export interface ServerOptsAll extends ServerOpts {
  /**
   * As in EventEmitter: rejected promises of async listeners are captured
   * (a 'connection' listener's rejection destroys that socket with the
   * error, any other becomes the server's 'error'). Unset or false,
   * events.captureRejections decides, which is all node:net looks at (it
   * ignores this option).
   */
  captureRejections?: boolean;
}

class ServerImpl extends EventEmitter {
  maxConnections?: number;
  /** @internal */ _connections = 0;
  /**
   * node:net's private key of the listening address, `family:address:port`
   * with the port as asked (0 stays 0); some code still reads it.
   */
  _connectionKey?: string;
  private lid = -1;
  private t?: TcpThreadState;
  private refed = true;
  private listenSeq = 0;
  private readonly backend: Backend;
  private readonly opts: Required<Omit<ServerOpts, 'backend' | 'highWaterMark'>> & { highWaterMark?: number };
  private readonly onEvent = (kind: number, a: number, b: number, id: number): void => this.handle(kind, a, b, id);
  private readonly tracker = { _socketClosed: () => this.socketClosed() };

  constructor(options?: ServerOptsAll | ((socket: SocketType) => void), connectionListener?: (socket: SocketType) => void) {
    super({ captureRejections: typeof options === 'object' && options !== null ? Boolean(options.captureRejections) : false });
    if (typeof options === 'function') {
      connectionListener = options;
      options = {};
    } else if (options == null) {
      options = {};
    } else if (typeof options !== 'object') {
      throw invalidArgType('options', 'of type object', options);
    }
    if (connectionListener !== undefined) this.on('connection', validateFunction(connectionListener, 'connectionListener') as (s: SocketType) => void);
    if (options.keepAliveInitialDelay !== undefined && typeof options.keepAliveInitialDelay !== 'number') {
      throw invalidArgType('options.keepAliveInitialDelay', 'of type number', options.keepAliveInitialDelay);
    }
    if (options.highWaterMark !== undefined && typeof options.highWaterMark !== 'number') {
      throw invalidArgType('options.highWaterMark', 'of type number', options.highWaterMark);
    }
    this.backend = backendOf(options.backend);
    this.opts = {
      allowHalfOpen: Boolean(options.allowHalfOpen),
      pauseOnConnect: Boolean(options.pauseOnConnect),
      noDelay: options.noDelay === undefined ? true : Boolean(options.noDelay),
      keepAlive: Boolean(options.keepAlive),
      keepAliveInitialDelay: Math.max(0, options.keepAliveInitialDelay ?? 0),
      highWaterMark: options.highWaterMark !== undefined && options.highWaterMark >= 0 ? options.highWaterMark : undefined,
    };
  }

  get listening(): boolean {
    return this.lid >= 0;
  }

  listen(port?: number | string, hostname?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string, hostname?: string, listeningListener?: () => void): this;
  listen(port?: number | string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string, listeningListener?: () => void): this;
  listen(options: ListenOptions, listeningListener?: () => void): this;
  listen(listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    let options: ListenOptions;
    const a0 = args[0];
    if (typeof a0 === 'object' && a0 !== null) options = { ...(a0 as ListenOptions) };
    else if (isPipeName(a0)) options = { path: a0 } as ListenOptions;
    else if (typeof a0 === 'function' || a0 === undefined || a0 === null) options = { port: 0 };
    else {
      options = { port: a0 as number };
      if (typeof args[1] === 'string') options.host = args[1];
    }
    const last = args[args.length - 1];
    const cb = typeof last === 'function' ? (last as () => void) : undefined;
    if (this.lid >= 0) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    const signal = (options as { signal?: unknown }).signal;
    if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
    }
    // Armed before the port is checked, as node:net does; a pre-aborted
    // signal closes on the next tick, before 'listening' could be emitted.
    if (signal !== undefined) this.closeOnAbort(signal as AbortSignal);
    if (args.length === 0 || typeof a0 === 'function' || (options.port === undefined && 'port' in options) || options.port === null) options.port = 0;
    const path = (options as { path?: unknown }).path;
    if (typeof options.port !== 'number' && typeof options.port !== 'string') {
      if (isPipeName(path)) {
        // IPC: reported like a failed listen, as an 'error' event.
        if (cb) this.once('listening', cb);
        process.nextTick(() => this.emit('error', ipcUnavailable('listen', String(path))));
        return this;
      }
      if (!('port' in options || 'path' in options)) throw invalidArgValue('options', options, 'must have the property "port" or "path"');
      throw invalidArgValue('options', options, 'is invalid');
    }
    const port = nodePort(options.port, 'options.port');
    const num = (x: unknown) => (typeof x === 'number' && x >= 0 ? x : undefined);
    const backlog = num(options.backlog) ?? num(args[1]) ?? num(args[2]) ?? 511;
    // A host is looked up (dns.lookup names its argument 'hostname').
    if (options.host && typeof options.host !== 'string') throw invalidArgType('hostname', 'of type string', options.host);
    if (options.deferAccept !== undefined && (typeof options.deferAccept !== 'number' || options.deferAccept < 0)) {
      throw invalidArgValue('options.deferAccept', options.deferAccept, 'must be a non-negative number of seconds');
    }
    if (cb) this.once('listening', cb);
    const seq = ++this.listenSeq;
    const host = options.host;
    if (host && !net.isIP(host)) {
      dns.lookup(host, (err, ip) => {
        if (seq !== this.listenSeq) return;
        if (err) this.emit('error', err);
        else this.open(ip, port, backlog, options);
      });
    } else {
      this.open(host || undefined, port, backlog, options);
    }
    return this;
  }

  private closeOnAbort(signal: AbortSignal): void {
    const onAbort = () => this.close();
    if (signal.aborted) {
      process.nextTick(onAbort);
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    this.once('close', () => signal.removeEventListener('abort', onAbort));
  }

  private open(host: string | undefined, port: number, backlog: number, options: ListenOptions): void {
    const t = (this.t ??= tcpThread());
    let id: number;
    try {
      id = openListener(t, {
        backend: this.backend, host, port, backlog: Math.min(backlog, 65535), reusePort: Boolean(options.reusePort),
        ipv6Only: Boolean(options.ipv6Only), deferAccept: Math.floor(options.deferAccept ?? 0), pauseOnConnect: this.opts.pauseOnConnect,
        noDelay: this.opts.noDelay, keepAlive: this.opts.keepAlive, keepAliveInitialDelay: this.opts.keepAliveInitialDelay,
        recvBufferSize: 0, sendBufferSize: 0, zeroCopyThreshold: 0,
      });
    } catch (err) {
      process.nextTick(() => this.emit('error', err));
      return;
    }
    this.lid = id;
    const bound = sockName(id, false);
    if (bound) this._connectionKey = `${bound.family === 'IPv6' ? 6 : 4}:${bound.address}:${port}`;
    t.loop.register(id, this.onEvent);
    if (this.refed) this.refHandle(true);
    process.nextTick(() => {
      if (this.lid === id) this.emit('listening');
    });
  }

  private handle(kind: number, a: number, b: number, id: number): void {
    const t = this.t!;
    if (kind === EV.accept) {
      if (this.maxConnections !== undefined && this._connections >= this.maxConnections) {
        const local = sockName(a, false);
        const remote = sockName(a, true);
        native().tcpClose(a, false);
        this.emit('drop', {
          localAddress: local?.address, localPort: local?.port, localFamily: local?.family,
          remoteAddress: remote?.address, remotePort: remote?.port, remoteFamily: remote?.family,
        });
        return;
      }
      const socket = new SocketClass({
        allowHalfOpen: this.opts.allowHalfOpen, backend: this.backend, noDelay: this.opts.noDelay,
        keepAlive: this.opts.keepAlive, keepAliveInitialDelay: this.opts.keepAliveInitialDelay,
        readableHighWaterMark: this.opts.highWaterMark, writableHighWaterMark: this.opts.highWaterMark,
      });
      socket[kAttach](a, t, this.opts.pauseOnConnect);
      this._connections++;
      socket.server = this;
      socket._server = this.tracker;
      this.emit('connection', socket);
    } else if (kind === EV.error) {
      // The listener stopped accepting (out of fds or memory): resume shortly.
      if (isResourceError(a)) setTimeout(() => native().tcpListenStart(id), 100).unref();
      this.emit('error', opError(a, b));
    } else if (kind === EV.closed) {
      // A closed listener holds the loop until the kernel has let go of it.
      t.loop.unregister(id);
      if (this.refedIds.delete(id)) t.loop.unref();
    }
  }

  private readonly refedIds = new Set<number>();

  // With captureRejections, a rejected async 'connection' listener ends
  // that connection only, as node:net's Server does.
  override [EventEmitter.captureRejectionSymbol](err: Error, event: string | symbol, ...args: unknown[]): void {
    if (event === 'connection') (args[0] as SocketType).destroy(err);
    else this.emit('error', err);
  }

  private socketClosed(): void {
    this._connections--;
    this.emitCloseIfDrained();
  }

  private emitCloseIfDrained(): void {
    if (this.lid >= 0 || this._connections > 0 || !this.closeRequested) return;
    this.closeRequested = false;
    process.nextTick(() => this.emit('close'));
  }

  private closeRequested = false;

  address(): net.AddressInfo | null {
    if (this.lid < 0) return null;
    const a = sockName(this.lid, false);
    if (!a) throw opError(-9, 0);
    return a as net.AddressInfo;
  }

  /** Stops accepting; 'close' follows once every connection has ended. */
  close(cb?: (err?: Error) => void): this {
    this.listenSeq++;
    if (typeof cb === 'function') {
      if (this.lid < 0) this.once('close', () => cb(notRunning()));
      else this.once('close', cb);
    }
    if (this.lid >= 0) {
      // Closing completes even when unref'd, like a closing Node handle.
      this.refHandle(true);
      native().tcpListenerClose(this.lid);
      this.lid = -1;
    }
    this.closeRequested = true;
    this.emitCloseIfDrained();
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.lid < 0) return;
    await new Promise<void>((resolve, reject) => this.close((e) => (e ? reject(e) : resolve())));
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    validateFunction(cb, 'callback');
    process.nextTick(cb, null, this._connections);
    return this;
  }

  private refHandle(on: boolean): void {
    if (this.lid < 0) return;
    if (on && !this.refedIds.has(this.lid)) {
      this.refedIds.add(this.lid);
      this.t!.loop.ref();
    } else if (!on && this.refedIds.delete(this.lid)) {
      this.t!.loop.unref();
    }
  }

  ref(): this {
    this.refed = true;
    this.refHandle(true);
    return this;
  }

  unref(): this {
    this.refed = false;
    this.refHandle(false);
    return this;
  }
}

export type Server = ServerImpl;
export const Server = callable(ServerImpl);

export function createServer(options?: ServerOptsAll | ((socket: SocketType) => void), connectionListener?: (socket: SocketType) => void): Server {
  return new Server(options, connectionListener);
}

export type NetConnectOpts = TcpSocketConnectOpts & SocketConstructorOpts;

export function connect(options: NetConnectOpts, connectionListener?: () => void): SocketType;
export function connect(port: number, host?: string, connectionListener?: () => void): SocketType;
export function connect(port: number, connectionListener?: () => void): SocketType;
export function connect(...args: unknown[]): SocketType {
  const [options, cb] = normalizeConnectArgs(args);
  const socket = new SocketClass(options as SocketConstructorOpts);
  if (options.timeout) socket.setTimeout(options.timeout);
  return socket.connect(options, cb);
}

export const createConnection = connect;
