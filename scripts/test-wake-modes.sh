#!/usr/bin/env bash
# The default run (npm test) uses the default wake mode (the ring fd). This
# runs the socket, ring, worker and wake suites again with the eventfd mode
# forced: where its self-check passes that mode carries the run, where it
# fails (late or lost wake-ups) the fallback path does. Either way the
# latency bounds of test/wake.test.ts must hold. The epoll backend is
# covered inside every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== suites again with RINGWIRE_URING_WAKE=eventfd"
# The forced mode warns once per process when it falls back (RINGWIRE_WAKE_FALLBACK);
# tests that compare a child's stderr with "" would read that warning as a failure.
RINGWIRE_URING_WAKE=eventfd NODE_NO_WARNINGS=1 npx vitest run \
  test/wake.test.ts test/udp.test.ts test/tcp.test.ts test/ring.test.ts \
  test/ring-process.test.ts test/workers.test.ts test/http.test.ts \
  test/dgram-compat.test.ts test/net-compat.test.ts
