// The same scenarios against node:net and ringwire/net (both backends); the
// observable behaviour - events in order per socket, data, error codes,
// addresses, counters - must match. Scenarios are written so their event
// order is causal (no race between two sockets decides it).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as nodeNet from 'node:net';
import * as rwNet from '../lib/net';
import { needs } from './helpers/skip';
import { dist } from './helpers/child';
import { sleep, until } from './helpers/wait';
import { fdCount } from './helpers/fd';


type NetLike = {
  createServer: typeof nodeNet.createServer;
  connect: typeof nodeNet.connect;
  Socket: typeof nodeNet.Socket;
};

interface Impl {
  name: string;
  net: NetLike;
}

function rwImpl(backend: 'io_uring' | 'epoll'): Impl {
  // ringwire options ride along in the same option objects node:net takes.
  const inject = <T>(o: T): T => (typeof o === 'object' && o !== null ? { backend, ...o } : o);
  return {
    name: `ringwire/net (${backend})`,
    net: {
      createServer: ((o?: unknown, l?: unknown) => (typeof o === 'function' || o === undefined
        ? rwNet.createServer({ backend }, (o ?? l) as never)
        : rwNet.createServer(inject(o) as never, l as never))) as unknown as typeof nodeNet.createServer,
      connect: ((...args: unknown[]) => {
        if (typeof args[0] === 'object' && args[0] !== null) return rwNet.connect(inject(args[0]) as never, args[1] as never);
        const s = new rwNet.Socket({ backend });
        return (s.connect as (...a: unknown[]) => rwNet.Socket)(...args);
      }) as unknown as typeof nodeNet.connect,
      Socket: class extends rwNet.Socket {
        constructor(o: object = {}) {
          super({ backend, ...o });
        }
      } as unknown as typeof nodeNet.Socket,
    },
  };
}

const impls: Impl[] = [{ name: 'node:net', net: nodeNet as NetLike }, ...(needs('io_uring') ? [] : [rwImpl('io_uring')]), rwImpl('epoll')];


/** Records a socket's events as strings. */
function trace(sock: nodeNet.Socket, out: string[], label = ''): void {
  for (const ev of ['connect', 'ready', 'end', 'finish', 'timeout', 'drain']) sock.on(ev, () => out.push(`${label}${ev}`));
  sock.on('data', (d: Buffer | string) => out.push(`${label}data:${d.toString()}`));
  sock.on('error', (e: NodeJS.ErrnoException) => out.push(`${label}error:${e.code}:${e.syscall ?? ''}`));
  sock.on('close', (hadError: boolean) => out.push(`${label}close:${hadError}`));
}

function listen(server: nodeNet.Server, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    (server.listen as (...a: unknown[]) => void)(...args, () => resolve((server.address() as nodeNet.AddressInfo).port));
  });
}

const closed = (s: nodeNet.Socket | nodeNet.Server) => new Promise((r) => s.once('close', r));

type Scenario = (net: NetLike) => Promise<unknown>;

