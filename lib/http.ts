// `ringwire/http`: node:http's own Server (parser, keep-alive, pipelining,
// timeouts) fed with ringwire connections instead of libuv ones. http.Server
// takes any Duplex through its 'connection' event, so only listening and
// closing are replaced here; everything else is Node's code.
import * as http from 'node:http';
import type * as net from 'node:net';
import { invalidArgType } from './internal/errors';
import { Server as NetServer, type ListenOptions } from './net';
import { callable } from './internal/callable';
import type { Backend } from './internal/tcp/core';

export { Agent, ClientRequest, IncomingMessage, METHODS, OutgoingMessage, STATUS_CODES, ServerResponse, get, globalAgent, request, validateHeaderName, validateHeaderValue, maxHeaderSize, setMaxIdleHTTPParsers } from 'node:http';

export interface ServerOptions extends http.ServerOptions {
  /** ringwire: 'auto' (default; RINGWIRE_BACKEND honoured), 'io_uring' or 'epoll'. */
  backend?: 'auto' | Backend;
}

type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const kInterval = 'http.server.connectionsCheckingInterval';

class ServerImpl extends http.Server {
  /** @internal */ readonly transport: NetServer;

  constructor(options?: ServerOptions | RequestListener, requestListener?: RequestListener) {
    if (typeof options === 'function') {
      requestListener = options;
      options = {};
    } else if (options == null) {
      options = {};
    } else if (typeof options !== 'object' || Array.isArray(options)) {
      // node:http's validateObject: an array is not an options object.
      throw invalidArgType('options', 'of type object', options);
    }
    const { backend, ...httpOptions } = options;
    super(httpOptions, requestListener as RequestListener);
    this.transport = new NetServer({
      // As http.Server configures its own net.Server.
      allowHalfOpen: true,
      noDelay: httpOptions.noDelay ?? true,
      keepAlive: httpOptions.keepAlive,
      keepAliveInitialDelay: httpOptions.keepAliveInitialDelay,
      highWaterMark: httpOptions.highWaterMark,
      backend,
    });
    this.transport.on('connection', (socket) => this.emit('connection', socket));
    this.transport.on('listening', () => this.emit('listening'));
    this.transport.on('error', (err) => this.emit('error', err));
    this.transport.on('drop', (data) => this.emit('drop', data));
    this.transport.on('close', () => this.emit('close'));
  }

  override listen(...args: unknown[]): this {
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      this.once('listening', last as () => void);
      args = args.slice(0, -1);
    }
    (this.transport.listen as (...a: unknown[]) => NetServer)(...(args as [ListenOptions]));
    return this;
  }

  override address(): net.AddressInfo | string | null {
    return this.transport.address();
  }

  override close(cb?: (err?: Error) => void): this {
    this.closeIdleConnections();
    // The connections checker http.Server starts on 'listening'.
    for (const sym of Object.getOwnPropertySymbols(this)) {
      if (sym.description === kInterval) clearInterval((this as unknown as Record<symbol, NodeJS.Timeout>)[sym]);
    }
    this.transport.close(cb);
    return this;
  }

  override getConnections(cb: (error: Error | null, count: number) => void): this {
    this.transport.getConnections(cb);
    return this;
  }

  override ref(): this {
    this.transport.ref();
    return this;
  }

  override unref(): this {
    this.transport.unref();
    return this;
  }
}

// `listening` and `maxConnections` are the transport's (plain properties in
// Node's typings, so defined here rather than as class accessors).
export type Server = ServerImpl;
/** Callable with or without `new`, as node:http's Server. */
export const Server = callable(ServerImpl);

Object.defineProperty(ServerImpl.prototype, 'listening', {
  get(this: ServerImpl) {
    return this.transport?.listening ?? false;
  },
  configurable: true,
});
Object.defineProperty(ServerImpl.prototype, 'maxConnections', {
  get(this: ServerImpl) {
    return this.transport?.maxConnections;
  },
  set(this: ServerImpl, n: number) {
    if (this.transport) this.transport.maxConnections = n;
  },
  configurable: true,
});

/** node:http's createServer, listening through ringwire. */
export function createServer(options?: ServerOptions | RequestListener, requestListener?: RequestListener): Server {
  return new Server(options, requestListener);
}
