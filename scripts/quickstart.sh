#!/usr/bin/env bash
# The main job: set up, build, report what this machine can do, and run a
# quick epoll / io_uring / Node / ringwire comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
npm ci --no-audit --no-fund
npm run build
node dist/cli.js doctor
node dist/cli.js perf compare --quick
