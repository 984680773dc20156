// A self-contained SVG of a comparison: latency percentiles per
// implementation (log scale) and throughput bars per workload. Hand-written
// markup, no dependencies.
import type { Cell } from './report';
import { fmtMetric } from './report';
import type { Workload } from './workloads';

const COLORS: Record<string, string> = {
  node: '#7f7f7f',
  'c-epoll': '#1f77b4',
  'c-uring': '#17becf',
  'c-busy': '#9467bd',
  ringwire: '#d62728',
  'ringwire-epoll': '#ff7f0e',
  'ringwire-ringfd': '#e377c2',
  'ringwire-eventfd': '#bcbd22',
  'ringwire-nopoll': '#7f7f7f',
  'ringwire-busy': '#17becf',
  'ringwire-dgram': '#bcbd22',
  'ringwire-net': '#2ca02c',
};
const color = (impl: string): string => COLORS[impl] ?? '#444444';
// Anomalous rows (report.ts flagAnomalies): a warning sign and red label,
// the reasons in a tooltip.
const rowLabel = (c: Cell): string => (c.anomalies?.length ? `⚠ ${c.impl}` : c.impl);
const flagFill = (c: Cell): string => (c.anomalies?.length ? ' fill="#c00000"' : '');

const WIDTH = 960;
const LABEL_W = 150;
const PLOT_X = LABEL_W + 10;
const PLOT_W = WIDTH - PLOT_X - 240;
const FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const r1 = (x: number): string => (Math.round(x * 10) / 10).toString();

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${r1(x)}" y="${r1(y)}" ${attrs}>${esc(s)}</text>`;
}

/** A latency in µs with its unit: '23.4 µs', '1.85 ms'. */
export function fmtLatency(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '-';
  if (us < 1000) return `${us < 100 ? us.toFixed(1) : us.toFixed(0)} µs`;
  const ms = us / 1000;
  return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
}

const tickLabel = (us: number): string => (us < 1000 ? `${us} µs` : us < 1e6 ? `${us / 1000} ms` : `${us / 1e6} s`);

