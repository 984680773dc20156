// openPacketRing(): UDP packets of one port delivered in batches into a
// frame area that JS reads in place, through AF_XDP (an XDP program steers
// the port to the ring, everything else goes on to the kernel stack), ef_vi
// when built with it, or a UDP socket (the software backend) with the same
// API and frame layout. Policy lives here: every option is validated and the
// backend chosen before any native call.
import { capabilities } from './capabilities';
import {
  invalidArgValue, outOfRange, systemError, validateBoolean, validateInteger, validateObject, validateOneOf,
  validatePowerOfTwo, validateString, type SystemError,
} from './internal/errors';
import { native } from './internal/native';
import { EACCES, EBUSY, EEXIST, EINVAL, ENOMEM, EOPNOTSUPP, EPERM } from './internal/errno';
import { netInterface, type NetInterface } from './internal/packet/netif';
import { checkLayout } from './internal/layout';
import type { NativePacketRing, NativePacketRingOpenFailure, NativePacketRingOpenOptions, PacketRingHandle } from './internal/native/packet';
import { issuedRings, PACKET_STAT_NAMES, PacketRing, type PacketRingBackend, type PacketRingInfo } from './internal/packet/ring-handle';

export { FrameBatch, PacketRing, PACKET_STAT_NAMES } from './internal/packet/ring-handle';
export type { PacketRingBackend, PacketRingInfo, PacketRingStats } from './internal/packet/ring-handle';

export interface PacketRingOptions {
  /** Network interface name, e.g. 'eth0'. */
  interface: string;
  /** RX queue (default 0); must be below the interface's RX queue count. */
  queue?: number;
  /** 'auto' (default): ef_vi on an sfc NIC when compiled in, else AF_XDP when usable, else 'socket'. */
  backend?: 'auto' | PacketRingBackend;
  /** Which datagrams the ring takes; everything else continues to the kernel stack. */
  filter: { protocol: 'udp'; port: number };
  /** Bytes per frame: a power of two, 2048 or 4096 (default 2048). */
  frameSize?: number;
  /** Frames in the frame area: a power of two (default 4096). */
  frameCount?: number;
  /**
   * Frames set aside for transmission (default frameCount / 2); the rest
   * receive. 0 makes the ring receive-only: no TX ring, reserve()/send()
   * throw (AF_XDP copy mode then skips the kernel's TX work on every poll).
   */
  txFrameCount?: number;
  /** Frames per receive batch (default 64). */
  batchSize?: number;
  /** AF_XDP bind mode: 'auto' (zero-copy when the driver can, default), 'copy', 'zerocopy'. */
  mode?: 'auto' | 'copy' | 'zerocopy';
  /** Where the XDP program runs: 'auto' (native, else SKB — reported), 'native', 'skb'. */
  xdpMode?: 'auto' | 'native' | 'skb';
  /**
   * AF_XDP XDP_USE_NEED_WAKEUP. Default: on with zero-copy (the driver
   * sleeps until kicked), off in copy mode (where it only makes every poll
   * run the TX path). info.needWakeup says what was used.
   */
  needWakeup?: boolean;
  /** Busy-poll budget in µs (SO_BUSY_POLL + SO_PREFER_BUSY_POLL), 0 = off (default). */
  busyPoll?: number;
  /**
   * Receive coalescing. 'auto' (default): adaptive, like a NIC's adaptive
   * interrupt moderation. Every arrival wakes the ring while traffic is
   * sparse (no added delay). When a wake finds 4 or more frames waiting,
   * the ring drains on a timer instead. The timer's period is at most
   * 100 µs and adapts to collect about a batch per drain. The ring goes
   * back to per-arrival wakes when fewer than 2 frames arrive per
   * 100 µs. A number N > 0 coalesces for a fixed N µs after any wake that
   * found frames. 0 turns coalescing off: every arrival wakes the ring.
   */
  coalesceUs?: number | 'auto';
}

/**
 * The 'auto' coalescing policy. On a 2-vCPU VM, 64-byte datagrams over veth
 * at about 240k/s: 25 µs periods cut receiver CPU per datagram by a fifth;
 * 100 µs periods cut it by 60 % (`ringwire perf packet-ring`). Waking
 * per arrival costs more than all the per-datagram work.
 */
const AUTO = { minUs: 10, maxUs: 100, enterFrames: 4, stayFrames: 2 } as const;

const BACKEND_CODE: Record<PacketRingBackend, 0 | 1 | 2> = { af_xdp: 0, socket: 1, ef_vi: 2 };
const BIND_MODE = { auto: 0, copy: 1, zerocopy: 2 } as const;
const XDP_MODE = { auto: 0, native: 1, skb: 2 } as const;
const PAGE_SIZE = 4096;
const MAX_AREA = 2 ** 30;

