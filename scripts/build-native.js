#!/usr/bin/env node
'use strict';
// npm run build:native: cmake-js with the environment of scripts/build-env.js
// (Node headers from next to the running node, never downloaded). Extra
// arguments go to cmake-js, e.g. `npm run build:native -- --debug`.
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEnv, cmakeJsBin } = require('./build-env');

const root = path.resolve(__dirname, '..');
const r = spawnSync(process.execPath, [cmakeJsBin(), 'compile', '--out', 'build', ...process.argv.slice(2)], { cwd: root, env: buildEnv(), stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
