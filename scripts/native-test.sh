#!/usr/bin/env bash
# Builds native/core as its own static library (rw_core, no Node include
# path) with the C++ unit tests in test/native/, and runs them. Plain cmake,
# no cmake-js or Node headers: the core must build without them. Needs only
# what a source build needs (g++, cmake, liburing); no privileges.
#   scripts/native-test.sh [name-filter]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-native-test
cmake -S . -B "$build" -DRINGWIRE_NATIVE_TESTS=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target rw_core_tests -j "$(nproc)" -- --no-print-directory >/dev/null
"$build/rw_core_tests" "$@"
