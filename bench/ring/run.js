#!/usr/bin/env node
'use strict';
// Ring benchmark: one JSON document on stdout.
//
//   node bench/ring/run.js [--reps N] [--messages N]
//
// Needs the compiled package (npx tsc -p tsconfig.json) and the addon
// (build/Release, a prebuild, or RINGWIRE_ADDON=<path to .node>). The C++
// program is built here with g++ and native/common-flags.txt, into
// $RINGWIRE_BENCH_OUT (default build/bench).
//
// Every repetition runs each case once, in turn (interleaved), and the
// report gives medians over repetitions plus the ratios the issue asks for:
//   ringJs          64 B messages, JS producer process -> JS consumer process,
//                   commits and releases batched by 256
//   processSend     64-character messages through process.send() (JSON over the IPC pipe)
//   postMessage     64 B Uint8Arrays from a worker_thread through postMessage()
//   pingPong        round trip between two spinning JS processes (ns)
//   cppTextbook     C++ threads, 64 B messages, a textbook SPSC queue (fixed slots, cached indices)
//   cppRing         the same through rw::ring, one Claim/Commit and Read/Release per message
//   cppRingBatch    the same, committing/releasing every 64 messages
// Pairs are pinned to CPUs 0 and 1 when the machine has two or more.
const { execFileSync, spawn, fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { commonFlags } = require('../../scripts/native-flags');

const root = path.resolve(__dirname, '..', '..');
const rw = require(path.join(root, 'dist'));
const peerJs = path.join(__dirname, 'peer.js');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
// Sized so that five repetitions take well under 30 s on a 2-vCPU machine.
const REPS = arg('reps', 5);
const RING_MSGS = arg('messages', 3_000_000);
const SEND_MSGS = 50_000;
const POST_MSGS = 100_000;
const TRIPS = 30_000;
const CPP_MSGS = 4_000_000;

function buildCpp() {
  const out = process.env.RINGWIRE_BENCH_OUT || path.join(root, 'build', 'bench');
  fs.mkdirSync(out, { recursive: true });
  const bin = path.join(out, 'rw-ring-bench');
  execFileSync('g++', ['-std=c++17', ...commonFlags(), '-pthread', '-I', path.join(root, 'native'),
    path.join(__dirname, 'ring_bench.cc'), '-o', bin], { stdio: 'inherit' });
  return bin;
}

// Each pair runs on two different CPUs (the first two the machine has).
const CPUS = os.cpus().length;
const PIN = CPUS >= 2;
const cpuEnv = (cpu) => (PIN ? { ...process.env, RINGWIRE_BENCH_CPU: String(cpu % CPUS) } : process.env);

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}`))));
  });
}

async function ringJs() {
  const name = `bench-${process.pid}-${Date.now().toString(36)}`;
  const region = rw.createRegion({ name, size: (1 << 20) + 4096, populate: true });
  try {
    rw.SpscRing.format(region, { capacity: 1 << 20 });
    const consumer = run(process.execPath, [peerJs, 'spsc-consume', name, String(RING_MSGS)], { env: cpuEnv(1) });
    const producer = run(process.execPath, [peerJs, 'spsc-produce', name, String(RING_MSGS), '256'], { env: cpuEnv(0) });
    const [out] = await Promise.all([consumer, producer]);
    const r = JSON.parse(out);
    if (r.bad) throw new Error(`ring bench: ${r.bad} corrupt messages`);
    return r.msgsPerSec;
  } finally {
    region.close();
    region.unlink();
  }
}

function processSend() {
  return new Promise((resolve, reject) => {
    const child = fork(peerJs, ['send', String(SEND_MSGS)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: cpuEnv(0) });
    let n = 0;
    let t0 = 0;
    child.on('message', (m) => {
      if (m === 'done') {
        const s = (performance.now() - t0) / 1000;
        resolve((n - 1) / s);
        return;
      }
      if (n++ === 0) t0 = performance.now();
    });
    child.on('error', reject);
  });
}

function postMessage() {
  return new Promise((resolve, reject) => {
    const w = new Worker(`
      const { parentPort } = require('node:worker_threads');
      ${PIN ? `require(${JSON.stringify(path.join(root, 'dist'))}).pinThread(0);` : ''}
      const msg = new Uint8Array(64);
      let i = 0;
      const burst = () => {
        for (let k = 0; k < 1000 && i < ${POST_MSGS}; k++, i++) { msg[0] = i; parentPort.postMessage(msg); }
        if (i < ${POST_MSGS}) setImmediate(burst); else parentPort.postMessage('done');
      };
      burst();`, { eval: true });
    let n = 0;
    let t0 = 0;
    w.on('message', (m) => {
      if (m === 'done') {
        const s = (performance.now() - t0) / 1000;
        w.terminate();
        resolve((n - 1) / s);
        return;
      }
      if (n++ === 0) t0 = performance.now();
    });
    w.on('error', reject);
  });
}

async function pingPong() {
  const name = `bench-pp-${process.pid}-${Date.now().toString(36)}`;
  const region = rw.createRegion({ name, size: 1 << 17, populate: true });
  try {
    rw.SpscRing.format(region, { capacity: 1 << 14 });
    rw.SpscRing.format(region, { offset: 1 << 16, capacity: 1 << 14 });
    const ponger = spawn(process.execPath, [peerJs, 'pong', name], { stdio: ['ignore', 'pipe', 'inherit'], env: cpuEnv(1) });
    await new Promise((r) => ponger.stdout.once('data', r));
    const out = await run(process.execPath, [peerJs, 'ping', name, String(TRIPS), '5000'], { env: cpuEnv(0) });
    await new Promise((r) => (ponger.exitCode !== null ? r() : ponger.once('exit', r)));
    return JSON.parse(out);
  } finally {
    region.close();
    region.unlink();
  }
}

async function cpp(bin, mode) {
  return JSON.parse(await run(bin, [mode, String(CPP_MSGS)])).msgsPerSec;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const started = Date.now();
  // The receiving side of the process.send / postMessage baselines is this
  // thread: it gets the second CPU, the senders the first.
  if (PIN) rw.pinThread(1);
  const bin = buildCpp();
  const samples = { ringJs: [], processSend: [], postMessage: [], pingMedianNs: [], pingP99Ns: [], cppTextbook: [], cppRing: [], cppRingBatch: [] };
  for (let rep = 0; rep < REPS; rep++) {
    samples.ringJs.push(await ringJs());
    samples.processSend.push(await processSend());
    samples.postMessage.push(await postMessage());
    const pp = await pingPong();
    samples.pingMedianNs.push(pp.medianNs);
    samples.pingP99Ns.push(pp.p99Ns);
    samples.cppTextbook.push(await cpp(bin, 'textbook'));
    samples.cppRing.push(await cpp(bin, 'ring'));
    samples.cppRingBatch.push(await cpp(bin, 'ring-batch'));
  }
  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const round = (x, d = 2) => Number(x.toFixed(d));
  // Cases of one repetition ran back to back, so they saw the same machine;
  // the median of per-repetition ratios is less hurt by a noisy neighbour
  // than the ratio of medians.
  const pairwise = (a, b) => median(samples[a].map((x, i) => x / samples[b][i]));
  const pr = {
    ringVsProcessSend: pairwise('ringJs', 'processSend'),
    ringVsPostMessage: pairwise('ringJs', 'postMessage'),
    cppTextbookOverRing: pairwise('cppTextbook', 'cppRing'),
    cppTextbookOverRingBatch: pairwise('cppTextbook', 'cppRingBatch'),
  };
  const report = {
    bench: 'ring',
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, kernel: os.release(), node: process.version, loadavg: os.loadavg().map((x) => round(x)) },
    config: { reps: REPS, pinned: PIN ? 'sender/producer on CPU 0, receiver/consumer on CPU 1' : false, ringMessages: RING_MSGS, messageBytes: 64, commitBatch: 256, sendMessages: SEND_MSGS, postMessages: POST_MSGS, trips: TRIPS, cppMessages: CPP_MSGS },
    medians: {
      ringJsMsgsPerSec: Math.round(m.ringJs),
      processSendMsgsPerSec: Math.round(m.processSend),
      postMessageMsgsPerSec: Math.round(m.postMessage),
      pingPongMedianNs: Math.round(m.pingMedianNs),
      pingPongP99Ns: Math.round(m.pingP99Ns),
      cppTextbookMsgsPerSec: Math.round(m.cppTextbook),
      cppRingMsgsPerSec: Math.round(m.cppRing),
      cppRingBatchMsgsPerSec: Math.round(m.cppRingBatch),
    },
    ratios: {
      ringVsProcessSend: round(m.ringJs / m.processSend, 1),
      ringVsPostMessage: round(m.ringJs / m.postMessage, 1),
      cppTextbookOverRing: round(m.cppTextbook / m.cppRing),
      cppTextbookOverRingBatch: round(m.cppTextbook / m.cppRingBatch),
    },
    pairwiseRatios: Object.fromEntries(Object.entries(pr).map(([k, v]) => [k, round(v, k.startsWith('cpp') ? 2 : 1)])),
    targets: {
      ringJsAtLeast20M: m.ringJs >= 20e6,
      ringVsProcessSendAtLeast50x: pr.ringVsProcessSend >= 50,
      ringVsPostMessageAtLeast10x: pr.ringVsPostMessage >= 10,
      pingPongMedianAtMost1us: m.pingMedianNs <= 1000,
      cppRingWithin1_5xOfTextbook: pr.cppTextbookOverRing <= 1.5,
      cppRingBatchWithin1_5xOfTextbook: pr.cppTextbookOverRingBatch <= 1.5,
    },
    samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((x) => Math.round(x))])),
    seconds: round((Date.now() - started) / 1000, 1),
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
