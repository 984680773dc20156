// `ringwire doctor`: the facility names --require accepts, the text report,
// and the argument handling. The report itself is the public doctor()
// (lib/doctor.ts); only the command's presentation lives here.
import type { Capabilities } from '../capabilities';
import { doctor, type DoctorReport, type Status } from '../doctor';

const FACILITIES: Record<string, (c: Capabilities) => boolean> = {
  io_uring: (c) => c.io_uring.available,
  af_xdp: (c) => c.af_xdp.available,
  bpf: (c) => c.bpf.available,
  shm: (c) => c.shm.available,
  hugepages: (c) => c.hugepages.available,
  ef_vi: (c) => c.ef_vi.available,
  tcpdirect: (c) => c.tcpdirect.available,
  futex_wait: (c) => c.io_uring.futexWait,
  send_zc: (c) => c.io_uring.sendZc,
};

export const facilityNames = Object.keys(FACILITIES);

/** Names from `required` that are missing here; throws on an unknown name. */
export function missingFacilities(required: string[], caps: Capabilities): string[] {
  for (const r of required) {
    if (!FACILITIES[r]) throw new RangeError(`unknown facility '${r}' (known: ${facilityNames.join(', ')})`);
  }
  return required.filter((r) => !FACILITIES[r](caps));
}

export function formatReport(rep: DoctorReport): string {
  const mark: Record<Status, string> = { ok: ' ok ', warn: 'warn', missing: 'MISS', info: 'info' };
  const lines = [`ringwire doctor — Linux ${rep.capabilities.kernel.release}, ${rep.cpus.count} CPUs (${rep.cpus.model}), NUMA nodes ${rep.capabilities.numa.nodes.join(',')}`];
  for (const c of rep.checks) {
    lines.push(`[${mark[c.status]}] ${c.id}: ${c.detail}`);
    if (c.remedy && c.status !== 'ok') lines.push(`       → ${c.remedy}`);
  }
  return lines.join('\n');
}

/** `ringwire doctor [--json] [--require a,b]`; `usage` reports a bad argument (exit code 2). */
export function runDoctor(args: string[], usage: (msg: string) => number): number {
  let json = false;
  let required: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--require') {
      const v = args[++i];
      if (!v) return usage('--require needs a comma-separated list');
      required = v.split(',').map((s) => s.trim()).filter(Boolean);
    } else if (a.startsWith('--require=')) required = a.slice(10).split(',').filter(Boolean);
    else return usage(`unknown option ${a}`);
  }
  const rep = doctor();
  let missing: string[];
  try {
    missing = missingFacilities(required, rep.capabilities);
  } catch (e) {
    return usage((e as Error).message);
  }
  if (json) process.stdout.write(`${JSON.stringify({ ...rep, required, missing }, null, 2)}\n`);
  else {
    process.stdout.write(`${formatReport(rep)}\n`);
    if (missing.length) process.stdout.write(`required but missing: ${missing.join(', ')}\n`);
  }
  return missing.length ? 1 : 0;
}
