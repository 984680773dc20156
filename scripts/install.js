'use strict';
// npm install: use a matching prebuild (or an existing local build) without
// compiling; otherwise build from source, and when a system prerequisite is
// missing, fail with one message that names what to install.
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEnv, missingPrerequisites, cmakeJsBin } = require('./build-env');

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
  const pkgs = [...new Set(missing.map((m) => m.pkg))].join(' ');
  process.stderr.write(
    `\nringwire: no prebuilt binary for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules}) and cannot build from source.\n` +
      `  missing: ${missing.map((m) => m.what).join(', ')}\n` +
      `  install them, then run npm install again:  sudo apt-get install -y ${pkgs}\n\n`,
  );
  process.exit(1);
}

const r = spawnSync(process.execPath, [cmakeJsBin(), 'compile', '--out', 'build'], { cwd: root, env: buildEnv(), stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
