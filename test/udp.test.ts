// UDP sockets, every test against both backends. Traffic stays on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { createUdpSocket, type UdpSocket, type UdpSocketOptions } from '../lib/udp';
import { UDP_STAT_NAMES } from '../lib/internal/udp/stats';
import { native } from '../lib/internal/native';
import { needs, skipReason } from './helpers/skip';
import { dist, runChild } from './helpers/child';
import { fdCount } from './helpers/fd';
import { sleep, until } from './helpers/wait';
import { worldReadableCopy } from './helpers/unprivileged';

const backends = [
  { backend: 'io_uring' as const, skip: needs('io_uring') },
  { backend: 'epoll' as const, skip: undefined },
];

for (const { backend, skip } of backends) {
  describe.skipIf(skipReason(skip))(`UDP (${backend})`, () => {
    const open: UdpSocket[] = [];
    const make = (o: Partial<UdpSocketOptions> = {}) => {
      const s = createUdpSocket({ type: 'udp4', backend, ...o });
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('echoes datagrams intact with the right source address (udp4 and udp6)', async () => {
      for (const type of ['udp4', 'udp6'] as const) {
        const host = type === 'udp4' ? '127.0.0.1' : '::1';
        const a = make({ type });
        const b = make({ type });
        a.bind(0, host);
        b.bind(0, host);
        a.on('message', (msg: Buffer, rinfo) => a.queue(msg, rinfo.port, rinfo.address));
        const got: { msg: Buffer; rinfo: { address: string; port: number; family: string; size: number } }[] = [];
        b.on('message', (msg: Buffer, rinfo) => got.push({ msg, rinfo }));
        for (let i = 0; i < 20; i++) await b.send(Buffer.from(`ping ${i} ${'x'.repeat(i * 50)}`), a.address().port, host);
        await until(() => got.length === 20);
        got.sort((x, y) => parseInt(x.msg.toString().split(' ')[1]) - parseInt(y.msg.toString().split(' ')[1]));
        got.forEach((g, i) => {
          expect(g.msg.toString()).toBe(`ping ${i} ${'x'.repeat(i * 50)}`);
          expect(g.rinfo).toEqual({ address: host, family: type === 'udp4' ? 'IPv4' : 'IPv6', port: a.address().port, size: g.msg.length });
        });
        expect(a.stats.rxDatagrams).toBe(20);
        expect(a.stats.txDatagrams).toBe(20);
      }
    });

    it('a reply leaves while the JS that sent it still runs; the rest of a dispatch follow in order, none lost', async () => {
      // The first datagram a dispatch sends goes at once (UdpHandle::Send),
      // the others queue behind it: the peer, another process, must see
      // the first reply before the handler's 300 ms of work end, and every
      // reply of a burst, in the order sent.
      const server = make();
      server.bind(0, '127.0.0.1');
      let blockedUntil = 0;
      let first = true;
      server.onBatch((b) => {
        for (let i = 0; i < b.count; i++) server.reply(b, i);
        if (first) {
          first = false;
          const until = Date.now() + 300;
          while (Date.now() < until) { /* the handler's own work */ }
          blockedUntil = until;
        }
      });
      const { spawn } = await import('node:child_process');
      const peer = spawn(process.execPath, ['-e', `const s=require('node:dgram').createSocket('udp4');
        const got=[];let t=0;
        s.on('message',(m)=>{if(!t){t=Date.now();for(let i=0;i<50;i++)s.send(String(i),${server.address().port},'127.0.0.1');return}
          got.push(Number(String(m)));if(got.length===50){console.log(JSON.stringify({t,got}));process.exit(0)}});
        s.send('ping',${server.address().port},'127.0.0.1');setTimeout(()=>{console.log(JSON.stringify({t,got}));process.exit(1)},8000)`]);
      let out = '';
      peer.stdout.on('data', (d) => (out += d));
      await new Promise((r) => peer.on('close', r));
      const r = JSON.parse(out.trim().split('\n')[0]) as { t: number; got: number[] };
      expect(r.t).toBeLessThan(blockedUntil - 100);
      expect(r.got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    });

    it('batch receive hands one batch of views without per-datagram events', async () => {
      const a = make();
      const b = make();
      a.bind(0, '127.0.0.1');
      const seen: string[] = [];
      let batches = 0;
      a.onBatch((batch) => {
        batches++;
        for (let i = 0; i < batch.count; i++) {
          seen.push(Buffer.from(batch.payload(i)).toString());
          expect(batch.port(i)).toBe(b.address().port);
          expect(batch.ipv4(i)).toBe(0x7f000001);
          expect(batch.truncated(i)).toBe(false);
        }
      });
      b.bind(0, '127.0.0.1');
      const port = a.address().port;
      await b.sendBatch(Array.from({ length: 100 }, (_, i) => ({ data: Buffer.from(`m${i}`), port, address: '127.0.0.1' })));
      await until(() => seen.length === 100);
      expect(new Set(seen).size).toBe(100);
      expect(batches).toBeLessThan(100);
      expect(a.stats.batches).toBe(batches);
    });

    it('reply() answers each datagram source straight from the receive pool', async () => {
      const server = make();
      server.bind(0, '127.0.0.1');
      server.onBatch((batch) => {
        for (let i = 0; i < batch.count; i++) server.reply(batch, i);
      });
      expect(() => server.reply({} as never, 0)).toThrow(TypeError);
      const clients = [make(), make({ type: 'udp6' })];
      const got: string[] = [];
      clients[0].bind(0, '127.0.0.1');
      clients[1].bind(0, '::ffff:127.0.0.1');
      for (const c of clients) c.on('message', (m: Buffer) => got.push(m.toString()));
      await clients[0].send(Buffer.from('v4'), server.address().port, '127.0.0.1');
      await clients[1].send(Buffer.from('mapped'), server.address().port, '::ffff:127.0.0.1');
      await until(() => got.length === 2);
      expect(got.sort()).toEqual(['mapped', 'v4']);
      expect(server.stats.txDatagrams).toBe(2);
    });

    it('buffer starvation (every buffer in use) re-arms the receive and never goes deaf', async () => {
      const a = make({ bufferCount: 4, recvBufferSize: 1 << 20 });
      const b = make();
      a.bind(0, '127.0.0.1');
      let n = 0;
      a.onBatch((batch) => {
        n += batch.count;
      });
      b.bind(0, '127.0.0.1');
      const port = a.address().port;
      for (let round = 0; round < 5; round++) {
        await b.sendBatch(Array.from({ length: 64 }, () => ({ data: Buffer.alloc(32), port, address: '127.0.0.1' })));
      }
      await until(() => n === 320);
      if (backend === 'io_uring') {
        expect(a.stats.starvations).toBeGreaterThan(0);
        expect(a.stats.rearms).toBeGreaterThan(0);
      }
      // Still listening after the starvation.
      await b.send(Buffer.from('after'), port, '127.0.0.1');
      await until(() => n === 321);
    });

    it('flags truncated datagrams (buffer smaller than the datagram)', async () => {
      const a = make({ bufferSize: 256 });
      const b = make();
      a.bind(0, '127.0.0.1');
      const lens: [number, boolean][] = [];
      a.onBatch((batch) => {
        for (let i = 0; i < batch.count; i++) lens.push([batch.length(i), batch.truncated(i)]);
      });
      await b.send(Buffer.alloc(1000, 7), a.address().port, '127.0.0.1');
      await b.send(Buffer.alloc(10, 7), a.address().port, '127.0.0.1');
      await until(() => lens.length === 2);
      expect(lens[0][1]).toBe(true);
      expect(lens[0][0]).toBeLessThan(256);
      expect(lens[1]).toEqual([10, false]);
      expect(a.stats.truncated).toBe(1);
    });

    // Queues far more than a 4 KiB receive buffer holds while the thread is
    // busy (nothing is read while the kernel delivers them), then waits for
    // the first batch.
    async function overflowed() {
      const a = make({ recvBufferSize: 4096 });
      const b = make();
      a.bind(0, '127.0.0.1');
      const got = { n: 0 };
      a.onBatch((batch) => {
        got.n += batch.count;
      });
      b.bind(0, '127.0.0.1');
      const port = a.address().port;
      b.sendBatch(Array.from({ length: 500 }, () => ({ data: Buffer.alloc(200), port, address: '127.0.0.1' })));
      native().loopFlush();
      await until(() => got.n > 0);
      const poke = () => b.send(Buffer.from('x'), port, '127.0.0.1');
      return { a, got, poke };
    }

    it('reports kernel drops (SO_MEMINFO) when the receive queue overflows', async () => {
      const { a, got, poke } = await overflowed();
      await poke();
      await until(() => a.stats.kernelDrops > 0);
      expect(a.stats.kernelDrops + got.n).toBeGreaterThanOrEqual(400);
    });

    it('keeps the drop counter in the stats memory current while datagrams arrive, without a stats read', async () => {
      const { a, got, poke } = await overflowed();
      // The raw counters JS shares with native code (what `stats` copies).
      const raw: Float64Array = (a as unknown as { statsView: { view: Float64Array } }).statsView.view;
      const drops = UDP_STAT_NAMES.indexOf('kernelDrops');
      // Datagrams keep arriving for longer than the refresh period.
      const deadline = Date.now() + 2000;
      while (raw[drops] === 0 && Date.now() < deadline) {
        await poke();
        await new Promise((r) => setTimeout(r, 2));
      }
      expect(raw[drops]).toBeGreaterThan(0);
      expect(raw[drops] + got.n).toBeGreaterThanOrEqual(400);
    });

    it('delivers kernel receive timestamps when asked', async () => {
      const a = make({ timestamps: true });
      const b = make();
      a.bind(0, '127.0.0.1');
      let ts = 0;
      a.onBatch((batch) => {
        ts = batch.timestamp(0);
      });
      await b.send(Buffer.from('t'), a.address().port, '127.0.0.1');
      await until(() => ts !== 0);
      expect(Math.abs(ts / 1e6 - Date.now())).toBeLessThan(5000);
    });

    it('connect/disconnect, remoteAddress and sendBatch to a connected peer', async () => {
      const a = make();
      const b = make();
      a.bind(0, '127.0.0.1');
      let n = 0;
      a.onBatch((batch) => {
        n += batch.count;
      });
      b.connect(a.address().port, '127.0.0.1');
      expect(b.remoteAddress()).toEqual({ address: '127.0.0.1', family: 'IPv4', port: a.address().port });
      await b.sendBatch([Buffer.from('1'), Buffer.from('2'), Buffer.from('3')]);
      await b.send(Buffer.from('4'));
      await until(() => n === 4);
      expect(() => b.send(Buffer.from('x'), 1234, '127.0.0.1')).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' }));
      b.disconnect();
      expect(() => b.remoteAddress()).toThrow(expect.objectContaining({ code: 'ENOTCONN' }));
    });

    it('async iterator yields datagrams and ends on close', async () => {
      const a = make();
      const b = make();
      a.bind(0, '127.0.0.1');
      const got: string[] = [];
      const done = (async () => {
        for await (const { msg } of a) {
          got.push(msg.toString());
          if (got.length === 3) void a.close();
        }
      })();
      for (const m of ['a', 'b', 'c']) await b.send(Buffer.from(m), a.address().port, '127.0.0.1');
      await done;
      expect(got).toEqual(['a', 'b', 'c']);
    });

    it('socket options apply (multicast, TTL, TOS, priority, busy poll, broadcast, buffer sizes, incoming CPU)', () => {
      const a = make();
      a.bind(0, '127.0.0.1');
      a.setBroadcast(true);
      a.setTTL(17);
      a.setMulticastTTL(3);
      a.setMulticastLoopback(true);
      a.setMulticastInterface('127.0.0.1');
      a.addMembership('239.255.1.2', '127.0.0.1');
      a.dropMembership('239.255.1.2', '127.0.0.1');
      a.setTOS(0x10);
      a.setPriority(3);
      a.setBusyPoll(50);
      a.setRecvBufferSize(65536);
      expect(a.getRecvBufferSize()).toBe(131072); // the kernel doubles it
      expect(a.incomingCpu).toBeGreaterThanOrEqual(-1); // -1 until a datagram arrives
      expect(() => a.dropMembership('239.255.1.2', '127.0.0.1')).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL', syscall: 'dropMembership' }));
    });

    it('bad arguments throw TypeError/RangeError before any native call', () => {
      expect(() => createUdpSocket({ type: 'udp5' as 'udp4', backend })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => createUdpSocket({ type: 'udp4', backend, bufferCount: 1000 })).toThrow(RangeError);
      expect(() => createUdpSocket({ type: 'udp4', backend, bufferSize: 100 })).toThrow(RangeError);
      expect(() => createUdpSocket({ type: 'udp4', backend, reuseAddr: 'yes' as unknown as boolean })).toThrow(TypeError);
      expect(() => createUdpSocket({ type: 'udp4', backend: 'dpdk' as 'epoll' })).toThrow(TypeError);
      const a = make();
      expect(() => a.bind(70000)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => a.bind('80' as unknown as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      expect(() => a.bind(0, '::1')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => a.bind(0, '300.1.1.1')).toThrow(TypeError);
      expect(() => a.send(Buffer.from('x'), 0, '127.0.0.1')).toThrow(RangeError);
      expect(() => a.send(42 as unknown as Buffer, 1, '127.0.0.1')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      expect(() => a.setTTL(0)).toThrow(RangeError);
    });

    it('EADDRINUSE on a second bind arrives as a Node-shaped error', () => {
      const a = make();
      a.bind(0, '127.0.0.1');
      const b = make();
      let err: NodeJS.ErrnoException | undefined;
      try {
        b.bind(a.address().port, '127.0.0.1');
      } catch (e) {
        err = e as NodeJS.ErrnoException;
      }
      expect(err).toMatchObject({ code: 'EADDRINUSE', errno: -98, syscall: 'bind', address: '127.0.0.1', port: a.address().port });
      expect(err!.message).toBe(`bind EADDRINUSE 127.0.0.1:${a.address().port}`);
    });

    it('EACCES binding a privileged port as an unprivileged user', () => {
      const start = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
      if (skipReason(process.getuid?.() !== 0 ? 'needs root to run a child as nobody' : start <= 80 ? `ip_unprivileged_port_start is ${start}` : undefined)) return;
      // The child runs from a world-readable copy: nobody may not be able to
      // read the checkout or the folder holding node.
      const c = worldReadableCopy();
      const r = spawnSync(c.node, ['-e', `const {createUdpSocket}=require(${JSON.stringify(c.dist)});const s=createUdpSocket({type:'udp4',backend:'${backend}'});try{s.bind(80,'127.0.0.1');console.log('bound')}catch(e){console.log(JSON.stringify({code:e.code,errno:e.errno,syscall:e.syscall}))}s.close()`],
        { encoding: 'utf8', timeout: 30_000, uid: 65534, gid: 65534, cwd: os.tmpdir(), env: c.env });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ code: 'EACCES', errno: -13, syscall: 'bind' });
    });

    it('send after close fails cleanly and close is idempotent', async () => {
      const a = make();
      a.bind(0, '127.0.0.1');
      const p1 = a.close();
      const p2 = a.close();
      await Promise.all([p1, p2]);
      expect(() => a.send(Buffer.from('x'), 1, '127.0.0.1')).toThrow(expect.objectContaining({ code: 'ERR_RINGWIRE_CLOSED' }));
      expect(() => a.address()).toThrow(expect.objectContaining({ code: 'ERR_RINGWIRE_CLOSED' }));
      expect(a.stats.rxDatagrams).toBe(0); // counters stay readable after close
    });

    it('opens and closes 10,000 sockets with the fd count back to baseline', async () => {
      const base = fdCount();
      for (let round = 0; round < 10; round++) {
        const socks = Array.from({ length: 1000 }, () => createUdpSocket({ type: 'udp4', backend, bufferCount: 4, bufferSize: 256 }));
        for (const s of socks) s.bind(0, '127.0.0.1');
        await Promise.all(socks.map((s) => s.close()));
      }
      expect(fdCount()).toBe(base);
    }, 120_000);

    it('close with receives and zero-copy sends in flight completes every send and frees everything', async () => {
      const base = fdCount();
      const a = createUdpSocket({ type: 'udp4', backend, zeroCopyThreshold: 4096, sendBufferSize: 1 << 22 });
      const b = make();
      b.bind(0, '127.0.0.1');
      b.onBatch(() => {});
      a.bind(0, '127.0.0.1');
      a.onBatch(() => {});
      const results: (Error | null)[] = [];
      const big = Buffer.alloc(60000, 1);
      for (let i = 0; i < 50; i++) a.send(big, b.address().port, '127.0.0.1', (err) => results.push(err));
      await a.close();
      expect(results.length).toBe(50);
      for (const r of results) if (r) expect((r as NodeJS.ErrnoException).code).toMatch(/ECANCELED|ERR_RINGWIRE_CLOSED/);
      if (backend === 'io_uring') expect(a.stats.zcSends + a.stats.sendErrors).toBeGreaterThan(0);
      expect(fdCount()).toBe(base + 1);
    });

    it('terminating a worker with open sockets and sends in flight does not crash the process', () => {
      const r = runChild(`
        const { Worker } = require('node:worker_threads');
        const code = \`const {createUdpSocket}=require(${JSON.stringify(dist)});
          const a=createUdpSocket({type:'udp4',backend:'${backend}'});a.bind(0,'127.0.0.1');a.onBatch(()=>{});
          const b=createUdpSocket({type:'udp4',backend:'${backend}',zeroCopyThreshold:1024});b.bind(0,'127.0.0.1');
          const big=Buffer.alloc(30000);
          setInterval(()=>{for(let i=0;i<50;i++){b.queue(big,a.address().port,'127.0.0.1');b.queue(Buffer.from('x'),a.address().port,'127.0.0.1')}},1);
          require('node:worker_threads').parentPort.postMessage('ready');\`;
        let done = 0;
        for (let i = 0; i < 4; i++) {
          const w = new Worker(code, { eval: true });
          w.on('message', () => setTimeout(() => w.terminate().then(() => { if (++done === 4) console.log('ok') }), 50));
          w.on('error', (e) => { console.error(e); process.exit(3); });
        }`);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('ok');
      expect(r.status).toBe(0);
    });

    it('an unref()ed socket does not keep the process alive; a ref()ed one does until closed', () => {
      const r = runChild(`const {createUdpSocket}=require(${JSON.stringify(dist)});
        const a=createUdpSocket({type:'udp4',backend:'${backend}'});a.bind(0,'127.0.0.1');a.onBatch(()=>{});a.unref();
        const b=createUdpSocket({type:'udp4',backend:'${backend}'});b.bind(0,'127.0.0.1');
        setTimeout(()=>b.close(()=>console.log('closed')),100);`);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe('closed');
    });

    it('a socket dropped without close is released by GC', () => {
      const r = runChild(`const fs=require('fs');const {createUdpSocket}=require(${JSON.stringify(dist)});
        const keep=createUdpSocket({type:'udp4',backend:'${backend}'}); keep.unref();
        const base=fs.readdirSync('/proc/self/fd').length;
        (()=>{for(let i=0;i<200;i++){const s=createUdpSocket({type:'udp4',backend:'${backend}',bufferCount:4,bufferSize:256});s.bind(0,'127.0.0.1');s.unref()}})();
        const grown=fs.readdirSync('/proc/self/fd').length;
        let tries=0;(function check(){gc();const now=fs.readdirSync('/proc/self/fd').length;
          if(now<=base||++tries>100){console.log(JSON.stringify({base,grown,now}));keep.close();return}setTimeout(check,20)})();`, { args: ['--expose-gc'] });
      const j = JSON.parse(r.stdout);
      expect(j.grown).toBeGreaterThanOrEqual(j.base + 200);
      expect(j.now).toBe(j.base);
    });
  });
}

describe('backend selection', () => {
  it('RINGWIRE_BACKEND=epoll forces the epoll backend for auto', () => {
    const r = spawnSync(process.execPath, ['-e', `const {createUdpSocket}=require(${JSON.stringify(dist)});const s=createUdpSocket({type:'udp4'});console.log(s.backend);s.close()`], { encoding: 'utf8', env: { ...process.env, RINGWIRE_BACKEND: 'epoll' } });
    expect(r.stdout.trim()).toBe('epoll');
  });
});
