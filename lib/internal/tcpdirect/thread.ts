// The JS half of a thread's TCPDirect stack (native/tcpdirect): one zf stack
// per JS thread (stacks are not thread-safe), its record buffer and receive
// pool, and the routing of records to the sockets and endpoints that own
// them. Nothing here is API.
import * as net from 'node:net';
import { capabilities, tcpdirectReason } from '../../capabilities';
import { invalidArgValue, systemError, type SystemError, validateInteger } from '../errors';
import { hasTcpdirect, type Native, native } from '../native';
import type { NativeTcpdirect, NativeTcpdirectLayout } from '../native/tcpdirect';
import type { AddressInfo } from '../sockaddr';
import { ENOBUFS, EOPNOTSUPP } from '../errno';


/** A record handler: kind, a, b, c, d (see native/tcpdirect/zf_core.h). */
export type ZfHandler = (kind: number, a: number, b: number, c: number, d: number, id: number) => void;

export type ZfLayout = NativeTcpdirectLayout;

/**
 * The addon's TCPDirect functions (native/tcpdirect/zf_binding.cc, compiled
 * only with RINGWIRE_TCPDIRECT_ROOT); EOPNOTSUPP with the reason when this
 * addon was built without them.
 */
export function zf(): Native & NativeTcpdirect {
  const n = native();
  if (!hasTcpdirect(n)) throw systemError(EOPNOTSUPP, 'tcpdirect', { message: capabilities().tcpdirect.reason });
  return n;
}

export class ZfThread {
  readonly records: Int32Array;
  readonly pool: Uint8Array;
  readonly layout: ZfLayout;
  /** 0, or the errno of zf_waitable_fd_get (then a 1 ms timer drives the stack). */
  readonly waitableFd: number;
  private readonly handlers = new Map<number, ZfHandler>();
  private readonly endHooks = new Set<() => void>();
  private refs = 0;

  constructor() {
    this.layout = zf().tcpdirectLayout;
    const r = zf().tcpdirectStart((n) => this.dispatch(n));
    if ('errno' in r) throw systemError(r.errno, r.syscall, { message: tcpdirectReason(r.syscall === 'zf_init' ? 'zf_init' : 'zf_stack_alloc', r.errno) });
    this.records = new Int32Array(r.records);
    this.pool = new Uint8Array(r.pool);
    this.waitableFd = r.waitableFd;
  }

  private dispatch(n: number): void {
    const rec = this.records;
    const w = this.layout.recordWords;
    for (let i = 0; i < n; i++) {
      const o = i * w;
      this.handlers.get(rec[o])?.(rec[o + 1], rec[o + 2], rec[o + 3], rec[o + 4], rec[o + 5], rec[o]);
    }
    // Batches go out while the pool still holds their bytes.
    for (const h of this.endHooks) h();
  }

  register(id: number, h: ZfHandler): void {
    this.handlers.set(id, h);
  }

  unregister(id: number): void {
    this.handlers.delete(id);
  }

  onDispatchEnd(fn: () => void): () => void {
    this.endHooks.add(fn);
    return () => this.endHooks.delete(fn);
  }

  ref(): void {
    if (this.refs++ === 0) zf().tcpdirectSetRef(true);
  }

  unref(): void {
    if (this.refs > 0 && --this.refs === 0) zf().tcpdirectSetRef(false);
  }
}

let thread: ZfThread | undefined;

/**
 * For a thread that busy-polls (spins instead of sleeping in libuv): one
 * reactor pass over this thread's stack, records delivered to their owners
 * before it returns. 0 when nothing arrived (or no stack was started).
 */
export function pollTcpdirect(): number {
  return thread ? zf().tcpdirectPoll() : 0;
}

/** How long (µs) the stack keeps the reactor spinning after traffic before it sleeps (default 100; 0 = sleep at once). */
export function setTcpdirectSpin(us: number): void {
  validateInteger(us, 'us', 0, 1_000_000);
  zfThread();
  zf().tcpdirectSpin(us);
}

