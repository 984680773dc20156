'use strict';
// npm install: use a matching prebuild (or an existing local build) without
// compiling; otherwise build from source, and when a system prerequisite is
// missing, fail with one message that names what to install.
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEnv, missingPrerequisites, fixCommands, cmakeJsBin } = require('./build-env');

const root = path.resolve(__dirname, '..');

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (process.env.RINGWIRE_FORCE_BUILD !== '1' && loads()) process.exit(0);

const missing = missingPrerequisites();
if (missing.length) {
  // One message: what is missing and the commands that provide it (each a
  // valid shell command), then npm install again builds from source.
  const fix = fixCommands(missing);
  const libc = process.report?.getReport?.().header?.glibcVersionRuntime ? 'glibc' : 'non-glibc (e.g. musl)';
  process.stderr.write(
    `\nringwire: no prebuilt binary for ${process.platform}-${process.arch} (${libc}; prebuilt: linux-x64 and linux-arm64 with glibc) and cannot build from source.\n` +
      `  missing: ${missing.map((m) => m.what).join(', ')}\n` +
      `  ${[fix.command && `run:  ${fix.command}`, ...fix.hints].filter(Boolean).join('; ')}; then npm install again\n\n`,
  );
  process.exit(1);
}

const r = spawnSync(process.execPath, [cmakeJsBin(), 'compile', '--out', 'build'], { cwd: root, env: buildEnv(), stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
