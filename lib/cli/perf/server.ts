// `ringwire perf server`: C servers are exec'd (rw-server), everything else
// runs in this process through servers/run.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../internal/native';
import type { ServerArgs, ServerMode } from './args';
import { benchBins } from './bins';
import { Child } from './proc';
import { runServer, type StartFn } from './servers/run';
import type { Counters, RunningServer, ServerStartOptions } from './servers/types';

/** rw-server's arguments for a c-* impl. */
export function cServerArgs(a: Pick<ServerArgs, 'mode' | 'impl' | 'host' | 'port' | 'lifetime' | 'cpu' | 'rcvbuf' | 'bufs' | 'cExtra'>): string[] {
  const out = ['--mode', a.mode, '--impl', a.impl.slice(2), '--host', a.host, '--port', String(a.port)];
  if (a.lifetime !== undefined) out.push('--lifetime', String(a.lifetime));
  if (a.cpu !== undefined) out.push('--cpu', String(a.cpu));
  if (a.rcvbuf !== undefined) out.push('--rcvbuf', String(a.rcvbuf));
  if (a.bufs !== undefined && a.impl === 'c-uring') out.push('--bufs', String(a.bufs));
  return out.concat(a.cExtra);
}

const TCP_RINGWIRE = ['ringwire', 'ringwire-epoll', 'ringwire-net', 'ringwire-busy'];
/** ringwire-busy's budget: hybrid mode, back to sleeping 1 ms after the last event. */
export const BUSY_BUDGET_US = 1000;

/**
 * Why an impl cannot serve a mode here (undefined when it can). `root` is
 * the compiled package directory the server process runs from.
 */
export function unavailable(impl: string, mode: ServerMode, root = path.join(packageRoot, 'dist')): string | undefined {
  const has = (rel: string) => fs.existsSync(path.join(root, rel));
  if (mode.startsWith('tcp-') && TCP_RINGWIRE.includes(impl) && !has('cli/perf/servers/tcp-ringwire.js')) {
    return 'not available: lib/cli/perf/servers/tcp-ringwire.ts (runTcpServer) is not part of this build';
  }
  if (mode === 'http' && impl === 'ringwire' && !has('http.js')) return 'not available: ringwire http (lib/http.ts) is not part of this build';
  if (impl === 'ringwire-dgram' && !has('dgram.js')) return 'not available: ringwire/dgram is not part of this build';
  if (impl === 'c-uring' || impl === 'ringwire-ringfd' || impl === 'ringwire-eventfd' || impl === 'ringwire-nopoll' || impl === 'ringwire-busy' || (impl === 'ringwire' && mode !== 'http')) {
    const u = uringState();
    // Without the addon we cannot tell; the C server will say for itself.
    if (u && !(impl === 'c-uring' && u.startsWith('ringwire addon'))) return u;
  }
  return undefined;
}

function uringState(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { capabilities } = require('../../capabilities') as typeof import('../../capabilities');
    const u = capabilities().io_uring;
    return u.available ? undefined : `io_uring unavailable: ${u.reason ?? u.setup}`;
  } catch (e) {
    return `ringwire addon unavailable: ${(e as Error).message}`;
  }
}

