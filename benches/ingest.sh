#!/usr/bin/env bash
# Widget-message ingest benchmark on SQLite and on PostgreSQL.
#
#   benches/ingest.sh                 # both backends, 64 concurrent visitors, 10 s each
#   BACKENDS=sqlite CONCURRENCY=128 DURATION=20 benches/ingest.sh
#
# Builds release binaries, starts a hub per backend on a fresh database (a temporary SQLite file;
# a new PostgreSQL database from TEST_POSTGRES_URL, dropped afterwards), creates a tenant with the
# CLI and runs the load generator against it. Prints one JSON line per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite postgres}"
CONCURRENCY="${CONCURRENCY:-64}"
DURATION="${DURATION:-10}"
PG="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PORT="${PORT:-18080}"

cargo build --release -q -p omnibridge -p omnibridge-loadgen
BIN=target/release/omnibridge
WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

for backend in $BACKENDS; do
  case "$backend" in
    sqlite) URL="sqlite://$WORK/bench.db" ;;
    postgres)
      DB="omnibridge_bench_$$"
      psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" && psql "$PG" -qc "CREATE DATABASE $DB"
      URL="${PG%/*}/$DB" ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  export OMNIBRIDGE_DATABASE_URL="$URL" OMNIBRIDGE_LISTEN="127.0.0.1:$PORT" OMNIBRIDGE_DATA_DIR="$WORK/data" OMNIBRIDGE_LOG__LEVEL=warn
  "$BIN" serve & SERVER=$!
  until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.1; done
  KEY=$("$BIN" tenant create Bench --region eu --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  target/release/omnibridge-loadgen --base-url "http://127.0.0.1:$PORT" --api-key "$KEY" \
    --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --label "$backend"
  RSS=$(ps -o rss= -p "$SERVER" | tr -d ' ')
  echo "{\"label\":\"$backend\",\"server_rss_mb\":$((RSS / 1024))}"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  [ "$backend" = postgres ] && psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
done