/** 1-2-5 ticks between lo and hi (both > 0), fewer when the range is wide. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const decades = Math.log10(hi / lo);
  const steps = decades <= 2.5 ? [1, 2, 5] : decades <= 4.5 ? [1, 3] : [1];
  for (let d = Math.floor(Math.log10(lo)); d <= Math.ceil(Math.log10(hi)); d++) {
    for (const m of steps) {
      const v = Number((m * 10 ** d).toPrecision(3));
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

function latencyPanel(w: Workload, cells: Cell[], y0: number): { svg: string; height: number } {
  const ok = cells.filter((c) => c.status === 'ok' && c.median.p50_us !== undefined);
  if (!ok.length) return { svg: '', height: 0 };
  const vals = ok.flatMap((c) => [c.median.p50_us, c.median.p99_us, c.median.p999_us]).filter((v): v is number => typeof v === 'number' && v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...vals) / 1.2));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...vals) * 1.2));
  const x = (v: number) => PLOT_X + (PLOT_W * (Math.log10(v) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const rowH = 30;
  const parts: string[] = [];
  parts.push(text(10, y0 + 16, `Latency, median of runs: ${w.title}`, 'font-size="14" font-weight="600"'));
  const top = y0 + 28;
  const plotH = ok.length * rowH;
  for (const t of logTicks(lo, hi)) {
    parts.push(`<line x1="${r1(x(t))}" y1="${top}" x2="${r1(x(t))}" y2="${top + plotH}" stroke="#e5e5e5"/>`);
    parts.push(text(x(t), top + plotH + 13, tickLabel(t), 'font-size="10" text-anchor="middle" fill="#666"'));
  }
  ok.forEach((c, i) => {
    const y = top + i * rowH;
    parts.push(text(LABEL_W, y + 18, rowLabel(c), `font-size="12" text-anchor="end"${flagFill(c)}`));
    const bars: [string, number | undefined, number][] = [['p50', c.median.p50_us, 1], ['p99', c.median.p99_us, 0.6], ['p99.9', c.median.p999_us, 0.3]];
    bars.forEach(([name, v, op], k) => {
      if (v === undefined || v <= 0) return;
      const by = y + 3 + k * 8;
      parts.push(`<rect x="${PLOT_X}" y="${by}" width="${r1(Math.max(1, x(v) - PLOT_X))}" height="7" fill="${color(c.impl)}" fill-opacity="${op}"><title>${esc(`${c.impl} ${name} ${fmtLatency(v)}`)}</title></rect>`);
    });
    const label = [c.median.p50_us, c.median.p99_us, c.median.p999_us].filter((v) => v !== undefined).map(fmtLatency).join(' / ');
    parts.push(text(PLOT_X + PLOT_W + 6, y + 18, label, 'font-size="11" fill="#333"'));
  });
  parts.push(text(PLOT_X + PLOT_W + 6, top - 4, ok.some((c) => c.median.p999_us !== undefined) ? 'p50 / p99 / p99.9' : 'p50 / p99', 'font-size="10" fill="#666"'));
  return { svg: parts.join('\n'), height: 28 + plotH + 26 };
}

function throughputPanel(w: Workload, cells: Cell[], y0: number): { svg: string; height: number } {
  const ok = cells.filter((c) => c.status === 'ok' && c.median.metric !== undefined);
  const shown = cells.filter((c) => c.status === 'ok' || c.status === 'failed');
  if (!shown.length) return { svg: '', height: 0 };
  const max = Math.max(1e-9, ...ok.map((c) => c.best.metric ?? c.median.metric ?? 0));
  const x = (v: number) => PLOT_X + (PLOT_W * v) / max;
  const rowH = 22;
  const parts: string[] = [];
  parts.push(text(10, y0 + 16, `${w.metric.label}, median (tick: best): ${w.title}`, 'font-size="14" font-weight="600"'));
  const top = y0 + 26;
  shown.forEach((c, i) => {
    const y = top + i * rowH;
    parts.push(text(LABEL_W, y + 15, rowLabel(c), `font-size="12" text-anchor="end"${flagFill(c)}`));
    if (c.status !== 'ok' || c.median.metric === undefined) {
      parts.push(text(PLOT_X + 4, y + 15, 'failed', 'font-size="11" fill="#b00"'));
      return;
    }
    const v = c.median.metric;
    parts.push(`<rect x="${PLOT_X}" y="${y + 3}" width="${r1(Math.max(1, x(v) - PLOT_X))}" height="15" fill="${color(c.impl)}"${c.impl === w.baseline ? ' stroke="#000" stroke-width="1"' : ''}><title>${esc(`${c.impl}: ${fmtMetric(w, v)} ${w.metric.label}`)}</title></rect>`);
    if (c.best.metric !== undefined) parts.push(`<line x1="${r1(x(c.best.metric))}" y1="${y + 1}" x2="${r1(x(c.best.metric))}" y2="${y + 20}" stroke="#000" stroke-width="1.5"/>`);
    const ratio = c.ratio.metric !== undefined && c.impl !== w.baseline ? ` (${c.ratio.metric.toFixed(2)}x ${w.baseline})` : '';
    const drop = w.client === 'udp-blast' && c.median.drop_pct !== undefined ? `, drop ${c.median.drop_pct.toFixed(1)}%` : '';
    parts.push(text(PLOT_X + PLOT_W + 6, y + 15, `${fmtMetric(w, v)}${ratio}${drop}`, 'font-size="11" fill="#333"'));
  });
  return { svg: parts.join('\n'), height: 26 + shown.length * rowH + 12 };
}

function fmtNsShort(ns: number): string {
  return ns >= 1e4 ? `${(ns / 1e3).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;
}

/** Server CPU time per operation (lower is better). */
function cpuPanel(w: Workload, cells: Cell[], y0: number): { svg: string; height: number } {
  const ok = cells.filter((c) => c.status === 'ok' && c.median.cpu_per_op_ns !== undefined);
  if (!ok.length) return { svg: '', height: 0 };
  const max = Math.max(...ok.map((c) => c.median.cpu_per_op_ns!));
  const x = (v: number) => PLOT_X + (PLOT_W * v) / max;
  const rowH = 22;
  const parts: string[] = [];
  parts.push(text(10, y0 + 16, `Server CPU per ${w.op} (user + sys), median, lower is better [${w.id}]`, 'font-size="14" font-weight="600"'));
  const top = y0 + 26;
  ok.forEach((c, i) => {
    const y = top + i * rowH;
    const v = c.median.cpu_per_op_ns!;
    parts.push(text(LABEL_W, y + 15, c.impl, 'font-size="12" text-anchor="end"'));
    parts.push(`<rect x="${PLOT_X}" y="${y + 3}" width="${r1(Math.max(1, x(v) - PLOT_X))}" height="15" fill="${color(c.impl)}" fill-opacity="0.75"${c.impl === w.baseline ? ' stroke="#000" stroke-width="1"' : ''}/>`);
    const ratio = c.ratio.cpu_per_op_ns !== undefined && c.impl !== w.baseline ? ` (${c.ratio.cpu_per_op_ns.toFixed(2)}x ${w.baseline})` : '';
    parts.push(text(PLOT_X + PLOT_W + 6, y + 15, `${fmtNsShort(v)}${ratio}`, 'font-size="11" fill="#333"'));
  });
  return { svg: parts.join('\n'), height: 26 + ok.length * rowH + 12 };
}

export interface ChartMeta {
  title: string;
  subtitle: string;
}

export function renderSvg(workloads: Workload[], cells: Cell[], meta: ChartMeta): string {
  const body: string[] = [];
  let y = 50;
  const add = (p: { svg: string; height: number }) => {
    if (!p.height) return;
    body.push(p.svg);
    y += p.height + 8;
  };
  for (const w of workloads) {
    const mine = cells.filter((c) => c.workload === w.id);
    if (!mine.length) continue;
    if (w.latency) add(latencyPanel(w, mine, y));
  }
  for (const w of workloads) {
    const mine = cells.filter((c) => c.workload === w.id);
    if (!mine.length) continue;
    add(throughputPanel(w, mine, y));
    // Receive cost is the point of the sink row.
    if (w.client === 'udp-blast') add(cpuPanel(w, mine, y));
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(10, 22, meta.title, 'font-size="17" font-weight="700"'),
    text(10, 40, meta.subtitle, 'font-size="11" fill="#555"'),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