/** This thread's stack; throws the reason TCPDirect cannot be used here. */
export function zfThread(): ZfThread {
  if (!thread) {
    const td = capabilities().tcpdirect;
    if (!td.compiled) throw systemError(EOPNOTSUPP, 'tcpdirect', { message: td.reason });
    thread = new ZfThread();
  }
  return thread;
}

/**
 * Which backend a socket or endpoint gets. 'tcpdirect' is used when asked
 * for (and throws when it cannot be), and by 'auto' when it is available;
 * otherwise `fallback` decides and the reason says why TCPDirect was
 * passed over.
 */
export function chooseBackend<B extends string>(
  requested: unknown, fallback: () => { backend: B; reason: string }, options: Record<string, unknown> = {}, unsupported: readonly string[] = [],
): { backend: B | 'tcpdirect'; reason: string } {
  if (requested !== 'tcpdirect' && (requested !== 'auto' || process.env.RINGWIRE_BACKEND)) return fallback();
  const td = capabilities().tcpdirect;
  const kernelOnly = unsupported.filter((k) => options[k] !== undefined);
  if (requested === 'tcpdirect') {
    if (!td.compiled) throw systemError(EOPNOTSUPP, 'tcpdirect', { message: td.reason });
    if (kernelOnly.length) throw invalidArgValue(`options.${kernelOnly[0]}`, options[kernelOnly[0]], 'is not supported by the tcpdirect backend');
    return { backend: 'tcpdirect', reason: 'requested' };
  }
  let why = td.reason;
  if (td.available && !kernelOnly.length) return { backend: 'tcpdirect', reason: `TCPDirect ${(td.version ?? '').trim()} available` };
  if (td.available) why = `options ${kernelOnly.join(', ')} need the kernel stack`;
  const f = fallback();
  return { backend: f.backend, reason: `${f.reason}; tcpdirect passed over: ${why}` };
}

/**
 * What createUdpSocket()/createTcpEndpoint() ask first: does this socket go
 * to TCPDirect (options.backend 'tcpdirect', or 'auto' with TCPDirect
 * available and no option only the kernel stack has)? The reason when it
 * does, undefined when the kernel stack serves it.
 */
export function tcpdirectChoice(options: Record<string, unknown>, unsupported: readonly string[]): string | undefined {
  const requested = options.backend ?? 'auto';
  if (requested !== 'tcpdirect' && requested !== 'auto') return undefined;
  const choice = chooseBackend(requested, () => ({ backend: 'kernel', reason: '' }), options, unsupported);
  return choice.backend === 'tcpdirect' ? choice.reason : undefined;
}

/** What 'auto' says about TCPDirect when it keeps a socket on the kernel stack. */
export function tcpdirectNote(): string {
  const td = capabilities().tcpdirect;
  return td.available ? '' : `; tcpdirect passed over: ${td.reason}`;
}

/** -ENOBUFS from an allocation is the stack's per-kind limit (ZF_ATTR max_*): a RangeError. */
export function zfError(r: number, syscall: string, limitAttr?: string, extra?: { address?: string; port?: number }): SystemError | RangeError {
  if (r === ENOBUFS && limitAttr) {
    const e = new RangeError(`${syscall}: the TCPDirect stack holds no more of these zockets (raise ZF_ATTR ${limitAttr})`) as RangeError & { code: string; errno: number; syscall: string };
    e.code = 'ERR_OUT_OF_RANGE';
    e.errno = r;
    e.syscall = syscall;
    return e;
  }
  return systemError(r, syscall, extra);
}

export function ipv4ToInt(address: string, name: string): number {
  if (!net.isIPv4(address)) throw invalidArgValue(name, address, 'must be an IPv4 address (TCPDirect is IPv4 only)');
  const p = address.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function intToIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function zfName(id: number, peer: boolean): AddressInfo | undefined {
  const r = zf().tcpdirectName(id, peer);
  if (typeof r === 'number') return undefined;
  return { address: intToIpv4(r[0]), family: 'IPv4', port: r[1] };
}
