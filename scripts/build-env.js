'use strict';
// Shared by install.js and the prebuildify shim: the environment for a
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
  if (!nodeDir()) missing.push({ what: 'Node.js headers (include/node/node.h next to the node binary)', pkg: 'nodejs (with headers) or set npm_config_nodedir' });
  return missing;
}

function buildEnv() {
  const env = { ...process.env };
  const dir = nodeDir();
  if (dir) env.npm_config_nodedir = dir;
  return env;
}

function cmakeJsBin() {
  return require.resolve('cmake-js/bin/cmake-js');
}

module.exports = { buildEnv, missingPrerequisites, cmakeJsBin };
