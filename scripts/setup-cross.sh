#!/usr/bin/env bash
# The linux-arm64 prebuild and its emulated test on an x86-64 Debian/Ubuntu
# host: the cross compiler, liburing-dev for arm64 through multiarch, and
# qemu-user. As root it installs what is missing; otherwise it names the
# commands.
set -euo pipefail
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
command -v dpkg-query >/dev/null || { echo "setup-cross: not a Debian/Ubuntu system; install an aarch64-linux-gnu g++, liburing (static) for arm64 and qemu-user yourself" >&2; exit 0; }
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "setup-cross: only for x86-64 hosts"; exit 0; }
need=()
for p in g++-aarch64-linux-gnu binutils-aarch64-linux-gnu liburing-dev:arm64 qemu-user; do have_pkg "$p" || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-cross: missing ${need[*]}" >&2
  echo "       run: sudo dpkg --add-architecture arm64 && sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "setup-cross: installing ${need[*]}"
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
