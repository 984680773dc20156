// Receiver for run.ts (`ringwire perf packet-ring`), run inside the receiving namespace:
//   node dist/cli/perf/packet-ring/receiver.js <mode: af_xdp|socket|udp|udp-epoll|dgram>[+busy][@coalesceUs] <interface> <port> [echo]
// '+busy': the receiving thread runs busyPoll({ budgetUs: 1000 }) (lib/busy-poll.ts).
// Prints {"event":"ready"}; on stdin "start" resets its counters, on "stop"
// prints {"event":"result", received, cpuUs, ...} (CPU = user + system of
// this process between start and stop).
import * as dgram from 'node:dgram';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import * as readline from 'node:readline';
import * as ringwire from '../../../index';

const { openPacketRing, swapUdpFrame } = ringwire;

const [modeArg, ifname, portText, role] = process.argv.slice(2);
// 'echo': answer every datagram to its sender (the latency runs).
const echo = role === 'echo';
// 'af_xdp@100' / 'socket@100': the packet ring with coalesceUs = 100
// ('@0': off); no '@': the ring's default ('auto', adaptive).
const busy = modeArg.includes('+busy');
const [mode, coalesceText] = modeArg.replace('+busy', '').split('@');
if (busy) ringwire.busyPoll({ budgetUs: 1000 });
const coalesce: { coalesceUs?: number | 'auto' } = coalesceText === undefined ? {} : { coalesceUs: coalesceText === 'auto' ? 'auto' : Number(coalesceText) };
const port = Number(portText);
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
let received = 0;
let ring: ringwire.PacketRing | undefined;
// Where a stall came from: the longest gap between two batches while
// datagrams were arriving, and the longest garbage-collection pause.
let lastBatch = 0;
let maxGapMs = 0;
let gcMaxMs = 0;
const noteBatch = () => {
  const now = performance.now();
  if (lastBatch && now - lastBatch > maxGapMs) maxGapMs = now - lastBatch;
  lastBatch = now;
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, e.duration);
}).observe({ type: 'gc' });

async function open(): Promise<void> {
  if (mode === 'dgram') {
    const s = dgram.createSocket('udp4');
    s.on('message', (m, from) => {
      received++;
      noteBatch();
      if (echo) s.send(m, from.port, from.address);
    });
    await new Promise<void>((r) => s.bind(port, r));
    return;
  }
  if (mode === 'udp' || mode === 'udp-epoll') {
    // ringwire's UDP socket (io_uring multishot receive, or its epoll engine), batch callback.
    const s = ringwire.createUdpSocket({ type: 'udp4', backend: mode === 'udp' ? 'io_uring' : 'epoll', recvBufferSize: 4 << 20 });
    s.onBatch((b) => {
      received += b.count;
      noteBatch();
      if (echo) for (let i = 0; i < b.count; i++) s.reply(b, i);
    });
    s.bind(port, '0.0.0.0');
    return;
  }
  ring = await openPacketRing({ interface: ifname, backend: mode as ringwire.PacketRingBackend, filter: { protocol: 'udp', port }, frameCount: 8192, txFrameCount: echo ? 4096 : 0, batchSize: 256, ...coalesce });
  const r = ring;
  r.onBatch((b) => {
    received += b.count;
    noteBatch();
    if (!echo) {
      b.releaseAll();
      return;
    }
    // In place: swap the addresses and ports, send the frame back.
    for (let i = 0; i < b.count; i++) b.send(i, swapUdpFrame(b.umem, b.offset(i), b.length(i)));
  });
}

open().then(() => {
  out({ event: 'ready', info: ring ? ring.info : { backend: mode } });
  let cpu0: NodeJS.CpuUsage | undefined;
  let stats0: Record<string, number> | undefined;
  readline.createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'start') {
      received = 0;
      lastBatch = 0;
      maxGapMs = 0;
      gcMaxMs = 0;
      stats0 = ring ? { ...ring.refreshStats() } : undefined;
      cpu0 = process.cpuUsage();
      out({ event: 'started' });
    } else if (l === 'stop') {
      const cpu = process.cpuUsage(cpu0);
      const st: Record<string, number> | undefined = ring ? { ...ring.refreshStats() } : undefined;
      const delta = st && Object.fromEntries(Object.keys(st).map((k) => [k, st[k] - stats0![k]]));
      out({ event: 'result', received, cpuUs: cpu.user + cpu.system, stats: delta, maxGapMs, gcMaxMs });
      process.exit(0);
    }
  });
}, (e: NodeJS.ErrnoException) => {
  out({ event: 'error', message: e.message, code: e.code });
  process.exit(1);
});
