#!/usr/bin/env bash
# Overload benchmark (issue #8): goodput and server memory when clients ask for more than the
# server can do. Not a test: nothing here runs in ctest or CI, and nothing asserts on time.
#
# wrk is closed-loop (each connection waits for its answer before it sends again), so load is
# set by the number of connections: BASE connections (64, where the create and GET benchmarks
# of bench/run.sh peak) give the peak goodput, 3x BASE is "3x the sustainable load" (the
# server queues up to --max-inflight 256 requests), and 12x BASE goes past --max-inflight, so
# admission control answers the excess with 503 at once. Goodput counts 2xx answers only.
# wrk's clients ignore Retry-After and resend at once, so a refusal costs a full round trip of
# CPU on these shared cores; `create-polite` (bench/create_polite.lua) is the same load from
# clients that wait Retry-After, as HTTP clients should.
# Everything comes from 127.0.0.1, so the server runs with --max-per-ip and --max-connections
# raised to let one wrk open that many connections; --max-inflight stays at its default.
#
#   bench/overload.sh                       # create, create-polite, get; 64/192/768 connections
#   BENCH_ONLY=create BENCH_OVERLOAD_CONNS="64 192" bench/overload.sh
#
# Environment: RAPPORT_BENCH_DIR (default /tmp/rapport-bench), BENCH_DURATION (10s),
# BENCH_PORT (18093), BENCH_OVERLOAD_CONNS ("64 192 768"), BENCH_ONLY ("create create-polite get"),
# BENCH_SKIP_BUILD=1, BENCH_EXTRA_ARGS (more `rapport serve` options).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${RAPPORT_BENCH_DIR:-/tmp/rapport-bench}
DUR=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-18093}
CONNS=${BENCH_OVERLOAD_CONNS:-64 192 768}
ONLY=${BENCH_ONLY:-create create-polite get}
BIN="$REPO/build/release/rapport"
URL="http://127.0.0.1:$PORT"

case "$DIR" in "$REPO" | "$REPO"/*) echo "RAPPORT_BENCH_DIR must be outside the repository" >&2; exit 2 ;; esac
for t in wrk python3 curl; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 2; }; done
[ -n "${BENCH_SKIP_BUILD:-}" ] || (cd "$REPO" && make build >/dev/null)
ulimit -n 8192 2>/dev/null || true

OUT="$DIR/overload-$(date +%Y%m%d-%H%M%S)"
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

start_server() { # DB
    # shellcheck disable=SC2086  # BENCH_EXTRA_ARGS is a list of options
    "$BIN" serve --db "$1" --listen "127.0.0.1:$PORT" --no-access-log \
        --max-per-ip 4096 --max-connections 4096 ${BENCH_EXTRA_ARGS:-} >"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do curl -sf "$URL/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "server did not become ready" >&2
    exit 1
}

# Peak RSS of the server while a run goes on, sampled every 0.2 s (MB).
sample_rss() { # PID FILE
    local max=0 v
    while kill -0 "$1" 2>/dev/null; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
        [ "${v:-0}" -gt "$max" ] && max=$v && echo "$max" >"$2"
        sleep 0.2
    done
}

DB="$OUT/overload.db"
start_server "$DB"
TOKEN=$("$BIN" token create admin --name bench --db "$DB")
IDS="$OUT/ids.txt"
: >"$IDS"
for i in $(seq 1 200); do
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"last_name\":\"王\",\"first_name\":\"$i\"}" "$URL/api/v1/records/contact" |
        python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])' >>"$IDS"
done

printf '%-8s %6s %10s %10s %8s %9s %9s %9s %8s\n' run conns req/s goodput 503s p50_ms p99_ms max_ms rss_MB |
    tee "$OUT/summary.txt"
for what in $ONLY; do
    case $what in
    create) script=create.lua ;;
    create-polite) script=create_polite.lua ;;
    get) script=get.lua ;;
    *) echo "unknown run $what" >&2; exit 2 ;;
    esac
    for c in $CONNS; do
        rss="$OUT/rss.$what.$c"
        echo 0 >"$rss"
        sample_rss "$SERVER_PID" "$rss" &
        SAMPLER=$!
        t=2
        [ "$c" -lt 2 ] && t=1
        RAPPORT_TOKEN=$TOKEN RAPPORT_IDS=$IDS wrk -t"$t" -c"$c" -d"$DUR" --timeout 10s \
            -s "$REPO/bench/$script" "$URL" >"$OUT/wrk.$what.$c.txt" 2>&1 || true
        kill "$SAMPLER" 2>/dev/null || true
        wait "$SAMPLER" 2>/dev/null || true
        python3 - "$OUT/wrk.$what.$c.txt" "$what" "$c" "$(cat "$rss")" <<'PY' | tee -a "$OUT/summary.txt"
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^RESULT (.*)$", text, re.M)
if not m:
    print("%-8s %6s wrk failed: %s" % (sys.argv[2], sys.argv[3], text[-200:].replace("\n", " ")))
    sys.exit(0)
d = dict(kv.split("=") for kv in m.group(1).split())
req, non2xx, rps = float(d["requests"]), float(d["non2xx"]), float(d["rps"])
good = rps * (req - non2xx) / req if req else 0
print("%-8s %6s %10.0f %10.0f %8d %9s %9s %9s %8.1f" % (
    sys.argv[2], sys.argv[3], rps, good, non2xx, d["p50_ms"], d["p99_ms"], d["max_ms"],
    int(sys.argv[4]) / 1024))
PY
        sleep 1
    done
done
stop_server
echo "results in $OUT"
