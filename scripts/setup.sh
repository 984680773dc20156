#!/usr/bin/env bash
# Installs the system packages a source build and the test suite need, when
# they are missing. As root it runs apt-get; otherwise it names the command.
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
command -v dpkg-query >/dev/null || { echo "setup: not a Debian/Ubuntu system; install liburing (static), cmake, g++, make, iproute2 yourself" >&2; exit 0; }
for p in liburing-dev cmake g++ make iproute2 wrk; do have_pkg "$p" || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  echo "setup: installing ${need[*]} with sudo"
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "setup: missing system packages: ${need[*]}" >&2
  echo "       run: sudo apt-get install -y ${need[*]}   (then run this command again)" >&2
  exit 1
fi
