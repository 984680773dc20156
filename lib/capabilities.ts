// capabilities(): what works on this machine and, when something does not,
// why. The native probe makes the system calls; one function per facility
// under internal/capabilities/ reads /proc and /sys and decides what the
// results mean; this file holds the public types and assembles them. It
// never throws.
import { native, nativeLoadError } from './internal/native';
import type { NativeProbeResult } from './internal/native/probe';
import type { WakeInfo } from './internal/loop';
import { busyPollCapability } from './internal/capabilities/busy-poll';
import { efviCapability } from './internal/capabilities/efvi';
import { hugepagesCapability, memlockLimits, shmCapability } from './internal/capabilities/memory';
import { kernelRelease, nofileLimits, numaNodes, seccompInfo, seccompMode } from './internal/capabilities/system';
import { tcpdirectCapability } from './internal/capabilities/tcpdirect';
import { uringCapability } from './internal/capabilities/uring';
import type { ProbeContext } from './internal/capabilities/util';
import { afXdpCapability, bpfCapability } from './internal/capabilities/xdp';

export { errName, meminfo } from './internal/capabilities/util';
export { tcpdirectReason } from './internal/capabilities/tcpdirect';

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

let cachedCaps: Capabilities | undefined;

/** Probes once per thread; pass `{ refresh: true }` to probe again. */
export function capabilities(opts: { refresh?: boolean } = {}): Capabilities {
  if (cachedCaps && !opts.refresh) return cachedCaps;
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
  const ctx: ProbeContext = { p, noAddon: loadErr ? `native addon not loaded: ${loadErr.message.split('\n')[0]}` : probeErr };
  const seccomp = seccompMode();
  const io_uring = uringCapability(ctx, seccomp);
  cachedCaps = {
    kernel: kernelRelease(),
    addon: { available: !loadErr, reason: loadErr?.message },
    io_uring,
    af_xdp: afXdpCapability(ctx),
    bpf: bpfCapability(ctx),
    shm: shmCapability(),
    hugepages: hugepagesCapability(ctx),
    memlock: memlockLimits(ctx),
    nofile: nofileLimits(ctx),
    seccomp: seccompInfo(seccomp),
    numa: numaNodes(),
    ef_vi: efviCapability(ctx),
    tcpdirect: tcpdirectCapability(ctx),
    busy_poll: busyPollCapability(ctx, io_uring.wake),
  };
  return cachedCaps;
}
