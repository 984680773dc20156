#!/usr/bin/env node
'use strict';
// npm run build:prebuild [-- --arch x64,arm64]: the prebuilt binaries the
// package ships. The host's (linux-x64) is built by prebuildify through the
// cmake-js shim; linux-arm64 is cross-compiled with Debian's
// g++-aarch64-linux-gnu and liburing-dev:arm64 (scripts/setup-cross.sh
// installs them) into build-linux-arm64/, so the development build in build/
// stays the host's. Both link liburing statically and are stripped.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEnv, cmakeJsBin, missingCross } = require('./build-env');

const root = path.resolve(__dirname, '..');
const ai = process.argv.indexOf('--arch');
const arches = (ai >= 0 ? process.argv[ai + 1] || '' : `${process.arch}${process.arch === 'x64' ? ',arm64' : ''}`).split(',').filter(Boolean);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, env: buildEnv(), stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    process.stderr.write(`build:prebuild: ${path.basename(cmd)} ${args.slice(0, 2).join(' ')} failed (${r.error ? r.error.message : `exit ${r.status}`})\n`);
    process.exit(1);
  }
}

for (const arch of arches) {
  if (arch === process.arch) {
    run(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--node-gyp', path.join(__dirname, 'prebuildify-cmake.js')]);
  } else if (arch === 'arm64' && process.arch === 'x64') {
    const missing = missingCross();
    if (missing.length) {
      process.stderr.write(`build:prebuild: cannot cross-compile for linux-arm64: missing ${missing.join(', ')}; run scripts/setup-cross.sh (or pass --arch ${process.arch})\n`);
      process.exit(1);
    }
    const out = 'build-linux-arm64';
    run(process.execPath, [cmakeJsBin(), 'rebuild', '--out', out, '--arch', 'arm64',
      `--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, 'cmake', 'aarch64-linux-gnu.cmake')}`]);
    const dest = path.join(root, 'prebuilds', 'linux-arm64');
    fs.mkdirSync(dest, { recursive: true });
    fs.copyFileSync(path.join(root, out, 'Release', 'ringwire.node'), path.join(dest, 'ringwire.node'));
    run('aarch64-linux-gnu-strip', ['--strip-all', path.join(dest, 'ringwire.node')]);
  } else {
    process.stderr.write(`build:prebuild: no recipe for linux-${arch} on a ${process.arch} host\n`);
    process.exit(1);
  }
}
