// udp-echo and udp-sink on ringwire's batch API (impls ringwire and its
// wake-mode variants, ringwire-epoll). One callback per batch, and nothing is
// allocated per datagram: the echo goes back with reply().
import { loopStats } from '../../../internal/loop';
import { type Backend, type UdpBatch, createUdpSocket } from '../../../udp';
import type { Counters, RunningServer, ServerStartOptions } from './types';

function backendOf(impl: string): Backend {
  return impl === 'ringwire-epoll' ? 'epoll' : 'io_uring';
}

export async function startUdpRingwire(o: ServerStartOptions): Promise<RunningServer> {
  const sock = createUdpSocket({
    type: 'udp4',
    backend: backendOf(o.impl),
    recvBufferSize: o.rcvbuf,
    // As many buffers as the C io_uring server by default: a sink at full
    // rate needs the headroom between two loop turns.
    bufferCount: o.bufs ?? 4096,
    bufferSize: 2048,
  });
  let errors = 0;
  sock.on('error', () => {
    errors++;
  });
  let batches = 0;
  if (o.mode === 'udp-echo') {
    // reply() sends each datagram back to its source straight from the
    // receive pool: no address parsing, no allocation per datagram.
    sock.onBatch((b: UdpBatch) => {
      batches++;
      const n = b.count;
      for (let i = 0; i < n; i++) sock.reply(b, i);
    });
  } else {
    sock.onBatch(() => {
      batches++;
    });
  }
  let addr;
  try {
    addr = sock.bind(o.port, o.host);
  } catch (e) {
    sock.close();
    throw e;
  }
  let rcvbuf: number | undefined;
  try {
    if (o.rcvbuf) rcvbuf = sock.getRecvBufferSize();
  } catch {
    // Only informative.
  }
  const loopAtStart = loopStats();
  return {
    port: addr.port,
    counters: (): Counters => {
      const s = sock.stats;
      const l = loopStats();
      const ring: Record<string, unknown> = {};
      if (l) for (const k of Object.keys(l) as (keyof typeof l)[]) ring[k] = l[k] - (loopAtStart?.[k] ?? 0);
      return {
        packets: s.rxDatagrams,
        bytes: s.rxBytes,
        sent: s.txDatagrams,
        sent_bytes: s.txBytes,
        errors: errors + s.sendErrors,
        batches,
        kernel_drops: s.kernelDrops,
        starvations: s.starvations,
        rearms: s.rearms,
        truncated: s.truncated,
        backend: sock.backend,
        ...(rcvbuf ? { rcvbuf } : {}),
        loop: ring,
      };
    },
    close: () => sock.close(),
  };
}
