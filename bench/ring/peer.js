'use strict';
// One side of a ring benchmark, run as its own process by bench/ring/run.js.
//   spsc-produce <region> <messages> <batch>   64-byte messages, commit every <batch>
//   spsc-consume <region> <messages>           spins; prints {"seconds", "msgsPerSec", "bad"}
//   ping <region> <trips> <warmup>             spinning round trips; prints RTT stats (ns)
//   pong <region>                              echoes until told to stop
//   send <messages>                            process.send() baseline (needs an IPC channel)
// Both sides spin: this measures the ring, not the wait strategy.
const path = require('node:path');
const rw = require(path.resolve(__dirname, '..', '..', 'dist'));

const [mode, name, a, b] = process.argv.slice(2);
// run.js puts the two sides of a pair on different CPUs, as ring benchmarks
// (LMAX, Aeron) do; otherwise the scheduler may stack both spinners on one.
if (process.env.RINGWIRE_BENCH_CPU) rw.pinThread(Number(process.env.RINGWIRE_BENCH_CPU));
const PONG_OFFSET = 1 << 16;  // second ring of the ping-pong pair
const STOP = 0xffffffff;

function spscProduce(n, batch) {
  const region = rw.openRegion(name);
  const p = rw.SpscRing.attach(region).producer({ heartbeatMs: 0 });
  // Payloads are 8-byte aligned, so 64 bytes are eight float64 stores.
  const f64 = new Float64Array(region.buffer);
  let left = batch;
  for (let i = 0; i < n;) {
    const off = p.tryClaim(64);
    if (off < 0) {
      p.commit();
      continue;  // spin until the consumer releases
    }
    const w = off >> 3;
    f64[w] = i;
    f64[w + 1] = i + 1;
    f64[w + 2] = i + 2;
    f64[w + 3] = i + 3;
    f64[w + 4] = i + 4;
    f64[w + 5] = i + 5;
    f64[w + 6] = i + 6;
    f64[w + 7] = i + 7;
    i++;
    if (--left === 0) {  // a countdown, not i % batch: no division per message
      p.commit();
      left = batch;
    }
  }
  p.commit();
  p.close();
  region.close();
}

function spscConsume(n) {
  const region = rw.openRegion(name);
  const c = rw.SpscRing.attach(region).consumer({ heartbeatMs: 0 });
  const f64 = new Float64Array(region.buffer);
  let t0 = 0;
  let bad = 0;
  for (let i = 0; i < n;) {
    const off = c.tryRead();
    if (off < 0) {
      c.release();
      continue;
    }
    if (i === 0) t0 = performance.now();
    const w = off >> 3;
    if (f64[w] !== i || f64[w + 7] !== i + 7 || c.messageLength !== 64) bad++;
    i++;
    if ((i & 255) === 0) c.release();
  }
  const s = (performance.now() - t0) / 1000;
  c.release();
  c.close();
  region.close();
  // The first message starts the clock, so n - 1 intervals were timed.
  process.stdout.write(JSON.stringify({ seconds: s, msgsPerSec: (n - 1) / s, bad }) + '\n');
}

function ping(trips, warmup) {
  const region = rw.openRegion(name);
  const tx = rw.SpscRing.attach(region).producer({ heartbeatMs: 0 });
  const rx = rw.SpscRing.attach(region, { offset: PONG_OFFSET }).consumer({ heartbeatMs: 0 });
  const u32 = new Uint32Array(region.buffer);
  const samples = new Float64Array(trips);
  for (let i = 0; i < warmup + trips; i++) {
    const t0 = performance.now();
    const off = tx.tryClaim(8);
    u32[off >> 2] = i;
    tx.commit();
    let r;
    while ((r = rx.tryRead()) < 0);
    rx.release();
    const t1 = performance.now();
    if (u32[r >> 2] !== i) throw new Error(`pong ${u32[r >> 2]} for ping ${i}`);
    if (i >= warmup) samples[i - warmup] = (t1 - t0) * 1e6;
  }
  const off = tx.tryClaim(8);
  u32[off >> 2] = STOP;
  tx.commit();
  samples.sort();
  const q = (p) => samples[Math.min(trips - 1, Math.floor(p * trips))];
  process.stdout.write(JSON.stringify({ trips, medianNs: q(0.5), p90Ns: q(0.9), p99Ns: q(0.99), minNs: samples[0] }) + '\n');
  tx.close();
  rx.close();
  region.close();
}

function pong() {
  const region = rw.openRegion(name);
  const rx = rw.SpscRing.attach(region).consumer({ heartbeatMs: 0 });
  const tx = rw.SpscRing.attach(region, { offset: PONG_OFFSET }).producer({ heartbeatMs: 0 });
  const u32 = new Uint32Array(region.buffer);
  process.stdout.write('ready\n');
  for (;;) {
    let r;
    while ((r = rx.tryRead()) < 0);
    const v = u32[r >> 2];
    rx.release();
    if (v === STOP) break;
    const off = tx.tryClaim(8);
    u32[off >> 2] = v;
    tx.commit();
  }
  rx.close();
  tx.close();
  region.close();
}

function send(n) {
  // 64 characters: the JSON-serialised equivalent of a 64-byte message.
  const msg = 'x'.repeat(60);
  let i = 0;
  const burst = () => {
    // Sending in bursts lets the pipe drain (process.send buffers otherwise).
    for (let k = 0; k < 1000 && i < n; k++, i++) process.send(msg + String(i % 10000).padStart(4, '0'));
    if (i < n) setImmediate(burst);
    else process.send('done', () => process.disconnect());
  };
  burst();
}

switch (mode) {
  case 'spsc-produce': spscProduce(Number(a), Number(b)); break;
  case 'spsc-consume': spscConsume(Number(a)); break;
  case 'ping': ping(Number(a), Number(b)); break;
  case 'pong': pong(); break;
  case 'send': send(Number(name)); break;
  default: throw new Error(`unknown mode ${mode}`);
}
