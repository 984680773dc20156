// Servers on Node's own modules (node:dgram, node:net, node:http) — the
// baseline users have today. The UDP pair also runs on ringwire/dgram (the
// drop-in), which shows what the compatible API costs over the batch API.
import type * as dgramNs from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';
import type { Counters, RunningServer, ServerStartOptions } from './types';

type DgramModule = Pick<typeof dgramNs, 'createSocket'>;

export async function startUdpNode(o: ServerStartOptions, dgram: DgramModule): Promise<RunningServer> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: o.rcvbuf });
  let packets = 0;
  let bytes = 0;
  let sent = 0;
  let sentBytes = 0;
  let errors = 0;
  sock.on('error', () => {
    errors++;
  });
  if (o.mode === 'udp-echo') {
    sock.on('message', (msg, rinfo) => {
      packets++;
      bytes += msg.length;
      sock.send(msg, rinfo.port, rinfo.address);
      sent++;
      sentBytes += msg.length;
    });
  } else {
    sock.on('message', (msg) => {
      packets++;
      bytes += msg.length;
    });
  }
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(o.port, o.host, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  let rcvbuf: number | undefined;
  try {
    if (o.rcvbuf) rcvbuf = sock.getRecvBufferSize();
  } catch {
    // Only informative.
  }
  return {
    port: sock.address().port,
    counters: (): Counters => ({ packets, bytes, sent, sent_bytes: sentBytes, errors, ...(rcvbuf ? { rcvbuf } : {}) }),
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

export async function startTcpNode(o: ServerStartOptions): Promise<RunningServer> {
  let packets = 0;
  let bytes = 0;
  let sent = 0;
  let sentBytes = 0;
  let errors = 0;
  let accepted = 0;
  let closed = 0;
  const sockets = new Set<net.Socket>();
  const echo = o.mode === 'tcp-echo';
  const server = net.createServer({ noDelay: true }, (s) => {
    accepted++;
    sockets.add(s);
    s.on('data', (d: Buffer) => {
      packets++;
      bytes += d.length;
      if (echo) {
        s.write(d);
        sent++;
        sentBytes += d.length;
      }
    });
    s.on('error', () => {
      errors++;
    });
    s.on('close', () => {
      closed++;
      sockets.delete(s);
    });
  });
  await listen(server, o);
  return {
    port: (server.address() as net.AddressInfo).port,
    counters: (): Counters => ({ packets, bytes, sent, sent_bytes: sentBytes, errors, accepted, closed }),
    close: () => closeServer(server, sockets),
  };
}

const HELLO = Buffer.from('hello world\n');

export interface HttpModule {
  createServer(listener: (req: http.IncomingMessage, res: http.ServerResponse) => void): net.Server;
}

/** HTTP hello world; `mod` is node:http or ringwire's http. */
export async function startHttp(o: ServerStartOptions, mod: HttpModule = http): Promise<RunningServer> {
  let requests = 0;
  let errors = 0;
  const sockets = new Set<net.Socket>();
  const server = mod.createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': HELLO.length });
    res.end(HELLO);
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', () => {
    errors++;
  });
  await listen(server, o);
  return {
    port: (server.address() as net.AddressInfo).port,
    counters: (): Counters => ({ packets: requests, requests, errors }),
    close: () => closeServer(server, sockets),
  };
}

function listen(server: net.Server, o: ServerStartOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: o.port, host: o.host, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
}
