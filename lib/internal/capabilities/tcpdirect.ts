// TCPDirect: compiled in (RINGWIRE_TCPDIRECT_ROOT), zf_init() and a
// zf_stack_alloc() succeed.
import type { Capabilities } from '../../capabilities';
import { ENODEV, ENOENT, ENOKEY } from '../errno';
import { hasTcpdirect, native } from '../native';
import { errName, type ProbeContext } from './util';

/** Why zf_stack_alloc() failed, in the words a user can act on. */
export function tcpdirectReason(step: 'zf_init' | 'zf_stack_alloc', r: number): string {
  const name = errName(r);
  if (r === ENOKEY()) return `${step} failed (ENOKEY): the adapter is not licensed for TCPDirect`;
  if (r === ENOENT && step === 'zf_init') return 'zf_init failed (ENOENT): Onload is not installed here (no libefcp.so.1, its control plane library) or its driver is not loaded';
  if (r === ENOENT) return `${step} failed (ENOENT): no /dev/onload, the Onload driver is not loaded`;
  if (r === ENODEV) return `${step} failed (ENODEV): ZF_ATTR names no usable Solarflare/AMD interface (ZF_ATTR=interface=<ethX>)`;
  return `${step} failed (${name})`;
}

export function tcpdirectCapability({ p, noAddon }: ProbeContext): Capabilities['tcpdirect'] {
  if (!p) return { available: false, compiled: false, version: null, stackAlloc: 'unknown', reason: noAddon };
  const n = native();
  if (!hasTcpdirect(n)) {
    return { available: false, compiled: false, version: null, stackAlloc: 'not compiled', reason: 'not compiled in (rebuild: npx cmake-js compile --CDRINGWIRE_TCPDIRECT_ROOT=/usr, the TCPDirect install prefix)' };
  }
  const r = n.tcpdirectProbe();
  r.version = r.version.trim();  // zf_version_short() pads with build info
  if (r.init < 0) return { available: false, compiled: true, version: r.version, stackAlloc: 'not tried', reason: tcpdirectReason('zf_init', r.init) };
  return { available: r.stack === 0, compiled: true, version: r.version, stackAlloc: errName(r.stack), reason: r.stack < 0 ? tcpdirectReason('zf_stack_alloc', r.stack) : undefined };
}
