// `ringwire perf compare`: every workload x implementation, repetitions
// interleaved (rep 1 of every row, then rep 2, ...) so drift on a shared VM
// spreads over all rows alike; medians, best runs, ratios to the baseline
// of the same run, server CPU per operation and host steal time.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../internal/native';
import type { CompareArgs } from './args';
import { type BenchBins, benchBins } from './bins';
import { type CpuTimes, busyPercent, machineFacts, readCpuTimes, stealPercent } from './machine';
import { Child, killAll, lastJson, lastLines, sleep } from './proc';
import { type Cell, type RunRecord, flagAnomalies, formatMarkdown, formatTable, type Paired, pairedRatios, ratios, summarize } from './report';
import { cServerArgs, unavailable } from './server';
import { renderSvg } from './svg';
import { WORKLOADS, type Workload, extractFigures, parseWrk, rowId } from './workloads';

export interface CompareSettings {
  quick: boolean;
  reps: number;
  duration_s: number;
  warmup_s: number;
  cpus: [number, number];
  filter: string | null;
  impls: string[] | null;
}

export interface CompareResult {
  schema: 'ringwire-perf-compare/1';
  command: string;
  started: string;
  finished: string;
  elapsed_s: number;
  settings: CompareSettings;
  machine: ReturnType<typeof machineFacts> & { steal_pct: number | null; busy_pct: number | null; loadavg_end: number[] };
  workloads: { id: string; title: string; placement: string; metric: Workload['metric']; op: string; baseline: string; impls: string[]; paired: Paired[] }[];
  cells: Cell[];
  files: { json: string; svg: string; table: string };
}

/** Workloads and implementations selected by --impls and --filter. */
export function selectRows(args: Pick<CompareArgs, 'filter' | 'impls'>, workloads: Workload[] = WORKLOADS): { workload: Workload; impl: string }[] {
  const rows: { workload: Workload; impl: string }[] = [];
  for (const w of workloads) {
    for (const impl of w.impls) {
      if (args.impls && !args.impls.includes(impl)) continue;
      if (args.filter && !args.filter.test(rowId(w, impl))) continue;
      rows.push({ workload: w, impl });
    }
    // --impls may name an extra implementation a workload supports.
    for (const impl of args.impls ?? []) {
      if (w.impls.includes(impl) || !extraAllowed(w, impl)) continue;
      if (args.filter && !args.filter.test(rowId(w, impl))) continue;
      rows.push({ workload: w, impl });
    }
  }
  return rows;
}

