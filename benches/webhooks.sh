#!/usr/bin/env bash
# Webhook delivery benchmark on SQLite and on PostgreSQL: deliveries per second to a local
# receiver, and inbound-to-delivery latency at a fixed rate.
#
#   benches/webhooks.sh                          # both backends, backlog 20000, 200 msg/s for 10 s
#   BACKENDS=postgres BACKLOG=50000 RATE=500 benches/webhooks.sh
#
# Starts a hub per backend on a fresh database (as benches/ingest.sh does) that may reach the
# benchmark's receiver on 127.0.0.1, and prints one JSON line per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite postgres}"
BACKLOG="${BACKLOG:-20000}"
RATE="${RATE:-200}"
DURATION="${DURATION:-10}"
PG="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PORT="${PORT:-18081}"

cargo build --release -q -p omnibridge -p omnibridge-loadgen
BIN=target/release/omnibridge
WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

for backend in $BACKENDS; do
  case "$backend" in
    sqlite) URL="sqlite://$WORK/bench-$backend.db" ;;
    postgres)
      DB="omnibridge_bench_$$"
      psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" && psql "$PG" -qc "CREATE DATABASE $DB"
      URL="${PG%/*}/$DB" ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  export OMNIBRIDGE_DATABASE_URL="$URL" OMNIBRIDGE_LISTEN="127.0.0.1:$PORT" OMNIBRIDGE_DATA_DIR="$WORK/data" \
    OMNIBRIDGE_LOG__LEVEL=warn OMNIBRIDGE_WEBHOOKS__ALLOW_PRIVATE_CIDRS=127.0.0.1
  "$BIN" serve & SERVER=$!
  until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.1; done
  KEY=$("$BIN" tenant create Bench --region eu --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  target/release/webhook-bench --base-url "http://127.0.0.1:$PORT" --api-key "$KEY" \
    --backlog "$BACKLOG" --rate "$RATE" --duration-secs "$DURATION" --label "$backend"
  RSS=$(ps -o rss= -p "$SERVER" | tr -d ' ')
  echo "{\"label\":\"$backend\",\"server_rss_mb\":$((RSS / 1024))}"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  [ "$backend" = postgres ] && psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
done
