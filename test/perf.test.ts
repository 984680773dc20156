import { afterAll, describe, expect, it, vi } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError, parseClientArgs, parseCompareArgs, parseServerArgs } from '../lib/cli/perf/args';
import { main } from '../lib/cli/perf/cli';
import { selectRows } from '../lib/cli/perf/compare';
import { busyPercent, stealPercent } from '../lib/cli/perf/machine';
import { lastJson } from '../lib/cli/perf/proc';
import { type Cell, flagAnomalies, formatMarkdown, formatTable, median, pairedRatios, summarize } from '../lib/cli/perf/report';
import { cServerArgs } from '../lib/cli/perf/server';
import { esc, logTicks, renderSvg } from '../lib/cli/perf/svg';
import { WORKLOADS, extractFigures, parseWrk } from '../lib/cli/perf/workloads';
import { needs, skipReason } from './helpers/skip';

const cli = path.resolve(__dirname, '..', 'dist', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-perf-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function captureStderr(fn: () => Promise<number>): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  try {
    return { code: await fn(), stderr };
  } finally {
    spy.mockRestore();
  }
}

describe('perf argument parsing', () => {
  it('server: defaults, --opt=value, and C pass-through options', () => {
    const a = parseServerArgs(['udp-sink', '--impl=c-uring', '--rcvbuf', '4194304', '--wait-nr', '16', '--cpu', '1']);
    expect(a).toMatchObject({ mode: 'udp-sink', impl: 'c-uring', host: '127.0.0.1', port: 0, cpu: 1, rcvbuf: 4194304 });
    expect(a.cExtra).toEqual(['--wait-nr', '16']);
    expect(cServerArgs(a)).toEqual(['--mode', 'udp-sink', '--impl', 'uring', '--host', '127.0.0.1', '--port', '0', '--cpu', '1', '--rcvbuf', '4194304', '--wait-nr', '16']);
  });

  it('server: a missing or unknown mode/impl, a bad port, a mode the impl lacks are usage errors', () => {
    const bad: string[][] = [
      [],
      ['udp-echo'],
      ['udp-bounce', '--impl', 'node'],
      ['udp-echo', '--impl', 'rust'],
      ['udp-echo', '--impl', 'c-epoll', '--port', '65536'],
      ['udp-echo', '--impl', 'c-epoll', '--port', '12.5'],
      ['udp-echo', '--impl', 'c-epoll', '--port'],
      ['udp-echo', '--impl', 'c-epoll', '--lifetime', 'soon'],
      ['http', '--impl', 'c-epoll'],
      ['udp-echo', '--impl', 'ringwire-net'],
      ['udp-echo', '--impl', 'node', '--wait-nr', '4'],
      ['udp-echo', 'extra', '--impl', 'node'],
      ['udp-echo', '--impl', 'node', '--verbose'],
      ['udp-echo', '--impl', 'node', '--no-defer=1'],
    ];
    for (const args of bad) expect(() => parseServerArgs(args), args.join(' ')).toThrow(UsageError);
  });

  it('client: the mode is checked here, the rest goes to rw-client unchanged', () => {
    expect(parseClientArgs(['udp-blast', '--port', '9', '--gso'])).toEqual({ mode: 'udp-blast', passThrough: ['--port', '9', '--gso'] });
    expect(() => parseClientArgs([])).toThrow(UsageError);
    expect(() => parseClientArgs(['udp-flood'])).toThrow(UsageError);
  });

  it('compare: filter, reps, cpus and impls are validated', () => {
    const a = parseCompareArgs(['--quick', '--filter', 'udp-sink/', '--reps', '2', '--cpus', '1,0', '--impls', 'c-epoll,ringwire']);
    expect(a).toMatchObject({ quick: true, reps: 2, cpus: [1, 0], impls: ['c-epoll', 'ringwire'], progress: true });
    expect(a.filter?.test('udp-sink/node')).toBe(true);
    for (const args of [['--reps', '0'], ['--reps', 'x'], ['--filter', '('], ['--cpus', '0'], ['--cpus', '1,1'], ['--impls', 'c-epoll,quic'], ['--duration', '0'], ['now']]) {
      expect(() => parseCompareArgs(args), args.join(' ')).toThrow(UsageError);
    }
  });

  it('compare: --filter and --impls select row ids workload/impl', () => {
    const ids = (args: string[]) => selectRows(parseCompareArgs(args)).map((r) => `${r.workload.id}/${r.impl}`);
    expect(ids(['--filter', '^udp-pingpong-same/(c-epoll|ringwire)$'])).toEqual(['udp-pingpong-same/c-epoll', 'udp-pingpong-same/ringwire']);
    // An implementation outside the default matrix can be asked for by name.
    expect(ids(['--filter', '^udp-pingpong-same/', '--impls', 'ringwire,ringwire-ringfd'])).toEqual(['udp-pingpong-same/ringwire', 'udp-pingpong-same/ringwire-ringfd']);
    expect(ids(['--filter', 'nothing-matches'])).toEqual([]);
  });

  it('compare: a stalled or collapsed row is flagged, in the table, the Markdown and the SVG, with a hint', () => {
    const w = WORKLOADS.find((x) => x.id === 'udp-pingpong-same')!;
    const cell = (impl: string, metric: number, p50: number, p99: number, wake?: string): Cell => ({
      workload: w.id, impl, status: 'ok', reps: 1, failures: 0, median: { metric, p50_us: p50, p99_us: p99 }, best: { metric }, ratio: {}, steal_pct: 0, busy_pct: 0,
      runs: [{ workload: w.id, impl, rep: 1, ok: true, steal_pct: 0, busy_pct: 0, server: wake ? { wake } : {} }],
    });
    const node = cell('node', 40_000, 25, 60);
    // The defect this exists for: p50 32 µs, p99 16 ms; and 155 round trips/s against node's 41k.
    const stalled = cell('ringwire', 30_000, 32, 16_000, 'eventfd+defer_taskrun');
    const collapsed = cell('ringwire-eventfd', 155, 6000, 14_000);
    const healthy = cell('ringwire-epoll', 45_000, 22, 60);
    expect(flagAnomalies(node, w, node)).toEqual([]);
    expect(flagAnomalies(healthy, w, node)).toEqual([]);
    const a = flagAnomalies(stalled, w, node);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatch(/p99 16\.0 ms is 500x its p50 \(32\.0 µs\)/);
    expect(a[0]).toMatch(/ringwire doctor.*wake mode was eventfd\+defer_taskrun/);
    const b = flagAnomalies(collapsed, w, node);
    expect(b.some((x) => /0\.00x the node built-in/.test(x))).toBe(true);
    // Exactly at the limits: not flagged.
    expect(flagAnomalies(cell('ringwire', 8000, 10, 200), w, node)).toEqual([]);
    stalled.anomalies = a;
    const table = formatTable([w], [node, stalled]);
    expect(table).toMatch(/ringwire !/);
    expect(table).toMatch(/! ringwire: ANOMALY: p99/);
    expect(formatMarkdown([w], [stalled])).toMatch(/ringwire ⚠ p99/);
    expect(renderSvg([w], [node, stalled], { title: 't', subtitle: 's' })).toMatch(/fill="#c00000">⚠ ringwire</);
  });

  it('compare: a drift between reps does not decide a pair: ratios are taken rep by rep', () => {
    const w = WORKLOADS.find((x) => x.id === 'udp-pingpong-same')!;
    const cell = (impl: string, metrics: (number | null)[]): Cell => ({
      workload: w.id, impl, status: 'ok', reps: metrics.length, failures: 0, median: { metric: median(metrics.filter((m): m is number => m !== null)) }, best: {}, ratio: {}, steal_pct: 0, busy_pct: 0,
      runs: metrics.map((m, i) => ({ workload: w.id, impl, rep: i + 1, ok: m !== null, steal_pct: 0, busy_pct: 0, ...(m !== null ? { figures: { metric: m } as Cell['runs'][0]['figures'] } : {}) })),
    });
    // The machine slowed by a quarter after rep 3: the ratio of medians
    // (33.5k / 39.6k = 0.85) says slower, every rep says 1.15x faster.
    const node = cell('node', [40_000, 40_000, 40_000, 30_000, 29_000, 30_000, 29_000]);
    const dgram = cell('ringwire-dgram', [46_000, 46_000, 46_000, 34_500, 33_350, 34_500, null]);
    const p = pairedRatios([node, dgram, cell('c-epoll', [1])]);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ impl: 'ringwire-dgram', vs: 'node', n: 6 });
    expect(p[0].median).toBeCloseTo(1.15, 5);
    expect(p[0].min).toBeCloseTo(1.15, 5);
    expect(formatTable([w], [node, dgram])).toMatch(/per-rep ratios, median \(range\): ringwire-dgram \/ node 1\.15x \(1\.15-1\.15, 6 reps\)/);
    expect(formatMarkdown([w], [node, dgram])).toMatch(/\| udp-pingpong-same \| ringwire-dgram \/ node \| 1\.15x \| 1\.15-1\.15 \| 6 \|/);
  });

  it('compare: --strict is a flag', () => {
    expect(parseCompareArgs(['--strict']).strict).toBe(true);
    expect(parseCompareArgs([]).strict).toBe(false);
  });

  it('bad arguments print the usage on stderr and return exit code 2', async () => {
    for (const argv of [[], ['bogus'], ['server', 'udp-echo'], ['compare', '--reps', '-1'], ['client', 'nope'], ['packet-ring', '--reps', '0'], ['packet-ring', '--seconds', 'x']]) {
      const r = await captureStderr(() => main(argv));
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/usage: ringwire perf server/);
    }
  });

  it.skipIf(skipReason(fs.existsSync(cli) ? undefined : `${cli} missing (npm run build:ts)`))('the installed command exits 2 on bad arguments too', () => {
    const r = spawnSync(process.execPath, [cli, 'perf', 'compare', '--filter', '['], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--filter is not a valid regular expression/);
    expect(r.stdout).toBe('');
  });
});