function extraAllowed(w: Workload, impl: string): boolean {
  if (impl === 'ringwire-ringfd' || impl === 'ringwire-eventfd' || impl === 'ringwire-nopoll') return true;
  if (impl === 'ringwire-busy') return w.server !== 'http';
  if (impl === 'ringwire-dgram') return w.server.startsWith('udp-');
  if (impl === 'c-busy') return w.server !== 'http';
  if (impl === 'ringwire-net') return w.server.startsWith('tcp-');
  return false;
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (e) {
    // wrk --version exits 1 but exists; ENOENT is what we are after.
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

class Progress {
  private readonly t0 = Date.now();
  private done = 0;
  private lastLen = 0;
  private readonly tty = process.stderr.isTTY === true;
  private lastPrinted = -1;

  constructor(private readonly total: number, private readonly enabled: boolean) {}

  step(label: string): void {
    if (!this.enabled) return;
    const frac = this.total ? this.done / this.total : 1;
    const elapsed = (Date.now() - this.t0) / 1000;
    const eta = this.done ? (elapsed / this.done) * (this.total - this.done) : 0;
    const fmt = (s: number) => `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
    if (this.tty) {
      const width = 30;
      const fill = Math.round(frac * width);
      const line = `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${this.done}/${this.total} ${fmt(elapsed)} ETA ${this.done ? fmt(eta) : '?'}  ${label}`;
      const cols = process.stderr.columns || 120;
      const shown = line.slice(0, cols - 1);
      process.stderr.write(`\r${shown.padEnd(this.lastLen)}`);
      this.lastLen = shown.length;
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== this.lastPrinted) {
        this.lastPrinted = decile;
        process.stderr.write(`ringwire perf: ${this.done}/${this.total} runs (${Math.round(frac * 100)}%), ${fmt(elapsed)} elapsed\n`);
      }
    }
  }

  advance(): void {
    this.done++;
  }

  end(): void {
    if (this.enabled && this.tty) process.stderr.write(`\r${' '.repeat(this.lastLen)}\r`);
  }
}

interface RunEnv {
  bins: BenchBins;
  duration: number;
  warmup: number;
  cpus: [number, number];
  taskset: boolean;
  cli: string;
}

const HOST = '127.0.0.1';

function serverCommand(w: Workload, impl: string, env: RunEnv): { file: string; args: string[] } {
  const cpu = env.cpus[0];
  const lifetime = env.duration + env.warmup + 20;
  if (impl.startsWith('c-')) {
    return { file: env.bins.server, args: cServerArgs({ mode: w.server, impl, host: HOST, port: 0, lifetime, cpu, rcvbuf: w.rcvbuf, bufs: undefined, cExtra: [] }) };
  }
  const args = [env.cli, 'perf', 'server', w.server, '--impl', impl, '--host', HOST, '--port', '0', '--lifetime', String(lifetime), '--cpu', String(cpu)];
  if (w.rcvbuf) args.push('--rcvbuf', String(w.rcvbuf));
  // taskset pins every thread of the process (V8's too), not just the main one.
  if (env.taskset) return { file: 'taskset', args: ['-c', String(cpu), process.execPath, ...args] };
  return { file: process.execPath, args };
}

function clientCommand(w: Workload, port: number, env: RunEnv, duration = env.duration): { file: string; args: string[] } {
  const cpu = w.placement === 'same' ? env.cpus[0] : env.cpus[1];
  if (w.client === 'wrk') {
    // wrk takes whole seconds only.
    const secs = Math.max(1, Math.round(duration));
    const wrk = ['wrk', ...w.clientArgs, `-d${secs}s`, '--latency', `http://${HOST}:${port}/`];
    return env.taskset ? { file: 'taskset', args: ['-c', String(cpu), ...wrk] } : { file: wrk[0], args: wrk.slice(1) };
  }
  return { file: env.bins.client, args: [w.client, '--host', HOST, '--port', String(port), '--duration', String(duration), '--cpu', String(cpu), ...w.clientArgs] };
}

// Whether a row gets a warm-up run: not when the server's own count is the
// metric (the sink's datagrams received), which would include the warm-up.
export const warmsUp = (w: Workload): boolean => w.client !== 'udp-blast';

/**
 * CPU time of every thread of a process, in seconds, from the scheduler's
 * own accounting (/proc/PID/task/TID/schedstat: ns on a CPU), or undefined.
 * A thread that exits between two readings takes its time with it.
 */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // exited meanwhile
      }
    }
    return ns / 1e9;
  } catch {
    return undefined;
  }
}

/** One server + client run. Never throws; failures are recorded. */
export async function runOnce(w: Workload, impl: string, rep: number, env: RunEnv): Promise<RunRecord> {
  const rec: RunRecord = { workload: w.id, impl, rep, ok: false, steal_pct: null, busy_pct: null };
  const before: CpuTimes | undefined = readCpuTimes();
  const sc = serverCommand(w, impl, env);
  const server = new Child(sc.file, sc.args, { deadlineMs: (env.duration + env.warmup + 30) * 1000 });
  try {
    const m = await server.waitFor(/^listening (\d+)$/m, 20_000);
    const port = Number(m[1]);
    // A warm-up run first (its own connections), so that JIT compilation
    // and first-touch costs stay out of the measured one; the server's CPU
    // is then read around the measured run only.
    const warm = env.warmup > 0 && warmsUp(w);
    if (warm) {
      const wc = clientCommand(w, port, env, env.warmup);
      const wr = await new Child(wc.file, wc.args, { deadlineMs: (env.warmup + 20) * 1000 }).wait();
      if (wr.code !== 0) throw new Error(`warm-up client ${wr.timedOut ? 'timed out' : `exited ${wr.signal ?? wr.code}`}: ${lastLines(wr.stderr || wr.stdout)}`);
    }
    const cpuStart = warm ? processCpuSeconds(server.pid) : undefined;
    const cc = clientCommand(w, port, env);
    const client = new Child(cc.file, cc.args, { deadlineMs: (env.duration + 20) * 1000 });
    const cr = await client.wait();
    const cpuEnd = warm ? processCpuSeconds(server.pid) : undefined;
    if (cr.code !== 0) throw new Error(`client ${cr.timedOut ? 'timed out' : `exited ${cr.signal ?? cr.code}`}: ${lastLines(cr.stderr || cr.stdout)}`);
    const cj = w.client === 'wrk' ? parseWrk(cr.stdout) : lastJson(cr.stdout);
    if (!cj) throw new Error(`client printed no JSON: ${lastLines(cr.stdout)}`);
    // Let a sink count what is still queued in its socket.
    if (w.sink) await sleep(100);
    server.signal('SIGTERM');
    const stopAt = setTimeout(() => server.kill('SIGKILL'), 5000);
    const sr = await server.wait();
    clearTimeout(stopAt);
    const sj = lastJson(sr.stdout);
    if (!sj) throw new Error(`server printed no JSON (${sr.signal ?? sr.code}): ${lastLines(sr.stderr)}`);
    if (typeof sj.error === 'string') throw new Error(`server: ${sj.error}`);
    if (cpuStart !== undefined && cpuEnd !== undefined) sj.cpu_window_s = cpuEnd - cpuStart;
    rec.server = sj;
    rec.client = cj;
    rec.figures = extractFigures(w, sj, cj);
    rec.ok = true;
  } catch (e) {
    rec.error = (e as Error).message;
  } finally {
    server.kill('SIGKILL');
    await server.wait();
  }
  const after = readCpuTimes();
  rec.steal_pct = stealPercent(before, after);
  rec.busy_pct = busyPercent(before, after);
  return rec;
}

