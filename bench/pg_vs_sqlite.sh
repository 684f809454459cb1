#!/usr/bin/env bash
# PostgreSQL beside SQLite on the same rows. Not a test: nothing here runs in ctest or CI.
# (Two instances on one PostgreSQL: bench/pg_two_instances.sh.)
#
#   bench/pg_vs_sqlite.sh
#
# Starts a throwaway PostgreSQL 15 on 127.0.0.1 with durable settings (tests/helpers/pg.sh with
# fsync and full-page writes on, synchronous_commit on), copies a generated contact database
# into it with `rapport copy` (so both stores hold the same rows), and runs wrk against
# `rapport serve` on each store: GET one record by id, a list page (filter on an indexed field,
# sort, 50 rows), a list by a selective equality filter (one email, one account's contacts) and
# durable create.
#
# Environment: RAPPORT_BENCH_DIR (default /tmp/rapport-bench), BENCH_CONTACTS (default
# 100000), BENCH_DURATION (default 10s), BENCH_CONNS (default 64), BENCH_SKIP_BUILD=1.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${RP_TEST_PG_URL:-}" ]; then
    export PG_OPTS="-c max_connections=200 -c shared_buffers=256MB -c synchronous_commit=on"
    exec sh "$REPO/tests/helpers/pg.sh" run bash "$0" "$@"
fi

BENCH="$REPO/bench"
DIR=${RAPPORT_BENCH_DIR:-/tmp/rapport-bench}
N=${BENCH_CONTACTS:-100000}
DUR=${BENCH_DURATION:-10s}
WC=${BENCH_CONNS:-64}
BIN="$REPO/build/release/rapport"
PORT_A=18093
PG=$RP_TEST_PG_URL

case "$DIR" in "$REPO" | "$REPO"/*) echo "RAPPORT_BENCH_DIR must be outside the repository" >&2; exit 2 ;; esac
for t in wrk python3 curl; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 2; }; done
mkdir -p "$DIR"
OUT="$DIR/pg-results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
log() { echo "[bench] $*" >&2; }
record() { echo "$*" | tee -a "$SUMMARY"; }

PIDS=()
stop_all() {
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
}
trap stop_all EXIT INT TERM

serve() { # DB PORT LOGNAME
    "$BIN" serve --db "$1" --listen "127.0.0.1:$2" --no-access-log >"$OUT/$3.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$OUT/$3.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "server on port $2 did not become ready" >&2
    exit 1
}

# wrk_run NAME PORT SCRIPT THREADS CONNS [ENV=VALUE...]
wrk_run() {
    local name=$1 port=$2 script=$3 t=$4 c=$5
    shift 5
    env RAPPORT_TOKEN="$TOKEN" "$@" wrk -t"$t" -c"$c" -d"$DUR" --latency --timeout 10s \
        -s "$BENCH/$script" "http://127.0.0.1:$port" >"$OUT/wrk-$name.txt" 2>&1 || true
    grep '^RESULT' "$OUT/wrk-$name.txt" | sed 's/^RESULT //' || echo "failed"
}
one() { # NAME PORT SCRIPT [ENV...]
    local name=$1 port=$2 script=$3
    shift 3
    record "$(printf '%-32s %s' "$name" "$(wrk_run "$name" "$port" "$script" 2 "$WC" "$@")")"
}
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building the release preset"
    (cd "$REPO" && cmake --preset release >/dev/null && cmake --build build/release -j2 >/dev/null)
fi

SRC="$DIR/contacts-$N.db"
if [ ! -f "$SRC.ids" ]; then
    rm -f "$SRC" "$SRC"-wal "$SRC"-shm "$SRC.token" "$SRC.ids"
    log "generating $N contacts into $SRC (once; reused afterwards)"
    python3 "$BENCH/gen_contacts.py" --rapport "$BIN" --db "$SRC" -n "$N"
fi
TOKEN=$(cat "$SRC.token")
shuf -n 100000 --random-source=<(yes) "$SRC.ids" >"$OUT/ids.txt"
python3 - "$SRC" >"$OUT/queries.txt" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (s,) in db.execute("SELECT last_name FROM contact GROUP BY last_name ORDER BY count(*) DESC LIMIT 5"):
    print("filter=last_name = '%s'&sort=-created_at&limit=50" % s)
EOF
# selective equality filters: one contact by email, the contacts of one account
python3 - "$SRC" >"$OUT/queries-eq.txt" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (e,) in db.execute("SELECT email FROM contact WHERE email IS NOT NULL ORDER BY rowid LIMIT 200 OFFSET 5000"):
    print("filter=email = '%s'&limit=50" % e)
for (a,) in db.execute("SELECT account_id FROM contact WHERE account_id IS NOT NULL GROUP BY account_id LIMIT 50"):
    print("filter=account_id = '%s'&limit=50" % a)
EOF

log "copying $SRC into PostgreSQL"
/usr/bin/time -f "%e s, max RSS %M KB" "$BIN" copy --from "sqlite:$SRC" --to "$PG" \
    >"$OUT/copy.txt" 2>"$OUT/copy-time.txt"
record "copy of $N contacts into PostgreSQL: $(tail -1 "$OUT/copy-time.txt")"

# SQLite: a copy of the source, so creates do not grow the reused file
cp "$SRC" "$OUT/sqlite.db"
for store in sqlite pg; do
    db="$OUT/sqlite.db"
    [ $store = pg ] && db=$PG
    serve "$db" "$PORT_A" "server-$store"
    one "$store get-by-id" "$PORT_A" get.lua RAPPORT_IDS="$OUT/ids.txt"
    one "$store list lastname-created" "$PORT_A" list.lua RAPPORT_QUERIES="$OUT/queries.txt"
    one "$store list email-or-account" "$PORT_A" list.lua RAPPORT_QUERIES="$OUT/queries-eq.txt"
    one "$store create" "$PORT_A" create.lua
    stop_all
done

echo
echo "summary: $SUMMARY"
cat "$SUMMARY"
