// `ringwire doctor`: the capability probe plus the host tuning facts a
// low-latency user checks, each problem with a one-line remedy.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { threadAffinity } from './affinity';
import { adaptivePollInfo, currentBusyPoller } from './busy-poll';
import { adaptivePollFromEnv } from './internal/adaptive-poll';
import { capabilities, type Capabilities } from './capabilities';

export type Status = 'ok' | 'warn' | 'missing' | 'info';

export interface Check {
  id: string;
  status: Status;
  detail: string;
  remedy?: string;
}

export interface NicReport {
  name: string;
  rxQueues: number;
  txQueues: number;
  irqs: { irq: number; name: string; affinity: string }[];
  rps: string[];
  xps: string[];
  rpsFlowCnt: number[];
}

export interface DoctorReport {
  capabilities: Capabilities;
  cpus: { count: number; model: string; isolated: string; nohzFull: string; governor: string | null };
  nics: NicReport[];
  sysctls: Record<string, string | null>;
  checks: Check[];
}

function read(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
}

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

const SYSCTLS = [
  'net/core/busy_poll',
  'net/core/busy_read',
  'net/core/rmem_max',
  'net/core/wmem_max',
  'net/core/rmem_default',
  'net/core/netdev_max_backlog',
  'net/core/rps_sock_flow_entries',
  'vm/nr_hugepages',
  'kernel/io_uring_disabled',
];

function nicReport(name: string, interrupts: string[]): NicReport {
  const qdir = `/sys/class/net/${name}/queues`;
  const queues = list(qdir);
  const rx = queues.filter((q) => q.startsWith('rx-')).sort();
  const tx = queues.filter((q) => q.startsWith('tx-')).sort();
  const irqs: NicReport['irqs'] = [];
  const msi = list(`/sys/class/net/${name}/device/msi_irqs`).map(Number);
  for (const line of interrupts) {
    const m = /^\s*(\d+):.*\s(\S+)\s*$/.exec(line);
    if (!m) continue;
    const irq = Number(m[1]);
    if (msi.includes(irq) || m[2].includes(name)) {
      irqs.push({ irq, name: m[2], affinity: read(`/proc/irq/${irq}/smp_affinity_list`) ?? '?' });
    }
  }
  return {
    name,
    rxQueues: rx.length,
    txQueues: tx.length,
    irqs,
    rps: rx.map((q) => read(path.join(qdir, q, 'rps_cpus')) ?? '?'),
    rpsFlowCnt: rx.map((q) => Number(read(path.join(qdir, q, 'rps_flow_cnt')) ?? 0)),
    xps: tx.map((q) => read(path.join(qdir, q, 'xps_cpus')) ?? '?'),
  };
}

/**
 * busyPoll(): what a spin can see without system calls, the kernel's own
 * busy polling, and - when a poller runs on the calling thread - whether
 * it has a CPU to itself (pinned to one CPU, and that CPU isolated).
 */
export function busyPollChecks(caps: Capabilities, running = currentBusyPoller(), affinity: () => number[] = threadAffinity): Check[] {
  const b = caps.busy_poll;
  const out: Check[] = [];
  const kernel = `SO_BUSY_POLL ${b.soBusyPoll}, SO_PREFER_BUSY_POLL ${b.soPreferBusyPoll}, io_uring NAPI ${b.uringNapi}; kernel busy polling ${b.kernelBusyPoll}`;
  out.push(b.taskrunFlag
    ? { id: 'busy_poll', status: 'ok', detail: `busyPoll() sees ring completions in memory (TASKRUN hint); ${kernel}` }
    : { id: 'busy_poll', status: 'info', detail: `${b.reason ?? 'no TASKRUN hint'}; ${kernel}` });
  if (!running) return out;
  let cpus: number[] = [];
  try {
    cpus = affinity();
  } catch {
    /* reported below as unpinned */
  }
  if (cpus.length !== 1) {
    out.push({
      id: 'busy_poll.pinned',
      status: 'warn',
      detail: `busyPoll() runs on a thread that may run on ${cpus.length || 'any'} CPUs: the scheduler moves it and it competes with other threads for them`,
      remedy: 'pinThread(cpu) the busy-polling thread to one CPU, ideally an isolated one',
    });
  } else if (!b.isolatedCpus.includes(cpus[0])) {
    out.push({
      id: 'busy_poll.isolated',
      status: 'warn',
      detail: `busyPoll() runs on CPU ${cpus[0]}, which is not isolated (isolated: ${b.isolatedCpus.join(',') || 'none'}): other tasks and interrupts share it`,
      remedy: 'boot with isolcpus=<cpu> nohz_full=<cpu> (and move IRQs off it), then pin the busy-polling thread there',
    });
  } else {
    out.push({ id: 'busy_poll.isolated', status: 'ok', detail: `busyPoll() runs pinned to isolated CPU ${cpus[0]}` });
  }
  return out;
}

