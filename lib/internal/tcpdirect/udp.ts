// UDP sockets on TCPDirect (backend: 'tcpdirect'): a zfur receives
// (zero-copy zfur_zc_recv, one copy into the thread's pool that JS reads in
// place, the source taken from the packet's IP/UDP header) and zfut zockets
// send. A zfut fixes both its source and its destination at creation, so:
// - bind() needs one local IPv4 address (zfur_addr_bind refuses INADDR_ANY);
// - send(to)/queue(to)/reply() keep one zfut per destination, created on the
//   first datagram to it (at most 16 per socket, and the stack's
//   max_udp_tx_endpoints in all): a RangeError beyond that. A socket that
//   talks to a few peers pays the allocation once; one that answers
//   thousands of distinct sources belongs on io_uring.
// - connect() only names the default destination.
// Not available here: IPv6, multicast options, TTL/TOS/buffer sizes,
// timestamps, sendBatch with per-item destinations on >16 peers.
import { EventEmitter } from 'node:events';
import {
  invalidArgType, invalidArgValue, outOfRange, socketClosed, systemError, validateFunction, validateObject, validateOneOf,
} from '../errors';
import type { AddressInfo } from '../sockaddr';
import { type ZfThread, intToIpv4, ipv4ToInt, zf, zfError, zfThread } from './thread';
import { EINVAL, ENOBUFS } from '../errno';

type SendCallback = (err: Error | null, bytes?: number) => void;

/** One receive batch: views valid until the batch callback returns. */
export class TcpdirectUdpBatch {
  count = 0;
  /** @internal pool offset, length, source ip, source port per datagram */
  d: number[] = [];
  constructor(readonly pool: Uint8Array) {}

  offset(i: number): number {
    return this.d[i * 4];
  }

  length(i: number): number {
    return this.d[i * 4 + 1];
  }

  payload(i: number): Uint8Array {
    return this.pool.subarray(this.d[i * 4], this.d[i * 4] + this.d[i * 4 + 1]);
  }

  ipv4(i: number): number {
    return this.d[i * 4 + 2] >>> 0;
  }

  port(i: number): number {
    return this.d[i * 4 + 3];
  }

  source(i: number): AddressInfo {
    return { address: intToIpv4(this.ipv4(i)), family: 'IPv4', port: this.port(i) };
  }

  truncated(): boolean {
    return false;
  }

  timestamp(): number {
    return -1;
  }
}

// A socket dropped without close() (unref'd, unreachable): free its zockets.
const registry = new FinalizationRegistry<{ id: number; t: ZfThread; drop: () => void }>(({ id, t, drop }) => {
  t.unregister(id);
  drop();
  zf().tcpdirectFree(id);
});
// Ref'd sockets are held here, like a Node handle; unref'd ones only weakly.
const strong = new Set<TcpdirectUdpSocket>();

export class TcpdirectUdpSocket extends EventEmitter {
  readonly type = 'udp4' as const;
  readonly backend = 'tcpdirect' as const;
  readonly backendReason: string;
  private readonly t: ZfThread;
  private readonly id: number;
  private readonly batch: TcpdirectUdpBatch;
  private batchListener?: (batch: TcpdirectUdpBatch) => void;
  private local?: AddressInfo;
  private peer?: { ip: number; port: number };
  private closed = false;
  private refed = true;
  private readonly dropHook: () => void;

  constructor(opts: { type: unknown }, reason: string) {
    super();
    validateObject(opts, 'options');
    validateOneOf(opts.type, 'options.type', ['udp4'] as const);
    this.backendReason = reason;
    this.t = zfThread();
    const id = zf().tcpdirectUdpOpen();
    if (id < 0) throw zfError(id, 'zfur_alloc', 'max_udp_rx_endpoints');
    this.id = id;
    const batch = (this.batch = new TcpdirectUdpBatch(this.t.pool));
    const udpData = this.t.layout.udpData;
    const self = new WeakRef(this);
    this.t.register(id, (kind, a, b, c, d) => {
      if (kind !== udpData) return;
      batch.d.push(a, b, c, d);
      batch.count++;
    });
    this.dropHook = this.t.onDispatchEnd(() => self.deref()?.deliver());
    this.t.ref();
    strong.add(this);
    registry.register(this, { id, t: this.t, drop: this.dropHook }, this);
  }

  private deliver(): void {
    const b = this.batch;
    if (!b.count) return;
    try {
      if (this.batchListener) this.batchListener(b);
      if (this.listenerCount('message')) {
        for (let i = 0; i < b.count; i++) {
          const msg = Buffer.from(b.payload(i)); // 'message' owns its bytes
          this.emit('message', msg, { ...b.source(i), size: msg.length });
        }
      }
    } finally {
      b.count = 0;
      b.d.length = 0;
    }
  }

  onBatch(listener: ((batch: TcpdirectUdpBatch) => void) | null): this {
    if (listener !== null) validateFunction(listener, 'listener');
    this.batchListener = listener ?? undefined;
    return this;
  }

  private ensureOpen(syscall: string): void {
    if (this.closed) throw socketClosed(syscall);
  }