// Per JS thread (each worker has its own module instance): which queues
// have a ring, and the AF_XDP handles per interface (rings on several
// queues of one interface share one XDP program).
const queuesInUse = new Map<string, PacketRingBackend>();
const xdpHandles = new Map<number, Map<string, PacketRingHandle>>();
const openChains = new Map<number, Promise<unknown>>();

/** The backend 'auto' resolves to for an interface, and why. */
export function resolvePacketBackend(requested: 'auto' | PacketRingBackend, iface: NetInterface): { backend: PacketRingBackend; reason: string } {
  validateOneOf(requested, 'backend', ['auto', 'socket', 'af_xdp', 'ef_vi'] as const);
  const ifo = validateObject(iface, 'iface');
  validateString(ifo.name, 'iface.name');
  const caps = capabilities();
  if (requested === 'socket') return { backend: 'socket', reason: 'requested' };
  if (requested === 'ef_vi') {
    if (!caps.ef_vi.compiled) throw systemError(EOPNOTSUPP, 'ef_vi', { message: caps.ef_vi.reason });
    return { backend: 'ef_vi', reason: 'requested' };
  }
  if (requested === 'af_xdp') {
    if (!caps.af_xdp.available) throw systemError(caps.af_xdp.capNetAdmin ? EOPNOTSUPP : -1 /* EPERM */, 'socket(AF_XDP)', { message: `AF_XDP unavailable: ${caps.af_xdp.reason}` });
    return { backend: 'af_xdp', reason: 'requested' };
  }
  if (caps.ef_vi.available && iface.driver === 'sfc') return { backend: 'ef_vi', reason: `ef_vi available and ${iface.name} uses the sfc driver` };
  // Say why ef_vi was passed over where it would have been the choice.
  const efvi = iface.driver === 'sfc' ? `ef_vi unavailable: ${caps.ef_vi.reason}; ` : '';
  if (caps.af_xdp.available) return { backend: 'af_xdp', reason: `${efvi}AF_XDP available` };
  return { backend: 'socket', reason: `${efvi}AF_XDP unavailable: ${caps.af_xdp.reason}` };
}

interface Resolved {
  iface: NetInterface;
  queue: number;
  backend: PacketRingBackend;
  reason: string;
  port: number;
  frameSize: number;
  frameCount: number;
  txFrames: number;
  batchSize: number;
  mode: keyof typeof BIND_MODE;
  xdpMode: keyof typeof XDP_MODE;
  needWakeup: boolean | undefined;
  busyPoll: number;
  coalesceUs: number | 'auto';
}

function validate(options: PacketRingOptions): Resolved {
  validateObject(options, 'options');
  const ifname = validateString(options.interface, 'options.interface');
  const backendReq = options.backend === undefined ? 'auto' : validateOneOf(options.backend, 'options.backend', ['auto', 'af_xdp', 'socket', 'ef_vi'] as const);
  const filter = validateObject(options.filter, 'options.filter');
  validateOneOf(filter.protocol, 'options.filter.protocol', ['udp'] as const);
  const port = validateInteger(filter.port, 'options.filter.port', 1, 65535);
  const frameSize = options.frameSize === undefined ? 2048 : validatePowerOfTwo(options.frameSize, 'options.frameSize', 2048, PAGE_SIZE);
  const frameCount = options.frameCount === undefined ? 4096 : validatePowerOfTwo(options.frameCount, 'options.frameCount', 2, 2 ** 20);
  if (frameSize * frameCount > MAX_AREA) throw outOfRange('options.frameCount', `at most ${MAX_AREA / frameSize} with a frameSize of ${frameSize} (a 1 GiB frame area)`, frameCount);
  const txFrames = options.txFrameCount === undefined ? frameCount / 2 : validateInteger(options.txFrameCount, 'options.txFrameCount', 0, frameCount - 1);
  const batchSize = options.batchSize === undefined ? 64 : validateInteger(options.batchSize, 'options.batchSize', 1, 1024);
  const mode = options.mode === undefined ? 'auto' : validateOneOf(options.mode, 'options.mode', ['auto', 'copy', 'zerocopy'] as const);
  const xdpMode = options.xdpMode === undefined ? 'auto' : validateOneOf(options.xdpMode, 'options.xdpMode', ['auto', 'native', 'skb'] as const);
  const needWakeup = options.needWakeup === undefined ? undefined : validateBoolean(options.needWakeup, 'options.needWakeup');
  const busyPoll = options.busyPoll === undefined ? 0 : validateInteger(options.busyPoll, 'options.busyPoll', 0, 1_000_000);
  const coalesceUs = options.coalesceUs === undefined || options.coalesceUs === 'auto' ? 'auto' : validateInteger(options.coalesceUs, 'options.coalesceUs', 0, 100_000);
  const queueOpt = options.queue === undefined ? 0 : validateInteger(options.queue, 'options.queue', 0);
  if (backendReq === 'socket' && (mode !== 'auto' || xdpMode !== 'auto')) {
    throw invalidArgValue(mode !== 'auto' ? 'options.mode' : 'options.xdpMode', mode !== 'auto' ? mode : xdpMode, "applies to AF_XDP only; leave it 'auto' with backend 'socket'");
  }
  // The interface last: a bad option is reported before a missing device.
  const iface = netInterface(ifname);
  if (queueOpt >= iface.rxQueues) {
    throw outOfRange('options.queue', `>= 0 and < ${iface.rxQueues} (${ifname} has ${iface.rxQueues} RX queue${iface.rxQueues === 1 ? '' : 's'})`, queueOpt);
  }
  const { backend, reason } = resolvePacketBackend(backendReq, iface);
  if (backend === 'ef_vi' && iface.ipv4 === 0) throw invalidArgValue('options.interface', ifname, 'needs an IPv4 address for the ef_vi filter');
  return { iface, queue: queueOpt, backend, reason, port, frameSize, frameCount, txFrames, batchSize, mode, xdpMode, needWakeup, busyPoll, coalesceUs };
}

