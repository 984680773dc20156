// AF_XDP and BPF: the probe's AF_XDP socket and trivial program load, and
// the capabilities attaching a program needs.
import type { Capabilities } from '../../capabilities';
import { EACCES, EAFNOSUPPORT, EPERM } from '../errno';
import { CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, errName, hasCap, type ProbeContext } from './util';

export function afXdpCapability({ p, noAddon }: ProbeContext): Capabilities['af_xdp'] {
  const capNetAdmin = hasCap(p, CAP_NET_ADMIN);
  const capBpf = hasCap(p, CAP_BPF) || hasCap(p, CAP_SYS_ADMIN);
  const capNetRaw = hasCap(p, CAP_NET_RAW);
  let reason: string | undefined;
  if (!p) reason = noAddon;
  else if (p.afXdpSocket < 0) reason = `socket(AF_XDP) failed (${errName(p.afXdpSocket)})${p.afXdpSocket === EPERM || p.afXdpSocket === EACCES ? ': needs CAP_NET_RAW' : p.afXdpSocket === EAFNOSUPPORT ? ': kernel built without CONFIG_XDP_SOCKETS' : ''}`;
  else if (!capNetAdmin) reason = 'CAP_NET_ADMIN is missing (needed to attach an XDP program)';
  else if (p.bpfProgLoad < 0) reason = `BPF program load failed (${errName(p.bpfProgLoad)})`;
  return {
    available: !!p && p.afXdpSocket === 0 && capNetAdmin && p.bpfProgLoad === 0,
    reason,
    socket: p ? errName(p.afXdpSocket) : 'unknown',
    capNetAdmin,
    capBpf,
    capNetRaw,
  };
}

export function bpfCapability({ p, noAddon }: ProbeContext): Capabilities['bpf'] {
  const capBpf = hasCap(p, CAP_BPF) || hasCap(p, CAP_SYS_ADMIN);
  return {
    available: !!p && p.bpfProgLoad === 0,
    reason: !p ? noAddon : p.bpfProgLoad < 0 ? `BPF_PROG_LOAD failed (${errName(p.bpfProgLoad)})${capBpf ? '' : ': needs CAP_BPF or CAP_SYS_ADMIN'}` : undefined,
    progLoad: p ? errName(p.bpfProgLoad) : 'unknown',
  };
}
