#!/usr/bin/env bash
# Webhook delivery benchmark on SQLite and on PostgreSQL: deliveries per second to a local
# receiver, and inbound-to-delivery latency at a fixed rate.
#
#   benches/webhooks.sh                          # both backends, backlog 20000, 1000 msg/s for 10 s
#   BACKENDS=postgres BACKLOG=50000 RATE=500 benches/webhooks.sh
#
# Starts a hub per backend on a fresh database (benches/hub.sh) that may reach the benchmark's
# receiver on 127.0.0.1, and prints one JSON line per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite postgres}"
BACKLOG="${BACKLOG:-20000}"
RATE="${RATE:-1000}"
DURATION="${DURATION:-10}"
source benches/hub.sh
export OMNIBRIDGE_WEBHOOKS__ALLOW_PRIVATE_CIDRS=127.0.0.1

bench_one() {
  target/release/webhook-bench --base-url "$2" --api-key "$3" \
    --backlog "$BACKLOG" --rate "$RATE" --duration-secs "$DURATION" --label "$1"
}
run_benchmarks "${PORT:-18081}"
