#!/usr/bin/env node
// Ping-pong round trips through one thread's TCPDirect stack next to the
// same through the kernel (io_uring, 127.0.0.1), as JSON. Needs a build with
// RINGWIRE_TCPDIRECT_ROOT and a usable stack (a NIC, or TCPDirect's emulator:
// see README "ef_vi and TCPDirect"); the kernel rows run everywhere.
//   node bench/tcpdirect/echo.js [--n 5000] [--out file.json]
// ZF addresses: RINGWIRE_ZF_ADDRS=udpSrv,udpCli,tcpSrv,tcpCli (local IPv4s).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..', '..');
const rw = require(path.join(root, 'dist', 'index.js'));
const { createTcpEndpoint, TcpEvent } = require(path.join(root, 'dist', 'tcp.js'));

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const N = Number(arg('--n', 5000));
const out = arg('--out');
const zfAddrs = (process.env.RINGWIRE_ZF_ADDRS ?? '127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5').split(',');

function summary(name, backend, rtts, cpu) {
  rtts.sort((a, b) => a - b);
  const q = (p) => rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * p))];
  return { name, backend, roundTrips: rtts.length, p50Us: +q(0.5).toFixed(2), p99Us: +q(0.99).toFixed(2), maxUs: +q(1).toFixed(2),
    cpuUsPerRoundTrip: +((cpu.user + cpu.system) / rtts.length).toFixed(2) };
}

async function udp(backend) {
  const [sa, ca] = backend === 'tcpdirect' ? zfAddrs : ['127.0.0.1', '127.0.0.1'];
  const srv = rw.createUdpSocket({ type: 'udp4', backend });
  const cli = rw.createUdpSocket({ type: 'udp4', backend });
  const port = srv.bind(0, sa).port;
  cli.bind(0, ca);
  srv.onBatch((b) => { for (let i = 0; i < b.count; i++) srv.reply(b, i); });
  const msg = Buffer.alloc(64, 1);
  const rtts = [];
  let t0;
  const c0 = process.cpuUsage();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`udp ${backend}: ${rtts.length}/${N} after 60 s`)), 60_000);
    cli.onBatch((b) => {
      for (let i = 0; i < b.count; i++) rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (rtts.length >= N) { clearTimeout(timer); resolve(); return; }
      t0 = process.hrtime.bigint();
      cli.queue(msg, port, sa);
    });
    t0 = process.hrtime.bigint();
    cli.queue(msg, port, sa);
  });
  const cpu = process.cpuUsage(c0);
  await srv.close();
  await cli.close();
  return summary('udp 64 B ping-pong', backend, rtts, cpu);
}

async function tcp(backend) {
  const [, , la, ca] = backend === 'tcpdirect' ? zfAddrs : [0, 0, '127.0.0.1', '127.0.0.1'];
  const msg = Buffer.alloc(100, 7);
  const rtts = [];
  let server = -1, client = -1, got = 0, t0, c0;
  let finish;
  const done = new Promise((r) => { finish = r; });
  const ep = createTcpEndpoint({ backend, onBatch(b) {
    for (let i = 0; i < b.count; i++) {
      const t = b.type(i), c = b.conn(i);
      if (t === TcpEvent.Accept) server = c;
      else if (t === TcpEvent.Connect) { c0 = process.cpuUsage(); t0 = process.hrtime.bigint(); ep.send(c, msg); }
      else if (t === TcpEvent.Data && c === server) ep.sendFrom(c, b, i);
      else if (t === TcpEvent.Data && c === client) {
        got += b.length(i);
        if (got % msg.length) continue;
        rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
        if (rtts.length >= N) finish(process.cpuUsage(c0));
        else { t0 = process.hrtime.bigint(); ep.send(c, msg); }
      } else if (t === TcpEvent.Error) throw b.error(i);
    }
  } });
  const l = ep.listen({ host: la, port: 0 });
  client = ep.connect({ host: la, port: l.address().port, localAddress: ca });
  const timer = setTimeout(() => { console.error(`tcp ${backend}: ${rtts.length}/${N} after 60 s`); process.exit(1); }, 60_000);
  const cpu = await done;
  clearTimeout(timer);
  await ep.close();
  return summary('tcp 100 B ping-pong', backend, rtts, cpu);
}

(async () => {
  const caps = rw.capabilities();
  const backends = ['io_uring'];
  if (caps.tcpdirect.available) backends.unshift('tcpdirect');
  else console.error(`[skip] tcpdirect: ${caps.tcpdirect.reason}`);
  const rows = [];
  for (const b of backends) rows.push(await udp(b), await tcp(b));
  const report = { node: process.version, zfAttr: process.env.ZF_ATTR ?? null, tcpdirect: caps.tcpdirect, rows };
  const text = JSON.stringify(report, null, 2);
  if (out) fs.writeFileSync(out, text + '\n');
  console.log(text);
})().catch((e) => { console.error(e); process.exit(1); });
