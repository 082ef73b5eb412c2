#!/usr/bin/env bash
# Realtime fan-out at scale on SQLite and on PostgreSQL: 10,000 web chat visitors with a widget
# websocket open each, 50 operators on /v1/realtime, visitors writing 1,000 messages/s and every
# tenth answered by an operator.
#
#   benches/fanout.sh                              # both backends
#   BACKENDS=sqlite VISITORS=2000 RATE=500 benches/fanout.sh
#
# Prints one JSON line per backend: inbound → operator sockets and reply → visitor socket
# latency (p50/p99), and the hub's memory with every socket open. Needs an open-file limit above
# VISITORS for the load generator (the hub raises its own to the hard limit).
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite postgres}"
VISITORS="${VISITORS:-10000}"
OPERATORS="${OPERATORS:-50}"
RATE="${RATE:-1000}"
DURATION="${DURATION:-10}"
source benches/hub.sh
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_one() {
  target/release/fanout-bench --base-url "$2" --api-key "$3" --visitors "$VISITORS" --operators "$OPERATORS" \
    --rate "$RATE" --duration-secs "$DURATION" --server-pid "$SERVER" --label "$1"
}
run_benchmarks "${PORT:-18082}"