/** The adaptive poll before sleeping: this thread's ceiling, or the process default. */
export function adaptivePollCheck(caps: Capabilities): Check {
  const a = adaptivePollInfo() ?? adaptivePollFromEnv();
  if (!caps.io_uring.available) return { id: 'adaptive_poll', status: 'info', detail: 'adaptive poll before sleeping: not used (it polls the io_uring loop, unavailable here)' };
  return a.maxUs > 0
    ? { id: 'adaptive_poll', status: 'ok', detail: `adaptive poll before sleeping: up to ${a.maxUs} µs of CPU per wake-up (${a.source}); RINGWIRE_ADAPTIVE_POLL_US=0 turns it off` }
    : { id: 'adaptive_poll', status: 'info', detail: `adaptive poll before sleeping: off (${a.source}); each wake-up of an idle vCPU is paid in full` };
}

export function doctor(): DoctorReport {
  const caps = capabilities();
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);

  add(caps.addon.available
    ? { id: 'addon', status: 'ok', detail: 'native addon loaded' }
    : { id: 'addon', status: 'missing', detail: caps.addon.reason ?? 'not loaded', remedy: 'reinstall ringwire (npm rebuild ringwire) with liburing-dev and cmake installed' });

  const u = caps.io_uring;
  add(u.available
    ? { id: 'io_uring', status: 'ok', detail: `io_uring usable (multishot recv ${u.multishotRecv}, multishot accept ${u.multishotAccept}, buffer rings ${u.providedBufferRings}, SEND_ZC ${u.sendZc}, bundles ${u.bundles}, FUTEX_WAIT ${u.futexWait}, SINGLE_ISSUER/DEFER_TASKRUN ${u.singleIssuerDeferTaskrun})` }
    : { id: 'io_uring', status: 'missing', detail: u.reason ?? 'unavailable', remedy: u.sysctlDisabled ? 'sysctl -w kernel.io_uring_disabled=0 (or run with the io_uring group); ringwire falls back to epoll' : 'use Linux 6.1+ and allow io_uring in seccomp; ringwire falls back to epoll' });
  if (u.wake) {
    const w = u.wake;
    const how = w.mode === 'ringfd' ? 'ring fd (COOP_TASKRUN; woken by task work)' : w.mode === 'eventfd' ? 'eventfd (DEFER_TASKRUN)' : 'none';
    const checked = w.attempts.filter((a) => a.passed).map((a) => `self-check passed: same thread ${a.sameThreadUs} µs, other thread ${a.crossThreadUs} µs`);
    if (!w.fallback) add({ id: 'io_uring.wake', status: 'ok', detail: `wake mode ${how}, ${checked.join('') || 'self-check passed'} (RINGWIRE_URING_WAKE=${w.requested})` });
    else
      add({
        id: 'io_uring.wake',
        status: 'warn',
        detail: `wake mode ${how} after a fallback: ${w.fallback}`,
        remedy: w.mode ? 'nothing to do: the working mode is in use (RINGWIRE_URING_WAKE selects another)' : 'io_uring cannot wake this loop reliably here; sockets use the epoll backend',
      });
  }
  if (u.available && !u.futexWait) add({ id: 'io_uring.futex', status: 'warn', detail: 'no io_uring FUTEX_WAIT (Linux 6.7+): ring waitAsync() uses a thread-pool fallback', remedy: 'upgrade to Linux 6.7+' });
  if (u.available && !u.bundles) add({ id: 'io_uring.bundles', status: 'info', detail: 'no recv/send bundles (Linux 6.10+): one completion per buffer' });

  for (const c of busyPollChecks(caps)) add(c);
  add(adaptivePollCheck(caps));

  add(caps.af_xdp.available
    ? { id: 'af_xdp', status: 'ok', detail: 'AF_XDP sockets and XDP programs usable' }
    : { id: 'af_xdp', status: 'missing', detail: caps.af_xdp.reason ?? 'unavailable', remedy: 'run as root or grant CAP_NET_ADMIN,CAP_NET_RAW,CAP_BPF (setcap or container --cap-add); the socket backend is used otherwise' });
  add(caps.bpf.available ? { id: 'bpf', status: 'ok', detail: 'bpf(BPF_PROG_LOAD) works' } : { id: 'bpf', status: 'missing', detail: caps.bpf.reason ?? 'unavailable', remedy: 'grant CAP_BPF (or run as root); check kernel.unprivileged_bpf_disabled' });
  add(caps.shm.available ? { id: 'shm', status: 'ok', detail: `/dev/shm writable, ${Math.round((caps.shm.freeBytes ?? 0) / 2 ** 20)} MiB free` } : { id: 'shm', status: 'missing', detail: caps.shm.reason ?? '', remedy: 'mount tmpfs on /dev/shm (mount -t tmpfs tmpfs /dev/shm)' });
  add(caps.hugepages.available
    ? { id: 'hugepages', status: 'ok', detail: `${caps.hugepages.free}/${caps.hugepages.total} huge pages of ${(caps.hugepages.pageSizeBytes ?? 0) / 1024} KiB free` }
    : { id: 'hugepages', status: 'warn', detail: caps.hugepages.reason ?? '', remedy: 'sysctl -w vm.nr_hugepages=256 (reserve 512 MiB of 2 MiB pages)' });
  const ml = caps.memlock.soft;
  add(ml === null || ml >= 64 * 2 ** 20
    ? { id: 'memlock', status: 'ok', detail: `RLIMIT_MEMLOCK ${ml === null ? 'unlimited' : `${ml / 2 ** 20} MiB`}` }
    : { id: 'memlock', status: 'warn', detail: `RLIMIT_MEMLOCK is ${ml / 2 ** 20} MiB`, remedy: 'ulimit -l unlimited (or LimitMEMLOCK=infinity in the systemd unit)' });
  const ev = caps.ef_vi;
  add(ev.available
    ? { id: 'ef_vi', status: 'ok', detail: 'ef_vi compiled in; ef_driver_open works' }
    : ev.compiled
      ? { id: 'ef_vi', status: 'missing', detail: `ef_vi compiled in but unusable: ${ev.reason}`, remedy: 'install and load Onload (onload_tool reload) on a host with a Solarflare/AMD adapter' }
      : { id: 'ef_vi', status: 'info', detail: ev.reason ?? 'not compiled' });
  const td = caps.tcpdirect;
  add(td.available
    ? { id: 'tcpdirect', status: 'ok', detail: `TCPDirect ${td.version} compiled in; a zf stack can be allocated` }
    : td.compiled
      ? { id: 'tcpdirect', status: 'missing', detail: `TCPDirect ${td.version} compiled in but unusable: ${td.reason}`, remedy: 'load Onload, set ZF_ATTR=interface=<ethX>, reserve huge pages (sysctl -w vm.nr_hugepages=...), use a TCPDirect-licensed adapter' }
      : { id: 'tcpdirect', status: 'info', detail: td.reason ?? 'not compiled' });

  const cpus = os.cpus();
  const isolated = read('/sys/devices/system/cpu/isolated') ?? '';
  const nohzFull = read('/sys/devices/system/cpu/nohz_full') ?? '';
  const governor = read('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor');
  add(isolated
    ? { id: 'cpu.isolation', status: 'ok', detail: `isolated CPUs: ${isolated}; nohz_full: ${nohzFull || 'none'}` }
    : { id: 'cpu.isolation', status: 'info', detail: `no isolated CPUs (${cpus.length} CPUs share the scheduler)`, remedy: 'boot with isolcpus=<cpus> nohz_full=<cpus> rcu_nocbs=<cpus> and pin latency-critical threads there' });
  if (governor && governor !== 'performance') add({ id: 'cpu.governor', status: 'warn', detail: `cpufreq governor is ${governor}`, remedy: 'cpupower frequency-set -g performance' });

  const sysctls: Record<string, string | null> = {};
  for (const s of SYSCTLS) sysctls[s.replace(/\//g, '.')] = read(`/proc/sys/${s}`);
  const busyPoll = Number(sysctls['net.core.busy_poll'] ?? 0);
  const busyRead = Number(sysctls['net.core.busy_read'] ?? 0);
  add(busyPoll || busyRead
    ? { id: 'net.busy_poll', status: 'ok', detail: `busy_poll=${busyPoll} busy_read=${busyRead}` }
    : { id: 'net.busy_poll', status: 'info', detail: 'busy polling off (net.core.busy_poll=0, busy_read=0)', remedy: 'sysctl -w net.core.busy_poll=50 net.core.busy_read=50 (or SO_BUSY_POLL per socket)' });
  for (const k of ['net.core.rmem_max', 'net.core.wmem_max']) {
    const v = Number(sysctls[k] ?? 0);
    add(v >= 4 * 2 ** 20
      ? { id: k, status: 'ok', detail: `${k}=${v}` }
      : { id: k, status: 'warn', detail: `${k}=${v}: socket buffers above ${v} bytes are silently capped`, remedy: `sysctl -w ${k}=16777216` });
  }

  const interrupts = (read('/proc/interrupts') ?? '').split('\n');
  const nics = list('/sys/class/net').filter((n) => n !== 'lo').sort().map((n) => nicReport(n, interrupts));
  const rfs = Number(sysctls['net.core.rps_sock_flow_entries'] ?? 0);
  for (const nic of nics) {
    const rpsOn = nic.rps.some((m) => /[1-9a-f]/i.test(m));
    add({
      id: `nic.${nic.name}`,
      status: 'info',
      detail: `${nic.rxQueues} RX / ${nic.txQueues} TX queues; IRQs ${nic.irqs.map((i) => `${i.irq}->${i.affinity}`).join(' ') || 'none found'}; RPS ${rpsOn ? 'on' : 'off'}; XPS ${nic.xps.some((m) => /[1-9a-f]/i.test(m)) ? 'on' : 'off'}; RFS ${rfs ? `on (${rfs} flows)` : 'off'}`,
      remedy: nic.rxQueues < cpus.length && !rpsOn ? `fewer RX queues than CPUs: echo <cpumask> > /sys/class/net/${nic.name}/queues/rx-0/rps_cpus (RPS) or pin IRQs near the consuming CPU` : undefined,
    });
  }

  return {
    capabilities: caps,
    cpus: { count: cpus.length, model: cpus[0]?.model ?? '?', isolated, nohzFull, governor },
    nics,
    sysctls,
    checks,
  };
}
