// Busy polling: what busyPoll() can observe without system calls (the
// ring's TASKRUN hint) and the kernel's own busy polling, probed.
import type { BusyPollCapability } from '../../capabilities';
import type { WakeInfo } from '../loop';
import { errName, parseRange, type ProbeContext, readText, sysNum } from './util';

export function busyPollCapability({ p, noAddon }: ProbeContext, wake: WakeInfo | null): BusyPollCapability {
  const bp = p?.busyPoll;
  const taskrunFlag = !!wake && wake.mode !== null && wake.taskrunFlag;
  return {
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
    uringNapi: p ? errName(p.uring.napiRegister) : 'unknown',
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
}
