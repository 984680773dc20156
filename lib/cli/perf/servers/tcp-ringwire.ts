// ringwire TCP servers for `ringwire perf`: tcp-echo and tcp-sink on the
// batch API (impl 'ringwire' = io_uring, 'ringwire-epoll') and on the
// net-compatible layer ('ringwire-net', what moving a node:net server costs).
// Counters follow the C rw-server's names (see types.ts).
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer, type Socket } from '../../../net';
import { configureTcpBuffers, createTcpEndpoint, TcpEvent } from '../../../tcp';
import type { Counters, RunningServer, ServerStartOptions } from './types';

export type TcpServerOptions = Pick<ServerStartOptions, 'host' | 'port' | 'rcvbuf' | 'bufs'> & {
  mode: 'tcp-echo' | 'tcp-sink' | string;
  impl: 'ringwire' | 'ringwire-epoll' | 'ringwire-net' | string;
};

interface Count {
  packets: number;
  bytes: number;
  sent: number;
  sentBytes: number;
  errors: number;
  accepted: number;
  closed: number;
}

const counters = (c: Count, extra: Counters = {}): Counters => ({
  packets: c.packets, bytes: c.bytes, sent: c.sent, sent_bytes: c.sentBytes, errors: c.errors, accepted: c.accepted, closed: c.closed, ...extra,
});

export async function runTcpServer(o: TcpServerOptions): Promise<RunningServer> {
  if (o.bufs !== undefined) configureTcpBuffers({ bufferCount: o.bufs });
  return o.impl === 'ringwire-net' ? netServer(o) : batchServer(o);
}

async function batchServer(o: TcpServerOptions): Promise<RunningServer> {
  const c: Count = { packets: 0, bytes: 0, sent: 0, sentBytes: 0, errors: 0, accepted: 0, closed: 0 };
  const echo = o.mode === 'tcp-echo';
  // Each echo is copied from the receive pool to the connection's send
  // queue in native code (sendFrom): no view, no array per batch.
  const ep = createTcpEndpoint({
    backend: o.impl === 'ringwire-epoll' ? 'epoll' : 'io_uring',
    recvBufferSize: o.rcvbuf,
    onBatch(b) {
      for (let i = 0; i < b.count; i++) {
        switch (b.type(i)) {
          case TcpEvent.Data: {
            const len = b.length(i);
            c.packets++;
            c.bytes += len;
            if (echo) {
              ep.sendFrom(b.conn(i), b, i);
              c.sent++;
              c.sentBytes += len;
            }
            break;
          }
          case TcpEvent.Accept:
            c.accepted++;
            break;
          case TcpEvent.Error:
            c.errors++;
            break;
          case TcpEvent.Close:
            c.closed++;
            break;
        }
      }
    },
  });
  const l = ep.listen({ host: o.host, port: o.port, backlog: 4096 });
  return {
    port: l.address().port,
    counters: () => counters(c, { backend: ep.backend, ringwire: ep.stats as unknown as Record<string, unknown> }),
    close: () => ep.close(),
  };
}

async function netServer(o: TcpServerOptions): Promise<RunningServer> {
  const c: Count = { packets: 0, bytes: 0, sent: 0, sentBytes: 0, errors: 0, accepted: 0, closed: 0 };
  const echo = o.mode === 'tcp-echo';
  const sockets = new Set<Socket>();
  // The same code a node:net server would run, with ringwire/net imported.
  const server = createNetServer({ noDelay: true }, (s) => {
    c.accepted++;
    sockets.add(s);
    s.on('data', (d: Buffer) => {
      c.packets++;
      c.bytes += d.length;
      if (echo) {
        s.write(d);
        c.sent++;
        c.sentBytes += d.length;
      }
    });
    s.on('error', () => {
      c.errors++;
    });
    s.on('close', () => {
      c.closed++;
      sockets.delete(s);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host, port: o.port, backlog: 4096 }, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    counters: () => counters(c),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
