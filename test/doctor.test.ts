import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const cli = path.resolve(__dirname, '..', 'dist', 'cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('ringwire doctor', () => {
  it('prints a report with a remedy line for every problem', () => {
    const r = run('doctor');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/io_uring/);
    const lines = r.stdout.split('\n');
    lines.forEach((l, i) => {
      if (/^\[(warn|MISS)\]/.test(l)) expect(lines[i + 1], l).toMatch(/^\s+→ \S/);
    });
  });

  it('--json agrees with the machine and lists NICs, sysctls and CPUs', () => {
    const r = run('doctor', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.capabilities.io_uring.available).toBe(true);
    if (process.getuid?.() === 0) expect(j.capabilities.af_xdp.available).toBe(true);
    expect(j.cpus.count).toBe(require('node:os').cpus().length);
    expect(j.sysctls).toHaveProperty(['net.core.busy_poll']);
    expect(j.sysctls).toHaveProperty(['net.core.rmem_max']);
    expect(Array.isArray(j.nics)).toBe(true);
    for (const n of j.nics) expect(n.rxQueues).toBeGreaterThanOrEqual(0);
  });

  it('--require exits non-zero when a named facility is missing', () => {
    expect(run('doctor', '--require', 'io_uring').status).toBe(0);
    // ef_vi is never compiled in the default build, so it is always missing.
    const r = run('doctor', '--require', 'io_uring,ef_vi');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/required but missing: ef_vi/);
  });

  it('bad arguments get the usage text and exit code 2', () => {
    for (const args of [['doctor', '--bogus'], ['doctor', '--require', 'warp_drive'], ['frobnicate'], []]) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/usage: ringwire/);
    }
  });
});
