#!/usr/bin/env node
// An echo server on bench/floor/floor.cc: `node server.js <floor.node> js|nojs [udp|tcp]`.
// Prints "listening <port>", and on SIGTERM one JSON line with its CPU time.
'use strict';
const [addonPath, mode, proto = 'udp'] = process.argv.slice(2);
const floor = require(addonPath);
const port = floor.start(0, mode === 'js' ? () => {} : null, proto === 'tcp');
if (port < 0) {
  process.stderr.write(`floor: bind failed (${port})\n`);
  process.exit(1);
}
const t0 = process.hrtime.bigint();
process.stdout.write(`listening ${port}\n`);
process.on('SIGTERM', () => {
  const cpu = process.cpuUsage();
  floor.stop();
  process.stdout.write(`${JSON.stringify({ impl: `floor-${mode}`, proto, ...floor.stats(), cpu_user_s: cpu.user / 1e6, cpu_sys_s: cpu.system / 1e6, wall_s: Number(process.hrtime.bigint() - t0) / 1e9 })}\n`);
  process.exit(0);
});
