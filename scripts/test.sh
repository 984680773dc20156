#!/usr/bin/env bash
# The test command: system packages, npm ci, native + TypeScript build, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
npm ci --no-audit --no-fund
npm test
