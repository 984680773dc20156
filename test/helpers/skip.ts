// Skips that say why: a missing facility is reported, never a silent pass.
import { capabilities } from '../../lib/capabilities';

export function needs(facility: 'io_uring' | 'af_xdp' | 'bpf' | 'hugepages' | 'futexWait' | 'root'): string | undefined {
  const c = capabilities();
  switch (facility) {
    case 'io_uring':
      return c.io_uring.available ? undefined : `io_uring unavailable: ${c.io_uring.reason}`;
    case 'futexWait':
      return c.io_uring.futexWait ? undefined : 'io_uring FUTEX_WAIT unavailable (Linux 6.7+)';
    case 'af_xdp':
      return c.af_xdp.available ? undefined : `AF_XDP unavailable: ${c.af_xdp.reason}`;
    case 'bpf':
      return c.bpf.available ? undefined : `BPF unavailable: ${c.bpf.reason}`;
    case 'hugepages':
      return c.hugepages.available ? undefined : `huge pages unavailable: ${c.hugepages.reason}`;
    case 'root':
      return process.getuid?.() === 0 ? undefined : 'needs root (network namespaces)';
  }
}

/** describe/it wrapper: runs when `reason` is undefined, else skips and prints why. */
export function skipReason(reason: string | undefined): boolean {
  if (reason) process.stderr.write(`[skip] ${reason}\n`);
  return !!reason;
}
