#!/usr/bin/env bash
# Scale-out benchmark: 1, 2 and 3 `omnibridge serve` processes on one PostgreSQL database.
# For each count it measures widget-message ingest (the load spread over the processes) and
# webhook delivery (a backlog drained by all of them, then latency at a fixed rate), and prints
# one JSON line per measurement. On a 2-core machine the point is correctness and the shape of
# the curve, not speed-up: the processes share the cores and the database.
#
#   benches/cluster.sh
#   PROCESSES="1 3" CONCURRENCY=64 DURATION=10 BACKLOG=10000 RATE=200 benches/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PROCESSES="${PROCESSES:-1 2 3}"
CONCURRENCY="${CONCURRENCY:-64}"
DURATION="${DURATION:-10}"
BACKLOG="${BACKLOG:-10000}"
RATE="${RATE:-200}"
PORT="${PORT:-18090}"
PG="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BIN=target/release/omnibridge

cargo build --release -q -p omnibridge -p omnibridge-loadgen
WORK=$(mktemp -d)
PIDS=()
DB=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$DB" ] && psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export OMNIBRIDGE_MASTER_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
# Load generators hammer from one address as few visitors: no rate limits while measuring.
export OMNIBRIDGE_LIMITS__WIDGET_SESSIONS_PER_IP_PER_MINUTE=0 OMNIBRIDGE_LIMITS__WIDGET_MESSAGES_PER_VISITOR_PER_MINUTE=0 \
  OMNIBRIDGE_LIMITS__API_REQUESTS_PER_KEY_PER_MINUTE=0 OMNIBRIDGE_LIMITS__WIDGET_SESSIONS_PER_CHANNEL_PER_MINUTE=0
export OMNIBRIDGE_DATA_DIR="$WORK/data" OMNIBRIDGE_LOG__LEVEL=warn OMNIBRIDGE_WEBHOOKS__ALLOW_PRIVATE_CIDRS=127.0.0.1

# Starts $1 processes on a fresh database; sets URL, BASES and KEY.
start_cluster() {
  local n="$1" i
  DB="omnibridge_cluster_$$_$n"
  psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" && psql "$PG" -qc "CREATE DATABASE $DB"
  URL="${PG%/*}/$DB"
  OMNIBRIDGE_DATABASE_URL="$URL" "$BIN" migrate >/dev/null
  BASES=""
  for i in $(seq 1 "$n"); do
    local port=$((PORT + i))
    OMNIBRIDGE_DATABASE_URL="$URL" OMNIBRIDGE_LISTEN="127.0.0.1:$port" "$BIN" serve & PIDS+=($!)
    until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.1; done
    BASES="${BASES:+$BASES,}http://127.0.0.1:$port"
  done
  KEY=$(OMNIBRIDGE_DATABASE_URL="$URL" "$BIN" tenant create Bench --region eu --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
}

stop_cluster() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
  psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  DB=""
}

for n in $PROCESSES; do
  start_cluster "$n"
  target/release/omnibridge-loadgen --base-url "$BASES" --api-key "$KEY" --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --label "ingest-$n"
  stop_cluster
  start_cluster "$n"
  target/release/webhook-bench --base-url "$BASES" --api-key "$KEY" --backlog "$BACKLOG" --rate "$RATE" --duration-secs "$DURATION" --label "webhooks-$n"
  stop_cluster
done
