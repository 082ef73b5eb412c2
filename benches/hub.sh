# Shared by the benchmark scripts (sourced, not run): builds release binaries, then for each
# backend in $BACKENDS starts `omnibridge serve` on a fresh database (a temporary SQLite file; a
# new PostgreSQL database from TEST_POSTGRES_URL, dropped afterwards), creates a tenant with the
# CLI, calls `bench_one BACKEND BASE_URL API_KEY`, and prints the server's memory after the run.
#
# Extra `serve` environment: export it before calling `run_benchmarks`.
# Load generators hammer from one address as few visitors: no rate limits while measuring.
export OMNIBRIDGE_LIMITS__WIDGET_SESSIONS_PER_IP_PER_MINUTE=0 OMNIBRIDGE_LIMITS__WIDGET_MESSAGES_PER_VISITOR_PER_MINUTE=0 \
  OMNIBRIDGE_LIMITS__API_REQUESTS_PER_KEY_PER_MINUTE=0 OMNIBRIDGE_LIMITS__WIDGET_SESSIONS_PER_CHANNEL_PER_MINUTE=0
PG="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BIN=target/release/omnibridge

run_benchmarks() {
  local port="$1"
  cargo build --release -q -p omnibridge -p omnibridge-loadgen
  WORK=$(mktemp -d)
  SERVER=""
  trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
  for backend in $BACKENDS; do
    local url db=""
    case "$backend" in
      sqlite) url="sqlite://$WORK/bench-$backend.db" ;;
      postgres)
        db="omnibridge_bench_$$"
        psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" && psql "$PG" -qc "CREATE DATABASE $db"
        url="${PG%/*}/$db" ;;
      *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
    OMNIBRIDGE_DATABASE_URL="$url" OMNIBRIDGE_LISTEN="127.0.0.1:$port" OMNIBRIDGE_DATA_DIR="$WORK/data" \
      OMNIBRIDGE_LOG__LEVEL=warn "$BIN" serve & SERVER=$!
    until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.1; done
    local key
    key=$(OMNIBRIDGE_DATABASE_URL="$url" OMNIBRIDGE_DATA_DIR="$WORK/data" "$BIN" tenant create Bench --region eu --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
    CURRENT_URL="$url" bench_one "$backend" "http://127.0.0.1:$port" "$key"
    local rss
    rss=$(ps -o rss= -p "$SERVER" | tr -d ' ')
    echo "{\"label\":\"$backend\",\"server_rss_mb\":$((rss / 1024))}"
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
    [ -n "$db" ] && psql "$PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  done
}
