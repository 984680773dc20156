// Wake-ups: every completion must wake the thread's loop, promptly, in every
// wake mode and on both backends. A green run here proves little by itself
// (the last lost wake-up hid behind one), so the tests assert latency
// *bounds* on sequential round trips with an idle pause before each one (the
// loop must go to sleep and be woken every time), with the other CPU loaded,
// same CPU and across CPUs, with delays injected into the protocol's steps,
// and the fallbacks are driven by injected faults on every machine
// (RINGWIRE_TEST_FAULTS, see native/binding/loop_binding.cc).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createRegion, createUdpSocket, SpscRing } from '../lib';
import { collect, dist, nodeChild, removeShm, uniqueName } from './helpers/shm';
import { needs, skipReason } from './helpers/skip';

const CLI = path.join(dist, 'cli.js');
const TWO_CPUS = os.availableParallelism() >= 2;
const cpus = (a: number, b: number) => (TWO_CPUS ? [a, b] : [0, 0]);

// The property: the loop is woken for each message. The eventfd mode's
// RCU-deferred signal put the median at ~14 ms; a prompt wake is ~50-300 µs
// here, even with the other CPU busy. A wake that is lost outright leaves
// the sequential client waiting for good (nothing else in the server wakes
// its loop): the 5 s 'lost' check. A wake that is late now and then (the
// ~12-15 ms deferred signal on some of the paths) moves the tail: the p95
// bound, below that delay. The
// stall bound catches a wake rescued by something else after a long sleep;
// it is 1 s, not 100 ms, because a loaded 2-vCPU machine (load 7: CI plus
// builds) deschedules any process for 100+ ms now and then - measured
// here: one epoll round trip of 112.9 ms among 150, node:dgram's control
// run 16.5 ms - and that is the scheduler, not a wake path.
const MEDIAN_MS = 2;
const P95_MS = 10;
const STALL_MS = 1000;
const ROUND_TRIPS = 150;
const GAP_MS = 1;

function spawnPinned(cpu: number, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn('taskset', ['-c', String(cpu), process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
}

/** A busy child on `cpu`: the other CPU is loaded while the checks run. */
function loadCpu(cpu: number): ChildProcess {
  return spawnPinned(cpu, ['-e', 'for (;;) {}']);
}

async function startServer(impl: string, mode: 'udp-echo' | 'tcp-echo', cpu: number, env: NodeJS.ProcessEnv): Promise<{ port: number; child: ChildProcess; stderr: () => string }> {
  const child = spawnPinned(cpu, [CLI, 'perf', 'server', mode, '--impl', impl, '--host', '127.0.0.1', '--port', '0', '--lifetime', '60'], env);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 15_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^listening (\d+)/m.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
  });
  return { port, child, stderr: () => err };
}

// The client: node's own sockets, sequential round trips, each after an
// idle pause; prints every round trip's time in µs.
const CLIENT = `
const [proto, port, n, gap] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
const payload = Buffer.alloc(16, 7);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = [];
async function main() {
  let onReply;
  let send;
  let close;
  if (proto === 'udp') {
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', () => onReply());
    send = () => s.send(payload, port, '127.0.0.1');
    close = () => s.close();
  } else {
    const c = require('node:net').connect(port, '127.0.0.1');
    c.setNoDelay(true);
    await new Promise((r) => c.once('connect', r));
    let got = 0;
    c.on('data', (d) => { got += d.length; if (got >= payload.length) { got -= payload.length; onReply(); } });
    send = () => c.write(payload);
    close = () => c.destroy();
  }
  for (let i = 0; i < n; i++) {
    await sleep(gap);
    const t = process.hrtime.bigint();
    const done = new Promise((r) => { onReply = r; });
    send();
    const timer = setTimeout(() => { console.log(JSON.stringify({ lost: i, out })); process.exit(3); }, 5000);
    await done;
    clearTimeout(timer);
    out.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  close();
  console.log(JSON.stringify({ out }));
}
main();
`;