const scenarios: Record<string, Scenario> = {
  async 'echo, then the client ends and both sides close'(net) {
    const srvTrace: string[] = [];
    const cliTrace: string[] = [];
    let sclose!: Promise<unknown>;
    const server = net.createServer((s) => {
      trace(s, srvTrace);
      s.on('data', (d) => s.write(d));
      sclose = closed(s);
    });
    const port = await listen(server, 0, '127.0.0.1');
    const c = net.connect(port, '127.0.0.1');
    trace(c, cliTrace);
    c.once('data', () => c.end());
    c.write('hello');
    await closed(c);
    await sclose;
    const counters = { cliRead: c.bytesRead, cliWritten: c.bytesWritten };
    await new Promise((r) => server.close(r));
    return { srvTrace, cliTrace, counters };
  },

  async 'connect to a closed port: ECONNREFUSED then close(true)'(net) {
    const probe = nodeNet.createServer();
    const port = await listen(probe, 0, '127.0.0.1');
    await new Promise((r) => probe.close(r));
    const t: string[] = [];
    const c = net.connect({ port, host: '127.0.0.1' });
    trace(c, t);
    let err: NodeJS.ErrnoException | undefined;
    c.on('error', (e) => { err = e; });
    await closed(c);
    return { t, err: { code: err?.code, errno: err?.errno, syscall: err?.syscall, address: err?.address, port: err?.port === port, message: err?.message.replace(String(port), 'PORT') } };
  },

  async 'destroy(err) emits error then close(true); destroy() twice is harmless'(net) {
    const server = net.createServer(() => {});
    const port = await listen(server, 0, '127.0.0.1');
    const t: string[] = [];
    const c = net.connect(port, '127.0.0.1');
    trace(c, t);
    await new Promise((r) => c.once('connect', r));
    c.destroy(new Error('boom'));
    c.destroy();
    await closed(c);
    server.close();
    return { t, destroyed: c.destroyed, readyState: c.readyState };
  },

  async 'write after the peer ended (allowHalfOpen false) fails with EPIPE'(net) {
    const server = net.createServer((s) => s.end());
    const port = await listen(server, 0, '127.0.0.1');
    const t: string[] = [];
    const c = net.connect(port, '127.0.0.1');
    trace(c, t);
    let cbErr: string | undefined;
    c.on('end', () => setImmediate(() => c.write('late', (e) => { cbErr = (e as NodeJS.ErrnoException | null)?.code; })));
    await closed(c);
    await sleep(5);
    server.close();
    return { t: t.filter((x) => x !== 'finish'), cbErr };
  },

  async 'setTimeout emits timeout; destroy after it closes cleanly'(net) {
    const server = net.createServer(() => {});
    const port = await listen(server, 0, '127.0.0.1');
    const t: string[] = [];
    const c = net.connect(port, '127.0.0.1');
    trace(c, t);
    c.setTimeout(40, () => c.destroy());
    await closed(c);
    server.close();
    return { t, timeout: c.timeout };
  },

  async 'server.close waits for open connections; getConnections counts them'(net) {
    const order: string[] = [];
    let serverSock!: nodeNet.Socket;
    const server = net.createServer((s) => { serverSock = s; s.on('end', () => s.end()); });
    const port = await listen(server, 0, '127.0.0.1');
    const c = net.connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    while (!serverSock) await sleep(1);
    const count = await new Promise((r) => server.getConnections((_e, n) => r(n)));
    server.close(() => order.push('server close'));
    order.push(`listening:${server.listening}`);
    await sleep(20);
    order.push('client end');
    c.end();
    await closed(c);
    await sleep(20);
    let notRunning: string | undefined;
    await new Promise<void>((r) => server.close((e) => { notRunning = (e as NodeJS.ErrnoException).code; r(); }));
    return { count, order, notRunning };
  },

  async 'maxConnections drops the excess connection'(net) {
    const server = net.createServer(() => {});
    server.maxConnections = 1;
    let drops = 0;
    server.on('drop', () => drops++);
    const port = await listen(server, 0, '127.0.0.1');
    const a = net.connect(port, '127.0.0.1');
    await new Promise((r) => a.once('connect', r));
    await sleep(20);
    const t: string[] = [];
    const b = net.connect(port, '127.0.0.1');
    trace(b, t);
    b.on('error', () => {});
    await closed(b);
    a.destroy();
    server.close();
    return { t: t.filter((x) => !x.startsWith('error')), drops };
  },

  async 'EADDRINUSE on a second listen'(net) {
    const a = net.createServer();
    const port = await listen(a, 0, '127.0.0.1');
    const b = net.createServer();
    const err = await listen(b, port, '127.0.0.1').then(() => undefined, (e: NodeJS.ErrnoException) => e);
    a.close();
    return { code: err?.code, errno: err?.errno, syscall: err?.syscall, address: err?.address, samePort: err?.port === port, listening: b.listening };
  },

  async 'addresses, families and byte counters'(net) {
    let srvSide!: nodeNet.Socket;
    const server = net.createServer((s) => { srvSide = s; s.on('data', (d) => s.end(d)); });
    const port = await listen(server, { port: 0, host: '127.0.0.1' });
    const c = net.connect({ port, host: '127.0.0.1' });
    const pendingBefore = c.pending;
    await new Promise((r) => c.once('connect', r));
    const shape = (a: unknown) => {
      const x = a as nodeNet.AddressInfo;
      return { address: x.address, family: x.family, portOk: typeof x.port === 'number' && x.port > 0 };
    };
    const info = {
      server: shape(server.address()),
      // Private, but read by some code: family, address, the port as asked.
      connectionKey: (server as unknown as { _connectionKey?: string })._connectionKey,
      local: shape(c.address()),
      remote: { address: c.remoteAddress, family: c.remoteFamily, port: c.remotePort === port },
      localAddress: c.localAddress,
      pendingBefore,
      pending: c.pending,
      readyState: c.readyState,
    };
    const anyHost = net.createServer();
    await listen(anyHost, 0);
    (info as Record<string, unknown>).anyHostKey = (anyHost as unknown as { _connectionKey?: string })._connectionKey;
    anyHost.close();
    c.write(Buffer.alloc(1000, 1));
    c.on('data', () => {});
    await closed(c);
    server.close();
    // A closed socket is pending again (node:net: it has no handle).
    return { info, srvRemote: srvSide.remoteAddress, srvRemoteFamily: srvSide.remoteFamily, read: c.bytesRead, written: c.bytesWritten, srvRead: srvSide.bytesRead, pendingAfter: c.pending, stateAfter: c.readyState };
  },

  async 'backpressure: write() turns false against a paused reader, drain follows resume, nothing lost'(net) {
    let srvSide!: nodeNet.Socket;
    let received = 0;
    const server = net.createServer((s) => { srvSide = s; s.pause(); s.on('data', (d) => { received += d.length; }); });
    const port = await listen(server, 0, '127.0.0.1');
    const c = net.connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    const chunk = Buffer.alloc(64 * 1024, 2);
    let written = 0;
    let sawFalse = false;
    let stuck = 0;
    // A polite producer: writes only while the stream wants more. Against a
    // paused reader the kernel buffers fill and it stays stuck.
    for (let i = 0; i < 4000 && stuck < 5; i++) {
      if (c.writableNeedDrain) {
        stuck++;
        await sleep(20);
        continue;
      }
      stuck = 0;
      written += chunk.length;
      if (!c.write(chunk)) sawFalse = true;
      if (i % 16 === 15) await sleep(1);
    }
    while (!srvSide) await sleep(1);
    const bounded = srvSide.readableLength <= 1 << 20 && c.writableLength <= 1 << 20;
    // The kernel may take more while the loop above sleeps (window
    // updates): a drain that already came is not waited for.
    const drained = c.writableNeedDrain ? new Promise((r) => c.once('drain', r)) : Promise.resolve();
    srvSide.resume();
    await drained;
    c.end();
    await closed(c);
    while (received < written) await sleep(2);
    server.close();
    return { sawFalse, stuck: stuck >= 5, bounded, complete: received === written };
  },

  async 'allowHalfOpen: the server answers after the client FIN'(net) {
    const srvTrace: string[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      trace(s, srvTrace);
      s.on('end', () => { s.write('bye'); s.end(); });
    });
    const port = await listen(server, 0, '127.0.0.1');
    const t: string[] = [];
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    trace(c, t);
    c.once('connect', () => c.end('hi'));
    await closed(c);
    await sleep(10);
    server.close();
    return { t, srvTrace };
  },

  async 'write() then destroy() still delivers the write'(net) {
    const server = net.createServer((s) => { s.write('last words'); s.destroy(); });
    const port = await listen(server, 0, '127.0.0.1');
    const t: string[] = [];
    const c = net.connect(port, '127.0.0.1');
    trace(c, t);
    await closed(c);
    server.close();
    return { t };
  },

  async 'resetAndDestroy: the peer sees ECONNRESET'(net) {
    const server = net.createServer((s) => s.on('data', () => s.resetAndDestroy()));
    const port = await listen(server, 0, '127.0.0.1');
    const t: string[] = [];
    const c = net.connect(port, '127.0.0.1');
    trace(c, t);
    c.write('x');
    await closed(c);
    server.close();
    return { t };
  },

  async 'setEncoding, pause and resume deliver strings in order'(net) {
    const server = net.createServer((s) => { s.write('ab'); setTimeout(() => s.end('cd'), 20); });
    const port = await listen(server, 0, '127.0.0.1');
    const c = net.connect(port, '127.0.0.1');
    c.setEncoding('utf8');
    const got: string[] = [];
    c.on('data', (d: string) => { got.push(typeof d); c.pause(); setTimeout(() => c.resume(), 5); });
    let text = '';
    c.on('data', (d: string) => { text += d; });
    await closed(c);
    server.close();
    return { types: [...new Set(got)], text };
  },

  async 'bad arguments throw the same errors'(net) {
    const codes: string[] = [];
    const grab = (fn: () => unknown) => {
      try {
        fn();
        codes.push('no throw');
      } catch (e) {
        codes.push(`${(e as Error).name}:${(e as NodeJS.ErrnoException).code}`);
      }
    };
    grab(() => net.connect({} as nodeNet.NetConnectOpts));
    grab(() => net.connect({ port: 70000 }));
    grab(() => net.connect({ port: -1 }));
    grab(() => net.connect({ port: true as unknown as number }));
    grab(() => net.createServer().listen(70000));
    grab(() => new net.Socket().setTimeout('x' as unknown as number));
    grab(() => new net.Socket({ objectMode: true } as nodeNet.SocketConstructorOpts));
    grab(() => net.connect({ port: 80, localAddress: 'nope' }).destroy());
    return codes;
  },

  async 'a large transfer arrives in data chunks of at most 64 KiB, as libuv reads them'(net) {
    const total = 8 << 20;
    const server = net.createServer((s) => s.end(Buffer.alloc(total, 7)));
    const port = await listen(server, 0, '127.0.0.1');
    const c = net.connect(port, '127.0.0.1');
    let max = 0;
    let got = 0;
    // A slow first reader lets the kernel queue more than 64 KiB per read.
    c.pause();
    setTimeout(() => c.resume(), 50);
    c.on('data', (d: Buffer) => { max = Math.max(max, d.length); got += d.length; });
    await closed(c);
    server.close();
    return { atMost64KiB: max <= 65536, got };
  },

  async 'byte counters: on the prototype, before and while connecting, exact per data chunk'(net) {
    const proto = net.Socket.prototype as unknown as Record<string, unknown>;
    const onProto = ['bytesRead', 'bytesWritten', 'bufferSize', 'pending', '_connecting'].map((k) => [k, proto[k]]);
    // resume(): read the client's bytes and FIN, so that this side closes too.
    const server = net.createServer((s) => { s.resume(); s.write(Buffer.alloc(300000)); s.end(); });
    const port = await listen(server, 0, '127.0.0.1');
    const c = new net.Socket();
    const before = [c.bytesWritten, c.bytesRead, c.bufferSize, (c as unknown as { _connecting: boolean })._connecting, c.pending];
    c.connect(port, '127.0.0.1');
    c.write('abc');
    c.write(Buffer.alloc(10));
    const connecting = [c.bytesWritten, c.bytesRead, c.bufferSize, (c as unknown as { _connecting: boolean })._connecting];
    let exact = true;
    let sum = 0;
    c.on('data', (d: Buffer) => { sum += d.length; if (c.bytesRead !== sum) exact = false; });
    await closed(c);
    server.close();
    return { onProto, before, connecting, exact, after: [c.bytesRead, c.bytesWritten, c.bufferSize] };
  },

  async 'listen() and connect() validate arguments in node:net\'s order, with its messages'(net) {
    const out: string[] = [];
    const grab = (fn: () => unknown) => {
      try {
        fn();
        out.push('no throw');
      } catch (e) {
        out.push(`${(e as Error).name}:${(e as NodeJS.ErrnoException).code}:${(e as Error).message}`);
      }
    };
    grab(() => net.createServer().listen(-1));
    grab(() => net.createServer().listen(1.5));
    grab(() => net.createServer().listen({ port: true } as never));
    grab(() => net.createServer().listen({}));
    grab(() => net.createServer().listen({ port: 0, host: 1 } as never));
    grab(() => net.createServer().listen({ port: 0, signal: 1 } as never));
    grab(() => net.connect({ port: 80, host: '127.0.0.1', autoSelectFamily: 1 } as never));
    grab(() => net.connect({ port: 80, host: '127.0.0.1', autoSelectFamilyAttemptTimeout: 0 }));
    grab(() => net.connect({ port: 80, host: '127.0.0.1', autoSelectFamilyAttemptTimeout: 'x' } as never));
    grab(() => net.connect({ port: {} } as never));
    grab(() => net.connect({ port: 'abc' } as never));
    grab(() => net.connect({ port: 80, localPort: 'x' } as never));
    return out;
  },

  async 'onread: reads land in the given buffer; a false return pauses until resume()'(net) {
    const server = net.createServer((s) => s.end(Buffer.alloc(100000, 1)));
    const port = await listen(server, 0, '127.0.0.1');
    const buf = Buffer.alloc(4096);
    let total = 0;
    let calls = 0;
    let same = true;
    let max = 0;
    const ev: string[] = [];
    const c = net.connect({
      port, host: '127.0.0.1',
      onread: {
        buffer: buf,
        callback(n: number, b: Uint8Array) {
          total += n;
          calls++;
          max = Math.max(max, n);
          if (b !== buf) same = false;
          if (calls === 3) {
            setTimeout(() => { ev.push('resume'); c.resume(); }, 30);
            return false;
          }
          return true;
        },
      },
    });
    for (const e of ['connect', 'end', 'data', 'finish']) c.on(e, () => ev.push(e));
    await closed(c);
    server.close();
    return { total, max: max <= 4096, same, ev, bytesRead: c.bytesRead };
  },

  async 'writes the kernel has taken complete without another wake-up (small writes to a paused peer)'(net) {
    // The peer never reads, but loopback buffers take a few MiB: 1 MiB of
    // 1 KiB writes must all complete (drain) with nothing else happening.
    let peerSide: nodeNet.Socket | undefined;
    const peer = nodeNet.createServer((s) => { peerSide = s; s.pause(); });
    const port = await listen(peer, 0, '127.0.0.1');
    const c = net.connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    const chunk = Buffer.alloc(1024, 3);
    let queued = 0;
    const done = new Promise<boolean>((resolve) => {
      const give = setTimeout(() => resolve(false), 3000);
      const pump = () => {
        while (queued < 1 << 20) {
          queued += chunk.length;
          if (!c.write(chunk)) return;
        }
        clearTimeout(give);
        resolve(true);
      };
      c.on('drain', pump);
      pump();
    });
    const allQueued = await done;
    c.destroy();
    peerSide?.destroy(); // paused, it would never read the EOF
    peer.close();
    return { allQueued };
  },

  async 'setTimeout fires while a write is stuck behind a peer that never reads; destroy then closes'(net) {
    let peerSide: nodeNet.Socket | undefined;
    const peer = nodeNet.createServer((s) => { peerSide = s; s.pause(); });
    const port = await listen(peer, 0, '127.0.0.1');
    const c = net.connect(port, '127.0.0.1');
    const ev: unknown[] = [];
    await new Promise((r) => c.once('connect', r));
    // More than loopback's buffers take: the rest stays queued.
    c.write(Buffer.alloc(32 << 20, 1), (err) => ev.push(['write cb', err?.code ?? null]));
    c.setTimeout(150, () => {
      ev.push(['timeout', c.writableLength > 0]);
      c.destroy();
    });
    c.on('error', (e: NodeJS.ErrnoException) => ev.push(['error', e.code]));
    await closed(c);
    ev.push('close');
    peerSide?.destroy();
    peer.close();
    return ev;
  },

  async 'a closed socket connects again'(net) {
    const server = net.createServer((s) => s.end('hi'));
    const port = await listen(server, 0, '127.0.0.1');
    const t: string[] = [];
    const c = net.connect(port, '127.0.0.1');
    trace(c, t);
    await closed(c);
    t.push('reconnect');
    c.connect(port, '127.0.0.1');
    await closed(c);
    server.close();
    return { t };
  },

  async 'resetAndDestroy while connecting resets once connected, without an error'(net) {
    // The server's side of the connection may be accepted before the reset
    // (always with io_uring's multishot accept, sometimes with node:net): its
    // read then fails with ECONNRESET, an 'error' this test must not leave
    // uncaught on either implementation.
    const server = net.createServer((s) => s.on('error', () => {}));
    const port = await listen(server, 0, '127.0.0.1');
    const t: string[] = [];
    const c = net.connect({ port, host: 'slow.test', autoSelectFamily: false, lookup: ((_h: string, _o: unknown, cb: (e: null, a: string, f: number) => void) => setTimeout(() => cb(null, '127.0.0.1', 4), 10)) as never });
    trace(c, t);
    c.resetAndDestroy();
    await closed(c);
    server.close();
    return { t };
  },

  async 'a custom lookup that yields no address is an ERR_INVALID_IP_ADDRESS error event'(net) {
    const t: string[] = [];
    const c = net.connect({ port: 9, host: 'none.test', autoSelectFamily: false, lookup: ((_h: string, _o: unknown, cb: (e: null, a?: string, f?: number) => void) => cb(null, undefined, 4)) as never });
    trace(c, t);
    let err: Error | undefined;
    c.on('error', (e) => { err = e; });
    await closed(c);
    return { t, name: err?.name, message: err?.message };
  },
};

