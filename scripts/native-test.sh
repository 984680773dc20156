#!/usr/bin/env bash
# Builds native/core as its own static library (rw_core, no Node include
# path) with the C++ unit tests in test/native/, and runs them twice: as
# built for release, then built with AddressSanitizer + UBSan (any report
# fails the run). Plain cmake, no cmake-js or Node headers: the core must
# build without them. Needs only what a source build needs (g++, cmake,
# liburing); no privileges.
#   scripts/native-test.sh [name-filter]
#   RINGWIRE_NATIVE_TEST_SANITIZE=0 skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
run() {  # build dir, extra cmake args...
  local build="$1"
  shift
  cmake -S . -B "$build" -DRINGWIRE_NATIVE_TESTS=ON -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$build" --target rw_core_tests -j "$jobs" >/dev/null
}
run build-native-test -DRINGWIRE_SANITIZE=OFF
build-native-test/rw_core_tests "$@"
if [ "${RINGWIRE_NATIVE_TEST_SANITIZE:-1}" != 0 ]; then
  echo "-- again with AddressSanitizer + UBSan"
  run build-native-test-asan -DRINGWIRE_SANITIZE=ON
  out="$(mktemp)"
  if ! ASAN_OPTIONS="halt_on_error=1:detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      build-native-test-asan/rw_core_tests "$@" >"$out" 2>&1; then
    cat "$out"
    rm -f "$out"
    exit 1
  fi
  tail -1 "$out"
  rm -f "$out"
fi
