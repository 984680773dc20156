// The TCP batch API (lib/tcp.ts), every test against both backends.
// Traffic stays on loopback; crash-prone cases run in child processes.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { configureTcpBuffers, createTcpEndpoint, TcpEvent, type TcpEndpoint, type TcpEndpointOptions } from '../lib/tcp';
import { CONN_STAT_NAMES, TCP_STAT_NAMES } from '../lib/internal/tcp/core';
import { capabilities } from '../lib/capabilities';
import { native } from '../lib/internal/native';
import type { SystemError } from '../lib/internal/errors';
import { needs, skipReason } from './helpers/skip';
import { dist, runChild } from './helpers/child';
import { fdCount } from './helpers/fd';
import { sleep, until } from './helpers/wait';

interface Ev {
  type: number;
  conn: number;
  data?: Buffer;
  err?: SystemError;
  listener?: number;
}

/** An endpoint that records every event; `react` runs inside the batch callback. */
function recorder(backend: 'io_uring' | 'epoll', opts: Partial<TcpEndpointOptions> = {}, react?: (e: Ev, ep: TcpEndpoint) => void) {
  const events: Ev[] = [];
  let batches = 0;
  const ep: TcpEndpoint = createTcpEndpoint({
    backend,
    ...opts,
    onBatch(b) {
      batches++;
      for (let i = 0; i < b.count; i++) {
        const t = b.type(i);
        const e: Ev = { type: t, conn: b.conn(i) };
        if (t === TcpEvent.Data) e.data = Buffer.from(b.data(i));
        if (t === TcpEvent.Error) e.err = b.error(i);
        if (t === TcpEvent.Accept) e.listener = b.listener(i)?.id;
        events.push(e);
        react?.(e, ep);
      }
    },
  });
  const of = (conn: number) => events.filter((e) => e.conn === conn);
  const bytes = (conn: number) => Buffer.concat(of(conn).filter((e) => e.data).map((e) => e.data!));
  return { ep, events, of, bytes, batches: () => batches };
}

const backends = [
  { backend: 'io_uring' as const, skip: needs('io_uring') },
  { backend: 'epoll' as const, skip: undefined },
];

describe('TCP layout', () => {
  it('counter layouts match the native structs', () => {
    expect(TCP_STAT_NAMES.length).toBe(native().tcpLayout.statsFields);
    expect(CONN_STAT_NAMES.length).toBeLessThanOrEqual(native().tcpLayout.connStatsFields);
  });
});

