#!/usr/bin/env node
'use strict';
// npm run build:prebuild [-- --arch x64,arm64]: the prebuilt binaries the
// package ships, at prebuilds/linux-<arch>/ringwire.node where node-gyp-build
// looks. One N-API build per CPU serves every Node version. The host's is
// the Release build in build/ (what `npm run build` makes: built once, not
// again), a cross build gets its own folder (build-prebuild-<arch>/); both
// incremental, each copied and stripped. linux-arm64 is
// cross-compiled on an x86-64 host with Debian's g++-aarch64-linux-gnu and
// liburing-dev:arm64 (scripts/setup-cross.sh installs them). Both link
// liburing statically: only glibc and libstdc++ are needed at run time.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEnv, cmakeJsBin, missingCross } = require('./build-env');

const root = path.resolve(__dirname, '..');
const ai = process.argv.indexOf('--arch');
const arches = (ai >= 0 ? process.argv[ai + 1] || '' : `${process.arch}${process.arch === 'x64' ? ',arm64' : ''}`).split(',').filter(Boolean);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, env: buildEnv(), stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`build:prebuild: ${path.basename(cmd)} ${args.slice(0, 2).map((a) => path.basename(a)).join(' ')} failed (${r.error ? r.error.message : `exit ${r.status}`})\n`);
    process.exit(1);
  }
}

for (const arch of arches) {
  const out = arch === process.arch ? 'build' : `build-prebuild-${arch}`;
  const args = [cmakeJsBin(), 'compile', '--out', out];
  let strip = 'strip';
  if (arch === process.arch) {
    // native build
  } else if (arch === 'arm64' && process.arch === 'x64') {
    const missing = missingCross();
    if (missing.length) {
      process.stderr.write(`build:prebuild: cannot cross-compile for linux-arm64: missing ${missing.join(', ')}; run scripts/setup-cross.sh (or pass --arch ${process.arch})\n`);
      process.exit(1);
    }
    args.push('--arch', arch, `--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, 'cmake', 'aarch64-linux-gnu.cmake')}`);
    strip = 'aarch64-linux-gnu-strip';
  } else {
    process.stderr.write(`build:prebuild: no recipe for linux-${arch} on a ${process.arch} host\n`);
    process.exit(1);
  }
  run(process.execPath, args);
  const dest = path.join(root, 'prebuilds', `linux-${arch}`);
  fs.mkdirSync(dest, { recursive: true });
  const file = path.join(dest, 'ringwire.node');
  fs.copyFileSync(path.join(root, out, 'Release', 'ringwire.node'), `${file}.tmp`);
  run(strip, ['--strip-all', `${file}.tmp`]);
  fs.renameSync(`${file}.tmp`, file);
  process.stdout.write(`build:prebuild: ${path.relative(root, file)}\n`);
}
