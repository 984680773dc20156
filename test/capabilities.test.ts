import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { capabilities } from '../lib/capabilities';

describe('capabilities()', () => {
  it('never throws and reports every facility with a reason when unavailable', () => {
    const c = capabilities({ refresh: true });
    for (const k of ['io_uring', 'af_xdp', 'bpf', 'shm', 'hugepages', 'ef_vi'] as const) {
      expect(typeof c[k].available).toBe('boolean');
      if (!c[k].available) expect(c[k].reason, k).toMatch(/\S/);
    }
    expect(c.kernel.release).toBe(os.release());
    expect(c.numa.nodes.length).toBeGreaterThan(0);
  });

  it('matches this machine: io_uring usable exactly when the kernel allows it', () => {
    const c = capabilities();
    const sysctl = fs.existsSync('/proc/sys/kernel/io_uring_disabled') ? Number(fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8')) : 0;
    const [maj, min] = os.release().split('.').map(Number);
    const kernelNew = maj > 6 || (maj === 6 && min >= 1);
    const seccomp = /^Seccomp:\s+2/m.test(fs.readFileSync('/proc/self/status', 'utf8'));
    if (sysctl === 0 && kernelNew && !seccomp) {
      expect(c.io_uring.available).toBe(true);
      expect(c.io_uring.multishotRecv).toBe(true);
      expect(c.io_uring.multishotAccept).toBe(true);
      expect(c.io_uring.providedBufferRings).toBe(true);
      expect(c.io_uring.sendZc).toBe(true);
      expect(c.io_uring.futexWait).toBe(maj > 6 || min >= 7);
      expect(c.io_uring.bundles).toBe(maj > 6 || min >= 10);
    } else {
      expect(c.io_uring.reason).toMatch(/\S/);
    }
  });

  it('matches this machine: AF_XDP and BPF usable as root', () => {
    const c = capabilities();
    if (process.getuid?.() === 0) {
      expect(c.af_xdp.capNetAdmin).toBe(true);
      expect(c.af_xdp.available).toBe(true);
      expect(c.bpf.available).toBe(true);
    } else {
      expect(c.af_xdp.available || !!c.af_xdp.reason).toBe(true);
    }
  });

  it('reports hugepages and memlock as /proc and getrlimit see them', () => {
    const c = capabilities();
    const mi = fs.readFileSync('/proc/meminfo', 'utf8');
    const total = Number(/HugePages_Total:\s+(\d+)/.exec(mi)?.[1] ?? 0);
    expect(c.hugepages.total).toBe(total);
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const m = /Max locked memory\s+(\S+)\s+(\S+)/.exec(limits)!;
    expect(c.memlock.soft).toBe(m[1] === 'unlimited' ? null : Number(m[1]));
    expect(c.ef_vi.compiled).toBe(false);
    expect(c.ef_vi.reason).toMatch(/not compiled/);
  });
});
