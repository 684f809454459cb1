#!/usr/bin/env bash
# First meaningful paint of the contacts list view with 1,000,000 contacts (issue #6: <= 1 s on
# loopback). Not a test: nothing here runs in ctest or CI.
#
#   bench/ui_first_paint.sh
#
# Environment:
#   RAPPORT_BENCH_DIR  databases and results (default /tmp/rapport-bench, shared with bench/run.sh;
#                      keep it out of the repository)
#   BENCH_CONTACTS     contacts (default 1000000)
#   BENCH_LOADS        page loads per mode (default 10)
#   BENCH_PORT         server port (default 18093)
#   BENCH_SKIP_BUILD=1 use the existing build/release/rapport and web/dist
#
# Builds the release preset and the web app, makes (bench/gen_contacts.py) or reuses the
# contacts database of bench/run.sh and works on a copy of it (this script adds a user that
# signs in through the UI), serves it with `rapport serve --web web/dist` on 127.0.0.1, and runs
# bench/ui_first_paint.mjs: headless chromium loads /records/contact BENCH_LOADS times cold (a
# new browser context each time: empty HTTP cache, signed-in cookie) and BENCH_LOADS times warm
# (one context, cached assets) and reports, from navigation start, the time to the
# "rp:list-rows-painted" mark that the list sets after the frame that shows its first rows.
# Stops the server it started by its PID.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${RAPPORT_BENCH_DIR:-/tmp/rapport-bench}
N=${BENCH_CONTACTS:-1000000}
LOADS=${BENCH_LOADS:-10}
PORT=${BENCH_PORT:-18093}
BIN="$REPO/build/release/rapport"

case "$DIR" in "$REPO"|"$REPO"/*) echo "RAPPORT_BENCH_DIR must be outside the repository" >&2; exit 2;; esac
for t in python3 node curl; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 2; }; done
log() { echo "[ui-bench] $*" >&2; }

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building the release preset and the web app"
    (cd "$REPO" && cmake --preset release >/dev/null && cmake --build --preset release -j2 >/dev/null)
    (cd "$REPO" && make web >/dev/null)
fi
[ -x "$BIN" ] && [ -f "$REPO/web/dist/index.html" ] || { echo "needs $BIN and web/dist (make web)" >&2; exit 2; }

mkdir -p "$DIR"
BIG="$DIR/contacts-$N.db"
if [ ! -f "$BIG" ]; then
    log "generating $N contacts into $BIG (once; bench/run.sh reuses it)"
    python3 "$REPO/bench/gen_contacts.py" --rapport "$BIN" --db "$BIG" -n "$N"
fi
OUT="$DIR/ui-first-paint-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
DB="$OUT/contacts.db"
log "copying the database to $DB"
cp --reflink=auto "$BIG" "$DB"
PASSWORD="ui-bench-$RANDOM-$RANDOM"
printf '%s\n' "$PASSWORD" | "$BIN" user add uibench --admin --name "UI bench" --db "$DB" >/dev/null

SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
    rm -f "$DB" "$DB-wal" "$DB-shm"
}
trap stop_server EXIT INT TERM

"$BIN" serve --db "$DB" --listen "127.0.0.1:$PORT" --web "$REPO/web/dist" --no-access-log \
    >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }

log "measuring $LOADS cold and $LOADS warm loads"
node "$REPO/bench/ui_first_paint.mjs" "http://127.0.0.1:$PORT" uibench "$PASSWORD" "$LOADS" | tee "$OUT/summary.txt"
{
    echo "contacts: $N"
    echo "bundle (web/dist/assets): $(du -sb "$REPO/web/dist/assets" | cut -f1) bytes raw"
    (cd "$REPO/web/dist/assets" && ls -l *.js *.css 2>/dev/null | awk '{s += $5} END {printf "js+css raw: %d bytes\n", s}')
    (cd "$REPO/web/dist/assets" && ls -l *.js.gz *.css.gz 2>/dev/null | awk '{s += $5} END {printf "js+css gzip: %d bytes\n", s}')
} | tee -a "$OUT/summary.txt"
log "results in $OUT"
