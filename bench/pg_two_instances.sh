#!/usr/bin/env bash
# One and two `rapport serve` instances on one PostgreSQL database. Not a test: nothing here
# runs in ctest or CI.
#
#   PG_OPTS="-c fsync=on" sh tests/helpers/pg.sh run bash bench/pg_two_instances.sh
#
# (pg.sh turns fsync off for tests unless PG_OPTS says otherwise; keep durability here.)
#
# Measures, with the release build:
#   - how long a metadata change made on A takes to be in force on B (a custom field added on
#     A, B's GET /meta/objects/contact polled without pause), BENCH_NOTICES times;
#   - durable creates (bench/create.lua) against A alone, then against A and B at once (two
#     wrk processes, the sum of their rates), and GET by id (bench/get.lua) the same way.
# On this 2-core machine PostgreSQL, both servers and wrk share the cores, so the two-instance
# figures say whether a second instance costs or adds throughput, not what two hosts would do.
#
# Environment: RP_TEST_PG_URL (set by pg.sh), BENCH_DURATION (10s), BENCH_CONNS (32 per wrk),
# BENCH_NOTICES (20), BENCH_SKIP_BUILD=1 to use the existing build/release/rapport.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DB=${RP_TEST_PG_URL:?run under tests/helpers/pg.sh}
DUR=${BENCH_DURATION:-10s}
WC=${BENCH_CONNS:-32}
NOTICES=${BENCH_NOTICES:-20}
BIN=$REPO/build/release/rapport
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rapport-bench2.XXXXXX")
PIDS=()

cleanup()
{
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

for t in wrk python3 curl; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 2; }; done
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    (cd "$REPO" && cmake --preset release >/dev/null && cmake --build --preset release -j2 >/dev/null)
fi

# start NAME: a server on a free port; NAME_URL
start()
{
    local out=$TMP/$1.out i line port
    "$BIN" serve --db "$DB" --listen 127.0.0.1:0 --no-access-log >"$out" 2>"$TMP/$1.err" </dev/null &
    PIDS+=("$!")
    for ((i = 0; i < 600; i++)); do
        line=$(grep -m1 'serving http://' "$out" 2>/dev/null || true)
        [ -n "$line" ] && break
        sleep 0.05
    done
    [ -n "$line" ] || { echo "server $1 did not start" >&2; exit 1; }
    port=${line##*:}
    port=${port%%/*}
    printf -v "${1}_URL" 'http://127.0.0.1:%s' "$port"
}

start A
start B
TOKEN=$("$BIN" token create admin --name bench --db "$DB")
export RAPPORT_TOKEN=$TOKEN

echo "== metadata change on A in force on B ($NOTICES custom fields)"
python3 - "$A_URL" "$B_URL" "$TOKEN" "$NOTICES" <<'EOF'
import json, sys, time, urllib.request
a, b, token, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def call(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method, headers=hdr)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)
ms = []
for i in range(n):
    name = "bench_f%d_%d" % (int(time.time()), i)
    body = json.dumps({"name": name, "type": "text"}).encode()
    call("POST", a + "/api/v1/meta/objects/contact/fields", body)
    t0 = time.monotonic()
    while True:
        d = call("GET", b + "/api/v1/meta/objects/contact")
        if any(f["name"] == name for f in d["fields"]):
            break
        if time.monotonic() - t0 > 5:
            sys.exit("B did not see %s within 5 s" % name)
    ms.append((time.monotonic() - t0) * 1000)
ms.sort()
print("RESULT notice_ms p50=%.1f max=%.1f (after A's 201; includes one GET on B)" % (ms[len(ms) // 2], ms[-1]))
EOF

# wrk_run NAME SCRIPT URL...: one wrk per URL at once; prints each RESULT and the sum of rates
wrk_run()
{
    local name=$1 script=$2 u i=0 total
    shift 2
    for u in "$@"; do
        wrk -t1 -c"$WC" -d"$DUR" -s "$REPO/bench/$script" "$u" >"$TMP/wrk.$i" 2>&1 &
        i=$((i + 1))
    done
    wait_wrk=$(jobs -p | grep -v -F -x -f <(printf '%s\n' "${PIDS[@]}") || true)
    for p in $wait_wrk; do wait "$p"; done
    total=0
    for ((j = 0; j < i; j++)); do
        grep RESULT "$TMP/wrk.$j" | sed "s/^/   $name[$j] /"
        total=$(python3 -c "print($total + $(sed -n 's/^RESULT rps=\([0-9.]*\).*/\1/p' "$TMP/wrk.$j"))")
    done
    echo "RESULT $name total_rps=$total"
}

echo "== durable create (POST contact)"
wrk_run create_one create.lua "$A_URL"
wrk_run create_two create.lua "$A_URL" "$B_URL"

echo "== GET by id"
curl -sS -H "Authorization: Bearer $TOKEN" "$A_URL/api/v1/records/contact?limit=500&fields=id" |
    python3 -c 'import json,sys; [print(r["id"]) for r in json.load(sys.stdin)["data"]]' >"$TMP/ids"
export RAPPORT_IDS=$TMP/ids
wrk_run get_one get.lua "$A_URL"
wrk_run get_two get.lua "$A_URL" "$B_URL"
wrk_run get_one_again get.lua "$A_URL"