// The working directory, never the package: an installed package's folder
// is erased by the next `npm ci`.
function defaultOutDir(): string {
  return path.join(process.cwd(), 'ringwire-perf-results');
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:]/g, '').replace(/\..+/, '').replace('T', '-');
}

export interface CompareHooks {
  log?: (s: string) => void;
  /** argv as typed, for the record. */
  argv?: string[];
}

export async function compare(args: CompareArgs, hooks: CompareHooks = {}): Promise<{ result: CompareResult; exitCode: number }> {
  const log = hooks.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const started = new Date();
  const reps = args.reps ?? (args.quick ? 3 : 5);
  const duration = args.duration ?? (args.quick ? 0.7 : 3);
  const warmup = args.warmup ?? (args.quick ? 0.3 : 0.5);
  const nCpus = os.cpus().length;
  if (Math.max(...args.cpus) >= nCpus) throw new Error(`--cpus ${args.cpus.join(',')}: this machine has ${nCpus} CPUs`);
  const rows = selectRows(args);
  if (!rows.length) throw new Error('no rows selected (check --filter / --impls; --list shows them)');

  const bins = benchBins(log);
  const env: RunEnv = { bins, duration, warmup, cpus: args.cpus, taskset: hasCommand('taskset'), cli: path.join(packageRoot, 'dist', 'cli.js') };
  const wrk = hasCommand('wrk');
  const cells = new Map<string, Cell>();
  for (const { workload: w, impl } of rows) {
    let reason = unavailable(impl, w.server);
    if (!reason && w.client === 'wrk' && !wrk) reason = 'wrk is not installed (apt-get install wrk)';
    if (!reason && !impl.startsWith('c-') && !fs.existsSync(env.cli)) reason = `${env.cli} is missing (npm run build:ts)`;
    cells.set(rowId(w, impl), {
      workload: w.id, impl, status: reason ? 'unavailable' : 'pending', reason, reps: 0, failures: 0, median: {}, best: {}, ratio: {}, steal_pct: null, busy_pct: null, runs: [],
    });
  }
  const runnable = rows.filter((r) => cells.get(rowId(r.workload, r.impl))!.status === 'pending');
  const facts = machineFacts(bins.syscost);
  const cpu0 = readCpuTimes();

  let interrupted = false;
  const onInt = () => {
    interrupted = true;
    killAll('SIGKILL');
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  const progress = new Progress(runnable.length * reps, args.progress);
  try {
    for (let rep = 1; rep <= reps && !interrupted; rep++) {
      // Alternate the order so no implementation always runs first.
      const order = rep % 2 ? runnable : [...runnable].reverse();
      for (const { workload: w, impl } of order) {
        if (interrupted) break;
        progress.step(`rep ${rep}/${reps} ${rowId(w, impl)}`);
        const rec = await runOnce(w, impl, rep, env);
        progress.advance();
        cells.get(rowId(w, impl))!.runs.push(rec);
      }
    }
  } finally {
    progress.step('done');
    progress.end();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onInt);
  }
  const cpu1 = readCpuTimes();

  for (const c of cells.values()) {
    if (c.status === 'unavailable') continue;
    c.reps = c.runs.length;
    c.failures = c.runs.filter((r) => !r.ok).length;
    const s = summarize(c.runs);
    c.median = s.median;
    c.best = s.best;
    const ok = c.runs.some((r) => r.ok);
    c.status = ok ? 'ok' : 'failed';
    if (!ok) c.reason = c.runs.find((r) => r.error)?.error ?? (interrupted ? 'interrupted' : 'no run');
    else if (c.failures) c.reason = `${c.failures} of ${c.reps} runs failed: ${c.runs.find((r) => r.error)?.error}`;
    const mean = (xs: (number | null)[]) => {
      const v = xs.filter((x): x is number => x !== null);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
    };
    c.steal_pct = mean(c.runs.map((r) => r.steal_pct));
    c.busy_pct = mean(c.runs.map((r) => r.busy_pct));
  }
  const cellList = rows.map((r) => cells.get(rowId(r.workload, r.impl))!);
  for (const c of cellList) {
    const w = WORKLOADS.find((x) => x.id === c.workload)!;
    c.ratio = ratios(c, cells.get(`${w.id}/${w.baseline}`));
    const anomalies = flagAnomalies(c, w, cells.get(`${w.id}/node`));
    if (anomalies.length) c.anomalies = anomalies;
  }
  const flagged = cellList.filter((c) => c.anomalies?.length);

  const usedWorkloads = WORKLOADS.filter((w) => cellList.some((c) => c.workload === w.id));
  const outDir = path.resolve(args.out ?? defaultOutDir());
  fs.mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, `compare-${stamp(started)}`);
  const finished = new Date();
  const result: CompareResult = {
    schema: 'ringwire-perf-compare/1',
    command: `ringwire perf compare${hooks.argv?.length ? ` ${hooks.argv.join(' ')}` : ''}`,
    started: started.toISOString(),
    finished: finished.toISOString(),
    elapsed_s: (finished.getTime() - started.getTime()) / 1000,
    settings: { quick: args.quick, reps, duration_s: duration, warmup_s: warmup, cpus: args.cpus, filter: args.filter?.source ?? null, impls: args.impls ?? null },
    machine: { ...facts, steal_pct: stealPercent(cpu0, cpu1), busy_pct: busyPercent(cpu0, cpu1), loadavg_end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    workloads: usedWorkloads.map((w) => ({ id: w.id, title: w.title, placement: w.placement, metric: w.metric, op: w.op, baseline: w.baseline, impls: cellList.filter((c) => c.workload === w.id).map((c) => c.impl), paired: pairedRatios(cellList.filter((c) => c.workload === w.id)) })),
    cells: cellList,
    files: { json: `${base}.json`, svg: `${base}.svg`, table: `${base}.md` },
  };
  const m = result.machine;
  const subtitle = `${m.cpuModel}, ${m.cpus} vCPU, Linux ${m.kernel}, Node ${m.node}, liburing ${m.liburing ?? '?'}, null syscall ${m.syscallNs ?? '?'} ns, steal ${m.steal_pct?.toFixed(1) ?? '?'}%, load ${m.loadavg.join(' ')}; ${reps} reps x ${duration} s after ${warmup} s warm-up${args.quick ? ' (--quick)' : ''}`;
  fs.writeFileSync(result.files.svg, renderSvg(usedWorkloads, cellList, { title: `ringwire perf compare, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`, subtitle }));
  const table = formatTable(usedWorkloads, cellList);
  fs.writeFileSync(result.files.table, `${result.command}\n${subtitle}\n\n${formatMarkdown(usedWorkloads, cellList)}\n`);
  fs.writeFileSync(result.files.json, `${JSON.stringify(result, null, 2)}\n`);
  if (!args.json) {
    process.stdout.write(`${subtitle}\n\n${table}\n`);
    process.stdout.write(`results: ${result.files.json}\nchart:   ${result.files.svg}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  if (flagged.length) {
    process.stderr.write(`ringwire perf: ${flagged.length} row(s) flagged as anomalies (marked ! in the table, "anomalies" in the JSON)${args.strict ? '; --strict: exit 3' : ''}\n`);
  }
  const failed = cellList.some((c) => c.status === 'failed');
  return { result, exitCode: interrupted ? 130 : failed ? 1 : args.strict && flagged.length ? 3 : 0 };
}