async function roundTrips(proto: 'udp' | 'tcp', port: number, cpu: number): Promise<number[]> {
  const res = await collect(spawnPinned(cpu, ['-e', CLIENT, proto, String(port), String(ROUND_TRIPS), String(GAP_MS)]), 30_000);
  const parsed = JSON.parse(res.stdout.trim().split('\n').pop() || '{}');
  if (parsed.lost !== undefined) throw new Error(`round trip ${parsed.lost} got no reply within 5 s (lost wake-up)`);
  return parsed.out as number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Median, 95th percentile and slowest round trip (ms) against one server. */
async function measure(impl: string, proto: 'udp' | 'tcp', serverCpu: number, clientCpu: number, env: NodeJS.ProcessEnv): Promise<{ p50: number; p95: number; max: number }> {
  const srv = await startServer(impl, proto === 'udp' ? 'udp-echo' : 'tcp-echo', serverCpu, env);
  try {
    const rtts = await roundTrips(proto, srv.port, clientCpu);
    expect(rtts.length).toBe(ROUND_TRIPS);
    const sorted = [...rtts].sort((a, b) => a - b);
    return { p50: median(rtts) / 1000, p95: sorted[Math.floor(sorted.length * 0.95)] / 1000, max: sorted[sorted.length - 1] / 1000 };
  } finally {
    srv.child.kill('SIGTERM');
    await collect(srv.child, 10_000).catch(() => undefined);
  }
}

interface Config {
  name: string;
  impl: string;
  env: NodeJS.ProcessEnv;
  uring: boolean;
}

const CONFIGS: Config[] = [
  { name: 'default wake mode', impl: 'ringwire', env: { RINGWIRE_URING_WAKE: '' }, uring: true },
  { name: 'RINGWIRE_URING_WAKE=eventfd (kept only if its self-check passes)', impl: 'ringwire', env: { RINGWIRE_URING_WAKE: 'eventfd' }, uring: true },
  { name: 'RINGWIRE_URING_WAKE=ringfd', impl: 'ringwire', env: { RINGWIRE_URING_WAKE: 'ringfd' }, uring: true },
  // Widens the window between the last check before sleeping and the
  // sleep, and between the eventfd drain and the reap: a completion landing
  // there must still wake the loop by the kernel's rule, not by luck.
  { name: 'default mode, 300 µs injected after the pre-sleep check and before each reap', impl: 'ringwire', env: { RINGWIRE_TEST_FAULTS: 'prepare-delay-us=300,reap-delay-us=300' }, uring: true },
  { name: 'eventfd mode, 300 µs injected after the pre-sleep check and before each reap', impl: 'ringwire', env: { RINGWIRE_URING_WAKE: 'eventfd', RINGWIRE_TEST_FAULTS: 'prepare-delay-us=300,reap-delay-us=300' }, uring: true },
  { name: 'epoll backend', impl: 'ringwire-epoll', env: {}, uring: false },
];

describe('every request wakes the loop: sequential round trips with an idle pause, other CPU loaded', () => {
  let load: ChildProcess | undefined;
  beforeAll(() => {
    if (TWO_CPUS) load = loadCpu(0);
  });
  afterAll(() => {
    load?.kill('SIGKILL');
  });
  for (const cfg of CONFIGS) {
    for (const placement of ['same CPU', 'across CPUs'] as const) {
      for (const proto of ['udp', 'tcp'] as const) {
        const title = `${cfg.name}, ${proto.toUpperCase()}, ${placement}: median < ${MEDIAN_MS} ms, p95 < ${P95_MS} ms, none > ${STALL_MS} ms`;
        it.skipIf(cfg.uring && skipReason(needs('io_uring')))(title, async () => {
          // Same CPU: both ends on CPU 1, the load on CPU 0. Across: the
          // server shares CPU 0 with the load, the client is on CPU 1.
          const [serverCpu, clientCpu] = placement === 'same CPU' ? cpus(1, 1) : cpus(0, 1);
          const got = await measure(cfg.impl, proto, serverCpu, clientCpu, cfg.env);
          let medianBound = MEDIAN_MS;
          let p95Bound = P95_MS;
          let stallBound = STALL_MS;
          let control = '';
          if (got.p50 >= MEDIAN_MS || got.p95 >= P95_MS || got.max >= STALL_MS) {
            // Over a bound: is the machine itself that slow right now (other
            // work on both CPUs)? Node's own server, same placement, same
            // moment, is the control. A late wake path (the ~14 ms RCU-deferred
            // signal) stays far above it; a loaded scheduler moves both.
            const ctl = await measure('node', proto, serverCpu, clientCpu, {});
            medianBound = Math.max(MEDIAN_MS, 2 * ctl.p50 + 0.5);
            p95Bound = Math.max(P95_MS, 2 * ctl.p95 + 5);
            stallBound = Math.max(STALL_MS, 2 * ctl.max + 50);
            control = ` (bounds raised by node:${proto === 'udp' ? 'dgram' : 'net'}'s own run now: median ${ctl.p50.toFixed(3)} ms, p95 ${ctl.p95.toFixed(1)} ms, slowest ${ctl.max.toFixed(1)} ms)`;
          }
          expect(got.p50, `median round trip ${got.p50.toFixed(3)} ms${control}`).toBeLessThan(medianBound);
          expect(got.p95, `95th percentile round trip ${got.p95.toFixed(1)} ms${control}`).toBeLessThan(p95Bound);
          expect(got.max, `slowest round trip ${got.max.toFixed(1)} ms${control}`).toBeLessThan(stallBound);
        }, 60_000);
      }
    }
  }
});

describe('waitAsync is woken promptly, across threads and processes', () => {
  // Messages one at a time with a pause, so the consumer is asleep in
  // waitAsync before each: the property is the time from commit to the
  // consumer holding the message.
  const N = 150;
  const producer = (where: string) => `
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    (async () => {
      const p = rw.SpscRing.attach(rw.openRegion(NAME)).producer();
      const f = new Float64Array(1);
      for (let i = 0; i < ${N}; i++) {
        await sleep(1);
        f[0] = performance.timeOrigin + performance.now();
        p.send(new Uint8Array(f.buffer));
      }
      p.close();
    })();`;

  async function consume(name: string, start: () => Promise<unknown>): Promise<number[]> {
    const region = createRegion({ name, size: 1 << 16 });
    const ring = SpscRing.format(region, { capacity: 4096 });
    const c = ring.consumer();
    const lat: number[] = [];
    const done = start();
    try {
      while (lat.length < N) {
        const m = c.read();
        if (m) {
          lat.push(performance.timeOrigin + performance.now() - new Float64Array(m.buffer.slice(m.byteOffset, m.byteOffset + 8))[0]);
          c.release();
          continue;
        }
        if (!(await c.waitAsync({ timeout: 5000 }))) throw new Error(`no message for 5 s after ${lat.length} (lost wake-up)`);
      }
      await done;
    } finally {
      c.close();
      region.close();
      removeShm(name);
    }
    return lat;
  }

  for (const backend of ['io_uring', 'threadpool'] as const) {
    const skip = backend === 'io_uring' ? needs('futexWait') : undefined;
    it.skipIf(skipReason(skip))(`${backend} wait, producer in another process: median < ${MEDIAN_MS} ms, none > ${STALL_MS} ms`, async () => {
      const prev = process.env.RINGWIRE_FUTEX_BACKEND;
      if (backend === 'threadpool') process.env.RINGWIRE_FUTEX_BACKEND = 'threadpool';
      try {
        const name = uniqueName('wakeproc');
        const lat = await consume(name, async () => {
          const r = await collect(nodeChild(`const NAME = ${JSON.stringify(name)};${producer('process')}`), 30_000);
          expect(r.stderr).toBe('');
        });
        expect(median(lat)).toBeLessThan(MEDIAN_MS);
        expect(Math.max(...lat)).toBeLessThan(STALL_MS);
      } finally {
        if (prev === undefined) delete process.env.RINGWIRE_FUTEX_BACKEND;
        else process.env.RINGWIRE_FUTEX_BACKEND = prev;
      }
    }, 60_000);

    it.skipIf(skipReason(skip))(`${backend} wait, producer in a worker thread: median < ${MEDIAN_MS} ms, none > ${STALL_MS} ms`, async () => {
      const prev = process.env.RINGWIRE_FUTEX_BACKEND;
      if (backend === 'threadpool') process.env.RINGWIRE_FUTEX_BACKEND = 'threadpool';
      try {
        const name = uniqueName('wakethr');
        const lat = await consume(name, () => {
          const w = new Worker(`const rw = require(${JSON.stringify(dist)}); const NAME = ${JSON.stringify(name)};${producer('worker')}`, { eval: true });
          // Created before anything is awaited: 'exit' may come at any time.
          return new Promise<void>((resolve, reject) => {
            w.once('error', reject);
            w.once('exit', () => resolve());
          });
        });
        expect(median(lat)).toBeLessThan(MEDIAN_MS);
        expect(Math.max(...lat)).toBeLessThan(STALL_MS);
      } finally {
        if (prev === undefined) delete process.env.RINGWIRE_FUTEX_BACKEND;
        else process.env.RINGWIRE_FUTEX_BACKEND = prev;
      }
    }, 60_000);
  }
});

describe('sends completed by the pre-sleep flush are delivered before the loop sleeps', () => {
  // A send awaited right after the previous one resolved is queued while the
  // pre-sleep hook dispatches; its completion (epoll: sendmmsg's result,
  // known at once) must not wait for an unrelated wake. Nothing else wakes
  // this loop: the only timer is the failure bound.
  for (const backend of ['epoll', 'io_uring'] as const) {
    it.skipIf(backend === 'io_uring' && skipReason(needs('io_uring')))(`${backend}: 8 sockets x 100 sequential awaited sends finish without any other wake-up`, async () => {
      const socks = Array.from({ length: 8 }, () => createUdpSocket({ type: 'udp4', backend }));
      const sink = createUdpSocket({ type: 'udp4', backend });
      sink.bind(0, '127.0.0.1');
      const port = sink.address().port;
      const buf = Buffer.alloc(32, 1);
      const t0 = performance.now();
      let guard: NodeJS.Timeout | undefined;
      try {
        const run = (async () => {
          for (let i = 0; i < 100; i++) for (const s of socks) await s.send(buf, port, '127.0.0.1');
        })();
        const timeout = new Promise<never>((_, reject) => {
          guard = setTimeout(() => reject(new Error('a send stayed pending until the 10 s guard timer woke the loop')), 10_000);
        });
        await Promise.race([run, timeout]);
        expect(performance.now() - t0).toBeLessThan(5000);
      } finally {
        clearTimeout(guard);
        for (const s of socks) s.close();
        sink.close();
      }
    }, 30_000);
  }
});

describe('the wake self-check and its fallbacks (faults injected)', () => {
  // Each case starts a fresh process: the wake mode is chosen once per
  // thread when its ring starts.
  async function probe(env: NodeJS.ProcessEnv, extra = ''): Promise<{ wake: any; available: boolean; reason?: string; backend: string; echoed: boolean; warnings: string[] }> {
    const code = `
      const warnings = [];
      process.on('warning', (w) => warnings.push(w.code + ': ' + w.message));
      const c = rw.capabilities().io_uring;
      const s = rw.createUdpSocket({ type: 'udp4' });
      s.bind(0, '127.0.0.1');
      const r = rw.createUdpSocket({ type: 'udp4' });
      let echoed = false;
      r.onBatch(() => { echoed = true; });
      r.bind(0, '127.0.0.1');
      ${extra}
      s.send(Buffer.from('x'), r.address().port, '127.0.0.1').then(() => setTimeout(() => {
        console.log(JSON.stringify({ wake: c.wake, available: c.available, reason: c.reason, backend: s.backend, echoed, warnings }));
        s.close(); r.close();
      }, 50));`;
    const res = await collect(nodeChild(code, { env: { RINGWIRE_URING_WAKE: '', ...env } }), 20_000);
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout.trim().split('\n').pop()!);
  }

  it.skipIf(skipReason(needs('io_uring')))('a healthy ring fd mode passes its self-check: mode ringfd, both checks within their bounds, no warning', async () => {
    const r = await probe({});
    expect(r.wake.mode).toBe('ringfd');
    expect(r.wake.fallback).toBeUndefined();
    expect(r.wake.attempts).toHaveLength(1);
    expect(r.wake.attempts[0].passed).toBe(true);
    expect(r.wake.attempts[0].sameThreadUs).toBeGreaterThanOrEqual(0);
    expect(r.wake.attempts[0].crossThreadUs).toBeGreaterThanOrEqual(0);
    expect(r.backend).toBe('io_uring');
    expect(r.echoed).toBe(true);
    expect(r.warnings).toEqual([]);
  }, 30_000);

  it.skipIf(skipReason(needs('io_uring')))('eventfd requested but its wake is lost: falls back to the ring fd with the reason, warns once', async () => {
    const r = await probe({ RINGWIRE_URING_WAKE: 'eventfd', RINGWIRE_TEST_FAULTS: 'drop-wake=eventfd' });
    expect(r.wake.requested).toBe('eventfd');
    expect(r.wake.mode).toBe('ringfd');
    expect(r.wake.attempts.map((a: any) => [a.mode, a.passed])).toEqual([['eventfd', false], ['ringfd', true]]);
    expect(r.wake.fallback).toMatch(/eventfd: .*lost wake-up/);
    expect(r.backend).toBe('io_uring');
    expect(r.echoed).toBe(true);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^RINGWIRE_WAKE_FALLBACK: .*using the ringfd mode/);
  }, 30_000);

  it.skipIf(skipReason(needs('io_uring')))('eventfd requested but its wake comes 30 ms late: falls back to the ring fd', async () => {
    const r = await probe({ RINGWIRE_URING_WAKE: 'eventfd', RINGWIRE_TEST_FAULTS: 'late-wake=eventfd:30' });
    expect(r.wake.mode).toBe('ringfd');
    expect(r.wake.fallback).toMatch(/eventfd: .*late/);
  }, 30_000);

  it.skipIf(skipReason(needs('io_uring')))('eventfd ring setup or eventfd registration failing: falls back to the ring fd with the errno', async () => {
    for (const fault of ['init-fail=eventfd', 'register-eventfd-fail']) {
      const r = await probe({ RINGWIRE_URING_WAKE: 'eventfd', RINGWIRE_TEST_FAULTS: fault });
      expect(r.wake.mode, fault).toBe('ringfd');
      expect(r.wake.attempts[0].setup, fault).toBe('EINVAL');
      expect(r.wake.fallback, fault).toMatch(/eventfd: ring setup failed \(EINVAL\)/);
    }
  }, 30_000);

  it.skipIf(skipReason(needs('io_uring')))('no wake mode works (ring fd wake lost): io_uring reported unavailable with the reason, sockets use the epoll backend and still deliver', async () => {
    const r = await probe({ RINGWIRE_TEST_FAULTS: 'drop-wake=ringfd' });
    expect(r.wake.mode).toBeNull();
    expect(r.available).toBe(false);
    expect(r.reason).toMatch(/no io_uring wake mode passed its self-check: ringfd: .*lost wake-up/);
    expect(r.backend).toBe('epoll');
    expect(r.echoed).toBe(true);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/sockets use the epoll backend/);
  }, 30_000);

  it.skipIf(skipReason(needs('io_uring')))('doctor reports the wake mode and the self-check result', async () => {
    for (const [env, status, mode] of [[{}, 'ok', /wake mode ring fd/], [{ RINGWIRE_TEST_FAULTS: 'drop-wake=ringfd' }, 'warn', /wake mode none after a fallback: ringfd: .*lost/]] as const) {
      const res = await collect(spawn(process.execPath, [CLI, 'doctor', '--json'], { env: { ...process.env, RINGWIRE_URING_WAKE: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }), 20_000);
      const checks = JSON.parse(res.stdout).checks as { id: string; status: string; detail: string }[];
      const w = checks.find((c) => c.id === 'io_uring.wake');
      expect(w?.status).toBe(status);
      expect(w?.detail).toMatch(mode);
    }
  }, 30_000);

  it('worker termination while rings start and self-check leaves no fd behind and does not crash', async () => {
    const code = `
      const { Worker } = require('node:worker_threads');
      const fds = () => require('node:fs').readdirSync('/proc/self/fd').length;
      (async () => {
        // Warm up: node's own fds (the worker machinery) are counted in the baseline.
        await new Promise((r) => { const w = new Worker('1', { eval: true }); w.once('exit', r); });
        const before = fds();
        for (let i = 0; i < 20; i++) {
          const w = new Worker(\`const rw = require(\${JSON.stringify(${JSON.stringify(dist)})}); rw.createUdpSocket({ type: 'udp4' }).bind(0, '127.0.0.1'); setInterval(() => {}, 1000);\`, { eval: true });
          const exited = new Promise((r) => w.once('exit', r));
          await new Promise((r) => setTimeout(r, i % 5));
          await w.terminate();
          await exited;
        }
        console.log(JSON.stringify({ before, after: fds() }));
      })();`;
    const res = await collect(nodeChild(code), 60_000);
    expect(res.signal).toBeNull();
    expect(res.code, res.stderr).toBe(0);
    const { before, after } = JSON.parse(res.stdout.trim().split('\n').pop()!);
    expect(after).toBe(before);
  }, 90_000);

  it('worker termination and process exit with waitAsync pending (both wait backends) leave no fd behind and exit cleanly', async () => {
    const code = `
      const { Worker } = require('node:worker_threads');
      const fds = () => require('node:fs').readdirSync('/proc/self/fd').length;
      const DIST = ${JSON.stringify(dist)};
      (async () => {
        await new Promise((r) => { const w = new Worker('1', { eval: true }); w.once('exit', r); });
        const before = fds();
        for (const backend of ['io_uring', 'threadpool']) {
          for (let i = 0; i < 6; i++) {
            const w = new Worker(\`
              process.env.RINGWIRE_FUTEX_BACKEND = '\${backend}';
              const rw = require(\${JSON.stringify(DIST)});
              const r = rw.createRegion({ size: 1 << 16 });
              const c = rw.SpscRing.format(r, { capacity: 4096 }).consumer();
              c.waitAsync({ timeout: 60000 });
              require('node:worker_threads').parentPort.postMessage('waiting');\`, { eval: true });
            const exited = new Promise((r) => w.once('exit', r));
            await new Promise((r) => w.once('message', r));
            await w.terminate();
            await exited;
          }
        }
        const after = fds();
        // And the process itself exits with a wait pending.
        const r = rw.createRegion({ size: 1 << 16 });
        rw.SpscRing.format(r, { capacity: 4096 }).consumer().waitAsync({ timeout: 60000 });
        console.log(JSON.stringify({ before, after }));
        setTimeout(() => process.exit(0), 50);
      })();`;
    const res = await collect(nodeChild(code), 60_000);
    expect(res.signal).toBeNull();
    expect(res.code, res.stderr).toBe(0);
    const { before, after } = JSON.parse(res.stdout.trim().split('\n').pop()!);
    expect(after).toBe(before);
  }, 90_000);
});
