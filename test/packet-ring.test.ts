// Packet rings: option validation (before any native call) and the software
// backend (backend: 'socket'), which has the AF_XDP API and frame layout and
// runs everywhere, so these tests always run. Traffic stays on loopback.
// AF_XDP itself is tested in network namespaces in test/xdp.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as dgram from 'node:dgram';
import { native } from '../lib/internal/native';
import { netInterface } from '../lib/internal/packet/netif';
import { buildUdpFrame, parseUdpFrame, swapUdpFrame, verifyUdpChecksums } from '../lib/packet-headers';
import { type FrameBatch, openPacketRing, PACKET_STAT_NAMES, type PacketRing, type PacketRingOptions, resolvePacketBackend } from '../lib/packet-ring';
import { dist, runChild } from './helpers/child';
import { sleep, until } from './helpers/wait';

async function freePort(): Promise<number> {
  const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  await new Promise<void>((r) => s.bind(0, '::', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function client(type: 'udp4' | 'udp6'): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  await new Promise<void>((r) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  return s;
}

const base = (port: number, o: Partial<PacketRingOptions> = {}): PacketRingOptions => ({
  interface: 'lo', backend: 'socket', filter: { protocol: 'udp', port }, frameCount: 64, batchSize: 16, ...o,
});

describe('packet ring options are validated before any native call', () => {
  it('rejects bad frame sizes, counts, queues, names and enums with typed errors', () => {
    const open = vi.spyOn(native(), 'packetRingOpen');
    const bad: [Partial<PacketRingOptions> | Record<string, unknown>, new (...a: never[]) => Error, string, RegExp?][] = [
      [{ frameSize: 1000 }, RangeError, 'ERR_OUT_OF_RANGE', /frameSize/],
      [{ frameSize: 3000 }, RangeError, 'ERR_OUT_OF_RANGE', /power of two/],
      [{ frameSize: 8192 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ frameCount: 3 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ frameCount: 2 ** 20, frameSize: 2048 }, RangeError, 'ERR_OUT_OF_RANGE', /1 GiB/],
      [{ frameCount: 2 ** 21 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ txFrameCount: 64 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ batchSize: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ queue: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ queue: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ backend: 'dpdk' as never }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [{ mode: 'fast' as never }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [{ xdpMode: 'hw' as never }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [{ needWakeup: 1 as never }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ coalesceUs: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ coalesceUs: 'fast' as never }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ busyPoll: 0.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ filter: undefined as never }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ filter: { protocol: 'tcp', port: 1 } as never }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [{ filter: { protocol: 'udp', port: 0 } }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ interface: 'a/b' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [{ interface: 7 as never }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ mode: 'zerocopy' }, TypeError, 'ERR_INVALID_ARG_VALUE', /AF_XDP only/],
    ];
    for (const [o, type, code, msg] of bad) {
      let err: (Error & { code?: string }) | undefined;
      try {
        void openPacketRing({ ...base(9), ...o } as PacketRingOptions);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err, JSON.stringify(o)).toBeInstanceOf(type);
      expect(err!.code, JSON.stringify(o)).toBe(code);
      if (msg) expect(err!.message).toMatch(msg);
    }
    expect(() => openPacketRing(null as never)).toThrow(TypeError);
    expect(open).not.toHaveBeenCalled();
    open.mockRestore();
  });

  it('names the queue count in the RangeError for a queue beyond the interface', () => {
    const n = netInterface('lo').rxQueues;
    expect(() => openPacketRing(base(9, { queue: n }))).toThrow(new RegExp(`< ${n} \\(lo has ${n} RX queue`));
    try {
      openPacketRing(base(9, { queue: 99 }));
    } catch (e) {
      expect(e).toBeInstanceOf(RangeError);
      expect((e as { code: string }).code).toBe('ERR_OUT_OF_RANGE');
    }
  });

  it('reports an unknown interface as ENODEV', () => {
    let err: (Error & { code?: string; syscall?: string; errno?: number }) | undefined;
    try {
      void openPacketRing(base(9, { interface: 'rwnope0' }));
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('ENODEV');
    expect(err?.errno).toBe(-19);
    expect(err?.syscall).toBe('if_nametoindex');
    expect(err?.message).toMatch(/rwnope0/);
  });

  it('refuses ef_vi when it was not compiled in, and says why auto picked its backend', () => {
    const caps = native().probe();
    if (!caps.efviCompiled) {
      expect(() => openPacketRing(base(9, { backend: 'ef_vi' }))).toThrow(/not compiled in/);
    }
    const r = resolvePacketBackend('auto', netInterface('lo'));
    expect(['af_xdp', 'socket', 'ef_vi']).toContain(r.backend);
    expect(r.reason.length).toBeGreaterThan(0);
  });
});

describe('packet ring, software backend (UDP socket on loopback)', () => {
  const rings: PacketRing[] = [];
  const socks: dgram.Socket[] = [];
  const open = async (port: number, o: Partial<PacketRingOptions> = {}) => {
    const r = await openPacketRing(base(port, o));
    rings.push(r);
    return r;
  };
  const sock = async (type: 'udp4' | 'udp6') => {
    const s = await client(type);
    socks.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(rings.splice(0).map((r) => r.close()));
    for (const s of socks.splice(0)) s.close();
  });

  it('delivers every datagram as a full Ethernet/IP/UDP frame (IPv4 and IPv6) with exact payloads', async () => {
    const port = await freePort();
    const ring = await open(port);
    expect(ring.info).toMatchObject({ backend: 'socket', interface: 'lo', queue: 0, port, xdpMode: null, bindMode: null, frameSize: 2048, frameCount: 64, rxFrameCount: 32, txFrameCount: 32 });
    const seen = new Map<string, { family: number; src: string; srcPort: number; dst: string }>();
    ring.onBatch((b: FrameBatch) => {
      for (let i = 0; i < b.count; i++) {
        const p = parseUdpFrame(b.umem, b.offset(i), b.length(i))!;
        expect(p).not.toBeNull();
        expect(verifyUdpChecksums(b.umem, b.offset(i), b.length(i))).toEqual({ ip: true, udp: true });
        expect(p.dstPort).toBe(port);
        // The frame starts after 256 bytes of headroom (+20 for IPv4), like AF_XDP's.
        expect(b.offset(i) % 2048).toBe(p.family === 4 ? 276 : 256);
        seen.set(Buffer.from(b.umem.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength)).toString(), { family: p.family, src: p.srcAddress, srcPort: p.srcPort, dst: p.dstAddress });
      }
      b.releaseAll();
    });
    const c4 = await sock('udp4');
    const c6 = await sock('udp6');
    const N = 100;
    for (let i = 0; i < N; i++) {
      const c = i % 2 ? c6 : c4;
      c.send(`datagram ${i} ${'y'.repeat(i * 7)}`, port, i % 2 ? '::1' : '127.0.0.1');
      if (i % 16 === 15) await sleep(1); // stay within the socket buffer
    }
    await until(() => seen.size === N);
    for (let i = 0; i < N; i++) {
      const s = seen.get(`datagram ${i} ${'y'.repeat(i * 7)}`)!;
      expect(s, `datagram ${i}`).toBeDefined();
      if (i % 2) expect(s).toEqual({ family: 6, src: '::1', srcPort: c6.address().port, dst: '::1' });
      else expect(s).toEqual({ family: 4, src: '127.0.0.1', srcPort: c4.address().port, dst: '127.0.0.1' });
    }
    const st = ring.stats;
    expect(st.rxFrames).toBe(N);
    expect(st.releaseErrors).toBe(0);
    expect(Object.keys(st)).toEqual([...PACKET_STAT_NAMES]);
    expect(native().packetRingLayout.statsFields).toBe(PACKET_STAT_NAMES.length);
  });

  it('answers in place (swapUdpFrame + send) and recycles the frames', async () => {
    const port = await freePort();
    const ring = await open(port, { frameCount: 16, txFrameCount: 8 });
    ring.onBatch((b) => {
      for (let i = 0; i < b.count; i++) {
        const p = parseUdpFrame(b.umem, b.offset(i), b.length(i))!;
        b.umem[p.payloadOffset] = 0x45; // 'E'cho: rewrite the first byte
        b.send(i, swapUdpFrame(b.umem, b.offset(i), b.length(i)));
      }
    });
    const c = await sock('udp4');
    const replies: string[] = [];
    c.on('message', (m, rinfo) => {
      expect(rinfo.port).toBe(port);
      replies.push(m.toString());
    });
    // 40 round trips through 8 RX frames: frames must come back from TX.
    for (let i = 0; i < 40; i++) {
      c.send(`ping ${i}`, port, '127.0.0.1');
      await until(() => replies.length === i + 1);
    }
    expect(replies).toEqual(Array.from({ length: 40 }, (_, i) => `Eing ${i}`));
    expect(ring.stats).toMatchObject({ rxFrames: 40, txFrames: 40, txCompleted: 40, releaseErrors: 0 });
  });

  it('transmits from reserved frames and emits drain when frames come back', async () => {
    const port = await freePort();
    const ring = await open(port, { frameCount: 8, txFrameCount: 4 });
    const c = await sock('udp6');
    const got: string[] = [];
    c.on('message', (m) => got.push(m.toString()));
    const frames = Array.from(ring.reserve(4));
    expect(frames).toHaveLength(4);
    expect(ring.reserve(1)).toHaveLength(0); // all reserved
    expect(ring.stats.txStalls).toBe(1);
    const drained = new Promise<void>((r) => ring.once('drain', r));
    frames.forEach((off, i) => {
      const len = buildUdpFrame(ring.umem, off, { srcMac: '00:00:00:00:00:00', dstMac: '00:00:00:00:00:00', srcAddress: '::1', dstAddress: '::1', srcPort: port, dstPort: c.address().port, payload: Buffer.from(`tx ${i}`) });
      ring.send(off, len);
    });
    await drained;
    await until(() => got.length === 4);
    expect(got.sort()).toEqual(['tx 0', 'tx 1', 'tx 2', 'tx 3']);
    expect(Array.from(ring.reserve(4))).toHaveLength(4);
  });

  it('double release, foreign offsets and sending frames it does not own throw — and corrupt nothing', async () => {
    const port = await freePort();
    const ring = await open(port, { frameCount: 8, txFrameCount: 4 });
    const held: number[] = [];
    ring.onBatch((b) => {
      for (let i = 0; i < b.count; i++) held.push(b.offset(i));
    });
    const c = await sock('udp4');
    c.send('one', port, '127.0.0.1');
    await until(() => held.length === 1);
    const off = held[0];
    ring.release(off);
    const e1 = (() => { try { ring.release(off); } catch (e) { return e as Error & { code: string }; } })();
    expect(e1?.code).toBe('ERR_FRAME_NOT_OWNED');
    expect(e1?.message).toMatch(/already released/);
    expect(() => ring.release(ring.umem.length)).toThrow(RangeError);
    expect(() => ring.release(-2048)).toThrow(RangeError);
    expect(() => ring.release(1.5)).toThrow(RangeError);
    expect(() => ring.release(7 * 2048)).toThrow(/free \(TX pool\)/); // a TX frame nobody reserved
    expect(() => ring.release(1 * 2048)).toThrow(/owned by the kernel/); // an RX frame in the kernel's hands
    expect(() => ring.send(2 * 2048, 60)).toThrow(/owned by the kernel/);
    const [tx] = ring.reserve(1);
    expect(() => ring.send(tx, 0)).toThrow(RangeError);
    expect(() => ring.send(tx, 2049)).toThrow(RangeError);
    ring.release(tx); // un-reserve
    expect(() => ring.release(tx)).toThrow(/already released/);
    // Still intact: more traffic through the same frames, payloads exact.
    held.length = 0;
    const payloads: string[] = [];
    ring.onBatch((b) => {
      for (let i = 0; i < b.count; i++) {
        const p = parseUdpFrame(b.umem, b.offset(i), b.length(i))!;
        payloads.push(Buffer.from(b.umem.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength)).toString());
        b.release(i);
      }
    });
    for (let i = 0; i < 30; i++) {
      c.send(`again ${i}`, port, '127.0.0.1');
      if (i % 4 === 3) await until(() => payloads.length === i + 1);
    }
    await until(() => payloads.length === 30);
    expect(payloads).toEqual(Array.from({ length: 30 }, (_, i) => `again ${i}`));
    expect(ring.refreshStats().releaseErrors).toBe(0);
    expect(ring.stats.txErrors).toBe(0);
  });

  it('stops receiving when the application holds every RX frame, counts it, and resumes on release', async () => {
    const port = await freePort();
    const ring = await open(port, { frameCount: 8, txFrameCount: 4 });
    const held: number[] = [];
    let total = 0;
    ring.onBatch((b) => {
      for (let i = 0; i < b.count; i++) held.push(b.offset(i));
      total += b.count;
    });
    const c = await sock('udp4');
    for (let i = 0; i < 12; i++) c.send(`s${i}`, port, '127.0.0.1');
    await until(() => total === 4);
    await sleep(50);
    expect(total).toBe(4); // only 4 RX frames
    expect(ring.refreshStats().fillRingEmpty).toBeGreaterThanOrEqual(1);
    for (let round = 0; round < 2; round++) {
      const mine = held.splice(0);
      mine.forEach((o) => ring.release(o));
      await until(() => total === 4 * (round + 2));
    }
    expect(total).toBe(12);
  });

  it('receive coalescing delivers every datagram in fewer, larger batches (receive-only ring)', async () => {
    const port = await freePort();
    const ring = await open(port, { frameCount: 1024, batchSize: 256, coalesceUs: 2000, txFrameCount: 0 });
    expect(ring.info).toMatchObject({ coalesceUs: 2000, rxFrameCount: 1024, txFrameCount: 0 });
    // txFrameCount 0: receive-only.
    expect(() => ring.reserve(1)).toThrow(expect.objectContaining({ code: 'ERR_PACKET_RING_RECEIVE_ONLY' }));
    expect(() => ring.send(0, 60)).toThrow(expect.objectContaining({ code: 'ERR_PACKET_RING_RECEIVE_ONLY' }));
    let got = 0;
    ring.onBatch((b) => {
      got += b.count;
      b.releaseAll();
    });
    const c = await sock('udp4');
    for (let i = 0; i < 200; i++) {
      c.send(`c${i}`, port, '127.0.0.1');
      if (i % 20 === 19) await sleep(1);
    }
    await until(() => got === 200);
    const st = ring.stats;
    expect(st.rxFrames).toBe(200);
    expect(st.rxBatches).toBeLessThan(100);
  });

  it('does not hold sparse request/response traffic behind the coalescing timer (default auto)', async () => {
    const port = await freePort();
    const ring = await open(port);
    expect(ring.info.coalesceUs).toBe('auto');
    let got = 0;
    ring.onBatch((b) => {
      got += b.count;
      b.releaseAll();
    });
    const c = await sock('udp4');
    for (let i = 0; i < 40; i++) {
      c.send(`s${i}`, port, '127.0.0.1');
      await until(() => got === i + 1);
    }
    // One datagram per wake: never enough waiting to start coalescing.
    expect(ring.stats.holdoffs).toBe(0);
    expect(ring.stats.wakeups).toBeGreaterThanOrEqual(40);
  });

  it('drains a burst on the coalescing timer, then stops the timer when traffic stops (no idle wake-ups)', async () => {
    const port = await freePort();
    const ring = await open(port, { frameCount: 1024, batchSize: 64, txFrameCount: 0 });
    let got = 0;
    ring.onBatch((b) => {
      got += b.count;
      b.releaseAll();
    });
    const c = await sock('udp4');
    // Sent in one loop turn: all are queued before the ring's next wake,
    // which finds far more than the 4 frames that start coalescing.
    for (let i = 0; i < 100; i++) c.send(`b${i}`, port, '127.0.0.1');
    await until(() => got === 100);
    expect(ring.stats.holdoffs).toBe(1);
    await sleep(20);
    const idle = ring.stats.wakeups;
    await sleep(50);
    expect(ring.stats.wakeups).toBe(idle);
    // Back on the socket's own wake-up: a lone datagram still arrives.
    c.send('after', port, '127.0.0.1');
    await until(() => got === 101);
    expect(ring.stats.holdoffs).toBe(1);
  });

  it('a second ring for the same port and queue is EBUSY with an explanation; after close it opens again', async () => {
    const port = await freePort();
    const ring = await open(port);
    let err: (Error & { code?: string }) | undefined;
    try {
      void openPacketRing(base(port));
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('EBUSY');
    expect(err?.message).toMatch(new RegExp(`UDP port ${port} on queue 0 of lo already has a packet ring \\(socket\\)`));
    // The socket backend shares the queue with the kernel stack: another port is fine.
    const other = await open(await freePort());
    expect(other.info.queue).toBe(0);
    await ring.close();
    const again = await open(port);
    expect(again.info.port).toBe(port);
  });

  it('a port already bound elsewhere rejects with EADDRINUSE', async () => {
    const s = await sock('udp6');
    await expect(openPacketRing(base(s.address().port))).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
    // The queue is free again after the failed open.
    const ring = await open(await freePort());
    expect(ring.isClosed).toBe(false);
  });

  it('close detaches the frame area, is idempotent, and use after close throws', async () => {
    const port = await freePort();
    const ring = await open(port);
    const umem = ring.umem;
    const view = umem.subarray(0, 100);
    expect(umem.length).toBe(64 * 2048);
    const st = ring.stats;
    await Promise.all([ring.close(), ring.close()]);
    expect(umem.length).toBe(0);
    expect(view.length).toBe(0);
    expect(ring.umem.length).toBe(0);
    expect(ring.stats.rxFrames).toBe(st.rxFrames);
    expect(ring.stats).toEqual(ring.stats); // frozen at close
    for (const f of [() => ring.release(0), () => ring.reserve(1), () => ring.send(0, 10), () => ring.flush(), () => ring.onBatch(() => {})]) {
      expect(f).toThrow(expect.objectContaining({ code: 'ERR_RINGWIRE_CLOSED' }));
    }
  });

  it('closing inside the batch callback is safe and completes after it returns', async () => {
    const port = await freePort();
    const ring = await open(port);
    let calls = 0;
    const closed = new Promise<void>((resolve) => {
      ring.onBatch((b) => {
        calls++;
        void ring.close().then(resolve);
        expect(b.umem.length).toBe(0); // detached at once
        expect(() => b.release(0)).toThrow(expect.objectContaining({ code: 'ERR_RINGWIRE_CLOSED' }));
      });
    });
    const c = await sock('udp4');
    for (let i = 0; i < 5; i++) c.send(`x${i}`, port, '127.0.0.1');
    await closed;
    expect(calls).toBe(1);
    // The port is free again.
    const again = await open(port);
    expect(again.isClosed).toBe(false);
  });

  it('a worker terminated with an open, receiving ring does not crash the process', () => {
    const code = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        const { openPacketRing } = require(${JSON.stringify(dist)});
        openPacketRing({ interface: 'lo', backend: 'socket', filter: { protocol: 'udp', port: 0x7fff + Math.floor(Math.random() * 20000) } })
          .then((r) => { r.onBatch((b) => b.releaseAll()); parentPort.postMessage('open'); });
      \`, { eval: true });
      w.once('message', async () => { await w.terminate(); console.log('terminated'); });
      w.once('error', (e) => { console.error(e); process.exit(2); });
    `;
    const r = runChild(code);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('terminated');
    expect(r.status).toBe(0);
  });

  it('rings dropped without close are closed by GC (fd count returns to baseline)', () => {
    const code = `
      const fs = require('node:fs');
      const { openPacketRing, capabilities } = require(${JSON.stringify(dist)});
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      (async () => {
        // The thread's io_uring (started by capabilities(), which
        // openPacketRing consults) lives as long as the thread: not a ring's.
        capabilities();
        const before = fds();
        for (let i = 0; i < 20; i++) await openPacketRing({ interface: 'lo', backend: 'socket', filter: { protocol: 'udp', port: 41000 + i }, frameCount: 16 });
        const opened = fds();
        for (let i = 0; i < 50 && fds() > before; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
        console.log(JSON.stringify({ before, opened, after: fds() }));
      })();
    `;
    const r = runChild(code, { args: ['--expose-gc'] });
    expect(r.stderr).toBe('');
    const { before, opened, after } = JSON.parse(r.stdout);
    expect(opened).toBeGreaterThanOrEqual(before + 20);
    expect(after).toBe(before);
  });
});
