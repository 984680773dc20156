// Helpers every facility's verdict uses: reading /proc and /sys, naming a
// probe result, the capability bits of the probe.
import * as fs from 'node:fs';
import { systemError } from '../errors';
import type { NativeProbeResult } from '../native/probe';

export function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** A number from a /proc or /sys file, null if absent. */
export function sysNum(f: string): number | null {
  const t = readText(f);
  return t === null ? null : Number(t.trim());
}

/** 'ok' for a result >= 0, else the errno's name. */
export function errName(ret: number): string {
  return ret >= 0 ? 'ok' : systemError(ret, 'probe').code;
}

/** A CPU or node list ('0-3,8') as numbers. */
export function parseRange(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

export function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (readText('/proc/meminfo') ?? '').split('\n')) {
    const m = /^(\S+):\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export function limit(v: number): number | null {
  // RLIM_INFINITY arrives as 2^64-1, beyond a double's exact range.
  return v >= 2 ** 63 ? null : v;
}

export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;
export const CAP_SYS_ADMIN = 21;
export const CAP_BPF = 39;

/** Whether the effective set the probe read has capability `n` (false without a probe). */
export function hasCap(p: NativeProbeResult | null, n: number): boolean {
  const lo = p ? p.capEffectiveLo : 0;
  const hi = p ? p.capEffectiveHi : 0;
  return n < 32 ? ((lo >>> n) & 1) === 1 : ((hi >>> (n - 32)) & 1) === 1;
}

/** What every facility's verdict reads: the probe (null without an addon) and why it is missing. */
export interface ProbeContext {
  p: NativeProbeResult | null;
  /** Why there is no probe (addon not loaded, or the probe threw). */
  noAddon: string | undefined;
}