for (const { backend, skip } of backends) {
  describe.skipIf(skipReason(skip))(`TCP batch API (${backend})`, () => {
    const open: TcpEndpoint[] = [];
    const make = (opts: Partial<TcpEndpointOptions> = {}, react?: (e: Ev, ep: TcpEndpoint) => void) => {
      const r = recorder(backend, opts, react);
      open.push(r.ep);
      return r;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((ep) => ep.close()));
    });

    it('echoes over many connections with one callback per batch, events in order, counters right', async () => {
      const srv = make({}, (e, ep) => {
        if (e.type === TcpEvent.Data) ep.send(e.conn, e.data!);
      });
      const l = srv.ep.listen({ host: '127.0.0.1' });
      const port = l.address().port;
      const cli = make({}, (e, ep) => {
        if (e.type === TcpEvent.Connect) ep.send(e.conn, `hello ${e.conn}`);
        if (e.type === TcpEvent.Data && cli.bytes(e.conn).length === `hello ${e.conn}`.length) ep.end(e.conn);
      });
      const ids = Array.from({ length: 50 }, () => cli.ep.connect({ port, host: '127.0.0.1' }));
      await until(() => cli.events.filter((e) => e.type === TcpEvent.Close).length === 50, 5000, 'client closes');
      await until(() => srv.events.filter((e) => e.type === TcpEvent.Close).length === 50, 5000, 'server closes');
      for (const id of ids) {
        expect(cli.bytes(id).toString()).toBe(`hello ${id}`);
        const types = cli.of(id).map((e) => e.type).filter((t) => t !== TcpEvent.Data);
        expect(types).toEqual([TcpEvent.Connect, TcpEvent.End, TcpEvent.Close]);
      }
      const accepted = srv.events.filter((e) => e.type === TcpEvent.Accept);
      expect(accepted.length).toBe(50);
      expect(accepted.every((e) => e.listener === l.id)).toBe(true);
      for (const a of accepted) {
        const types = srv.of(a.conn).map((e) => e.type).filter((t) => t !== TcpEvent.Data);
        expect(types).toEqual([TcpEvent.Accept, TcpEvent.End, TcpEvent.Close]);
      }
      // Batching: fewer callbacks than events.
      expect(srv.batches()).toBeLessThan(srv.events.length);
      const s = srv.ep.stats;
      expect(s.accepted).toBeGreaterThanOrEqual(50);
      expect(s.bytesRead).toBeGreaterThan(0);
    });

    it('sendFrom echoes bytes straight from the receive pool, intact after the pool buffers are recycled', async () => {
      const misuse: unknown[] = [];
      let kept: { batch: unknown } | undefined;
      const srv = createTcpEndpoint({
        backend,
        onBatch(b) {
          for (let i = 0; i < b.count; i++) {
            if (b.type(i) === TcpEvent.Data) srv.sendFrom(b.conn(i), b, i);
            else if (b.type(i) === TcpEvent.Accept) {
              try {
                srv.sendFrom(b.conn(i), b, i); // not a Data event
              } catch (e) {
                misuse.push(e);
              }
            }
          }
          kept = { batch: b };
        },
      });
      open.push(srv);
      const port = srv.listen({ host: '127.0.0.1' }).address().port;
      // More than one pool buffer and above the by-reference size of send().
      const payload = randomBytes(300 * 1024);
      const got: Buffer[] = [];
      let gotLen = 0;
      const sock = net.connect(port, '127.0.0.1');
      sock.on('data', (d) => {
        got.push(d);
        gotLen += d.length;
      });
      sock.write(payload);
      await until(() => gotLen >= payload.length, 5000, 'echo');
      sock.destroy();
      expect(Buffer.concat(got).equals(payload)).toBe(true);
      expect(misuse).toHaveLength(1);
      expect(misuse[0]).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      // Outside the callback the batch is empty: nothing to read from.
      const b = kept!.batch as Parameters<TcpEndpoint['sendFrom']>[1];
      expect(() => srv.sendFrom(1, b, 0)).toThrow(RangeError);
      const other = make();
      expect(() => other.ep.sendFrom(1, b, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    });

    it('coalesces many writes to a connection in one loop turn into one send call (writev-style)', async () => {
      const srv = make();
      const port = srv.ep.listen({ host: '127.0.0.1' }).address().port;
      const cli = make();
      const c = cli.ep.connect({ port, host: '127.0.0.1' });
      await until(() => cli.events.some((e) => e.type === TcpEvent.Connect));
      const before = cli.ep.connStats(c)!;
      const conns = new Int32Array(200).fill(c);
      const chunks = Array.from({ length: 200 }, (_, i) => Buffer.from(`<${i}>`));
      expect(cli.ep.sendBatch(conns, chunks)).toBe(0);
      for (let i = 200; i < 300; i++) cli.ep.send(c, Buffer.from(`<${i}>`));
      const expected = Array.from({ length: 300 }, (_, i) => `<${i}>`).join('');
      const sconn = () => srv.events.find((e) => e.type === TcpEvent.Accept)!.conn;
      await until(() => srv.events.some((e) => e.type === TcpEvent.Accept) && srv.bytes(sconn()).length === expected.length);
      expect(srv.bytes(sconn()).toString()).toBe(expected);
      const after = cli.ep.connStats(c)!;
      expect(after.sendCalls - before.sendCalls).toBe(1);
      expect(after.bytesWritten).toBe(expected.length);
      expect(after.queuedBytes).toBe(0);
      // A turn's first send to an idle connection leaves at once (as a
      // reply should); the burst behind it still goes as one call.
      for (let i = 0; i < 100; i++) cli.ep.send(c, Buffer.from(`(${i})`));
      const more = expected + Array.from({ length: 100 }, (_, i) => `(${i})`).join('');
      await until(() => srv.bytes(sconn()).length === more.length);
      expect(srv.bytes(sconn()).toString()).toBe(more);
      expect(cli.ep.connStats(c)!.sendCalls - after.sendCalls).toBe(2);
    });

    it('large writes (sent from the caller memory) and many small ones arrive intact and in order', async () => {
      const srv = make({}, (e, ep) => {
        if (e.type === TcpEvent.Data) ep.send(e.conn, e.data!);
      });
      const port = srv.ep.listen({ host: '127.0.0.1' }).address().port;
      const payload = randomBytes(6 << 20);
      const cli = make();
      const c = cli.ep.connect({ port, host: '127.0.0.1' });
      for (let off = 0; off < payload.length; ) {
        const n = Math.min(payload.length - off, [1, 100, 9000, 65536, 1 << 20][off % 5]);
        cli.ep.send(c, payload.subarray(off, off + n));
        off += n;
      }
      await until(() => cli.bytes(c).length >= payload.length, 15_000, 'echo of 6 MiB');
      expect(cli.bytes(c).equals(payload)).toBe(true);
      if (backend === 'io_uring' && capabilities().io_uring.bundles) expect(srv.ep.stats.bundles).toBeGreaterThan(0);
    }, 30_000);

    it('half-close: end() sends FIN after queued data, the peer can still answer (allowHalfOpen)', async () => {
      let answered = false;
      const srv = make({ allowHalfOpen: true }, (e, ep) => {
        if (e.type === TcpEvent.End && !answered) {
          answered = true;
          ep.send(e.conn, 'late answer');
          ep.end(e.conn);
        }
      });
      const port = srv.ep.listen({ host: '127.0.0.1' }).address().port;
      const cli = make({ allowHalfOpen: true });
      const c = cli.ep.connect({ port, host: '127.0.0.1' });
      cli.ep.send(c, 'question');
      cli.ep.end(c);
      await until(() => cli.events.some((e) => e.conn === c && e.type === TcpEvent.Close));
      expect(cli.bytes(c).toString()).toBe('late answer');
      const s = srv.events.find((e) => e.type === TcpEvent.Accept)!.conn;
      expect(srv.bytes(s).toString()).toBe('question');
      expect(() => cli.ep.send(c, 'x')).toThrow(expect.objectContaining({ code: 'ERR_RINGWIRE_CLOSED' }));
    });

    it('connect to a closed port fails with ECONNREFUSED (Node-shaped), then Close', async () => {
      const probe = net.createServer().listen(0, '127.0.0.1');
      await new Promise((r) => probe.once('listening', r));
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise((r) => probe.close(r));
      const cli = make();
      const c = cli.ep.connect({ port, host: '127.0.0.1' });
      await until(() => cli.events.some((e) => e.type === TcpEvent.Close));
      const types = cli.of(c).map((e) => e.type);
      expect(types).toEqual([TcpEvent.Error, TcpEvent.Close]);
      expect(cli.of(c)[0].err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
    });

    it('connect timeout fires ETIMEDOUT when the peer never completes the handshake', async () => {
      // A paused listener with backlog 0: once its accept queue is full the
      // kernel drops further SYNs, so the next connect hangs.
      const srv = make();
      const l = srv.ep.listen({ host: '127.0.0.1', backlog: 0 });
      l.pause();
      const port = l.address().port;
      await sleep(20);
      const fillers = Array.from({ length: 3 }, () => net.connect(port, '127.0.0.1').on('error', () => {}));
      await sleep(100);
      const cli = make();
      const t0 = Date.now();
      const c = cli.ep.connect({ port, host: '127.0.0.1', timeout: 300 });
      await until(() => cli.events.some((e) => e.conn === c && e.type === TcpEvent.Close), 5000);
      expect(cli.of(c)[0].err).toMatchObject({ code: 'ETIMEDOUT', syscall: 'connect' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(Date.now() - t0).toBeLessThan(2500);
      for (const f of fillers) f.destroy();
      l.resume();
    });

    it('peer reset mid-write surfaces ECONNRESET or EPIPE and closes the connection', async () => {
      const srv = make({}, (e, ep) => {
        if (e.type === TcpEvent.Data) ep.destroy(e.conn, true);
      });
      const port = srv.ep.listen({ host: '127.0.0.1' }).address().port;
      const cli = make();
      const c = cli.ep.connect({ port, host: '127.0.0.1' });
      const chunk = Buffer.alloc(256 * 1024, 7);
      const timer = setInterval(() => {
        try {
          if (!cli.events.some((e) => e.conn === c && e.type === TcpEvent.Close)) cli.ep.send(c, chunk);
        } catch {
          /* closed meanwhile */
        }
      }, 2);
      await until(() => cli.events.some((e) => e.conn === c && e.type === TcpEvent.Close), 5000);
      clearInterval(timer);
      const err = cli.of(c).find((e) => e.type === TcpEvent.Error)?.err;
      expect(['ECONNRESET', 'EPIPE']).toContain(err?.code);
      expect(err?.syscall === 'write' || err?.syscall === 'read').toBe(true);
    });

    it('a peer that never reads: send() turns false, queued memory stays bounded, Drain follows resume', async () => {
      const srv = make({ recvBufferSize: 65536 }, (e, ep) => {
        if (e.type === TcpEvent.Accept) ep.pause(e.conn);
      });
      const port = srv.ep.listen({ host: '127.0.0.1' }).address().port;
      const hwm = 256 * 1024;
      const cli = make({ highWaterMark: hwm, sendBufferSize: 65536 });
      const c = cli.ep.connect({ port, host: '127.0.0.1' });
      await until(() => cli.events.some((e) => e.type === TcpEvent.Connect));
      const chunk = Buffer.alloc(16 * 1024, 1);
      let sent = 0;
      let drains = 0;
      const rssStart = process.memoryUsage().rss;
      // Write until send() says stop, then only after Drain, like a well
      // behaved producer; the kernel buffers fill and Drain stops coming.
      for (let round = 0; round < 100; round++) {
        let ok = true;
        while (ok) {
          ok = cli.ep.send(c, chunk);
          sent += chunk.length;
        }
        expect(cli.ep.queuedBytes(c)).toBeLessThanOrEqual(hwm + chunk.length);
        const before = cli.events.filter((e) => e.type === TcpEvent.Drain).length;
        await sleep(200);
        drains = cli.events.filter((e) => e.type === TcpEvent.Drain).length;
        if (drains === before) break;
      }
      expect(cli.ep.queuedBytes(c)).toBeGreaterThan(0); // the peer really is not reading
      expect(cli.ep.connStats(c)!.queuedBytes).toBeLessThanOrEqual(hwm + chunk.length);
      expect(process.memoryUsage().rss - rssStart).toBeLessThan(64 << 20);
      const s = srv.events.find((e) => e.type === TcpEvent.Accept)!.conn;
      srv.ep.resume(s);
      await until(() => cli.events.filter((e) => e.type === TcpEvent.Drain).length > drains, 5000, 'drain');
      await until(() => srv.bytes(s).length === sent, 5000, 'all bytes');
    });

    it('destroy with sends and receives in flight releases everything (fd count back to baseline)', async () => {
      const base = fdCount();
      const srv = make({}, (e, ep) => {
        if (e.type === TcpEvent.Data && Math.random() < 0.3) ep.destroy(e.conn);
      });
      const port = srv.ep.listen({ host: '127.0.0.1' }).address().port;
      const cli = make();
      const big = Buffer.alloc(1 << 20, 3);
      const ids: number[] = [];
      for (let i = 0; i < 20; i++) {
        const c = cli.ep.connect({ port, host: '127.0.0.1' });
        ids.push(c);
        for (let k = 0; k < 4; k++) cli.ep.send(c, big);
        cli.ep.send(c, 'tail');
      }
      await sleep(5);
      for (const c of ids) cli.ep.destroy(c);
      await until(() => cli.events.filter((e) => e.type === TcpEvent.Close).length === 20, 5000);
      await until(() => srv.ep.connections === 0, 5000, 'server side closes');
      await srv.ep.close();
      await until(() => fdCount() === base, 3000, 'fds back');
      expect(fdCount()).toBe(base);
    });

    it('idle timeout destroys quiet connections with a Timeout event', async () => {
      const srv = make({ idleTimeout: 80 });
      const port = srv.ep.listen({ host: '127.0.0.1' }).address().port;
      const cli = make();
      const c = cli.ep.connect({ port, host: '127.0.0.1' });
      await until(() => srv.events.some((e) => e.type === TcpEvent.Close), 3000);
      const s = srv.events.find((e) => e.type === TcpEvent.Accept)!.conn;
      expect(srv.of(s).map((e) => e.type)).toEqual([TcpEvent.Accept, TcpEvent.Timeout, TcpEvent.Close]);
      await until(() => cli.events.some((e) => e.conn === c && e.type === TcpEvent.Close), 3000);
    });

    it('socket options: noDelay on by default, keep-alive, buffer sizes, deferAccept, reusePort', async () => {
      const srv = make({ keepAlive: true, keepAliveInitialDelay: 7000, recvBufferSize: 65536, sendBufferSize: 131072 });
      const l = srv.ep.listen({ host: '127.0.0.1', deferAccept: 2, reusePort: true });
      const l2 = srv.ep.listen({ host: '127.0.0.1', port: l.address().port, reusePort: true });
      expect(l2.address().port).toBe(l.address().port);
      const opt = (id: number, level: number, name: number) => {
        const r = native().tcpGetOpt(id, level, name);
        if (typeof r === 'number') throw new Error(`tcpGetOpt(${level}, ${name}): errno ${r}`);
        return r[0];
      };
      expect(opt(l.id, 6, 9)).toBeGreaterThan(0); // TCP_DEFER_ACCEPT (the kernel rounds to its retransmit steps)
      // A negative option value is a value, not an errno: SO_INCOMING_CPU is
      // -1 until a packet reaches the socket (none has reached this listener).
      // Unboxed, it read as -1 = -EPERM.
      expect(opt(l.id, native().sockopt.SOL_SOCKET, native().sockopt.SO_INCOMING_CPU)).toBe(-1);
      const cli = make({ noDelay: false });
      const c = cli.ep.connect({ port: l.address().port, host: '127.0.0.1' });
      cli.ep.send(c, 'x'); // deferred accept waits for data
      await until(() => srv.events.some((e) => e.type === TcpEvent.Accept), 5000);
      const s = srv.events.find((e) => e.type === TcpEvent.Accept)!.conn;
      expect(opt(s, 6, 1)).toBe(1); // TCP_NODELAY (inherited from the listener)
      expect(opt(s, 1, 9)).toBe(1); // SO_KEEPALIVE
      expect(opt(s, 6, 4)).toBe(7); // TCP_KEEPIDLE seconds
      expect(opt(s, 1, 8)).toBe(131072); // SO_RCVBUF (doubled by the kernel)
      expect(opt(c, 6, 1)).toBe(0);
      cli.ep.setNoDelay(c, true);
      expect(opt(c, 6, 1)).toBe(1);
      cli.ep.setKeepAlive(c, true, 3000);
      expect(opt(c, 1, 9)).toBe(1);
      expect(opt(c, 6, 4)).toBe(3);
      expect(cli.ep.remoteAddress(c)).toEqual({ address: '127.0.0.1', family: 'IPv4', port: l.address().port });
      expect(cli.ep.localAddress(c)?.address).toBe('127.0.0.1');
    });

    it('IPv6 and dual-stack listening', async () => {
      const srv = make({}, (e, ep) => {
        if (e.type === TcpEvent.Data) ep.send(e.conn, e.data!);
      });
      const l = srv.ep.listen({ port: 0 }); // '::' dual stack, as node:net
      expect(l.address().address).toBe('::');
      const cli = make();
      const c4 = cli.ep.connect({ port: l.address().port, host: '127.0.0.1' });
      const c6 = cli.ep.connect({ port: l.address().port, host: '::1' });
      cli.ep.send(c4, 'four');
      cli.ep.send(c6, 'six');
      await until(() => cli.bytes(c4).length === 4 && cli.bytes(c6).length === 3);
      expect(cli.ep.remoteAddress(c6)?.family).toBe('IPv6');
    });

    // SEND_ZC is an io_uring operation: for the epoll engine the test is not
    // defined at all (nothing to run there, so nothing is skipped).
    const onlyUring = (backend === 'io_uring' ? it : () => undefined) as typeof it;
    onlyUring('SEND_ZC above the threshold delivers intact data and counts zero-copy sends (io_uring only)', async () => {
      const srv = make();
      const port = srv.ep.listen({ host: '127.0.0.1' }).address().port;
      const cli = make({ zeroCopyThreshold: 32 * 1024 });
      const c = cli.ep.connect({ port, host: '127.0.0.1' });
      const payload = randomBytes(2 << 20);
      for (let off = 0; off < payload.length; off += 256 * 1024) cli.ep.send(c, payload.subarray(off, off + 256 * 1024));
      const s = () => srv.events.find((e) => e.type === TcpEvent.Accept)?.conn ?? -1;
      await until(() => s() >= 0 && srv.bytes(s()).length === payload.length, 10_000);
      expect(srv.bytes(s()).equals(payload)).toBe(true);
      await until(() => cli.ep.queuedBytes(c) === 0);
      expect(cli.ep.connStats(c)!.zcSends).toBeGreaterThan(0);
    });

    it('bad options and arguments throw TypeError/RangeError before any native call', () => {
      const base = fdCount();
      expect(() => createTcpEndpoint({ backend } as unknown as TcpEndpointOptions)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
      expect(() => createTcpEndpoint({ backend: 'dpdk' as 'epoll', onBatch() {} })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => createTcpEndpoint({ backend, onBatch() {}, highWaterMark: 0 })).toThrow(RangeError);
      expect(() => createTcpEndpoint({ backend, onBatch() {}, noDelay: 1 as unknown as boolean })).toThrow(TypeError);
      expect(() => createTcpEndpoint({ backend, onBatch() {}, idleTimeout: -5 })).toThrow(RangeError);
      const { ep } = make();
      expect(() => ep.listen({ port: 70000 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT' }));
      expect(() => ep.listen({ port: 1.5 })).toThrow(RangeError);
      expect(() => ep.listen({ host: 'not an address' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => ep.listen({ backlog: -1 })).toThrow(RangeError);
      expect(() => ep.listen({ deferAccept: 'yes' as unknown as number })).toThrow(TypeError);
      expect(() => ep.connect({} as { port: number })).toThrow(TypeError);
      expect(() => ep.connect({ port: 0 })).toThrow(RangeError);
      expect(() => ep.connect({ port: 80, host: '::1', localAddress: '127.0.0.1' })).toThrow(TypeError);
      expect(() => ep.connect({ port: 80, timeout: -1 })).toThrow(RangeError);
      expect(() => ep.send(123456, 'x')).toThrow(expect.objectContaining({ code: 'ERR_RINGWIRE_CLOSED' }));
      expect(() => ep.sendBatch([1], 'x' as unknown as Uint8Array[])).toThrow(TypeError);
      expect(() => configureTcpBuffers({ bufferCount: 100 })).toThrow(RangeError);
      expect(() => configureTcpBuffers({ bufferSize: 3000 })).toThrow(RangeError);
      expect(fdCount()).toBe(base);
    });

    it('EADDRINUSE listening twice without reusePort', () => {
      const { ep } = make();
      const l = ep.listen({ host: '127.0.0.1' });
      expect(() => ep.listen({ host: '127.0.0.1', port: l.address().port })).toThrow(
        expect.objectContaining({ code: 'EADDRINUSE', errno: -98, syscall: 'listen', address: '127.0.0.1', port: l.address().port }),
      );
    });

    it('buffer starvation (every shared buffer with JS) re-arms receives; nothing is lost', () => {
      const r = runChild(`
        const { configureTcpBuffers, createTcpEndpoint, TcpEvent } = require(${JSON.stringify(dist)} + '/tcp.js');
        configureTcpBuffers({ bufferCount: 64, bufferSize: 1024 });
        const N = 40, SIZE = 200000;
        const got = new Map(); let closed = 0;
        const srv = createTcpEndpoint({ backend: '${backend}', onBatch(b) {
          for (let i = 0; i < b.count; i++) if (b.type(i) === TcpEvent.Data) got.set(b.conn(i), (got.get(b.conn(i)) || 0) + b.length(i));
            else if (b.type(i) === TcpEvent.Close) closed++;
        } });
        const l = srv.listen({ host: '127.0.0.1' });
        const cli = createTcpEndpoint({ backend: '${backend}', onBatch() {} });
        for (let i = 0; i < N; i++) { const c = cli.connect({ port: l.address().port, host: '127.0.0.1' }); cli.send(c, Buffer.alloc(SIZE, i)); cli.end(c); }
        (function check() {
          if (closed < N) return setTimeout(check, 5);
          const total = [...got.values()].reduce((a, b) => a + b, 0);
          console.log(JSON.stringify({ total, want: N * SIZE, starvations: srv.stats.starvations, backend: '${backend}' }));
          srv.close(); cli.close();
        })();`);
      expect(r.stderr).toBe('');
      const j = JSON.parse(r.stdout);
      expect(j.total).toBe(j.want);
      if (backend === 'io_uring') expect(j.starvations).toBeGreaterThan(0);
    });

    it('10,000 concurrent connections opened, used and closed; fd count back to baseline', async () => {
      const base = fdCount();
      let accepted = 0;
      const srv = createTcpEndpoint({
        backend,
        onBatch(b) {
          for (let i = 0; i < b.count; i++) {
            const t = b.type(i);
            if (t === TcpEvent.Accept) accepted++;
            else if (t === TcpEvent.Data) srv.send(b.conn(i), b.data(i));
          }
        },
      });
      const l = srv.listen({ host: '127.0.0.1', backlog: 4096 });
      // The client lives in a child process: each side then holds 10,000 fds,
      // within RLIMIT_NOFILE (20,000 here) without raising it.
      const code = `
        const fs = require('fs');
        const { createTcpEndpoint, TcpEvent } = require(${JSON.stringify(dist)} + '/tcp.js');
        const N = 10000, WAVE = 1000;
        createTcpEndpoint({ backend: '${backend}', onBatch() {} }).close(); // the thread's ring and pool stay
        const base = fs.readdirSync('/proc/self/fd').length;
        let opened = 0, connected = 0, echoed = 0, closed = 0, peak = 0;
        const ids = [];
        const ep = createTcpEndpoint({ backend: '${backend}', onBatch(b) {
          for (let i = 0; i < b.count; i++) {
            const t = b.type(i), c = b.conn(i);
            if (t === TcpEvent.Connect) { connected++; ep.send(c, 'ping'); if (connected === opened) wave(); }
            else if (t === TcpEvent.Data) { if (++echoed === N) { peak = fs.readdirSync('/proc/self/fd').length; for (const id of ids) ep.destroy(id); } }
            else if (t === TcpEvent.Error) { console.error('error', b.error(i).code); process.exit(2); }
            else if (t === TcpEvent.Close && ++closed === N) {
              ep.close().then(() => { console.log(JSON.stringify({ base, peak, after: fs.readdirSync('/proc/self/fd').length, echoed })); });
            }
          }
        } });
        function wave() { for (let i = 0; i < WAVE && opened < N; i++, opened++) ids.push(ep.connect({ port: ${l.address().port}, host: '127.0.0.1' })); }
        wave();`;
      const child = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const { spawn } = require('node:child_process') as typeof import('node:child_process');
        const p = spawn(process.execPath, ['-e', code], { env: { ...process.env } });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => { stdout += d; });
        p.stderr.on('data', (d: Buffer) => { stderr += d; });
        const t = setTimeout(() => p.kill('SIGKILL'), 25_000);
        // 'close', not 'exit': 'exit' can come before the child's stdio
        // sockets are closed, and one still open in this process made the
        // fd count end one above (or, left by the previous backend's run,
        // start one above) its baseline on Node 24 and 26.
        p.on('close', (status) => {
          clearTimeout(t);
          resolve({ status, stdout, stderr });
        });
      });
      expect(child.stderr).toBe('');
      expect(child.status).toBe(0);
      const j = JSON.parse(child.stdout);
      expect(j.echoed).toBe(10_000);
      expect(j.peak).toBeGreaterThanOrEqual(j.base + 10_000);
      expect(j.after).toBe(j.base);
      expect(accepted).toBe(10_000);
      await until(() => srv.connections === 0, 10_000, 'server connections closed');
      await srv.close();
      expect(fdCount()).toBe(base);
    }, 40_000);

    it('terminating a worker with open connections and I/O in flight does not crash the process', () => {
      const r = runChild(`
        const { Worker } = require('node:worker_threads');
        const code = \`const { createTcpEndpoint, TcpEvent } = require(${JSON.stringify(dist)} + '/tcp.js');
          const big = Buffer.alloc(1 << 20, 1);
          const ep = createTcpEndpoint({ backend: '${backend}', onBatch(b) {
            for (let i = 0; i < b.count; i++) if (b.type(i) === TcpEvent.Data) ep.send(b.conn(i), b.data(i));
          } });
          const l = ep.listen({ host: '127.0.0.1' });
          for (let i = 0; i < 20; i++) { const c = ep.connect({ port: l.address().port, host: '127.0.0.1' }); for (let k = 0; k < 4; k++) ep.send(c, big); }
          setInterval(() => {}, 1000);
          require('node:worker_threads').parentPort.postMessage('ready');\`;
        let done = 0;
        for (let i = 0; i < 3; i++) {
          const w = new Worker(code, { eval: true });
          w.on('message', () => setTimeout(() => w.terminate().then(() => { if (++done === 3) console.log('ok'); }), 30));
          w.on('error', (e) => { console.error(e); process.exit(3); });
        }`);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('ok');
      expect(r.status).toBe(0);
    });

    it('an unref()ed endpoint does not keep the process alive; a ref()ed one does until closed', () => {
      const r = runChild(`const { createTcpEndpoint } = require(${JSON.stringify(dist)} + '/tcp.js');
        const a = createTcpEndpoint({ backend: '${backend}', onBatch() {} }); a.listen({ host: '127.0.0.1' }); a.unref();
        const b = createTcpEndpoint({ backend: '${backend}', onBatch() {} }); b.listen({ host: '127.0.0.1' });
        setTimeout(() => b.close().then(() => console.log('closed')), 100);`);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe('closed');
    });
  });
}

describe('TCP backend selection', () => {
  it('RINGWIRE_BACKEND=epoll forces the epoll backend for auto', () => {
    const r = spawnSync(process.execPath, ['-e', `const {createTcpEndpoint}=require(${JSON.stringify(dist)}+'/tcp.js');const e=createTcpEndpoint({onBatch(){}});console.log(e.backend);e.close()`], { encoding: 'utf8', env: { ...process.env, RINGWIRE_BACKEND: 'epoll' } });
    expect(r.stdout.trim()).toBe('epoll');
  });
});