// The peer is another process, so it sees when bytes really left.
function peerClient(port: number): { first: Promise<number> } {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn(process.execPath, ['-e', `const c=require('node:net').connect(${port},'127.0.0.1');
    c.once('data',()=>{console.log(Date.now());c.destroy()});c.on('error',()=>{})`]);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const first = new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => { child.kill(); reject(new Error('peer got nothing in 10 s')); }, 10_000);
    child.on('close', () => { clearTimeout(t); resolve(Number(out.trim())); });
  });
  return { first };
}

scenarios['a write leaves while the JS that wrote is still running, as uv_try_write sends at once'] = async (net) => {
  // node:net writes in write() itself. A write held until the end of the
  // loop turn would reach the peer only after the handler's own work; an
  // HTTP server's 'finish' handlers and timers would sit on every request.
  let blockedUntil = 0;
  const server = net.createServer((s) => {
    s.write('hello');
    const until = Date.now() + 300;
    while (Date.now() < until) { /* the handler's own work */ }
    blockedUntil = until;
    s.on('error', () => {});
    s.end();
  });
  const port = await listen(server, 0, '127.0.0.1');
  const got = await peerClient(port).first;
  await new Promise((r) => server.close(r));
  return { receivedBeforeHandlerReturned: got < blockedUntil - 100 };
};

