// ef_vi: compiled in (RINGWIRE_EFVI_ROOT) and the driver opens.
import type { Capabilities } from '../../capabilities';
import { ENOENT } from '../errno';
import { errName, type ProbeContext } from './util';

export function efviCapability({ p, noAddon }: ProbeContext): Capabilities['ef_vi'] {
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
