// Runs one in-process server the way the C rw-server runs: `listening
// <port>`, serve until SIGTERM/SIGINT/--lifetime, then one JSON line with
// the counters and this process's CPU time counted from `listening`.
import type { ServerArgs } from '../args';
import { currentLoop } from '../../../internal/loop';
import type { Counters, RunningServer, ServerStartOptions } from './types';

export type StartFn = (o: ServerStartOptions) => Promise<RunningServer>;

function pin(cpu: number): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { pinThread } = require('../../../affinity') as typeof import('../../../affinity');
    pinThread(cpu);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

// The adaptive poll's ceiling and what it cost over the run (undefined
// when no ring started: node, the C servers).
function adaptiveSnapshot(): { max_us: number; polls: number; hits: number; pauses: number; spin_us: number; window_us: number } | undefined {
  if (!currentLoop()) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { adaptivePollInfo } = require('../../../busy-poll') as typeof import('../../../busy-poll');
  const a = adaptivePollInfo();
  return a && { max_us: a.maxUs, polls: a.stats.polls, hits: a.stats.hits, pauses: a.stats.pauses, spin_us: a.stats.spinUs, window_us: a.stats.windowUs };
}

function adaptiveDelta(a: ReturnType<typeof adaptiveSnapshot>, b: ReturnType<typeof adaptiveSnapshot>): { adaptive_poll?: object } {
  if (!b) return {};
  const z = a ?? { polls: 0, hits: 0, pauses: 0, spin_us: 0 };
  return { adaptive_poll: { max_us: b.max_us, polls: b.polls - z.polls, hits: b.hits - z.hits, pauses: b.pauses - z.pauses, spin_us: Math.round(b.spin_us - z.spin_us), window_us: b.window_us } };
}

function threadWake(): string | null {
  const l = currentLoop();
  return l?.wake ? `${l.wake}${l.deferTaskrun ? '+defer_taskrun' : ''}` : null;
}

/** Resolves with the exit code once the JSON line is written. */
export async function runServer(args: ServerArgs, start: StartFn): Promise<number> {
  if (args.cpu !== undefined) {
    const err = pin(args.cpu);
    // The harness also starts us under taskset; pinning here is for direct use.
    if (err) process.stderr.write(`ringwire perf: cannot pin to CPU ${args.cpu}: ${err}\n`);
  }
  const server = await start({ mode: args.mode, impl: args.impl, host: args.host, port: args.port, rcvbuf: args.rcvbuf, bufs: args.bufs });
  const ap0 = adaptiveSnapshot();
  const cpu0 = process.cpuUsage();
  const ru0 = process.resourceUsage();
  const t0 = process.hrtime.bigint();
  process.stdout.write(`listening ${server.port}\n`);

  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(timer);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    if (args.lifetime !== undefined) timer = setTimeout(stop, args.lifetime * 1000);
  });

  const cpu = process.cpuUsage(cpu0);
  const ru = process.resourceUsage();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  let counters: Counters;
  let error: string | undefined;
  try {
    counters = server.counters();
  } catch (e) {
    counters = {};
    error = (e as Error).message;
  }
  try {
    await server.close();
  } catch (e) {
    error ??= (e as Error).message;
  }
  const packets = typeof counters.packets === 'number' ? counters.packets : 0;
  const out = {
    impl: args.impl,
    mode: args.mode,
    port: server.port,
    // The wake mode this thread's ring ended up in (null: no ring started,
    // or the self-check sent the sockets to the epoll backend).
    wake: threadWake(),
    ...adaptiveDelta(ap0, adaptiveSnapshot()),
    ...counters,
    ...(error ? { error } : {}),
    cpu_user_s: cpu.user / 1e6,
    cpu_sys_s: cpu.system / 1e6,
    vcsw: ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches,
    ivcsw: ru.involuntaryContextSwitches - ru0.involuntaryContextSwitches,
    wall_s: wall,
    pps: wall > 0 ? packets / wall : 0,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  // Something a client left open (a half-closed connection) must not keep
  // the process alive past its report.
  setTimeout(() => process.exit(error ? 1 : 0), 500).unref();
  return error ? 1 : 0;
}
