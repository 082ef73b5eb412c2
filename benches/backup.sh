#!/usr/bin/env bash
# Backup and restore at scale: how long a backup takes and how large it is, how long checking and
# restoring it take, and how soon a restored hub answers — the recovery time to plan with.
#
#   benches/backup.sh                                   # 1,000,000 messages on SQLite
#   BACKENDS="sqlite postgres" MESSAGES=100000 benches/backup.sh
#
# For each backend: a hub on a fresh database (benches/hub.sh), `omnibridge seed` (MESSAGES
# messages, sealed and indexed, as in benches/search.sh), then, while that hub serves:
# `backup create` (timed), `backup verify` (timed), `backup restore` into a new place (timed),
# and a second hub started on the restored database, timed until /readyz answers and a search
# finds a seeded order number. Prints JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-sqlite}"
MESSAGES="${MESSAGES:-1000000}"
source benches/hub.sh

seconds() { python3 -c "import time; print(time.monotonic())"; }
size() { du -sb "$1" | cut -f1; }

bench_one() {
  local backend="$1" base="$2" key="$3" tenant
  tenant=$(curl -fs -H "Authorization: Bearer $key" "$base/v1/auth/session" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant_id"])')
  local env=(OMNIBRIDGE_DATABASE_URL="$CURRENT_URL" OMNIBRIDGE_DATA_DIR="$WORK/data" OMNIBRIDGE_LOG__LEVEL=warn)
  local seeded="$WORK/seeded-$backend.json" t0 t1
  env "${env[@]}" "$BIN" seed --tenant "$tenant" --messages "$MESSAGES" --conversations $((MESSAGES / 10)) \
    --contacts $((MESSAGES / 20)) --channels 4 --days 730 > "$seeded"
  local probe
  probe=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["probes"][0]["query"])' "$seeded")
  local db_bytes=0
  [ "$backend" = sqlite ] && db_bytes=$(size "${CURRENT_URL#sqlite://}")

  local file="$WORK/bench-$backend.obk"
  t0=$(seconds); env "${env[@]}" "$BIN" backup create --out "$file" --json > "$WORK/created.json"; t1=$(seconds)
  local create_s; create_s=$(python3 -c "print(round($t1 - $t0, 1))")
  t0=$(seconds); env "${env[@]}" "$BIN" backup verify "$file" > /dev/null; t1=$(seconds)
  local verify_s; verify_s=$(python3 -c "print(round($t1 - $t0, 1))")

  local target="$WORK/restored-$backend" restore_args=() restored_url
  if [ "$backend" = postgres ]; then
    restored_url="${PG%/*}/omnibridge_bench_restored_$$"
    psql "$PG" -qc "DROP DATABASE IF EXISTS omnibridge_bench_restored_$$ WITH (FORCE)"
    restore_args=(--database-url "$restored_url")
  else
    restored_url="sqlite://$target/omnibridge.db"
  fi
  t0=$(seconds); env "${env[@]}" "$BIN" backup restore "$file" --data-dir "$target" "${restore_args[@]}" --json > /dev/null; t1=$(seconds)
  local restore_s; restore_s=$(python3 -c "print(round($t1 - $t0, 1))")

  local port2=$((${PORT:-18083} + 1)) second
  t0=$(seconds)
  OMNIBRIDGE_DATABASE_URL="$restored_url" OMNIBRIDGE_DATA_DIR="$target" OMNIBRIDGE_LISTEN="127.0.0.1:$port2" \
    OMNIBRIDGE_LOG__LEVEL=warn "$BIN" serve & second=$!
  until curl -fs "http://127.0.0.1:$port2/readyz" >/dev/null 2>&1; do sleep 0.05; done
  t1=$(seconds)
  local ready_s; ready_s=$(python3 -c "print(round($t1 - $t0, 2))")
  until curl -fs -H "Authorization: Bearer $key" "http://127.0.0.1:$port2/v1/search?q=$probe&type=messages" |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"] else 1)' 2>/dev/null; do sleep 0.1; done
  local t2; t2=$(seconds)
  local search_s; search_s=$(python3 -c "print(round($t2 - $t0, 2))")
  kill "$second"; wait "$second" 2>/dev/null || true
  [ "$backend" = postgres ] && psql "$PG" -qc "DROP DATABASE IF EXISTS omnibridge_bench_restored_$$ WITH (FORCE)"

  python3 - "$backend" "$MESSAGES" "$db_bytes" "$(size "$file")" "$create_s" "$verify_s" "$restore_s" "$ready_s" "$search_s" <<'PY'
import json, sys
backend, messages, db_bytes, backup_bytes, create, verify, restore, ready, search = sys.argv[1:]
mb = lambda b: round(int(b) / 1e6, 1)
print(json.dumps({"label": backend, "messages": int(messages), "database_mb": mb(db_bytes), "backup_mb": mb(backup_bytes),
                  "backup_s": float(create), "verify_s": float(verify), "restore_s": float(restore),
                  "restored_hub_ready_s": float(ready), "restored_hub_searching_s": float(search),
                  "recovery_s": round(float(restore) + float(ready), 1)}))
PY
}
run_benchmarks "${PORT:-18083}"
