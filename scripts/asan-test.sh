#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UBSan into build-asan/ and runs the
# fuzz test and the lifecycle/memory-safety suites against it (RINGWIRE_ADDON
# points lib/internal/native.ts at that build). node itself is not instrumented, so
# libasan is preloaded; leak detection is off (node keeps memory until exit
# by design). Any ASan/UBSan report fails the run: halt_on_error makes the
# reporting process exit non-zero, and every report is also written under a
# log directory that must stay empty (a report in a child process whose
# test expected a failure would otherwise go unnoticed).
set -euo pipefail
cd "$(dirname "$0")/.."
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
nice -n 10 npx cmake-js compile --out build-asan --CDRINGWIRE_SANITIZE=ON
[ -f dist/index.js ] || npm run build:ts

libasan="$(g++ -print-file-name=libasan.so)"
[ -f "$libasan" ] || { echo "asan-test: libasan.so not found (g++ -print-file-name)" >&2; exit 1; }
logs="$(mktemp -d /tmp/ringwire-asan.XXXXXX)"
export RINGWIRE_ADDON="$PWD/build-asan/Release/ringwire.node"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:log_path=$logs/asan:log_exe_name=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
# Fewer fuzz calls per seed: the instrumented build is several times slower.
export RINGWIRE_FUZZ_CALLS="${RINGWIRE_FUZZ_CALLS:-5000}"
export RINGWIRE_URING_WAKE="${RINGWIRE_URING_WAKE:-ringfd}"

status=0
LD_PRELOAD="$libasan" npx vitest run test/fuzz.test.ts test/memory-safety.test.ts test/workers.test.ts \
  test/shm.test.ts test/ring.test.ts || status=$?

if compgen -G "$logs/*" > /dev/null; then
  echo "asan-test: sanitizer reports:" >&2
  for f in "$logs"/*; do echo "== $f" >&2; head -60 "$f" >&2; done
  status=1
fi
rm -rf "$logs"
exit "$status"