// Found by Node's own test suite (test/parallel/test-net-*) run against the drop-in.
scenarios['connect() rejects object modes, bad hints and a non-string path as node:net does'] = async (net) => {
  const dns = await import('node:dns');
  const out: unknown[] = [];
  const tries: Record<string, object> = {
    readableObjectMode: { port: 9, readableObjectMode: true },
    writableObjectMode: { port: 9, writableObjectMode: true },
    hints: { port: 9, host: 'localhost', hints: (dns.ADDRCONFIG | dns.V4MAPPED | dns.ALL) + 42 },
    path: { path: {} },
  };
  for (const [k, o] of Object.entries(tries)) {
    try {
      const c = net.connect(o as never);
      c.on('error', () => {});
      c.destroy();
      out.push([k, 'no throw']);
    } catch (e) {
      out.push([k, (e as NodeJS.ErrnoException).code, (e as Error).name]);
    }
  }
  return out;
};

scenarios['a lookup answering family 100 is ERR_INVALID_ADDRESS_FAMILY; family "IPv4" is taken'] = async (net) => {
  const t: string[] = [];
  const lookup = (_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
    (o.all ? cb(null, [{ address: '127.0.0.1', family: 100 }]) : cb(null, '127.0.0.1', 100));
  const c = net.connect({ host: 'localhost', port: 9, lookup: lookup as never });
  let err: NodeJS.ErrnoException | undefined;
  c.on('error', (e) => { err = e; });
  trace(c, t);
  await closed(c);
  const server = net.createServer((s) => s.end());
  const port = await listen(server, 0, '127.0.0.1');
  const c2 = net.connect({ port, host: 'localhost', family: 'IPv4' as never });
  trace(c2, t, 'ipv4:');
  await closed(c2);
  await new Promise((r) => server.close(r));
  return { t, name: err?.name, message: err?.message };
};

scenarios['autoSelectFamily: every address tried in turn and listed; off, only the first'] = async (net) => {
  const server = net.createServer((s) => s.end());
  const port = await listen(server, 0, '127.0.0.1');
  // ::1 refuses (nothing listens there), 127.0.0.1 answers.
  const lookup = (_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) => process.nextTick(() =>
    (o.all ? cb(null, [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }]) : cb(null, '::1', 6)));
  const t: string[] = [];
  const on = net.connect({ host: 'example.test', port, lookup: lookup as never, autoSelectFamily: true });
  trace(on, t, 'on:');
  on.on('connectionAttemptFailed', (a: string) => t.push(`on:attemptFailed:${a}`));
  await new Promise((r) => on.once('connect', r));
  const attempted = (on as unknown as { autoSelectFamilyAttemptedAddresses?: string[] }).autoSelectFamilyAttemptedAddresses?.map((a) => a.replace(`:${port}`, ':P'));
  on.destroy();
  await closed(on);
  const off = net.connect({ host: 'example.test', port, lookup: lookup as never, autoSelectFamily: false });
  trace(off, t, 'off:');
  await closed(off);
  await new Promise((r) => server.close(r));
  return { t, attempted };
};

