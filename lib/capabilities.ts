// capabilities(): what works on this machine and, when something does not,
// why. The native probe makes the system calls; this file reads /proc and
// /sys and decides what the results mean. It never throws.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { hasTcpdirect, native, nativeLoadError } from './internal/native';
import type { NativeProbeResult } from './internal/native/probe';
import { systemError } from './internal/errors';
import { EACCES, EAFNOSUPPORT, ENODEV, ENOENT, ENOKEY, EPERM } from './internal/errno';
import { wakeInfo, type WakeInfo } from './internal/loop';

export interface Facility {
  /** Whether ringwire can use this facility here. */
  available: boolean;
  /** Why not (or a caveat when available). */
  reason?: string;
}

export interface UringCapability extends Facility {
  /** io_uring_setup() result: 0 or an errno name. */
  setup: string;
  /** kernel.io_uring_disabled (0 = allowed, 1 = privileged only, 2 = off), null if absent. */
  sysctlDisabled: number | null;
  singleIssuerDeferTaskrun: boolean;
  features: number;
  multishotRecv: boolean;
  multishotAccept: boolean;
  providedBufferRings: boolean;
  sendZc: boolean;
  sendmsgZc: boolean;
  bundles: boolean;
  futexWait: boolean;
  linkTimeout: boolean;
  /**
   * How this thread's ring is woken, and the end-to-end self-check that
   * chose it (null when io_uring cannot be set up at all). When no mode
   * passes, `available` is false and sockets use the epoll backend.
   */
  wake: WakeInfo | null;
}

export interface Capabilities {
  kernel: { release: string; major: number; minor: number };
  addon: Facility;
  io_uring: UringCapability;
  af_xdp: Facility & { socket: string; capNetAdmin: boolean; capBpf: boolean; capNetRaw: boolean };
  bpf: Facility & { progLoad: string };
  shm: Facility & { path: string; freeBytes: number | null };
  hugepages: Facility & { pageSizeBytes: number | null; total: number; free: number; memfdHugetlb: string };
  memlock: { soft: number | null; hard: number | null; reason?: string };
  nofile: { soft: number | null; hard: number | null };
  seccomp: { mode: number | null; reason?: string };
  numa: { nodes: number[] };
  /** available: compiled in and ef_driver_open() succeeds (/dev/sfc_char). */
  ef_vi: Facility & { compiled: boolean; driverOpen: string };
  /** available: compiled in, zf_init() and a zf_stack_alloc() succeed (ZF_ATTR). */
  tcpdirect: Facility & { compiled: boolean; version: string | null; stackAlloc: string };
  busy_poll: BusyPollCapability;
}

/** What busyPoll() can observe without system calls, and the kernel's own busy polling. */
export interface BusyPollCapability extends Facility {
  /**
   * The thread's ring has IORING_SETUP_TASKRUN_FLAG: a spin sees pending
   * completions in ring memory and enters the kernel only when there are
   * some. Without it, completions from wake-up context are posted by the
   * spin's non-blocking poll() of the epoll set (one syscall per empty spin).
   */
  taskrunFlag: boolean;
  /** setsockopt results (ok or an errno name): SO_BUSY_POLL, SO_PREFER_BUSY_POLL (5.11+), SO_BUSY_POLL_BUDGET. */
  soBusyPoll: string;
  soPreferBusyPoll: string;
  soBusyPollBudget: string;
  /** IORING_REGISTER_NAPI (Linux 6.9+): ok or an errno name. */
  uringNapi: string;
  /** net.core.busy_poll / busy_read (µs), null if absent. */
  sysctlBusyPoll: number | null;
  sysctlBusyRead: number | null;
  /** CPUs in /sys/devices/system/cpu/isolated (isolcpus=). */
  isolatedCpus: number[];
  /** Whether ringwire turns the kernel's busy polling on, and why (not). */
  kernelBusyPoll: string;
}

const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;
const CAP_SYS_ADMIN = 21;
const CAP_BPF = 39;

function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

export function errName(ret: number): string {
  return ret >= 0 ? 'ok' : systemError(ret, 'probe').code;
}

