#!/usr/bin/env bash
# Widget-message ingest benchmark on SQLite and on PostgreSQL.
#
#   benches/ingest.sh                 # both backends, 64 concurrent visitors, 10 s each
#   BACKENDS=sqlite CONCURRENCY=128 DURATION=20 benches/ingest.sh
#
# Starts a hub per backend on a fresh database (benches/hub.sh) and runs the load generator
# against it. Prints one JSON line per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite postgres}"
CONCURRENCY="${CONCURRENCY:-64}"
DURATION="${DURATION:-10}"
source benches/hub.sh

bench_one() {
  target/release/omnibridge-loadgen --base-url "$2" --api-key "$3" \
    --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --label "$1"
}
run_benchmarks "${PORT:-18080}"
