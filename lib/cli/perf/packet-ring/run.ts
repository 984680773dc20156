// `ringwire perf packet-ring` (this file runs as its own process): 64-byte UDP datagrams from a C sendmmsg blaster at
// the sender's maximum rate, over a veth pair between two network
// namespaces, received by (1) an AF_XDP packet ring, (2) the software
// packet ring (UDP socket + recvmmsg) and (3) Node's dgram. Reports loss and
// the receiver's CPU time per received packet, and the ratios the issue
// targets (AF_XDP <= 0.6x the socket path and <= 0.3x dgram, zero loss).
//
//   sudo npx ringwire perf packet-ring [--seconds 2] [--reps 3] [--size 64] [--modes af_xdp,af_xdp@0,af_xdp@100,socket,udp,dgram] [--out file.json]
//
// Modes: af_xdp (AF_XDP packet ring, default options: adaptive coalescing),
// socket (the packet ring's UDP-socket backend), udp / udp-epoll
// (ringwire's UDP socket, io_uring / epoll engine, batch callback), dgram
// (node:dgram); "@N" sets the packet ring's coalesceUs to N (@0: a wake per
// arrival); "+busy" (e.g. af_xdp+busy@0, udp+busy) runs the receiving
// thread with busyPoll({ budgetUs: 1000 }). Repetitions run the modes interleaved; each mode reports the
// median CPU per packet and the worst loss over its repetitions.
//
// --latency [--load PPS]: instead, each receiver echoes, and rw-client
// (bench/c) plays ping-pong with it from the peer namespace on the
// receiver's CPU, optionally under a background blast of PPS datagrams/s to
// the same port from the sender's CPU (--client-cpu N: the client elsewhere,
// spinning): round-trip percentiles per mode
// (default modes af_xdp,af_xdp@0,udp), i.e. what coalescing costs in delay.
//
// Needs root, the compiled dist/ (`npm run build:ts`) and a C compiler
// (blast.c, next to this file, is compiled with native/common-flags.txt).
// The sender is pinned to CPU 0 (the veth softirq and the XDP program run
// there too), the receiver to CPU 1. Namespaces are removed on exit.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { packageRoot } from '../../../internal/native';
import { benchBins } from '../bins';

// The one compiler flag set (scripts/native-flags.js reads native/common-flags.txt).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { commonFlags } = require(path.join(packageRoot, 'scripts', 'native-flags.js')) as { commonFlags(): string[] };

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const seconds = Number(opt('seconds', '2'));
const size = Number(opt('size', '64'));
const latency = args.includes('--latency');
const load = Number(opt('load', '0'));
const modes = opt('modes', latency ? 'af_xdp,af_xdp@0,udp' : 'af_xdp,af_xdp@0,af_xdp@100,socket,udp,dgram').split(',');
const reps = Number(opt('reps', '3'));
const outFile = opt('out', '');
const cpus = os.cpus().length;
const senderCpu = opt('sender-cpu', '0');
const receiverCpu = opt('receiver-cpu', String(Math.min(1, cpus - 1)));
// --latency --client-cpu N: the ping-pong client on another CPU, spinning
// for its replies (the busy-poll rows: a spinning receiver would otherwise
// compete with the client for one CPU).
const clientCpu = opt('client-cpu', receiverCpu);
const PORT = 9100;
const NS_A = `rwbench-a-${process.pid}`;
const NS_B = `rwbench-b-${process.pid}`;
const IF_A = `rwbA${process.pid % 100000}`;
const IF_B = `rwbB${process.pid % 100000}`;
const IP_A = '10.77.250.1';
const IP_B = '10.77.250.2';
const here = __dirname;
// blast.c is source: it ships in lib/ (package.json "files"), not in dist/.
const BLAST_C = path.join(packageRoot, 'lib', 'cli', 'perf', 'packet-ring', 'blast.c');