scenarios["a 'readable' listener added before connect reads (paused, yet asked to read)"] = async (net) => {
  // undici reads this way; a paused socket that was never asked to read
  // must not read, one that was must.
  const server = net.createServer((s) => s.end('data'));
  const port = await listen(server, 0, '127.0.0.1');
  const c = net.connect(port, '127.0.0.1');
  let got = '';
  c.on('readable', () => { let d; while ((d = c.read()) !== null) got += d; });
  await closed(c);
  await new Promise((r) => server.close(r));
  return got;
};

scenarios['highWaterMark 0: a write still completes and the socket closes'] = async (net) => {
  const t: string[] = [];
  const server = net.createServer((s) => {
    s.on('data', (d) => t.push(`server:data:${d}`));
    s.on('end', () => s.end());
  });
  const port = await listen(server, 0, '127.0.0.1');
  const c = net.connect({ port, host: '127.0.0.1', highWaterMark: 0 } as never);
  await new Promise((r) => c.once('connect', r));
  const done = new Promise((r) => c.end('hi', () => r(t.push('end cb'))));
  await closed(c);
  await done;
  await new Promise((r) => server.close(r));
  return t.sort();
};

scenarios['onread asks for one buffer more for the read that finds the EOF'] = async (net) => {
  const server = net.createServer((s) => s.end(Buffer.from('Hello World!!!')));
  const port = await listen(server, 0, '127.0.0.1');
  let calls = 0;
  let got = 0;
  const c = net.connect({ port, host: '127.0.0.1', onread: { buffer: () => { calls++; return Buffer.alloc(2); }, callback: (n: number) => { got += n; } } } as never);
  await new Promise((r) => c.once('end', r));
  c.destroy();
  await new Promise((r) => server.close(r));
  return { got, calls };
};

