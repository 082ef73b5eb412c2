#!/usr/bin/env bash
# Search and inbox benchmark at scale, on SQLite and on PostgreSQL.
#
#   benches/search.sh                                   # 1,000,000 messages, both backends
#   BACKENDS=sqlite MESSAGES=100000 benches/search.sh   # smaller, one backend
#
# For each backend: a hub on a fresh database (benches/hub.sh), a tenant, `omnibridge seed`
# (MESSAGES messages in MESSAGES/10 conversations across MESSAGES/20 contacts and 4 channels,
# two years of history in six languages, sealed and indexed), then benches/search_bench.py:
# search latency over a mix of queries (rare order numbers, common words, two words, prefixes,
# Cyrillic, Japanese, contacts), and the inbox list with two filters. Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite postgres}"
MESSAGES="${MESSAGES:-1000000}"
ROUNDS="${ROUNDS:-20}"
source benches/hub.sh

bench_one() {
  local backend="$1" base="$2" key="$3" tenant
  tenant=$(curl -fs -H "Authorization: Bearer $key" "$base/v1/auth/session" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant_id"])')
  local seeded="$WORK/seeded-$backend.json"
  OMNIBRIDGE_DATABASE_URL="$CURRENT_URL" OMNIBRIDGE_DATA_DIR="$WORK/data" OMNIBRIDGE_LOG__LEVEL=warn "$BIN" seed --tenant "$tenant" \
    --messages "$MESSAGES" --conversations $((MESSAGES / 10)) --contacts $((MESSAGES / 20)) --channels 4 --days 730 > "$seeded"
  local stats
  stats=$(OMNIBRIDGE_DATABASE_URL="$CURRENT_URL" OMNIBRIDGE_DATA_DIR="$WORK/data" OMNIBRIDGE_LOG__LEVEL=warn "$BIN" search stats)
  python3 benches/search_bench.py --base "$base" --key "$key" --seeded "$seeded" --stats "$stats" --label "$backend" --rounds "$ROUNDS"
}
run_benchmarks "${PORT:-18082}"