  /** Binds to one local IPv4 address (required: TCPDirect has no wildcard receive). */
  bind(port = 0, address?: string): AddressInfo {
    this.ensureOpen('bind');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw outOfRange('port', '>= 0 and <= 65535', port);
    if (address === undefined || address === '0.0.0.0') {
      throw invalidArgValue('address', address, 'must be one local IPv4 address: TCPDirect cannot receive on INADDR_ANY (zfur_addr_bind)');
    }
    if (this.local) throw Object.assign(new Error('Socket is already bound'), { code: 'ERR_SOCKET_ALREADY_BOUND' });
    const r = zf().tcpdirectUdpBind(this.id, ipv4ToInt(address, 'address'), port);
    if (r < 0) throw zfError(r, 'zfur_addr_bind', undefined, { address, port });
    this.local = { address, family: 'IPv4', port: r };
    return this.address();
  }

  connect(port: number, address = '127.0.0.1'): void {
    this.ensureOpen('connect');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw outOfRange('port', '>= 1 and <= 65535', port);
    this.peer = { ip: ipv4ToInt(address, 'address'), port };
  }

  disconnect(): void {
    if (!this.peer) throw Object.assign(new Error('Not connected'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    this.peer = undefined;
  }

  address(): AddressInfo {
    this.ensureOpen('getsockname');
    if (!this.local) throw systemError(EINVAL, 'getsockname');
    return { ...this.local };
  }

  remoteAddress(): AddressInfo {
    if (!this.peer) throw Object.assign(new Error('Not connected'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    return { address: intToIpv4(this.peer.ip), family: 'IPv4', port: this.peer.port };
  }

  private bytes(data: unknown): Uint8Array {
    if (data instanceof Uint8Array) return data;
    if (typeof data === 'string') return Buffer.from(data);
    throw invalidArgType('data', 'of type string or an instance of Buffer or Uint8Array', data);
  }

  private sendNow(bytes: Uint8Array, ip: number, port: number): number {
    if (!this.local) throw Object.assign(new Error('bind() first: a TCPDirect socket sends from the address it is bound to'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    return zf().tcpdirectUdpSend(this.id, ip, port, bytes);
  }

  private dest(port?: number, address?: string): { ip: number; port: number } {
    if (port === undefined) {
      if (!this.peer) throw Object.assign(new Error('port is required on an unconnected socket'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
      return this.peer;
    }
    if (this.peer) throw Object.assign(new Error('Already connected'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw outOfRange('port', '>= 1 and <= 65535', port);
    return { ip: ipv4ToInt(address ?? '127.0.0.1', 'address'), port };
  }

  /** zfut_send copies the datagram: it has left (or failed) when this returns. */
  send(data: Uint8Array | string, port?: number, address?: string, cb?: SendCallback): Promise<number> | void {
    this.ensureOpen('send');
    const bytes = this.bytes(data);
    if (cb !== undefined) validateFunction(cb, 'callback');
    const to = this.dest(port, address);
    const r = this.sendNow(bytes, to.ip, to.port);
    const err = r < 0 ? zfError(r, r === ENOBUFS ? 'zfut_alloc' : 'zfut_send', 'max_udp_tx_endpoints', { address: intToIpv4(to.ip), port: to.port }) : null;
    if (cb) return void process.nextTick(cb, err, r < 0 ? undefined : r);
    return err ? Promise.reject(err) : Promise.resolve(r);
  }

  queue(data: Uint8Array, port?: number, address?: string): void {
    this.ensureOpen('send');
    const to = this.dest(port, address);
    const r = this.sendNow(this.bytes(data), to.ip, to.port);
    if (r < 0) {
      const err = zfError(r, 'zfut_send', 'max_udp_tx_endpoints');
      process.nextTick(() => this.emit('error', err));
    }
  }

  /** Sends `data` (default: the datagram itself) back to the source of datagram i. */
  reply(batch: TcpdirectUdpBatch, i: number, data?: Uint8Array): void {
    this.ensureOpen('send');
    if (batch !== this.batch) throw invalidArgValue('batch', batch, 'must be the batch this socket is delivering');
    if (!Number.isInteger(i) || i < 0 || i >= batch.count) throw outOfRange('i', `>= 0 and < ${batch.count}`, i);
    const r = this.sendNow(data ?? batch.payload(i), batch.ipv4(i), batch.port(i));
    if (r < 0) {
      const err = zfError(r, 'zfut_send', 'max_udp_tx_endpoints');
      process.nextTick(() => this.emit('error', err));
    }
  }

  ref(): this {
    if (!this.refed && !this.closed) {
      this.refed = true;
      this.t.ref();
      strong.add(this);
    }
    return this;
  }

  unref(): this {
    if (this.refed && !this.closed) {
      this.refed = false;
      this.t.unref();
      strong.delete(this);
    }
    return this;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(cb?: () => void): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      registry.unregister(this);
      this.t.unregister(this.id);
      this.dropHook();
      zf().tcpdirectFree(this.id);
      if (this.refed) this.t.unref();
      this.refed = false;
      strong.delete(this);
      process.nextTick(() => this.emit('close'));
    }
    const p = new Promise<void>((r) => process.nextTick(r));
    if (cb) p.then(cb);
    return p;
  }
}
