#!/usr/bin/env bash
# The rate limiter under a flood of distinct keys (300k made-up bearer tokens), then normal API
# traffic: p50/p99/max latency and the buckets held.
#
#   benches/limiter.sh                         # SQLite
#   BACKENDS=postgres FLOOD_KEYS=300000 benches/limiter.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite}"
FLOOD_KEYS="${FLOOD_KEYS:-300000}"
source benches/hub.sh
# The API limit stays on at its default here: the point is its buckets. The measured client
# sends 1,000 requests, within its key's burst of 1,200.
export OMNIBRIDGE_LIMITS__API_REQUESTS_PER_KEY_PER_MINUTE=1200

bench_one() {
  target/release/limiter-soak --base-url "$2" --api-key "$3" --flood-keys "$FLOOD_KEYS" --label "$1"
}
run_benchmarks "${PORT:-18083}"
