#!/usr/bin/env node
'use strict';
// Our registry mirror carries only the Linux builds of platform-specific
// optional packages (rollup's, esbuild's). `npm install` then leaves the
// other platforms out of package-lock.json and `npm ci` rejects the lock as
// out of sync. This adds a lock entry for each missing optional platform
// package, with the os/cpu/libc its name encodes, so npm ci validates the
// lock and skips those packages on this platform without fetching them.
// Run after any dependency change: node scripts/lock-platform-stubs.js
const fs = require('fs');
const path = require('path');

const file = path.resolve(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const OS = ['android', 'darwin', 'freebsd', 'linux', 'netbsd', 'openbsd', 'openharmony', 'sunos', 'win32', 'aix', 'cygwin'];
const CPU = { arm: 'arm', 'arm-eabi': 'arm', arm64: 'arm64', x64: 'x64', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x', mips64el: 'mips64el', 'arm-gnueabihf': 'arm', 'arm-musleabihf': 'arm' };

function platformOf(name) {
  const base = name.split('/').pop();
  const parts = base.split('-');
  const i = parts.findIndex((p) => OS.includes(p));
  if (i < 0) return null;
  const os = parts[i];
  const rest = parts.slice(i + 1).join('-');
  let cpu = CPU[rest];
  let libc;
  if (!cpu) {
    const m = /^([a-z0-9]+(?:-eabi)?)-(gnu|musl|msvc|gnueabihf|musleabihf)$/.exec(rest);
    if (!m) return null;
    cpu = CPU[m[1]] ?? m[1];
    if (m[2].startsWith('gnu')) libc = 'glibc';
    else if (m[2].startsWith('musl')) libc = 'musl';
  }
  return { os, cpu, libc };
}

let added = 0;
for (const [where, pkg] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const key = `${where ? `${where}/` : ''}node_modules/${dep}`.replace(/^.*?(node_modules\/)/, (m) => m);
    const flat = `node_modules/${dep}`;
    if (lock.packages[key] || lock.packages[flat]) continue;
    const plat = platformOf(dep);
    if (!plat) continue;
    lock.packages[flat] = {
      version,
      ...(pkg.dev ? { dev: true } : {}),
      optional: true,
      os: [plat.os],
      cpu: [plat.cpu],
      ...(plat.libc ? { libc: [plat.libc] } : {}),
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platform-stubs: added ${added} optional platform entries`);