scenarios['listen({ signal }): an abort closes the server; an already aborted signal closes it before listening'] = async (net) => {
  const t: string[] = [];
  const within = (p: Promise<unknown>, what: string) => Promise.race([p, sleep(2000).then(() => t.push(`${what} never came`))]);
  const ac = new AbortController();
  const a = net.createServer();
  const aClosed = within(new Promise((r) => a.once('close', () => r(t.push('a:close')))), 'a:close');
  await listen(a, { port: 0, host: '127.0.0.1', signal: ac.signal });
  ac.abort();
  await aClosed;
  const b = net.createServer();
  b.on('listening', () => t.push('b:listening'));
  const bClosed = within(new Promise((r) => b.once('close', () => r(t.push('b:close')))), 'b:close');
  b.listen({ port: 0, host: '127.0.0.1', signal: AbortSignal.abort() });
  await bClosed;
  const listening = [a.listening, b.listening];
  for (const s of [a, b]) if (s.listening) s.close();
  return { t, listening };
};

scenarios['listen() with a path that is not a pipe name throws ERR_INVALID_ARG_VALUE, not an error event'] = async (net) => {
  const out: string[] = [];
  for (const path of [-1, {}, true, '']) {
    const s = net.createServer();
    s.on('error', (e: NodeJS.ErrnoException) => out.push(`error event:${e.code}`));
    try {
      s.listen({ path } as never);
      out.push('no throw');
    } catch (e) {
      out.push(`${(e as Error).name}:${(e as NodeJS.ErrnoException).code}:${(e as Error).message}`);
    }
    await sleep(1);
  }
  return out;
};

