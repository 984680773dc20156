#!/usr/bin/env node
'use strict';
// prebuildify drives node-gyp ("rebuild --target=… --arch=… --release");
// this shim stands in for node-gyp and runs cmake-js, which writes
// build/Release/ringwire.node where prebuildify collects it.
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEnv, cmakeJsBin } = require('./build-env');

const root = path.resolve(__dirname, '..');
const debug = process.argv.includes('--debug');
const args = [cmakeJsBin(), 'rebuild', '--out', 'build'];
if (debug) args.push('--debug');
const r = spawnSync(process.execPath, args, { cwd: root, env: buildEnv(), stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
