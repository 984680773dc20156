// `ringwire perf server|client|compare`. Exit codes: 0 ok, 1 a run failed
// or an implementation is not available, 2 bad arguments, 3 an anomaly
// flagged with compare --strict.
import type { Child } from './proc';
import { IMPLS, CLIENT_MODES, SERVER_MODES, UsageError, parseClientArgs, parseCompareArgs, parseServerArgs } from './args';

export const USAGE = `usage: ringwire perf server <${SERVER_MODES.join('|')}> --impl <impl>
                            [--host 127.0.0.1] [--port 0] [--lifetime SEC] [--cpu N]
                            [--rcvbuf BYTES] [--bufs N]
                            [c-* only: --batch N --buf-size B --sndbuf B --wait-nr N --wait-us U --no-defer]
       ringwire perf client <${CLIENT_MODES.join('|')}> --port P [--host H] [--duration S]
                            [--warmup S] [--size B] [--conns N] [--batch N] [--rate PPS] [--cpu N]
                            [--spin] [--gso]      (the C load generator, rw-client)
       ringwire perf compare [--quick] [--filter RE] [--reps N] [--duration S] [--warmup S] [--out DIR]
                            [--impls a,b,...] [--cpus SERVER,CLIENT] [--list] [--no-progress] [--json]
                            [--strict]   (exit 3 when a row is flagged: p99 > 20x p50, or < 0.2x node)
       ringwire perf packet-ring [--seconds S] [--reps N] [--modes af_xdp,af_xdp@0,...] [--out FILE]
                            (root: AF_XDP ring vs UDP paths over veth between two namespaces)
impls: ${Object.entries(IMPLS).map(([k, v]) => `${k} (${v.length === SERVER_MODES.length ? 'all' : v.join(', ')})`).join(', ')}
A server prints "listening <port>", serves until SIGTERM/SIGINT or --lifetime, then
prints one JSON line (counters, cpu_user_s, cpu_sys_s, wall_s). --filter matches
"<workload>/<impl>" row ids (see --list). Results go to ./ringwire-perf-results/ in the
working directory (or --out).`;

function usage(msg?: string): number {
  if (msg) process.stderr.write(`ringwire perf: ${msg}\n`);
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

async function client(args: string[]): Promise<number> {
  const a = parseClientArgs(args);
  const { benchBins } = await import('./bins');
  const { Child: ChildProc } = await import('./proc');
  const bins = benchBins((m) => process.stderr.write(`ringwire perf: ${m}\n`));
  // rw-client bounds itself with --duration; this deadline is the backstop.
  const num = (flag: string, dflt: number) => {
    const i = a.passThrough.indexOf(flag);
    const v = i >= 0 ? Number(a.passThrough[i + 1]) : dflt;
    return Number.isFinite(v) ? v : dflt;
  };
  const deadline = (num('--duration', 2) + num('--warmup', 0) + 30) * 1000;
  return runForeground(new ChildProc(bins.client, [a.mode, ...a.passThrough], { deadlineMs: deadline, inherit: true }), 'the client');
}

/** Waits for a child whose output is ours; Ctrl-C goes to it first. */
async function runForeground(child: Child, what: string): Promise<number> {
  const onInt = () => child.kill('SIGINT');
  process.on('SIGINT', onInt);
  const r = await child.wait();
  process.off('SIGINT', onInt);
  if (r.timedOut) process.stderr.write(`ringwire perf: ${what} passed its deadline and was killed\n`);
  return r.code ?? 1;
}

const PACKET_RING_USAGE = `usage: ringwire perf packet-ring [--seconds S] [--reps N] [--size B] [--modes af_xdp,af_xdp@0,socket,udp,dgram,...]
                            [--latency [--load PPS] [--client-cpu N]] [--out FILE]
Needs root: creates two network namespaces joined by a veth pair, sends
datagrams from a C blaster in one and receives them in the other with each
mode (AF_XDP packet ring, socket packet ring, ringwire UDP, node:dgram),
then removes the namespaces. Prints one JSON report (and writes it to --out).`;

async function packetRing(args: string[]): Promise<number> {
  if (args.some((a) => a === '--help' || a === '-h' || a === 'help')) {
    process.stdout.write(`${PACKET_RING_USAGE}\n`);
    return 0;
  }
  // packet-ring/run.ts does the namespaces, the C blaster and the
  // receivers in a process of its own; this checks the flags and runs it
  // from the compiled package (dist/), wherever this module was loaded from.
  const path = await import('node:path');
  const { Child: ChildProc } = await import('./proc');
  const { packageRoot } = await import('../../internal/native');
  const script = path.join(packageRoot, 'dist', 'cli', 'perf', 'packet-ring', 'run.js');
  const secondsArg = args.indexOf('--seconds');
  const repsArg = args.indexOf('--reps');
  const seconds = secondsArg >= 0 ? Number(args[secondsArg + 1]) : 2;
  const reps = repsArg >= 0 ? Number(args[repsArg + 1]) : 3;
  if (!(seconds > 0 && seconds <= 600) || !(Number.isInteger(reps) && reps >= 1 && reps <= 100)) throw new UsageError('--seconds must be in (0, 600] and --reps an integer in [1, 100]');
  // Per trial: the run plus receiver start-up and drain (about 3 s).
  const deadline = (reps * 8 * (seconds + 4) + 60) * 1000;
  return runForeground(new ChildProc(process.execPath, [script, ...args], { deadlineMs: deadline, inherit: true }), 'packet-ring');
}

async function compareCmd(args: string[]): Promise<number> {
  const a = parseCompareArgs(args);
  const { compare, selectRows } = await import('./compare');
  if (a.list) {
    const { rowId } = await import('./workloads');
    for (const r of selectRows(a)) process.stdout.write(`${rowId(r.workload, r.impl)}\n`);
    return 0;
  }
  const { exitCode } = await compare(a, { argv: args });
  return exitCode;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'server': {
        const a = parseServerArgs(rest);
        const { perfServer } = await import('./server');
        const code = await perfServer(a).catch((e: Error) => {
          process.stderr.write(`ringwire perf: ${a.impl} ${a.mode}: ${e.message}\n`);
          return 1;
        });
        // A socket that failed half-way must not keep a server alive.
        setTimeout(() => process.exit(code), 1000).unref();
        return code;
      }
      case 'client':
        return await client(rest);
      case 'compare':
        return await compareCmd(rest);
      case 'packet-ring':
        return await packetRing(rest);
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return 0;
      default:
        return usage(cmd ? `unknown perf command '${cmd}'` : 'missing perf command (server, client, compare or packet-ring)');
    }
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    process.stderr.write(`ringwire perf: ${(e as Error).message}\n`);
    return 1;
  }
}