scenarios['events.captureRejections: a rejected async connection listener destroys its socket, no unhandled rejection'] = async (net) => {
  const events = require('node:events') as typeof import('node:events');
  const t: string[] = [];
  const before = events.captureRejections;
  let server: nodeNet.Server;
  // Read when the server is built (EventEmitter's constructor): set only around it.
  events.captureRejections = true;
  try {
    server = net.createServer(async (s) => {
      s.on('error', (e) => t.push(`server socket error:${e.message}`));
      s.on('close', (hadError) => t.push(`server socket close:${hadError}`));
      throw new Error('kaboom');
    });
  } finally {
    events.captureRejections = before;
  }
  const port = await listen(server, 0, '127.0.0.1');
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  c.resume();
  t.push(await Promise.race([closed(c).then(() => 'client closed'), sleep(2000).then(() => 'client still open')]));
  c.destroy();
  await new Promise((r) => server.close(r));
  return t;
};

scenarios['pauseOnConnect: the accepted socket reads nothing (bytesRead, readableLength 0) until resume()'] = async (net) => {
  const seen: unknown[] = [];
  let got = '';
  const server = net.createServer({ pauseOnConnect: true }, (s) => {
    // The client's bytes are in the kernel long before this runs.
    setTimeout(() => {
      seen.push(s.bytesRead, s.readableLength, s.isPaused());
      s.on('data', (d) => { got += d; });
      s.on('end', () => s.end());
      s.resume();
    }, 100);
  });
  const port = await listen(server, 0, '127.0.0.1');
  const c = net.connect(port, '127.0.0.1');
  c.end('test');
  await closed(c);
  await new Promise((r) => server.close(r));
  return { seen, got };
};

/**
 * Descriptors a scenario left open once its sockets have had 2 s to close
 * (closes finish asynchronously in both): 0 for node:net and the drop-in.
 */
async function fdsLeft(before: number): Promise<number> {
  await until(() => fdCount() <= before, 2000).catch(() => undefined);
  return fdCount() - before;
}

describe('ringwire/net behaves like node:net', () => {
  // The thread's ring, its eventfd and the epoll backend's descriptors live
  // as long as the thread: opened here, outside any scenario's count.
  const warm = Object.values(scenarios)[0];
  it('(warm-up: each implementation opens its per-thread descriptors)', async () => {
    for (const impl of impls) await warm(impl.net);
  });

  for (const [name, scenario] of Object.entries(scenarios)) {
    it(name, async () => {
      const results: Record<string, unknown> = {};
      for (const impl of impls) {
        const before = fdCount();
        const result = await scenario(impl.net);
        // Nothing leaked: every descriptor the scenario opened is closed.
        results[impl.name] = { result, fdsLeft: await fdsLeft(before) };
      }
      expect(results['node:net']).toMatchObject({ fdsLeft: 0 });
      for (const impl of impls.slice(1)) expect({ impl: impl.name, result: results[impl.name] }).toEqual({ impl: impl.name, result: results['node:net'] });
    });
  }

  it('an unref()ed server does not keep the process alive (both)', () => {
    for (const mod of ['node:net', `${dist}/net.js`]) {
      const r = spawnSync(process.execPath, ['-e', `const net=require(${JSON.stringify(mod)});
        const s=net.createServer(()=>{}).listen(0,'127.0.0.1',()=>{s.unref();console.log('listening')});`], { encoding: 'utf8', timeout: 10_000 });
      expect({ mod, status: r.status, out: r.stdout.trim() }).toEqual({ mod, status: 0, out: 'listening' });
    }
  });

  it('net._setSimultaneousAccepts() warns DEP0121 once per process (both)', () => {
    // Once per process: a child each, or the first module to warn would hide the other's.
    const seen = ['node:net', `${dist}/net.js`].map((mod) => spawnSync(process.execPath, ['--no-warnings', '-e', `const net=require(${JSON.stringify(mod)});
      process.on('warning',(w)=>console.log(w.name,w.code,w.message)); net._setSimultaneousAccepts(true); net._setSimultaneousAccepts(true);`], { encoding: 'utf8', timeout: 10_000 }));
    expect({ status: seen[1].status, out: seen[1].stdout }).toEqual({ status: seen[0].status, out: seen[0].stdout });
    expect(seen[0].stdout.trim().split('\n')).toHaveLength(1);
  });
});

// A libuv stream holds the loop only while it connects, reads or has a
// write waiting; the child connects to a server in this process (which must
// keep running meanwhile, hence an async spawn) and must exit by itself -
// or, for a connection still reading, must not.
function moduleSurface(net: unknown): unknown[] {
  const n = net as unknown as Record<string, (...a: unknown[]) => unknown>;
  const out: unknown[] = [];
  for (const name of ['Server', 'Socket', 'Stream']) {
    try {
      const o = n[name]() as { constructor: unknown; destroy?: () => void; close?: () => void };
      out.push([name, o instanceof (n[name] as unknown as new () => object)]);
      o.destroy?.();
    } catch (e) {
      out.push([name, (e as Error).message]);
    }
  }
  out.push(typeof n.getDefaultAutoSelectFamily?.(), typeof n.getDefaultAutoSelectFamilyAttemptTimeout?.());
  out.push(typeof n.setDefaultAutoSelectFamily, typeof n.setDefaultAutoSelectFamilyAttemptTimeout, typeof n._setSimultaneousAccepts);
  return out;
}