function startFor(args: ServerArgs): StartFn | string {
  const { impl, mode } = args;
  if (impl === 'node') {
    if (mode === 'udp-echo' || mode === 'udp-sink') {
      return (o) => require('./servers/node').startUdpNode(o, require('node:dgram'));
    }
    if (mode === 'http') return (o) => require('./servers/node').startHttp(o);
    return (o) => require('./servers/node').startTcpNode(o);
  }
  // The wake-mode variants are ringwire with RINGWIRE_URING_WAKE set, and
  // ringwire-nopoll with RINGWIRE_ADAPTIVE_POLL_US=0, before this thread's
  // ring starts: before unavailable() below, whose capabilities() probe
  // starts it (the settings were ignored when they came after it). Node's
  // process.env setter reaches the C environment, where the addon reads
  // the wake mode.
  const wake = /^ringwire-(eventfd|ringfd)$/.exec(impl);
  if (wake) {
    process.env.RINGWIRE_URING_WAKE = wake[1];
    return startFor({ ...args, impl: 'ringwire' });
  }
  if (impl === 'ringwire-nopoll') {
    process.env.RINGWIRE_ADAPTIVE_POLL_US = '0';
    return startFor({ ...args, impl: 'ringwire' });
  }
  const why = unavailable(impl, mode, path.resolve(__dirname, '..', '..'));
  if (why) return why;
  if (impl === 'ringwire-busy') {
    const inner = startFor({ ...args, impl: 'ringwire' });
    if (typeof inner === 'string') return inner;
    return async (o) => {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { busyPoll } = require('../../busy-poll') as typeof import('../../busy-poll');
      const poller = busyPoll({ budgetUs: BUSY_BUDGET_US });
      const s = await inner({ ...o, impl: 'ringwire' });
      return {
        port: s.port,
        counters: () => ({ ...s.counters(), busy: { budget_us: BUSY_BUDGET_US, ...poller.stats } }),
        close: () => {
          poller.stop();
          return s.close();
        },
      };
    };
  }
  if (impl === 'ringwire-dgram') return (o) => require('./servers/node').startUdpNode(o, require('../../dgram'));
  if (mode === 'http') return (o) => require('./servers/node').startHttp(o, require('../../http'));
  if (mode === 'udp-echo' || mode === 'udp-sink') return (o) => require('./servers/udp-ringwire').startUdpRingwire(o);
  return async (o) => {
    const mod = require('./servers/tcp-ringwire') as { runTcpServer?: (o: ServerStartOptions) => Promise<unknown> };
    if (typeof mod.runTcpServer !== 'function') throw new Error('lib/cli/perf/servers/tcp-ringwire does not export runTcpServer');
    return adaptServer(await mod.runTcpServer(o));
  };
}

/**
 * Accepts the RunningServer shape of servers/types.ts and close relatives
 * (stats instead of counters(), stop instead of close, address()).
 */
export function adaptServer(r: unknown): RunningServer {
  const s = r as Record<string, unknown> & { address?: () => { port?: number } };
  if (!s || typeof s !== 'object') throw new Error(`runTcpServer returned ${typeof r}, not a server`);
  const port = typeof s.port === 'number' ? s.port : typeof s.address === 'function' ? s.address()?.port : undefined;
  if (typeof port !== 'number') throw new Error('runTcpServer returned no port');
  const fn = (k: string) => (typeof s[k] === 'function' ? (s[k] as (...a: unknown[]) => unknown).bind(s) : undefined);
  const counters = fn('counters') ?? fn('stats') ?? (() => (s.stats && typeof s.stats === 'object' ? { ...(s.stats as Counters) } : {}));
  const close = fn('close') ?? fn('stop') ?? (() => undefined);
  return { port, counters: () => counters() as Counters, close: () => close() as Promise<void> | void };
}

/** Exit code: 0 ok, 1 runtime failure / not available, or the C server's. */
export async function perfServer(args: ServerArgs): Promise<number> {
  if (args.impl.startsWith('c-')) {
    const bins = benchBins((m) => process.stderr.write(`ringwire perf: ${m}\n`));
    // No deadline of our own beyond --lifetime: a server runs until told.
    const deadline = args.lifetime !== undefined ? args.lifetime * 1000 + 30_000 : 2 ** 31 - 1;
    const child = new Child(bins.server, cServerArgs(args), { deadlineMs: deadline, inherit: true });
    const forward = (sig: NodeJS.Signals) => () => child.signal(sig);
    const onTerm = forward('SIGTERM');
    const onInt = forward('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    const r = await child.wait();
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    return r.code ?? 1;
  }
  const start = startFor(args);
  if (typeof start === 'string') {
    process.stderr.write(`ringwire perf: --impl ${args.impl} ${args.mode}: ${start}\n`);
    return 1;
  }
  return runServer(args, start);
}
