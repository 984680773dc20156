// Summaries of repeated runs (median and best), ratios against the
// workload's baseline in the same run, and the printed table.
import type { Figures, Workload } from './workloads';

export interface RunRecord {
  workload: string;
  impl: string;
  rep: number;
  ok: boolean;
  error?: string;
  figures?: Figures;
  steal_pct: number | null;
  busy_pct: number | null;
  server?: Record<string, unknown>;
  client?: Record<string, unknown>;
}

export type Summary = Partial<Record<keyof Figures, number>>;

export interface Cell {
  workload: string;
  impl: string;
  status: 'ok' | 'failed' | 'unavailable' | 'pending';
  reason?: string;
  reps: number;
  failures: number;
  median: Summary;
  best: Summary;
  /** impl / baseline of the medians (metric: higher is better; the rest: lower is better). */
  ratio: Partial<Record<'metric' | 'cpu_per_op_ns' | 'p50_us' | 'p99_us', number>>;
  steal_pct: number | null;
  /** Non-idle share of all CPUs during the runs (mean): others' load shows here. */
  busy_pct: number | null;
  /** Figures that say something is wrong rather than slow (flagAnomalies). */
  anomalies?: string[];
  runs: RunRecord[];
}

/** A latency row whose p99 exceeds its p50 by more than this is flagged. */
export const P99_OVER_P50_LIMIT = 20;
/** A ringwire row below this fraction of the node built-in's rate is flagged. */
export const VS_NODE_LIMIT = 0.2;

/**
 * Marks what no tuning explains: a p99 more than 20x its p50 (stalls, late
 * or lost wake-ups) and a ringwire row below 0.2x Node's own in the same
 * run. Each entry ends with where to look.
 */
export function flagAnomalies(cell: Cell, w: Workload, node: Cell | undefined): string[] {
  const out: string[] = [];
  if (cell.status !== 'ok') return out;
  const p50 = cell.median.p50_us;
  const p99 = cell.median.p99_us;
  const wake = cell.runs.map((r) => r.server?.wake).find((x) => typeof x === 'string');
  // A machine busy with others' work stretches every tail: say so first.
  const busy = cell.busy_pct !== null && cell.busy_pct >= 90 ? `; the machine was ${cell.busy_pct.toFixed(0)}% busy during this row (others' load stretches tails)` : '';
  const hint = busy + (cell.impl.startsWith('ringwire')
    ? `; check \`ringwire doctor\` (io_uring.wake)${wake ? `, wake mode was ${wake}` : ''}, and compare the ringwire-epoll row`
    : '');
  if (w.latency && p50 !== undefined && p99 !== undefined && p50 > 0 && p99 > P99_OVER_P50_LIMIT * p50) {
    const lat = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} ms` : `${fmtUs(v)} µs`);
    out.push(`p99 ${lat(p99)} is ${(p99 / p50).toFixed(0)}x its p50 (${lat(p50)})${hint}`);
  }
  const a = cell.median.metric;
  const b = node?.status === 'ok' ? node.median.metric : undefined;
  if (cell.impl.startsWith('ringwire') && a !== undefined && b !== undefined && b > 0 && a < VS_NODE_LIMIT * b) {
    out.push(`${fmtMetric(w, a)} ${w.metric.label} is ${(a / b).toFixed(2)}x the node built-in's ${fmtMetric(w, b)}${hint}`);
  }
  return out;
}

/**
 * The comparisons the project states its targets in (README, Benchmarks):
 * each drop-in and the batch API against Node's built-in, io_uring against
 * the epoll backend, busy polling against the C busy poller.
 */
export const PAIRS: readonly (readonly [string, string])[] = [
  ['ringwire-dgram', 'node'],
  ['ringwire-net', 'node'],
  ['ringwire', 'node'],
  ['ringwire', 'ringwire-epoll'],
  ['ringwire-busy', 'c-busy'],
];

