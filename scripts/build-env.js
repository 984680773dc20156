'use strict';
// Shared by install.js, build-native.js and prebuild.js: the environment for a
// cmake-js build that never downloads Node headers.
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(process.execPath, '..', '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) return prefix;
  return null;
}

function have(cmd, args = ['--version']) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function findFile(candidates) {
  return candidates.find((p) => fs.existsSync(p));
}

// Every system prerequisite of a source build, with the Debian package that
// provides it; an empty list means a build can start.
function missingPrerequisites() {
  const missing = [];
  if (!have('cmake')) missing.push({ what: 'cmake', pkg: 'cmake' });
  if (!have('c++') && !have('g++')) missing.push({ what: 'a C++17 compiler', pkg: 'g++' });
  if (!have('make') && !have('ninja')) missing.push({ what: 'make', pkg: 'make' });
  const libdirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  if (!findFile(libdirs.map((d) => path.join(d, 'liburing.a'))) || !findFile(['/usr/include/liburing.h', '/usr/local/include/liburing.h'])) {
    missing.push({ what: 'liburing (static library and headers)', pkg: 'liburing-dev' });
  }
  if (!nodeDir()) missing.push({ what: 'Node.js headers (include/node/node.h next to the node binary)', hint: 'set npm_config_nodedir to a Node install prefix that has include/node (the official tarballs do)' });
  // The source-build tooling is a devDependency: a prebuild needs none of it.
  for (const mod of ['cmake-js', 'node-addon-api']) {
    if (!resolvable(mod)) missing.push({ what: `the npm package ${mod}`, npm: mod });
  }
  return missing;
}

function resolvable(mod) {
  try {
    require.resolve(`${mod}/package.json`, { paths: [path.resolve(__dirname, '..')] });
    return true;
  } catch {
    return false;
  }
}

// The fix as one shell command line that can be pasted as is, plus any
// advice that is not a command.
function fixCommands(missing) {
  const cmds = [];
  const apt = [...new Set(missing.filter((m) => m.pkg).map((m) => m.pkg))];
  if (apt.length) cmds.push(`sudo apt-get install -y ${apt.join(' ')}`);
  const npm = missing.filter((m) => m.npm).map((m) => m.npm);
  if (npm.length) cmds.push(`npm install --no-save ${npm.join(' ')}`);
  return { command: cmds.join(' && '), hints: missing.filter((m) => m.hint).map((m) => m.hint) };
}

// What a linux-arm64 cross build on an x86-64 host lacks (scripts/setup-cross.sh).
function missingCross() {
  const missing = [];
  if (!have('aarch64-linux-gnu-g++')) missing.push('aarch64-linux-gnu-g++ (g++-aarch64-linux-gnu)');
  if (!fs.existsSync('/usr/lib/aarch64-linux-gnu/liburing.a')) missing.push('/usr/lib/aarch64-linux-gnu/liburing.a (liburing-dev:arm64)');
  return missing;
}

function buildEnv() {
  const env = { ...process.env };
  const dir = nodeDir();
  if (dir) env.npm_config_nodedir = dir;
  return env;
}

// cmake-js is loaded only for a source build; without it, say what to do.
function cmakeJsBin() {
  try {
    return require.resolve('cmake-js/bin/cmake-js', { paths: [path.resolve(__dirname, '..')] });
  } catch {
    process.stderr.write('ringwire: a source build needs the npm packages cmake-js and node-addon-api: npm install --no-save cmake-js node-addon-api\n');
    process.exit(1);
  }
}

module.exports = { buildEnv, missingPrerequisites, missingCross, fixCommands, cmakeJsBin };
