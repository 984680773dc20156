#!/usr/bin/env node
'use strict';
// Measures where SEND_ZC starts to pay for UDP on this machine: the sender's
// CPU time per datagram with zero-copy on vs off, for each size, interleaved
// repetitions, medians. The receiver is the C sink (bench/c) in another
// process, pinned to the other CPU. Writes JSON (default bench/results/).
//   node bench/udp/zc-threshold.js [--reps 5] [--count 20000] [--out FILE]
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const reps = Number(opt('reps', 5));
const count = Number(opt('count', 20000));
const out = opt('out', path.join(root, 'bench', 'results', 'udp-zc-threshold.json'));
const sizes = [1024, 4096, 8192, 16384, 32768, 60000];

const server = path.join(root, 'build', 'bench', 'rw-server');
if (!fs.existsSync(server)) execFileSync('make', ['-s', '-C', path.join(root, 'bench', 'c')], { stdio: 'inherit' });
const { createUdpSocket, pinThread } = require(path.join(root, 'dist'));

function startSink() {
  return new Promise((resolve, reject) => {
    const p = spawn(server, ['--mode', 'udp-sink', '--impl', 'epoll', '--port', '0', '--cpu', '1', '--rcvbuf', '16777216', '--buf-size', '65536', '--lifetime', '600'], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.once('data', (d) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) resolve({ p, port: Number(m[1]) });
      else reject(new Error(`sink said ${d}`));
    });
    p.once('error', reject);
  });
}

async function run(port, size, zc) {
  const s = createUdpSocket({ type: 'udp4', backend: 'io_uring', zeroCopyThreshold: zc ? size : 0, sendBufferSize: 8 << 20 });
  s.bind(0, '127.0.0.1');
  const bufs = Array.from({ length: 64 }, () => Buffer.alloc(size, 7));
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let sent = 0;
  while (sent < count) {
    const n = Math.min(64, count - sent);
    await s.sendBatch(bufs.slice(0, n).map((data) => ({ data, port, address: '127.0.0.1' })));
    sent += n;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const st = s.stats;
  await s.close();
  return { cpuNsPerDatagram: ((c.user + c.system) * 1000) / count, gbps: (count * size * 8) / wall / 1e9, zcSends: st.zcSends, zcCopied: st.zcCopied, errors: st.sendErrors };
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

(async () => {
  pinThread(0);
  const sink = await startSink();
  const results = {};
  try {
    for (let r = 0; r < reps; r++) {
      for (const size of sizes) {
        for (const zc of [false, true]) {
          const key = `${size}:${zc ? 'zc' : 'copy'}`;
          (results[key] ??= []).push(await run(sink.port, size, zc));
        }
      }
      process.stderr.write(`rep ${r + 1}/${reps}\n`);
    }
  } finally {
    sink.p.kill('SIGTERM');
  }
  const rows = sizes.map((size) => {
    const copy = results[`${size}:copy`];
    const zc = results[`${size}:zc`];
    const cc = median(copy.map((x) => x.cpuNsPerDatagram));
    const zz = median(zc.map((x) => x.cpuNsPerDatagram));
    return { size, copyCpuNs: Math.round(cc), zcCpuNs: Math.round(zz), zcOverCopy: +(zz / cc).toFixed(3), zcCopiedByKernel: zc.reduce((a, x) => a + x.zcCopied, 0), zcSends: zc.reduce((a, x) => a + x.zcSends, 0) };
  });
  const threshold = rows.find((r) => r.zcOverCopy < 0.95)?.size ?? 0;
  const report = { kind: 'udp-zc-threshold', date: new Date().toISOString(), kernel: require('node:os').release(), count, reps, rows, threshold, note: threshold ? `SEND_ZC is cheaper from ${threshold} B` : 'SEND_ZC never cheaper here (loopback copies: zcCopiedByKernel)' };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(report, null, 2));
  console.table(rows);
  console.log(report.note, '→', out);
})();
