#!/usr/bin/env node
// How close can any Node addon get to a C epoll server on same-CPU UDP
// ping-pong (or TCP echo on one connection, --proto tcp)? Compares,
// interleaved, with client and server on one CPU:
//   c-epoll          the C reference server (ringwire perf's)
//   floor-nojs       uv_poll + recvmsg + sendmsg in C inside Node's loop
//   floor-js         the same plus one empty JS call per wake (MakeCallback)
//   ringwire-epoll / ringwire   the real thing
// floor-js is the least any API that hands datagrams to JS can cost.
//
//   node bench/floor/run.js [--proto udp|tcp] [--reps 5] [--duration 2] [--cpu 0] [--out file.json]
// Needs g++ and Node's headers (npm_config_nodedir or /usr/include/node),
// and `npm run build` (dist/).
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { commonFlags } = require('../../scripts/native-flags');

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const reps = Number(opt('reps', '5'));
const duration = Number(opt('duration', '2'));
const cpu = opt('cpu', '0');
const outFile = opt('out', '');
const proto = opt('proto', 'udp');
if (proto !== 'udp' && proto !== 'tcp') {
  console.error('--proto is udp or tcp');
  process.exit(2);
}
const serverMode = `${proto}-echo`;
const clientArgs = proto === 'udp' ? ['udp-pingpong'] : ['tcp-rr', '--conns', '1'];
const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'cli.js');

const include = path.join(process.env.npm_config_nodedir || '/usr', 'include', 'node');
const addon = path.join(os.tmpdir(), `ringwire-floor-${process.pid}.node`);
// The addon's flags (native/common-flags.txt): the floor and ringwire are built alike.
execFileSync('g++', ['-shared', '-fPIC', '-std=c++17', ...commonFlags(), `-I${include}`,
  '-DNODE_GYP_MODULE_NAME=floor', path.join(__dirname, 'floor.cc'), '-o', addon], { stdio: 'inherit' });

const perfServer = (impl) => () => [process.execPath, [cli, 'perf', 'server', serverMode, '--impl', impl, '--cpu', cpu]];
const floorServer = (mode) => () => ['taskset', ['-c', cpu, process.execPath, path.join(__dirname, 'server.js'), addon, mode, proto]];
const impls = {
  'c-epoll': perfServer('c-epoll'),
  'floor-nojs': floorServer('nojs'),
  'floor-js': floorServer('js'),
  'ringwire-epoll': perfServer('ringwire-epoll'),
  ringwire: perfServer('ringwire'),
};

function lines(stream, onLine) {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

function runOne(name) {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = impls[name]();
    const srv = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let last = '';
    const deadline = setTimeout(() => srv.kill('SIGKILL'), (duration + 30) * 1000);
    lines(srv.stdout, (l) => {
      const m = /^listening (\d+)/.exec(l);
      if (!m) {
        last = l;
        return;
      }
      const out = execFileSync(process.execPath, [cli, 'perf', 'client', ...clientArgs, '--port', m[1], '--cpu', cpu,
        '--duration', String(duration)], { encoding: 'utf8', timeout: (duration + 30) * 1000 });
      const client = JSON.parse(out.trim().split('\n').pop());
      const n = proto === 'udp' ? client.round_trips : client.requests;
      const rate = proto === 'udp' ? client.rtt_per_s : client.req_per_s;
      srv.once('exit', () => {
        clearTimeout(deadline);
        try {
          const server = JSON.parse(last);
          resolve({ impl: name, rtPerS: rate, p50: client.p50_us, roundTrips: n,
            cpuUsPerRt: ((server.cpu_user_s + server.cpu_sys_s) * 1e6) / n,
            userUsPerRt: (server.cpu_user_s * 1e6) / n, sysUsPerRt: (server.cpu_sys_s * 1e6) / n });
        } catch (e) {
          reject(new Error(`${name}: no server summary (${last})`));
        }
      });
      srv.kill('SIGTERM');
    });
    srv.on('error', reject);
  });
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

(async () => {
  const names = Object.keys(impls);
  const runs = [];
  try {
    for (let r = 0; r < reps; r++) {
      const order = r % 2 ? [...names].reverse() : names;
      for (const n of order) {
        runs.push(await runOne(n));
        process.stderr.write('.');
      }
    }
  } finally {
    fs.rmSync(addon, { force: true });
  }
  process.stderr.write('\n');
  const base = median(runs.filter((x) => x.impl === 'c-epoll').map((x) => x.rtPerS));
  const rows = names.map((n) => {
    const mine = runs.filter((x) => x.impl === n);
    const rt = median(mine.map((x) => x.rtPerS));
    return { impl: n, rtPerS: Math.round(rt), ratio: Number((rt / base).toFixed(3)),
      cpuUsPerRt: Number(median(mine.map((x) => x.cpuUsPerRt)).toFixed(2)),
      userUsPerRt: Number(median(mine.map((x) => x.userUsPerRt)).toFixed(2)),
      sysUsPerRt: Number(median(mine.map((x) => x.sysUsPerRt)).toFixed(2)) };
  });
  console.log('impl            rt/s    vs c-epoll  server CPU/rt (user + sys)');
  for (const x of rows) {
    console.log(`${x.impl.padEnd(15)} ${String(x.rtPerS).padStart(6)}  ${x.ratio.toFixed(2).padStart(9)}x  ${x.cpuUsPerRt.toFixed(1).padStart(5)} µs (${x.userUsPerRt.toFixed(1)} + ${x.sysUsPerRt.toFixed(1)})`);
  }
  const result = { bench: `${proto}-floor`, when: new Date().toISOString(), kernel: os.release(), node: process.version,
    cpus: os.cpus().length, reps, duration, cpu, rows, runs };
  if (outFile) fs.writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