describe('ringwire/net module surface matches node:net', () => {
  it('constructors without new; autoSelectFamily defaults; _setSimultaneousAccepts', () => {
    expect(moduleSurface(rwNet)).toEqual(moduleSurface(nodeNet));
  });
});

describe('ringwire/net: IPC paths are a reported difference, not a throw', () => {
  for (const backend of ['io_uring', 'epoll'] as const) {
    const skip = backend === 'io_uring' ? needs('io_uring') : undefined;
    it.skipIf(!!skip)(`listen(path) and connect(path) emit ERR_FEATURE_UNAVAILABLE_ON_PLATFORM — ${backend}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
      const impl = rwImpl(backend).net;
      const server = impl.createServer();
      const e1 = await new Promise<NodeJS.ErrnoException>((r) => { server.on('error', r); server.listen('/tmp/ringwire-no-ipc.sock'); });
      const c = impl.connect('/tmp/ringwire-no-ipc.sock' as never);
      const t: string[] = [];
      trace(c, t);
      await closed(c);
      expect({ code: e1.code, names: /IPC paths/.test(e1.message), t }).toEqual({ code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM', names: true, t: ['error:ERR_FEATURE_UNAVAILABLE_ON_PLATFORM:connect', 'close:true'] });
    });
  }
});

describe('ringwire/net connections keep the process alive as node:net does', () => {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const runChild = (mod: string, body: string, backend: string, ms: number) =>
    new Promise<{ status: number | null; signal: string | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['-e', `const net=require(${JSON.stringify(mod)});${body}`], {
        env: { ...process.env, RINGWIRE_BACKEND: backend },
      });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      const timer = setTimeout(() => child.kill('SIGTERM'), ms);
      child.on('exit', (status, signal) => {
        clearTimeout(timer);
        resolve({ status, signal, out: out.trim() });
      });
    });
  const cases: Record<string, { server: (s: nodeNet.Socket) => void; body: string; ms: number }> = {
    'a half-closed connection after the peer FIN (allowHalfOpen) lets the process exit': {
      server: (s) => s.end('bye'),
      body: `const c=net.connect({port:+process.argv[1],host:'127.0.0.1',allowHalfOpen:true}); c.on('data',d=>console.log(String(d))); c.on('end',()=>console.log('end'))`,
      ms: 5000,
    },
    'an unread connection whose buffer is full lets the process exit': {
      server: (s) => { s.on('error', () => {}); s.write(Buffer.alloc(4 << 20)); },
      body: `const c=net.connect(+process.argv[1],'127.0.0.1',()=>console.log('connected'))`,
      ms: 5000,
    },
    'a paused connection whose buffer is full lets the process exit': {
      server: (s) => { s.on('error', () => {}); s.write(Buffer.alloc(4 << 20)); },
      body: `const c=net.connect(+process.argv[1],'127.0.0.1',()=>{c.pause();console.log('paused')}); c.on('data',()=>{})`,
      ms: 5000,
    },
    'a connection paused in its connect listener (never read) lets the process exit': {
      server: () => {},
      body: `const c=net.connect(+process.argv[1],'127.0.0.1',()=>{c.pause();console.log('paused')})`,
      ms: 5000,
    },
    'an unref()ed connection that ends still emits close before the process exits': {
      server: (s) => { s.on('error', () => {}); s.on('end', () => s.end()); },
      body: `const c=net.connect(+process.argv[1],'127.0.0.1',()=>{c.unref();c.end('x')}); c.resume(); c.on('close',()=>console.log('close'))`,
      ms: 5000,
    },
    'an idle connection that is still reading keeps the process alive': {
      server: () => {},
      body: `const c=net.connect(+process.argv[1],'127.0.0.1',()=>console.log('connected')); c.on('data',()=>{})`,
      ms: 1500,
    },
  };
  for (const [name, k] of Object.entries(cases)) {
    for (const backend of ['io_uring', 'epoll']) {
      const skip = backend === 'io_uring' ? needs('io_uring') : undefined;
      it.skipIf(!!skip)(`${name} — ${backend}${skip ? ` (skipped: ${skip})` : ''}`, async () => {
        const results: unknown[] = [];
        for (const mod of ['node:net', `${dist}/net.js`]) {
          const server = nodeNet.createServer(k.server);
          const port = await listen(server, 0, '127.0.0.1');
          const r = await runChild(mod, k.body.replace(/\+process\.argv\[1\]/g, String(port)), backend, k.ms);
          results.push(r);
          server.close();
        }
        expect(results[1]).toEqual(results[0]);
      }, 15_000);
    }
  }
});