type OpenFailure = NativePacketRingOpenFailure;

function openError(f: OpenFailure, r: Resolved): SystemError {
  const name = r.iface.name;
  let why = f.detail;
  if (f.errno === EBUSY && f.syscall.startsWith('bind(AF_XDP')) {
    why = `queue ${r.queue} of ${name} is already bound to another AF_XDP socket (another process or thread); use another queue or close that ring`;
  } else if (f.errno === EBUSY || (f.errno === EEXIST && f.syscall.includes('LINK_CREATE'))) {
    why = `${name} already has an XDP program attached (a ringwire ring in another process or thread, or a program loaded with 'ip link set ${name} xdp ...'); one XDP program per interface${f.detail ? `; ${f.detail}` : ''}`;
  } else if (f.syscall.startsWith('bind(AF_XDP') && r.mode === 'zerocopy' && (f.errno === EOPNOTSUPP || f.errno === EINVAL)) {
    why = `the ${r.iface.driver || 'interface'} driver of ${name} cannot do AF_XDP zero-copy; use mode 'copy' or 'auto'`;
  } else if (f.syscall.includes('LINK_CREATE') && r.xdpMode === 'native' && f.errno === EOPNOTSUPP) {
    why = `the ${r.iface.driver || 'interface'} driver of ${name} has no native XDP; use xdpMode 'skb' or 'auto'`;
  } else if ((f.errno === EPERM || f.errno === EACCES) && r.backend === 'af_xdp') {
    why = `${f.detail ? `${f.detail}; ` : ''}AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (or root)`;
  } else if (f.errno === ENOMEM && f.syscall.includes('UMEM')) {
    why = `registering a ${r.frameSize * r.frameCount}-byte UMEM failed; raise RLIMIT_MEMLOCK or use fewer frames`;
  }
  return systemError(f.errno, f.syscall, { message: `${r.backend} on ${name} queue ${r.queue}${why ? `: ${why}` : ''}` });
}

type OpenResult = NativePacketRing;

function ringInfo(r: Resolved, n: OpenResult): PacketRingInfo {
  const xdp = r.backend === 'af_xdp';
  return {
    backend: r.backend,
    reason: r.reason,
    interface: r.iface.name,
    ifindex: r.iface.ifindex,
    queue: r.queue,
    queueCount: r.iface.rxQueues,
    port: r.port,
    xdpMode: xdp ? (n.xdpNative ? 'native' : 'skb') : null,
    xdpModeReason: xdp ? (n.xdpNote ?? null) : null,
    bindMode: xdp ? (n.zeroCopy ? 'zerocopy' : 'copy') : null,
    needWakeup: xdp && n.needWakeup === true,
    frameSize: r.frameSize,
    frameCount: r.frameCount,
    rxFrameCount: r.frameCount - r.txFrames,
    txFrameCount: r.txFrames,
    batchSize: r.batchSize,
    coalesceUs: r.coalesceUs,
    busyPoll: r.busyPoll,
    dualStack: n.dualStack,
  };
}

