// io_uring: the probe's ring setup and opcodes, the sysctl and seccomp that
// explain a failure, and the thread's wake mode self-check.
import type { UringCapability } from '../../capabilities';
import { wakeInfo, type WakeInfo } from '../loop';
import { errName, type ProbeContext, readText } from './util';

/** kernel.io_uring_disabled (0 = allowed, 1 = privileged only, 2 = off), null if absent. */
export function uringSysctl(): number | null {
  const raw = readText('/proc/sys/kernel/io_uring_disabled');
  return raw === null ? null : Number(raw.trim());
}

export function uringCapability({ p, noAddon }: ProbeContext, seccompMode: number | null): UringCapability {
  const sysctlDisabled = uringSysctl();
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
  return {
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
}