/** One pair's per-rep ratios of the metric, summarized. */
export interface Paired {
  impl: string;
  vs: string;
  /** Median of the per-rep ratios impl / vs. */
  median: number;
  min: number;
  max: number;
  /** Reps where both runs succeeded. */
  n: number;
}

/**
 * Ratios taken rep by rep. The reps are interleaved, so both runs of a rep
 * ran within seconds of each other: a machine whose speed drifts between
 * reps (these VMs: up to ±30 %) moves both, and the median of the per-rep
 * ratios keeps what a ratio of medians can lose to one slow stretch.
 */
export function pairedRatios(cells: Cell[]): Paired[] {
  const out: Paired[] = [];
  for (const [impl, vs] of PAIRS) {
    const a = cells.find((c) => c.impl === impl && c.status === 'ok');
    const b = cells.find((c) => c.impl === vs && c.status === 'ok');
    if (!a || !b) continue;
    const byRep = new Map<number, number>();
    for (const r of b.runs) if (r.ok && r.figures && r.figures.metric > 0) byRep.set(r.rep, r.figures.metric);
    const xs: number[] = [];
    for (const r of a.runs) {
      const d = byRep.get(r.rep);
      if (r.ok && r.figures && Number.isFinite(r.figures.metric) && d !== undefined) xs.push(r.figures.metric / d);
    }
    if (xs.length) out.push({ impl, vs, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
  }
  return out;
}

const fmtPaired = (p: Paired): string => `${p.impl} / ${p.vs} ${p.median.toFixed(2)}x (${p.min.toFixed(2)}-${p.max.toFixed(2)}, ${p.n} reps)`;

const KEYS: (keyof Figures)[] = ['metric', 'p50_us', 'p99_us', 'p999_us', 'max_us', 'ops', 'server_cpu_s', 'cpu_per_op_ns', 'sent', 'received', 'drop_pct'];
// For `best`: which direction is better per key.
const HIGHER_BETTER = new Set<keyof Figures>(['metric', 'ops', 'received']);

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Median and best of each figure over the successful runs. */
export function summarize(runs: RunRecord[]): { median: Summary; best: Summary } {
  const med: Summary = {};
  const best: Summary = {};
  const ok = runs.filter((r) => r.ok && r.figures);
  for (const k of KEYS) {
    const xs = ok.map((r) => r.figures![k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (!xs.length) continue;
    med[k] = median(xs);
    best[k] = HIGHER_BETTER.has(k) ? Math.max(...xs) : Math.min(...xs);
  }
  return { median: med, best };
}

export function ratios(cell: Cell, base: Cell | undefined): Cell['ratio'] {
  const out: Cell['ratio'] = {};
  if (!base || base.status !== 'ok' || cell.status !== 'ok') return out;
  for (const k of ['metric', 'cpu_per_op_ns', 'p50_us', 'p99_us'] as const) {
    const a = cell.median[k];
    const b = base.median[k];
    if (a !== undefined && b !== undefined && b > 0) out[k] = a / b;
  }
  return out;
}

/** 12345 -> '12.3k', 1.2e6 -> '1.20M'. */
export function fmtCount(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

export function fmtMetric(w: Workload, v: number | undefined): string {
  if (v === undefined) return '-';
  return w.metric.unit === 'GB/s' ? v.toFixed(2) : fmtCount(v);
}

export function fmtUs(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  if (v >= 10_000) return `${(v / 1000).toFixed(1)}ms`;
  if (v >= 100) return v.toFixed(0);
  return v.toFixed(1);
}

export function fmtNs(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} ms`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)} µs`;
  return `${v.toFixed(0)} ns`;
}

const fmtRatio = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(2)}x`);
const fmtPct = (v: number | undefined | null): string => (v === undefined || v === null ? '-' : `${v.toFixed(1)}%`);

function pad(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()).join('\n');
}

/** One block per workload. */
export function formatTable(workloads: Workload[], cells: Cell[]): string {
  const out: string[] = [];
  for (const w of workloads) {
    const mine = cells.filter((c) => c.workload === w.id);
    if (!mine.length) continue;
    const head = ['impl', `${w.metric.label} (median)`, 'best', `vs ${w.baseline}`];
    if (w.latency) head.push('p50 µs', 'p99 µs', 'p99.9 µs');
    if (w.sink && w.client === 'udp-blast') head.push('drop');
    head.push(`srv CPU/${w.op}`, `CPU vs ${w.baseline}`, 'steal', 'busy');
    const rows = [head];
    for (const c of mine) {
      if (c.status !== 'ok') {
        rows.push([c.impl, c.status === 'unavailable' ? 'n/a' : 'FAILED', ...head.slice(2).map(() => '')]);
        continue;
      }
      const r = [c.anomalies?.length ? `${c.impl} !` : c.impl, fmtMetric(w, c.median.metric), fmtMetric(w, c.best.metric), fmtRatio(c.ratio.metric)];
      if (w.latency) r.push(fmtUs(c.median.p50_us), fmtUs(c.median.p99_us), fmtUs(c.median.p999_us));
      if (w.sink && w.client === 'udp-blast') r.push(fmtPct(c.median.drop_pct));
      r.push(fmtNs(c.median.cpu_per_op_ns), fmtRatio(c.ratio.cpu_per_op_ns), fmtPct(c.steal_pct), c.busy_pct === null ? '-' : `${c.busy_pct.toFixed(0)}%`);
      rows.push(r);
    }
    out.push(`${w.title}  [${w.id}]`);
    out.push(pad(rows));
    const paired = pairedRatios(mine);
    if (paired.length) out.push(`  per-rep ratios, median (range): ${paired.map(fmtPaired).join('; ')}`);
    const notes = mine.filter((c) => c.status !== 'ok' && c.reason).map((c) => `  ${c.impl}: ${c.reason}`);
    for (const c of mine) for (const a of c.anomalies ?? []) notes.push(`  ! ${c.impl}: ANOMALY: ${a}`);
    if (notes.length) out.push(...notes);
    out.push('');
  }
  return out.join('\n');
}

/** A Markdown table of the headline figures (for the README). */
export function formatMarkdown(workloads: Workload[], cells: Cell[]): string {
  const lines = [
    '| workload | impl | median | vs baseline | p50 / p99 µs | server CPU per op | drop |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const w of workloads) {
    for (const c of cells.filter((x) => x.workload === w.id)) {
      if (c.status !== 'ok') {
        lines.push(`| ${w.id} | ${c.impl} | ${c.status === 'unavailable' ? 'n/a' : 'failed'} | | | | |`);
        continue;
      }
      const lat = w.latency ? `${fmtUs(c.median.p50_us)} / ${fmtUs(c.median.p99_us)}` : '';
      const drop = w.client === 'udp-blast' ? fmtPct(c.median.drop_pct) : '';
      const flag = c.anomalies?.length ? ` ⚠ ${c.anomalies.join('; ').replace(/\|/g, '/')}` : '';
      lines.push(`| ${w.id} | ${c.impl}${flag} | ${fmtMetric(w, c.median.metric)} ${w.metric.label} | ${fmtRatio(c.ratio.metric)} | ${lat} | ${fmtNs(c.median.cpu_per_op_ns)} | ${drop} |`);
    }
  }
  const pairs = workloads.flatMap((w) => pairedRatios(cells.filter((c) => c.workload === w.id)).map((p) => ({ w, p })));
  if (pairs.length) {
    lines.push('', 'Per-rep ratios of the metric (reps interleaved; median, range):', '', '| workload | pair | median | range | reps |', '| --- | --- | ---: | ---: | ---: |');
    for (const { w, p } of pairs) lines.push(`| ${w.id} | ${p.impl} / ${p.vs} | ${p.median.toFixed(2)}x | ${p.min.toFixed(2)}-${p.max.toFixed(2)} | ${p.n} |`);
  }
  return lines.join('\n');
}