describe('perf figures', () => {
  const w = (id: string) => WORKLOADS.find((x) => x.id === id)!;

  it('sink drop % and server CPU per datagram come from both sides', () => {
    const f = extractFigures(w('udp-sink'), { packets: 900, cpu_user_s: 0.001, cpu_sys_s: 0.002 }, { sent_total: 1000, duration_s: 0.9, warmup_s: 0.1 });
    expect(f.drop_pct).toBeCloseTo(10);
    expect(f.metric).toBeCloseTo(900);
    expect(f.cpu_per_op_ns).toBeCloseTo(3_333.33, 1);
    // More received than counted as sent (a late counter) is 0 % drop, not negative.
    expect(extractFigures(w('udp-sink'), { packets: 1001, cpu_user_s: 0, cpu_sys_s: 0 }, { sent_total: 1000, duration_s: 1 }).drop_pct).toBe(0);
    expect(() => extractFigures(w('udp-sink'), { cpu_user_s: 0, cpu_sys_s: 0 }, { sent_total: 1 })).toThrow(/packets/);
  });

  it('wrk --latency output parses into requests/s and percentiles', () => {
    const out = `Running 2s test @ http://127.0.0.1:4000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.51ms  310.20us   9.87ms   91.00%
    Req/Sec    25.60k     1.20k   27.00k    80.00%
  Latency Distribution
     50%    2.45ms
     75%    2.60ms
     90%    2.80ms
     99%    3.90ms
  50944 requests in 2.00s, 4.23MB read
Requests/sec:  25472.00
Transfer/sec:      2.11MB
`;
    const j = parseWrk(out);
    expect(j).toMatchObject({ req_per_s: 25472, requests: 50944, p50_us: 2450, p99_us: 3900, max_us: 9870, duration_s: 2 });
    const f = extractFigures(w('http-hello'), { cpu_user_s: 0.5, cpu_sys_s: 0.5 }, j);
    expect(f.cpu_per_op_ns).toBeCloseTo(1e9 / 50944);
  });

  it('median, best and steal arithmetic', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const runs = [10, 30, 20].map((m, i) => ({ workload: 'x', impl: 'y', rep: i + 1, ok: true, steal_pct: 0, busy_pct: 0, figures: { metric: m, ops: 1, server_cpu_s: 0, p99_us: 100 - m } }));
    const s = summarize([...runs, { workload: 'x', impl: 'y', rep: 4, ok: false, steal_pct: null, busy_pct: null }]);
    expect(s.median.metric).toBe(20);
    expect(s.best.metric).toBe(30);
    expect(s.best.p99_us).toBe(70);
    const a = { total: 1000, steal: 10, idle: 500 };
    expect(stealPercent(a, { total: 1100, steal: 15, idle: 550 })).toBeCloseTo(5);
    expect(busyPercent(a, { total: 1100, steal: 15, idle: 550 })).toBeCloseTo(45);
    expect(stealPercent(a, a)).toBeNull();
    expect(lastJson('listening 1\nnoise\n{"a":1}\n{"b":2}\n')).toEqual({ b: 2 });
  });

  it('the chart is one well-formed SVG with escaped text and log ticks', () => {
    const cells: Cell[] = ['c-epoll', 'ringwire', 'node'].map((impl, i) => ({
      workload: 'udp-pingpong-same', impl, status: i === 2 ? 'failed' : 'ok', reason: i === 2 ? 'x <y> & z' : undefined, reps: 1, failures: 0,
      median: { metric: 1000 * (i + 1), p50_us: 20, p99_us: 60, p999_us: 900 }, best: { metric: 1100 * (i + 1) }, ratio: { metric: i + 1 }, steal_pct: 0, busy_pct: 50, runs: [],
    }));
    const svg = renderSvg([w('udp-pingpong-same')], cells, { title: 'a <b> & c', subtitle: 's' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('a &lt;b&gt; &amp; c');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    expect((svg.match(/<text/g) ?? []).length).toBe((svg.match(/<\/text>/g) ?? []).length);
    expect(esc('"&')).toBe('&quot;&amp;');
    expect(logTicks(10, 1000)).toEqual([10, 20, 50, 100, 200, 500, 1000]);
    expect(formatTable([w('udp-pingpong-same')], cells)).toMatch(/node\s+FAILED/);
  });
});

describe.skipIf(skipReason(needs('io_uring') ?? (fs.existsSync(cli) ? undefined : `${cli} missing (npm run build:ts)`)))('perf compare smoke run', () => {
  it('one row, c-epoll vs ringwire, 0.3 s after a 0.3 s warm-up: a results JSON with machine facts, cells, ratios and a chart; the warm-up\'s CPU is not counted', () => {
    const out = path.join(tmp, 'results');
    const r = spawnSync(process.execPath, [cli, 'perf', 'compare', '--filter', '^udp-pingpong-same/(c-epoll|ringwire)$', '--reps', '1', '--duration', '0.3', '--warmup', '0.3', '--out', out, '--no-progress'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/UDP ping-pong 64 B, client and server on the same CPU/);
    const jsonPath = /^results: (.+\.json)$/m.exec(r.stdout)?.[1];
    expect(jsonPath).toBeDefined();
    const j = JSON.parse(fs.readFileSync(jsonPath!, 'utf8'));
    expect(j.schema).toBe('ringwire-perf-compare/1');
    expect(j.settings).toMatchObject({ reps: 1, duration_s: 0.3, warmup_s: 0.3, cpus: [0, 1] });
    expect(j.machine).toMatchObject({ kernel: os.release(), node: process.version, cpus: os.cpus().length });
    for (const k of ['cpuModel', 'liburing', 'syscallNs', 'io_uring', 'steal_pct', 'loadavg']) expect(j.machine).toHaveProperty(k);
    expect(j.machine.syscallNs).toBeGreaterThan(0);
    expect(j.machine.io_uring.available).toBe(true);
    expect(j.workloads.map((x: { id: string }) => x.id)).toEqual(['udp-pingpong-same']);
    expect(j.cells.map((c: Cell) => c.impl)).toEqual(['c-epoll', 'ringwire']);
    for (const c of j.cells as Cell[]) {
      expect(c.status, c.reason).toBe('ok');
      expect(c.runs).toHaveLength(1);
      expect(c.median.metric).toBeGreaterThan(0);
      expect(c.median.p99_us).toBeGreaterThan(0);
      expect(c.median.cpu_per_op_ns).toBeGreaterThan(0);
      expect(c.runs[0].server).toHaveProperty('packets');
      expect(c.runs[0].client).toHaveProperty('round_trips');
      // The server ran through warm-up and measured run alike; only the
      // measured run's CPU is per operation (client and server share a CPU
      // here, so each gets about half of both periods).
      const srv = c.runs[0].server as Record<string, number>;
      expect(srv.cpu_window_s).toBeGreaterThan(0);
      expect(srv.cpu_window_s).toBeLessThan(0.8 * (srv.cpu_user_s + srv.cpu_sys_s));
      expect(c.median.cpu_per_op_ns).toBeCloseTo((srv.cpu_window_s * 1e9) / c.median.ops!, 0);
    }
    expect(j.cells[0].ratio.metric).toBe(1);
    expect(j.cells[1].ratio.metric).toBeGreaterThan(0);
    expect(fs.readFileSync(j.files.svg, 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*ringwire[\s\S]*<\/svg>\s*$/);
    expect(fs.existsSync(j.files.table)).toBe(true);
    // Nothing the run started is still there: its servers' ports are free.
    for (const c of j.cells as Cell[]) {
      const port = c.runs[0].server!.port as number;
      expect(spawnSync('ss', ['-Hlun', `sport = :${port}`], { encoding: 'utf8' }).stdout.trim(), `port ${port}`).toBe('');
    }
  });

  it('the setting variants take effect: ringwire-nopoll runs with the adaptive poll off, ringwire-eventfd tries the eventfd mode (its settings were once applied after the ring had started, so those rows measured plain ringwire)', () => {
    const run = (impl: string) => {
      const r = spawnSync(process.execPath, [cli, 'perf', 'server', 'udp-echo', '--impl', impl, '--lifetime', '0.2'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).toBe(0);
      return { json: JSON.parse(r.stdout.trim().split('\n').pop()!), stderr: r.stderr };
    };
    expect(run('ringwire').json.adaptive_poll.max_us).toBeGreaterThan(0);
    expect(run('ringwire-nopoll').json.adaptive_poll.max_us).toBe(0);
    const ev = run('ringwire-eventfd');
    // Either the mode runs, or its self-check failed here and said so.
    if (ev.json.wake !== 'eventfd+defer_taskrun') expect(ev.stderr).toMatch(/RINGWIRE_WAKE_FALLBACK[^\n]*eventfd:/);
  }, 60_000);
});

// The bench's own namespaces (rwbench-a/b-<pid>): other programs on the
// machine create and delete theirs meanwhile.
function benchNamespaces(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith('rwbench-')).sort();
}

describe.skipIf(skipReason(needs('root') ?? needs('af_xdp') ?? (fs.existsSync(cli) ? undefined : `${cli} missing (npm run build:ts)`)))('perf packet-ring smoke run', () => {
  it('one short rep of AF_XDP and the UDP socket over veth: JSON with every trial, and no namespace left behind', () => {
    const out = path.join(tmp, 'packet-ring.json');
    const before = benchNamespaces();
    const r = spawnSync(process.execPath, [cli, 'perf', 'packet-ring', '--seconds', '0.3', '--reps', '1', '--modes', 'af_xdp,udp', '--out', out], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(j).toMatchObject({ bench: 'packet-ring', reps: 1, seconds: 0.3 });
    for (const m of ['af_xdp', 'udp']) {
      expect(j.results[m].received, m).toBeGreaterThan(0);
      expect(j.results[m].reps).toHaveLength(1);
      expect(j.results[m].cpuNsPerPacket).toBeGreaterThan(0);
    }
    expect(j.results.af_xdp.info.xdpMode).toMatch(/^(native|skb)$/);
    expect(j.ratios.afxdpVsUdpCpuPerPacket).toBeGreaterThan(0);
    expect(benchNamespaces()).toEqual(before);
  });

  it('an interrupted run (SIGINT) leaves no receiver, namespace or temporary blaster behind', async () => {
    const before = benchNamespaces();
    const p = spawn(process.execPath, [cli, 'perf', 'packet-ring', '--seconds', '20', '--reps', '1', '--modes', 'udp'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const closed = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    const childrenOf = (pid: number) => {
      try {
        return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    // The bench script (a child of the CLI) names its namespaces after its
    // pid; wait until its receiver runs in one, for at most 30 s.
    let runPid = 0;
    let receivers: number[] = [];
    for (const end = Date.now() + 30_000; Date.now() < end && !receivers.length;) {
      runPid ||= childrenOf(p.pid!)[0] ?? 0;
      if (runPid) receivers = spawnSync('ip', ['netns', 'pids', `rwbench-a-${runPid}`], { encoding: 'utf8' }).stdout.trim().split(/\s+/).filter(Boolean).map(Number);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(receivers.length, 'a receiver started').toBeGreaterThan(0);
    const blaster = path.join(os.tmpdir(), `rw-blast-${runPid}`);
    expect(fs.existsSync(blaster)).toBe(true);
    p.kill('SIGINT');
    await closed;
    const gone = (pid: number) => {
      try {
        return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return true;
      }
    };
    for (const end = Date.now() + 5000; Date.now() < end && !receivers.every(gone);) await new Promise((r) => setTimeout(r, 50));
    expect(receivers.filter((pid) => !gone(pid)), 'receivers still running').toEqual([]);
    expect(fs.existsSync(blaster), blaster).toBe(false);
    expect(benchNamespaces()).toEqual(before);
  }, 60_000);

  it('--latency: an echoing AF_XDP ring answers rw-client ping-pong from the peer namespace (round-trip percentiles)', () => {
    const out = path.join(tmp, 'packet-ring-latency.json');
    const r = spawnSync(process.execPath, [cli, 'perf', 'packet-ring', '--latency', '--seconds', '0.3', '--reps', '1', '--modes', 'af_xdp', '--out', out], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(j).toMatchObject({ bench: 'packet-ring-latency', reps: 1 });
    const a = j.results.af_xdp;
    expect(a.roundTripsPerS).toBeGreaterThan(0);
    expect(a.p50Us).toBeGreaterThan(0);
    expect(a.p99Us).toBeGreaterThanOrEqual(a.p50Us);
    // Ping-pong alone never finds enough frames waiting to start coalescing.
    expect(a.holdoffs).toBe(0);
  });
});
