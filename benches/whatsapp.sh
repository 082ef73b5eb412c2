#!/usr/bin/env bash
# WhatsApp webhook intake benchmark on SQLite and on PostgreSQL: signed notifications of 10
# messages each at fixed rates; messages per second stored with zero loss, and the answer time.
#
#   benches/whatsapp.sh                                  # both backends, 1k–6k msg/s, 10 s each
#   BACKENDS=sqlite RATES=3000,4000,5000 DURATION=20 benches/whatsapp.sh
#
# Starts a hub per backend on a fresh database (benches/hub.sh) whose provider client may reach
# the benchmark's fake Graph API on 127.0.0.1, and prints one JSON line per rate.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite postgres}"
RATES="${RATES:-1000,2000,3000,4000,5000,6000}"
DURATION="${DURATION:-10}"
source benches/hub.sh
export OMNIBRIDGE_OUTBOUND__ALLOW_PRIVATE_CIDRS=127.0.0.1

bench_one() {
  target/release/whatsapp-bench --base-url "$2" --api-key "$3" --rates "$RATES" --duration-secs "$DURATION" --label "$1"
}
run_benchmarks "${PORT:-18084}"