// One JSON line from a receiver (receiver.ts) or a C client.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const ip = (a: string[]): string => execFileSync('ip', a, { encoding: 'utf8' });
// Interface counters around a trial say where missing datagrams went: the
// sender's veth (tx dropped) or the receiving veth before XDP or the stack
// saw them (rx dropped), as opposed to the ring's own XDP statistics.
const linkStats = (ns: string, dev: string) => {
  const st = JSON.parse(ip(['-j', '-s', '-n', ns, 'link', 'show', 'dev', dev]))[0].stats64;
  return { rxPackets: st.rx.packets, rxDropped: st.rx.dropped, txDropped: st.tx.dropped };
};
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
// Time the hypervisor took from each vCPU (steal, in ms), from /proc/stat.
const steal = (): Record<string, number> => Object.fromEntries(fs.readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).map((l) => {
  const f = l.split(/\s+/);
  return [f[0], (Number(f[8]) * 1000) / ticksPerSecond];
}));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup() {
  ip(['netns', 'add', NS_A]);
  ip(['netns', 'add', NS_B]);
  ip(['link', 'add', IF_A, 'netns', NS_A, 'type', 'veth', 'peer', 'name', IF_B, 'netns', NS_B]);
  ip(['-n', NS_A, 'addr', 'add', `${IP_A}/24`, 'dev', IF_A]);
  ip(['-n', NS_B, 'addr', 'add', `${IP_B}/24`, 'dev', IF_B]);
  for (const [ns, dev] of [[NS_A, IF_A], [NS_B, IF_B]]) {
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'link', 'set', dev, 'up']);
  }
  // A static neighbour: no ARP queue in front of the burst.
  const mac = execFileSync('ip', ['netns', 'exec', NS_A, 'cat', `/sys/class/net/${IF_A}/address`], { encoding: 'utf8' }).trim();
  ip(['-n', NS_B, 'neigh', 'replace', IP_A, 'lladdr', mac, 'dev', IF_B, 'nud', 'permanent']);
}

