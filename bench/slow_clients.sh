#!/usr/bin/env bash
# Slow-client benchmark (issue #8): 1,000 slowloris connections from one address (127.0.0.1,
# each sending a header line every 0.5 s and never finishing its request) while a normal
# client at another address (127.0.0.2) makes requests, one new connection each, and counts
# how many are answered 200. Not a test: nothing here runs in ctest or CI.
#
# Two runs: with the default limits (--max-per-ip 256: the slow address keeps 256
# connections, the rest are closed at once), and with --max-per-ip 2048 --max-connections 4096
# (the server holds all 1,000 slow connections and must still serve the normal client).
#
# Environment: RAPPORT_BENCH_DIR (default /tmp/rapport-bench), BENCH_PORT (18094),
# BENCH_SLOW_CONNS (1000), BENCH_SLOW_SECONDS (30), BENCH_PROBES (5000), BENCH_SKIP_BUILD=1.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${RAPPORT_BENCH_DIR:-/tmp/rapport-bench}
PORT=${BENCH_PORT:-18094}
N=${BENCH_SLOW_CONNS:-1000}
SECS=${BENCH_SLOW_SECONDS:-30}
PROBES=${BENCH_PROBES:-5000}
BIN="$REPO/build/release/rapport"
URL="http://127.0.0.1:$PORT"

case "$DIR" in "$REPO" | "$REPO"/*) echo "RAPPORT_BENCH_DIR must be outside the repository" >&2; exit 2 ;; esac
[ -n "${BENCH_SKIP_BUILD:-}" ] || (cd "$REPO" && make build >/dev/null)
ulimit -n 8192 2>/dev/null || true
OUT="$DIR/slow-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
trap stop_server EXIT INT TERM

run() { # LABEL [serve options...]
    local label=$1
    shift
    "$BIN" serve --db "$OUT/slow.db" --listen "127.0.0.1:$PORT" --no-access-log "$@" \
        >"$OUT/server.$label.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do curl -sf "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    python3 "$REPO/tests/e2e/slow_clients.py" slowloris --port "$PORT" --from 127.0.0.1 \
        --count "$N" --seconds "$SECS" --probe-from 127.0.0.2 --probes "$PROBES" \
        >"$OUT/$label.json"
    local rss
    rss=$(awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$SERVER_PID/status")
    stop_server
    python3 - "$OUT/$label.json" "$label" "$rss" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
d = json.load(open(sys.argv[1]))
ok, total = d["probe_ok"], d["probe_total"]
print("%-9s slow conns opened %d, closed at once %d, held %d (still open at the end %d); "
      "normal client %d/%d = %.2f %% served; server peak RSS %s MB" % (
          sys.argv[2], d["opened"], d["closed_at_once"], d["held"], d["still_open_after"],
          ok, total, 100.0 * ok / max(total, 1), sys.argv[3]))
PY
}

run default
run held-all --max-per-ip 2048 --max-connections 4096
echo "results in $OUT"