/** [minUs, maxUs, enterFrames, stayFrames, targetFrames] for the native ring, or null (off). */
export function coalescePolicy(coalesceUs: number | 'auto', batchSize: number, rxFrames: number): number[] | null {
  if (coalesceUs === 0) return null;
  if (coalesceUs !== 'auto') return [coalesceUs, coalesceUs, 1, 1, 0];
  // A drain of about two batches, and never more than an eighth of the
  // receive frames per period, so the fill ring has room to spare.
  const target = Math.max(1, Math.min(2 * batchSize, Math.floor(rxFrames / 8)));
  return [AUTO.minUs, AUTO.maxUs, AUTO.enterFrames, AUTO.stayFrames, target];
}

function openNative(r: Resolved, key: string): Promise<PacketRing> {
  const shared = r.backend === 'af_xdp' ? xdpHandles.get(r.iface.ifindex)?.values().next().value : undefined;
  const args: NativePacketRingOpenOptions = {
    backend: BACKEND_CODE[r.backend],
    ifname: r.iface.name,
    ifindex: r.iface.ifindex,
    queue: r.queue,
    queueCount: r.iface.rxQueues,
    port: r.port,
    frameSize: r.frameSize,
    frameCount: r.frameCount,
    rxFrames: r.frameCount - r.txFrames,
    batchSize: r.batchSize,
    bindMode: BIND_MODE[r.mode],
    xdpMode: XDP_MODE[r.xdpMode],
    needWakeup: r.needWakeup === undefined ? 2 : r.needWakeup ? 1 : 0,
    busyPoll: r.busyPoll,
    mac: r.iface.mac,
    localIp: r.iface.ipv4,
    share: shared ?? null,
  };
  return native().packetRingOpen(args).then(
    (n) => {
      const info = ringInfo(r, n);
      const ifindex = r.iface.ifindex;
      const forget = () => {
        queuesInUse.delete(key);
        const m = xdpHandles.get(ifindex);
        if (m && m.delete(key) && m.size === 0) xdpHandles.delete(ifindex);
      };
      if (r.backend === 'af_xdp') {
        if (!xdpHandles.has(ifindex)) xdpHandles.set(ifindex, new Map());
        xdpHandles.get(ifindex)!.set(key, n.handle);
      }
      issuedRings.add(n);
      const ring = new PacketRing(n, info, forget, coalescePolicy(info.coalesceUs, info.batchSize, info.rxFrameCount));
      if (r.backend === 'af_xdp' && r.xdpMode === 'auto' && !n.xdpNative && !shared) {
        // Never silent: SKB mode works everywhere but costs a socket buffer per packet.
        process.emitWarning(`AF_XDP ring on ${r.iface.name} runs in SKB (generic) mode: ${n.xdpNote}`, { code: 'RINGWIRE_XDP_SKB_MODE' });
      }
      return ring;
    },
    (f: OpenFailure) => {
      queuesInUse.delete(key);
      throw openError(f, r);
    },
  );
}

/**
 * Opens a packet ring. Invalid options throw TypeError/RangeError; an
 * unknown interface throws ENODEV and a queue that already has a ring in
 * this thread throws EBUSY — all synchronously, before any native call.
 * Kernel failures (AF_XDP bind, BPF verifier, XDP attach) reject.
 */
export function openPacketRing(options: PacketRingOptions): Promise<PacketRing> {
  const r = validate(options);
  checkLayout('packetRing', { statNames: PACKET_STAT_NAMES });
  // AF_XDP and ef_vi own a queue; the socket backend shares the queue with
  // the kernel stack and owns only its port.
  const key = r.backend === 'socket' ? `${r.iface.ifindex}:${r.queue}:udp:${r.port}` : `${r.iface.ifindex}:${r.queue}`;
  const busy = queuesInUse.get(key);
  if (busy !== undefined) {
    const what = r.backend === 'socket' ? `UDP port ${r.port} on queue ${r.queue} of ${r.iface.name}` : `queue ${r.queue} of ${r.iface.name}`;
    throw systemError(EBUSY, 'bind', { message: `${what} already has a packet ring (${busy}) in this thread; close it first or use another ${r.backend === 'socket' ? 'port' : 'queue'}` });
  }
  queuesInUse.set(key, r.backend);
  // Opens on one interface run one after another: a second queue shares
  // the XDP program the first one attached.
  const prev = openChains.get(r.iface.ifindex) ?? Promise.resolve();
  const p = prev.then(() => openNative(r, key));
  const tail = p.then(() => undefined, () => undefined);
  openChains.set(r.iface.ifindex, tail);
  tail.then(() => {
    if (openChains.get(r.iface.ifindex) === tail) openChains.delete(r.iface.ifindex);
  });
  return p;
}
