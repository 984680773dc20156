#!/usr/bin/env bash
# Smoke test of the C yardstick: every rw-server mode x impl against the
# matching rw-client on loopback, 0.3 s each, plus rw-syscost. Checks exit
# codes and that both sides counted traffic; not a benchmark.
#   bench/c/smoke.sh [BIN_DIR]     (default: build/bench, after make -C bench/c)
set -u
bin=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/bench}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# count KEY FILE: the integer value of "KEY" in a JSON line, or -1
count() { grep -o "\"$1\":[0-9]*" "$2" | head -1 | cut -d: -f2 || true; }

pair() { # server-mode impl client-mode client-key [extra client args]
	local smode=$1 impl=$2 cmode=$3 ckey=$4 port srv i
	shift 4
	# The lifetime is a safety net only: SIGTERM ends the run.
	"$bin/rw-server" --mode "$smode" --impl "$impl" --lifetime 20 \
		>"$tmp/s.out" 2>"$tmp/s.err" &
	srv=$!
	for i in $(seq 200); do
		grep -q '^listening' "$tmp/s.out" && break
		sleep 0.01
	done
	port=$(awk '/^listening/ { print $2 }' "$tmp/s.out")
	if [ -z "$port" ]; then
		kill "$srv" 2>/dev/null
		wait "$srv" 2>/dev/null
		bad "$smode/$impl: no listening line ($(cat "$tmp/s.err"))"
		return
	fi
	timeout 10 "$bin/rw-client" "$cmode" --port "$port" --duration 0.3 "$@" \
		>"$tmp/c.out" 2>"$tmp/c.err"
	local crc=$?
	sleep 0.05 # let a sink drain what is still queued
	kill -TERM "$srv"
	wait "$srv"
	local src=$?
	local got sent
	got=$(count packets "$tmp/s.out")
	sent=$(count "$ckey" "$tmp/c.out")
	if [ "$crc" = 0 ] && [ "$src" = 0 ] && [ "${got:-0}" -gt 0 ] && [ "${sent:-0}" -gt 0 ]; then
		ok "$smode/$impl <- $cmode: client $ckey=$sent, server packets=$got"
	else
		bad "$smode/$impl <- $cmode: client rc=$crc $ckey=$sent, server rc=$src packets=$got $(cat "$tmp/c.err" "$tmp/s.err")"
	fi
}

for impl in epoll uring busy; do
	pair udp-echo "$impl" udp-pingpong round_trips
	pair udp-sink "$impl" udp-blast sent
	pair udp-sink "$impl" udp-blast sent --gso
	pair tcp-echo "$impl" tcp-rr requests --conns 4
	pair tcp-sink "$impl" tcp-stream bytes --conns 2
done

if "$bin/rw-syscost" | grep -q '"getppid_ns":[0-9]'; then
	ok "rw-syscost"
else
	bad "rw-syscost"
fi
"$bin/rw-client" tcp-rr --port 1 --duration 0.1 >/dev/null 2>&1
[ $? = 1 ] && ok "refused connection exits 1" || bad "refused connection exit code"
"$bin/rw-server" --mode nope --impl epoll >/dev/null 2>&1
[ $? = 2 ] && ok "bad argument exits 2" || bad "bad argument exit code"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