function parseRange(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

export function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (readText('/proc/meminfo') ?? '').split('\n')) {
    const m = /^(\S+):\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

function limit(v: number): number | null {
  // RLIM_INFINITY arrives as 2^64-1, beyond a double's exact range.
  return v >= 2 ** 63 ? null : v;
}

let cachedCaps: Capabilities | undefined;


function efviCapability(p: NativeProbeResult | null, noAddon: string | undefined): Capabilities['ef_vi'] {
  if (!p) return { available: false, compiled: false, driverOpen: 'unknown', reason: noAddon };
  if (!p.efviCompiled) {
    return { available: false, compiled: false, driverOpen: 'not compiled', reason: 'not compiled in (rebuild: npx cmake-js compile --CDRINGWIRE_EFVI_ROOT=/usr, the Onload install prefix)' };
  }
  const r = p.efviDriverOpen;
  let reason: string | undefined;
  if (r === ENOENT) reason = 'ef_driver_open failed (ENOENT): no /dev/sfc_char, the sfc/Onload driver is not loaded';
  else if (r < 0) reason = `ef_driver_open failed (${errName(r)})`;
  return { available: r === 0, compiled: true, driverOpen: errName(r), reason };
}

/** Why zf_stack_alloc() failed, in the words a user can act on. */
export function tcpdirectReason(step: 'zf_init' | 'zf_stack_alloc', r: number): string {
  const name = errName(r);
  if (r === ENOKEY()) return `${step} failed (ENOKEY): the adapter is not licensed for TCPDirect`;
  if (r === ENOENT && step === 'zf_init') return 'zf_init failed (ENOENT): Onload is not installed here (no libefcp.so.1, its control plane library) or its driver is not loaded';
  if (r === ENOENT) return `${step} failed (ENOENT): no /dev/onload, the Onload driver is not loaded`;
  if (r === ENODEV) return `${step} failed (ENODEV): ZF_ATTR names no usable Solarflare/AMD interface (ZF_ATTR=interface=<ethX>)`;
  return `${step} failed (${name})`;
}

function tcpdirectCapability(loaded: boolean, noAddon: string | undefined): Capabilities['tcpdirect'] {
  if (!loaded) return { available: false, compiled: false, version: null, stackAlloc: 'unknown', reason: noAddon };
  const n = native();
  if (!hasTcpdirect(n)) {
    return { available: false, compiled: false, version: null, stackAlloc: 'not compiled', reason: 'not compiled in (rebuild: npx cmake-js compile --CDRINGWIRE_TCPDIRECT_ROOT=/usr, the TCPDirect install prefix)' };
  }
  const r = n.tcpdirectProbe();
  r.version = r.version.trim();  // zf_version_short() pads with build info
  if (r.init < 0) return { available: false, compiled: true, version: r.version, stackAlloc: 'not tried', reason: tcpdirectReason('zf_init', r.init) };
  return { available: r.stack === 0, compiled: true, version: r.version, stackAlloc: errName(r.stack), reason: r.stack < 0 ? tcpdirectReason('zf_stack_alloc', r.stack) : undefined };
}

/** Probes once per thread; pass `{ refresh: true }` to probe again. */
export function capabilities(opts: { refresh?: boolean } = {}): Capabilities {
  if (cachedCaps && !opts.refresh) return cachedCaps;
  const rel = os.release();
  const [major, minor] = rel.split('.').map((x) => parseInt(x, 10));
  const loadErr = nativeLoadError();
  let p: NativeProbeResult | null = null;
  let probeErr: string | undefined;
  if (!loadErr) {
    try {
      p = native().probe();
    } catch (e) {
      probeErr = (e as Error).message;
    }
  }
  const noAddon = loadErr ? `native addon not loaded: ${loadErr.message.split('\n')[0]}` : probeErr;

  const sysctlRaw = readText('/proc/sys/kernel/io_uring_disabled');
  const sysctlDisabled = sysctlRaw === null ? null : Number(sysctlRaw.trim());
  const status = readText('/proc/self/status') ?? '';
  const seccompMatch = /^Seccomp:\s+(\d+)/m.exec(status);
  const seccompMode = seccompMatch ? Number(seccompMatch[1]) : null;

  const u = p?.uring;
  let uringReason: string | undefined;
  if (!u) uringReason = noAddon;
  else if (u.setup < 0) {
    const name = errName(u.setup);
    if (sysctlDisabled === 2) uringReason = `io_uring_setup failed (${name}): kernel.io_uring_disabled=2 turns io_uring off`;
    else if (sysctlDisabled === 1) uringReason = `io_uring_setup failed (${name}): kernel.io_uring_disabled=1 allows only privileged processes (or the io_uring_group)`;
    else if (seccompMode === 2) uringReason = `io_uring_setup failed (${name}): a seccomp filter is active (containers often block io_uring)`;
    else uringReason = `io_uring_setup failed (${name})`;
  } else if (u.multishotRecv <= 0) {
    uringReason = `multishot recv with provided buffers does not work (${errName(u.multishotRecv)}); needs Linux 6.0+`;
  }
  let wake: WakeInfo | null = null;
  if (u && u.setup === 0) {
    try {
      wake = wakeInfo();
    } catch (e) {
      uringReason = `the thread's io_uring could not start: ${(e as Error).message}`;
    }
    if (wake && wake.mode === null) uringReason = `no io_uring wake mode passed its self-check: ${wake.fallback}`;
  }
  const io_uring: UringCapability = {
    available: !!u && u.setup === 0 && u.multishotRecv > 0 && u.bufRing === 0 && wake !== null && wake.mode !== null,
    reason: uringReason,
    setup: u ? errName(u.setup) : 'unknown',
    sysctlDisabled,
    singleIssuerDeferTaskrun: !!u && u.setupSingleIssuer === 0,
    features: u ? u.features : 0,
    multishotRecv: !!u && u.multishotRecv > 0,
    multishotAccept: !!u && u.multishotAccept > 0,
    providedBufferRings: !!u && u.bufRing === 0,
    sendZc: !!u && u.opSendZc,
    sendmsgZc: !!u && u.opSendmsgZc,
    bundles: !!u && u.bundles,
    futexWait: !!u && u.opFutexWait && u.opFutexWake,
    linkTimeout: !!u && u.opLinkTimeout,
    wake,
  };

  const capLo = p ? p.capEffectiveLo : 0;
  const capHi = p ? p.capEffectiveHi : 0;
  const hasCap = (n: number) => (n < 32 ? ((capLo >>> n) & 1) === 1 : ((capHi >>> (n - 32)) & 1) === 1);
  const capNetAdmin = hasCap(CAP_NET_ADMIN);
  const capBpf = hasCap(CAP_BPF) || hasCap(CAP_SYS_ADMIN);
  const capNetRaw = hasCap(CAP_NET_RAW);
  let xdpReason: string | undefined;
  if (!p) xdpReason = noAddon;
  else if (p.afXdpSocket < 0) xdpReason = `socket(AF_XDP) failed (${errName(p.afXdpSocket)})${p.afXdpSocket === EPERM || p.afXdpSocket === EACCES ? ': needs CAP_NET_RAW' : p.afXdpSocket === EAFNOSUPPORT ? ': kernel built without CONFIG_XDP_SOCKETS' : ''}`;
  else if (!capNetAdmin) xdpReason = 'CAP_NET_ADMIN is missing (needed to attach an XDP program)';
  else if (p.bpfProgLoad < 0) xdpReason = `BPF program load failed (${errName(p.bpfProgLoad)})`;

  const shmPath = '/dev/shm';
  let shmFree: number | null = null;
  let shmReason: string | undefined;
  try {
    const st = fs.statfsSync(shmPath);
    shmFree = st.bavail * st.bsize;
    fs.accessSync(shmPath, fs.constants.W_OK);
  } catch (e) {
    shmReason = `${shmPath} is not usable (${(e as NodeJS.ErrnoException).code})`;
  }

  const mi = meminfo();
  const hpSize = mi.Hugepagesize ? mi.Hugepagesize * 1024 : null;
  const hpTotal = mi.HugePages_Total ?? 0;
  const hpFree = mi.HugePages_Free ?? 0;
  let hpReason: string | undefined;
  if (hpTotal === 0) hpReason = 'no huge pages reserved (vm.nr_hugepages = 0)';
  else if (hpFree === 0) hpReason = 'all reserved huge pages are in use';

  const memlockSoft = p ? limit(p.memlockSoft) : null;
  const memlockHard = p ? limit(p.memlockHard) : null;

  const numaOnline = readText('/sys/devices/system/node/online');

  const bp = p?.busyPoll;
  const sysNum = (f: string): number | null => {
    const t = readText(f);
    return t === null ? null : Number(t.trim());
  };
  const taskrunFlag = !!wake && wake.mode !== null && wake.taskrunFlag;
  const busy_poll: BusyPollCapability = {
    available: !!p,
    reason: !p
      ? noAddon
      : !taskrunFlag
        ? 'the ring has no TASKRUN hint (needs the ring fd wake mode, Linux 5.19+): a spin sees completions through one non-blocking poll() per empty spin'
        : undefined,
    taskrunFlag,
    soBusyPoll: bp ? errName(bp.soBusyPoll) : 'unknown',
    soPreferBusyPoll: bp ? errName(bp.soPreferBusyPoll) : 'unknown',
    soBusyPollBudget: bp ? errName(bp.soBusyPollBudget) : 'unknown',
    uringNapi: u ? errName(u.napiRegister) : 'unknown',
    sysctlBusyPoll: sysNum('/proc/sys/net/core/busy_poll'),
    sysctlBusyRead: sysNum('/proc/sys/net/core/busy_read'),
    isolatedCpus: parseRange(readText('/sys/devices/system/cpu/isolated') ?? ''),
    // The kernel's busy loops run inside a blocking recvmsg/epoll_wait
    // (sk_busy_loop, ep_busy_loop) or an io_uring_enter that waits
    // (io_napi_busy_loop); ringwire's spin never blocks in any of them, and
    // loopback traffic has no NAPI context to poll. So they are probed,
    // not turned on.
    kernelBusyPoll: 'not turned on by busyPoll(): the kernel busy-polls a NIC queue (NAPI) inside a blocking recvmsg/epoll_wait or a waiting io_uring_enter, and busyPoll() never blocks in those; loopback has no NAPI context. Per UDP socket on a NIC: createUdpSocket({ busyPoll: us }) / setBusyPoll(us)',
  };

  cachedCaps = {
    kernel: { release: rel, major, minor },
    addon: { available: !loadErr, reason: loadErr?.message },
    io_uring,
    af_xdp: {
      available: !!p && p.afXdpSocket === 0 && capNetAdmin && p.bpfProgLoad === 0,
      reason: xdpReason,
      socket: p ? errName(p.afXdpSocket) : 'unknown',
      capNetAdmin,
      capBpf,
      capNetRaw,
    },
    bpf: {
      available: !!p && p.bpfProgLoad === 0,
      reason: !p ? noAddon : p.bpfProgLoad < 0 ? `BPF_PROG_LOAD failed (${errName(p.bpfProgLoad)})${capBpf ? '' : ': needs CAP_BPF or CAP_SYS_ADMIN'}` : undefined,
      progLoad: p ? errName(p.bpfProgLoad) : 'unknown',
    },
    shm: { available: !shmReason, reason: shmReason, path: shmPath, freeBytes: shmFree },
    hugepages: {
      available: hpTotal > 0 && hpFree > 0,
      reason: hpReason,
      pageSizeBytes: hpSize,
      total: hpTotal,
      free: hpFree,
      memfdHugetlb: p ? errName(p.memfdHuge) : 'unknown',
    },
    memlock: {
      soft: memlockSoft,
      hard: memlockHard,
      reason: memlockSoft !== null && memlockSoft < 64 * 1024 * 1024 ? `RLIMIT_MEMLOCK is ${memlockSoft} bytes; locking large regions or UMEMs needs more` : undefined,
    },
    nofile: { soft: p ? limit(p.nofileSoft) : null, hard: p ? limit(p.nofileHard) : null },
    seccomp: { mode: seccompMode, reason: seccompMode === 2 ? 'a seccomp filter is active; some syscalls may be blocked' : undefined },
    numa: { nodes: numaOnline ? parseRange(numaOnline) : [0] },
    ef_vi: efviCapability(p, noAddon),
    tcpdirect: tcpdirectCapability(p !== null, noAddon),
    busy_poll,
  };
  return cachedCaps;
}