function teardown() {
  for (const ns of [NS_A, NS_B]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

function buildBlaster() {
  const bin = path.join(os.tmpdir(), `rw-blast-${process.pid}`);
  execFileSync('cc', [...commonFlags(), '-o', bin, BLAST_C], { stdio: 'inherit' });
  return bin;
}

// Every child still running, so that an interrupted run (Ctrl-C, SIGTERM)
// kills its receivers instead of leaving them behind.
const live = new Set<ChildProcess>();
function track<P extends ChildProcess>(p: P): P {
  live.add(p);
  p.on('exit', () => live.delete(p));
  return p;
}

function child(cmd: string, argv: string[]) {
  const p = track(spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env } }));
  const lines: Json[] = [];
  let wake: () => void = () => {};
  readline.createInterface({ input: p.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l));
    } catch {
      return;
    }
    wake();
  });
  p.on('exit', () => wake());
  const next = async (event: string, ms = 20_000): Promise<Json> => {
    const end = Date.now() + ms;
    for (;;) {
      const i = lines.findIndex((l) => l.event === event || l.event === 'error');
      if (i >= 0) {
        const l = lines.splice(i, 1)[0];
        if (l.event === 'ready' && !l.info) l.info = null;
        if (l.event === 'error') throw new Error(`receiver: ${l.message}`);
        return l;
      }
      if (p.exitCode !== null || Date.now() > end) throw new Error(`receiver gave no ${event}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  return { p, next, send: (l: string) => p.stdin!.write(`${l}\n`) };
}

async function trial(mode: string, blaster: string): Promise<Json> {
  const rx = child('ip', ['netns', 'exec', NS_A, 'taskset', '-c', receiverCpu, process.execPath, path.join(here, 'receiver.js'), mode, IF_A, String(PORT)]);
  try {
    const ready = await rx.next('ready');
    await sleep(200);
    rx.send('start');
    await rx.next('started');
    const st0 = steal();
    const a0 = linkStats(NS_A, IF_A);
    const b0 = linkStats(NS_B, IF_B);
    const b = spawnSync('ip', ['netns', 'exec', NS_B, 'taskset', '-c', senderCpu, blaster, IP_A, String(PORT), String(size), String(seconds)], { encoding: 'utf8', timeout: (seconds + 10) * 1000 });
    if (b.status !== 0) throw new Error(`blaster failed: ${b.stderr}`);
    const sent = JSON.parse(b.stdout);
    await sleep(300); // let the receiver drain its queues
    rx.send('stop');
    const r = await rx.next('result');
    const st1 = steal();
    const a1 = linkStats(NS_A, IF_A);
    const b1 = linkStats(NS_B, IF_B);
    return {
      mode,
      info: ready.info && ready.info.backend === 'af_xdp' ? { xdpMode: ready.info.xdpMode, bindMode: ready.info.bindMode } : { backend: ready.info ? ready.info.backend : mode },
      sent: sent.sent,
      sentPps: Math.round(sent.sent / sent.seconds),
      received: r.received,
      lossPct: Number((100 * (1 - r.received / sent.sent)).toFixed(3)),
      receiverCpuMs: Number((r.cpuUs / 1000).toFixed(1)),
      cpuNsPerPacket: r.received ? Number(((r.cpuUs * 1000) / r.received).toFixed(1)) : null,
      // A receiver stall (longest gap between batches) explains a loss; steal
      // on the receiver's vCPU or a GC pause as long says where it came from.
      maxGapMs: Number(r.maxGapMs.toFixed(2)),
      gcMaxMs: Number(r.gcMaxMs.toFixed(2)),
      stealMs: { sender: Math.round(st1[`cpu${senderCpu}`] - st0[`cpu${senderCpu}`]), receiver: Math.round(st1[`cpu${receiverCpu}`] - st0[`cpu${receiverCpu}`]) },
      link: { rxPackets: a1.rxPackets - a0.rxPackets, rxDropped: a1.rxDropped - a0.rxDropped, senderTxDropped: b1.txDropped - b0.txDropped },
      kernel: r.stats ? { rxDropped: r.stats.rxDropped, fillRingEmpty: r.stats.fillRingEmpty, rxRingFull: r.stats.rxRingFull, batches: r.stats.rxBatches, wakeups: r.stats.wakeups, holdoffs: r.stats.holdoffs } : undefined,
    };
  } finally {
    rx.p.kill('SIGKILL');
  }
}

// Runs every mode once per repetition, interleaved, so slow drifts of the
// machine hit all modes alike; returns each mode's trials.
async function interleaved(runTrial: (mode: string) => Promise<Json>, describe: (t: Json) => string): Promise<Record<string, Json[]>> {
  const trials: Record<string, Json[]> = Object.fromEntries(modes.map((m) => [m, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const m of modes) {
      const t = await runTrial(m);
      trials[m].push(t);
      console.error(`rep ${rep + 1}/${reps} ${m}: ${describe(t)}`);
    }
  }
  return trials;
}

// The trial with the median value of key (missing values sort last).
const medianBy = (ts: Json[], key: string): Json => ts.slice().sort((a, b) => (a[key] ?? Infinity) - (b[key] ?? Infinity))[(ts.length - 1) >> 1];

function rwClient(): string {
  return benchBins().client;
}

const runIn = (ns: string, cpu: string, argv: string[], timeoutS: number) => new Promise<Json>((resolve, reject) => {
  const p = track(spawn('ip', ['netns', 'exec', ns, 'taskset', '-c', cpu, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutS * 1000);
  p.stdout.on('data', (d: Buffer) => (out += d));
  p.on('exit', (code) => {
    clearTimeout(timer);
    if (code !== 0) return reject(new Error(`${argv[0]} ${argv[1]} exited with ${code}`));
    resolve(JSON.parse(out.trim().split('\n').pop() as string));
  });
});

async function latencyTrial(mode: string, client: string): Promise<Json> {
  const rx = child('ip', ['netns', 'exec', NS_A, 'taskset', '-c', receiverCpu, process.execPath, path.join(here, 'receiver.js'), mode, IF_A, String(PORT), 'echo']);
  try {
    await rx.next('ready');
    await sleep(200);
    rx.send('start');
    await rx.next('started');
    const common = ['--host', IP_A, '--port', String(PORT), '--size', String(size)];
    const blast = load > 0 ? runIn(NS_B, senderCpu, [client, 'udp-blast', ...common, '--rate', String(load), '--duration', String(seconds + 1)], seconds + 20) : null;
    if (blast) await sleep(300); // the load is on before the first probe
    const spin = clientCpu !== receiverCpu ? ['--spin'] : [];
    const pp = await runIn(NS_B, clientCpu, [client, 'udp-pingpong', ...common, '--duration', String(seconds), ...spin], seconds + 20);
    const bl = blast ? await blast : null;
    rx.send('stop');
    const r = await rx.next('result');
    return {
      mode,
      roundTripsPerS: pp.rtt_per_s,
      p50Us: pp.p50_us,
      p99Us: pp.p99_us,
      p999Us: pp.p999_us,
      timeouts: pp.timeouts,
      loadPps: bl ? bl.pps : 0,
      holdoffs: r.stats ? r.stats.holdoffs : null,
      wakeups: r.stats ? r.stats.wakeups : null,
    };
  } finally {
    rx.p.kill('SIGKILL');
  }
}

async function latencyMain() {
  const client = rwClient();
  const trials = await interleaved((m) => latencyTrial(m, client), (t) => `${t.roundTripsPerS} round trips/s, p50 ${t.p50Us} us, p99 ${t.p99Us} us, load ${t.loadPps} pkt/s, holdoffs ${t.holdoffs}`);
  const results: Record<string, Json> = {};
  for (const m of modes) results[m] = { ...medianBy(trials[m], 'p50Us'), reps: trials[m] };
  return { bench: 'packet-ring-latency', when: new Date().toISOString(), kernel: os.release(), cpus, payloadBytes: size, seconds, reps, loadPps: load, clientCpu: Number(receiverCpu), receiverCpu: Number(receiverCpu), loadCpu: Number(senderCpu), results };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('ringwire perf packet-ring needs root (network namespaces, AF_XDP)');
    process.exit(2);
  }
  const blaster = latency ? null : buildBlaster();
  const onSignal = () => {
    for (const p of live) p.kill('SIGKILL');
    teardown();
    if (blaster) fs.rmSync(blaster, { force: true });
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  teardown();
  setup();
  if (latency) {
    let report;
    try {
      report = await latencyMain();
    } finally {
      teardown();
    }
    const json = JSON.stringify(report, null, 2);
    if (outFile) fs.writeFileSync(outFile, `${json}\n`);
    console.log(json);
    return;
  }
  let trials: Record<string, Json[]>;
  try {
    trials = await interleaved((m) => trial(m, blaster!), (t) => `${t.sentPps} pkt/s sent, loss ${t.lossPct} %, ${t.cpuNsPerPacket} ns CPU/packet, longest gap ${t.maxGapMs} ms, GC ${t.gcMaxMs} ms, steal ${t.stealMs.receiver} ms`);
  } finally {
    teardown();
    fs.rmSync(blaster!, { force: true });
  }
  // Per mode: the repetition with the median CPU per packet, plus every
  // repetition's figures and the worst loss.
  const results: Record<string, Json> = {};
  for (const m of modes) {
    results[m] = {
      ...medianBy(trials[m], 'cpuNsPerPacket'),
      maxLossPct: Math.max(...trials[m].map((t) => t.lossPct)),
      reps: trials[m].map((t) => ({ sentPps: t.sentPps, lossPct: t.lossPct, cpuNsPerPacket: t.cpuNsPerPacket, maxGapMs: t.maxGapMs, gcMaxMs: t.gcMaxMs, stealMs: t.stealMs, kernel: t.kernel, link: t.link })),
    };
  }
  const ratio = (a: string, b: string): number | null => (results[a]?.cpuNsPerPacket && results[b]?.cpuNsPerPacket ? Number((results[a].cpuNsPerPacket / results[b].cpuNsPerPacket).toFixed(3)) : null);
  const report = {
    bench: 'packet-ring',
    when: new Date().toISOString(),
    kernel: os.release(),
    cpus,
    payloadBytes: size,
    seconds,
    reps,
    senderCpu: Number(senderCpu),
    receiverCpu: Number(receiverCpu),
    results,
    ratios: {
      afxdpVsUdpCpuPerPacket: ratio('af_xdp', 'udp'),
      perArrivalAfxdpVsUdpCpuPerPacket: ratio('af_xdp@0', 'udp'),
      perArrivalAfxdpVsDgramCpuPerPacket: ratio('af_xdp@0', 'dgram'),
      fixed100AfxdpVsUdpCpuPerPacket: ratio('af_xdp@100', 'udp'),
      fixed100AfxdpVsDgramCpuPerPacket: ratio('af_xdp@100', 'dgram'),
      afxdpVsSocketCpuPerPacket: ratio('af_xdp', 'socket'),
      afxdpVsDgramCpuPerPacket: ratio('af_xdp', 'dgram'),
      socketVsDgramCpuPerPacket: ratio('socket', 'dgram'),
    },
    targets: {
      afxdpVsSocketMax: 0.6,
      afxdpVsDgramMax: 0.3,
    } as Json,
  };
  // "ringwire's UDP socket path": the io_uring UDP socket when measured,
  // else the packet ring's own socket backend.
  const judge = (m: string) => {
    if (!results[m]) return undefined;
    const vsSocket = ratio(m, 'udp') ?? ratio(m, 'socket');
    const vsDgram = ratio(m, 'dgram');
    const zeroLoss = results[m].maxLossPct === 0;
    return { zeroLoss, vsSocket, vsDgram, met: zeroLoss && vsSocket !== null && vsSocket <= 0.6 && vsDgram !== null && vsDgram <= 0.3 };
  };
  for (const m of modes.filter((x) => x.startsWith('af_xdp'))) report.targets[m] = judge(m);
  const json = JSON.stringify(report, null, 2);
  if (outFile) fs.writeFileSync(outFile, `${json}\n`);
  console.log(json);
}

if (require.main === module) {
  main().catch((e) => {
    teardown();
    console.error(e);
    process.exit(1);
  });
}
