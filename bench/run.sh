#!/usr/bin/env bash
# Rapport benchmark runner. Not a test: nothing here runs in ctest or CI.
#
#   bench/run.sh                 # everything
#   BENCH_ONLY="get list" bench/run.sh
#
# Environment:
#   RAPPORT_BENCH_DIR  databases and results (default /tmp/rapport-bench; keep it out of the repo)
#   BENCH_CONTACTS     contacts in the big database (default 1000000)
#   BENCH_DURATION     wrk duration per run (default 10s)
#   BENCH_THREADS      wrk threads (default 2)   BENCH_CONNS  wrk connections (default 64)
#   BENCH_CONNS_LOW    extra list/search pass at this many connections, below
#                      saturation, recorded as NAME@cN (default 8; 0 = off)
#   BENCH_PORT         server port (default 18091)
#   BENCH_SKIP_BUILD=1 use the existing build/release/rapport
#   BENCH_ONLY         subset of: startup healthz get list search create policy rules
#                      (rules: durable create with and without 50 active automation rules)
#                      (policy: get-by-id and list as the admin and as a sales manager
#                      under a private org-wide default, role hierarchy and a sharing rule)
#
# Builds the release preset, generates (or reuses) the databases, starts the
# server on 127.0.0.1 with --no-access-log, runs wrk against it, measures RSS
# and start-up, stops every server it started by PID, and prints a summary.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$REPO/bench"
DIR=${RAPPORT_BENCH_DIR:-/tmp/rapport-bench}
N=${BENCH_CONTACTS:-1000000}
DUR=${BENCH_DURATION:-10s}
WT=${BENCH_THREADS:-2}
WC=${BENCH_CONNS:-64}
WCL=${BENCH_CONNS_LOW:-8}
PORT=${BENCH_PORT:-18091}
ONLY=${BENCH_ONLY:-startup healthz get list search create policy rules}
BIN="$REPO/build/release/rapport"
URL="http://127.0.0.1:$PORT"

case "$DIR" in "$REPO"|"$REPO"/*) echo "RAPPORT_BENCH_DIR must be outside the repository" >&2; exit 2;; esac
for t in wrk python3 curl; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 2; }; done
want() { case " $ONLY " in *" $1 "*) return 0;; esac; return 1; }

mkdir -p "$DIR"
OUT="$DIR/results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

SERVER_PID=
RSS_LOG=
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        [ -n "$RSS_LOG" ] && awk '/^(VmHWM|VmRSS|RssAnon):/ {printf "%s %.1f MB  ", $1, $2/1024} END {print ""}' \
            "/proc/$SERVER_PID/status" >>"$RSS_LOG"
        kill -TERM "$SERVER_PID"
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
trap stop_server EXIT INT TERM

log() { echo "[bench] $*" >&2; }
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# Readers map the database (mmap), so VmRSS also counts mapped page-cache pages;
# RssAnon is the server's own (private) memory.
anon_mb() { awk '/^RssAnon:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
record() { echo "$*" | tee -a "$SUMMARY"; }
# Per-thread CPU of the server, "tid utime stime" in clock ticks.
thread_cpu() { awk '{n = split(FILENAME, p, "/"); print p[n - 1], $14, $15}' /proc/"$1"/task/*/stat; }
# cpu_report LABEL BEFORE AFTER [ROWS]: server CPU between two thread_cpu snapshots,
# user/sys, and the busiest thread (the writer, in the create run), per row if ROWS.
cpu_report() {
    record "$1: $(awk -v hz="$(getconf CLK_TCK)" -v rows="${4:-0}" '
        NR == FNR { u[$1] = $2; s[$1] = $3; next }
        { du = $2 - u[$1]; ds = $3 - s[$1]; tu += du; ts += ds
          if (du + ds > m) { m = du + ds; mu = du; ms = ds } }
        END { printf "server CPU user %.2f s + sys %.2f s (sys %.0f %%); busiest thread user %.2f s + sys %.2f s",
                     tu / hz, ts / hz, 100 * ts / (tu + ts), mu / hz, ms / hz
              if (rows > 0) printf ", %d rows: %.0f us of that thread per row", rows, 1e6 * m / hz / rows }' "$2" "$3")"
}
count_contacts() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from contact").fetchone()[0])' "$1"; }

start_server() { # DB LOGNAME
    "$BIN" serve --db "$1" --listen "127.0.0.1:$PORT" --no-access-log >"$OUT/$2.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        curl -fs "$URL/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/$2.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "server did not become ready" >&2
    exit 1
}

# run_wrk NAME SCRIPT [ENV=VALUE...]: records "NAME rps p50 p95 p99 non2xx errors".
# With WRK_C1=1 in the environment of the call, runs one connection on one
# thread instead (service time without queueing); with WRK_CLOW=1, $WCL
# connections (latency at a load below saturation).
run_wrk() {
    local name=$1 script=$2 t=$WT c=$WC
    shift 2
    if [ "${WRK_C1:-0}" = 1 ]; then t=1 c=1 name="$name@c1"; fi
    if [ "${WRK_CLOW:-0}" = 1 ]; then c=$WCL name="$name@c$WCL"; [ "$t" -le "$c" ] || t=$c; fi
    log "wrk $name"
    env RAPPORT_TOKEN="$TOKEN" "$@" wrk -t"$t" -c"$c" -d"$DUR" --latency --timeout 10s \
        -s "$BENCH/$script" "$URL" >"$OUT/wrk-$name.txt" 2>&1 || true
    local r
    r=$(grep '^RESULT' "$OUT/wrk-$name.txt" || echo "RESULT failed")
    record "$(printf '%-28s %s' "$name" "${r#RESULT }")"
}

# ---- build ----
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building the release preset"
    (cd "$REPO" && cmake --preset release >/dev/null && cmake --build build/release -j2 >/dev/null)
fi
[ -x "$BIN" ] || { echo "no $BIN" >&2; exit 1; }

# ---- databases ----
BIG="$DIR/contacts-$N.db"
if [ ! -f "$BIG.ids" ]; then
    rm -f "$BIG" "$BIG"-wal "$BIG"-shm "$BIG.token" "$BIG.ids"
    log "generating $N contacts into $BIG (once; reused afterwards)"
    python3 "$BENCH/gen_contacts.py" --rapport "$BIN" --db "$BIG" -n "$N"
fi
SMALL_TEMPLATE="$DIR/contacts-10000.template.db"
if [ ! -f "$SMALL_TEMPLATE.ids" ]; then
    rm -f "$SMALL_TEMPLATE" "$SMALL_TEMPLATE".*
    python3 "$BENCH/gen_contacts.py" --rapport "$BIN" --db "$SMALL_TEMPLATE" -n 10000 --accounts 1000
fi

{
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "git:     $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO" && git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
    echo "cpu:     $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "kernel:  $(uname -r)"
    echo "sqlite:  $(sqlite3 --version 2>/dev/null | cut -d' ' -f1) ($(ldd "$BIN" | awk '/libsqlite3/ {print $3}'))"
    echo "wrk:     -t$WT -c$WC -d$DUR (also -c1; list/search also -c$WCL), same machine, loopback"
    echo "db:      $BIG ($(du -m "$BIG" | cut -f1) MB, $N contacts)"
} | tee -a "$SUMMARY"

# ---- start-up ----
if want startup; then
    log "start-up on $BIG"
    python3 "$BENCH/startup.py" --rapport "$BIN" --db "$BIG" --runs 5 --port "$PORT" | tee "$OUT/startup.txt" >&2
    record "$(grep '^STARTUP' "$OUT/startup.txt")"
fi

# ---- reads on the big database ----
TOKEN=$(cat "$BIG.token")
# A slow query leaves requests queued in the server after wrk exits; a fresh
# process per list/search run keeps one run's backlog out of the next.
# (The OS page cache stays warm; every run is a warm-cache figure.)
restart_big() { stop_server; start_server "$BIG" server-big; }
RSS_LOG="$OUT/rss-at-stop.txt"
if want healthz || want get || want list || want search; then
    start_server "$BIG" server-big
    sleep 1
    record "RSS idle after start ($N-contact db): VmRSS $(rss_mb "$SERVER_PID") MB, RssAnon $(anon_mb "$SERVER_PID") MB"

    if want healthz; then
        thread_cpu "$SERVER_PID" >"$OUT/cpu-healthz-before.txt"
        run_wrk healthz healthz.lua
        thread_cpu "$SERVER_PID" >"$OUT/cpu-healthz-after.txt"
        cpu_report "healthz CPU" "$OUT/cpu-healthz-before.txt" "$OUT/cpu-healthz-after.txt"
    fi
    want healthz && WRK_C1=1 run_wrk healthz healthz.lua

    if want get; then
        shuf -n 100000 --random-source=<(yes) "$BIG.ids" >"$OUT/ids-sample.txt"
        thread_cpu "$SERVER_PID" >"$OUT/cpu-get-before.txt"
        run_wrk get-by-id get.lua RAPPORT_IDS="$OUT/ids-sample.txt"
        thread_cpu "$SERVER_PID" >"$OUT/cpu-get-after.txt"
        cpu_report "get-by-id CPU" "$OUT/cpu-get-before.txt" "$OUT/cpu-get-after.txt"
        WRK_C1=1 run_wrk get-by-id get.lua RAPPORT_IDS="$OUT/ids-sample.txt"
        record "RSS after healthz + get-by-id ($N-contact db): VmRSS $(rss_mb "$SERVER_PID") MB, VmHWM $(hwm_mb "$SERVER_PID") MB, RssAnon $(anon_mb "$SERVER_PID") MB"
    fi

    if want list; then
        python3 - "$BIG" "$OUT" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
out = sys.argv[2]
top = [r[0] for r in db.execute(
    "SELECT last_name FROM contact GROUP BY last_name ORDER BY count(*) DESC LIMIT 20")]
accs = [r[0] for r in db.execute("SELECT id FROM account ORDER BY random() LIMIT 500")]
def w(name, lines):
    with open("%s/q-%s.txt" % (out, name), "w") as f:
        f.write("\n".join(lines) + "\n")
# Indexed equality filter, sorted by the (indexed) creation time: the headline query.
w("lastname-created", ["filter=last_name = '%s'&sort=-created_at&limit=50" % s for s in top[:5]])
w("lastname20-created", ["filter=last_name = '%s'&sort=-created_at&limit=50" % s for s in top])
# Contacts of one account (reference index), newest first.
w("account-created", ["filter=account_id = '%s'&sort=-created_at&limit=50" % a for a in accs])
# Recent contacts: the created_at index serves both the filter and the sort.
w("recent-created", ["filter=created_at >= today() - 30&sort=-created_at&limit=50"])
# Second page of the headline query through a keyset cursor is measured by hand (see docs).
# A sort no index covers (nullable text sort over a big match set).
w("active-by-lastname", ["filter=status = 'active'&sort=last_name&limit=50"])
w("lastname-by-firstname", ["filter=last_name = '%s'&sort=first_name&limit=50" % s for s in top[:5]])
EOF
        for q in lastname-created lastname20-created account-created recent-created \
                 active-by-lastname lastname-by-firstname; do
            restart_big
            run_wrk "list-$q" list.lua RAPPORT_QUERIES="$OUT/q-$q.txt"
            restart_big
            WRK_C1=1 run_wrk "list-$q" list.lua RAPPORT_QUERIES="$OUT/q-$q.txt"
            if [ "$WCL" -gt 0 ]; then
                restart_big
                WRK_CLOW=1 run_wrk "list-$q" list.lua RAPPORT_QUERIES="$OUT/q-$q.txt"
            fi
        done
    fi

    if want search; then
        printf '%s\n' Smit Thomp Ander Robin Mitch Edwar >"$OUT/t-latin.txt"
        printf '%s\n' zhang huang chen liu wang >"$OUT/t-pinyin.txt"
        printf '%s\n' 销售经理 采购总监 技术总监 高级工程师 项目经理 >"$OUT/t-cn-title.txt"
        printf '%s\n' 王秀英 李子涵 张浩然 刘欣怡 陈晓东 >"$OUT/t-cn-fullname.txt"
        printf '%s\n' 子涵 浩然 晓东 欣怡 >"$OUT/t-cn-given2.txt"
        printf '%s\n' 王 李 张 >"$OUT/t-cn-1char.txt"
        printf '%s\n' 13812 15921 18601 >"$OUT/t-mobile.txt"
        for t in latin pinyin cn-title cn-fullname mobile cn-given2 cn-1char; do
            restart_big
            run_wrk "search-$t" search.lua RAPPORT_TERMS="$OUT/t-$t.txt"
            restart_big
            WRK_C1=1 run_wrk "search-$t" search.lua RAPPORT_TERMS="$OUT/t-$t.txt"
            if [ "$WCL" -gt 0 ]; then
                restart_big
                WRK_CLOW=1 run_wrk "search-$t" search.lua RAPPORT_TERMS="$OUT/t-$t.txt"
            fi
        done
    fi

    stop_server
    record "RSS at each server stop, after its load: max VmRSS $(awk '{if ($5 + 0 > m) m = $5 + 0} END {print m}' "$RSS_LOG") MB, max VmHWM $(awk '{if ($2 + 0 > m) m = $2 + 0} END {print m}' "$RSS_LOG") MB, max RssAnon $(awk '{if ($8 + 0 > m) m = $8 + 0} END {print m}' "$RSS_LOG") MB"
fi

# ---- the policy engine's cost: the same reads as the admin and as a restricted user ----
api() { # METHOD PATH [BODY]: as the admin, fails on an error status
    curl -fsS -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$URL$2" >/dev/null
}
if want policy; then
    TOKEN=$(cat "$BIG.token")
    start_server "$BIG" server-policy
    # Contacts become private; the admin (who owns them) reports to the sales manager "rep",
    # who sees them through the role hierarchy; a sharing rule with a user attribute is
    # compiled into every query of rep's as well.
    admin_id=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/api/v1/auth/me" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    api PUT /api/v1/admin/roles/bench_manager '{"label": "Bench manager"}'
    api PUT /api/v1/admin/roles/bench_staff '{"label": "Bench staff", "parent": "bench_manager"}'
    api PATCH "/api/v1/admin/users/$admin_id" '{"role": "bench_staff"}'
    curl -fsS -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data '{"username": "bench_rep", "password": "bench-rep-password", "role": "bench_manager", "attributes": {"city": "Hangzhou"}}' \
        "$URL/api/v1/admin/users" >/dev/null 2>&1 || true
    api PUT /api/v1/admin/sharing/contact '{"default_access": "private"}'
    api PUT /api/v1/admin/sharing-rules/bench_city \
        '{"object": "contact", "criteria": "mailing_city = user.city", "access": "read"}'
    REP=$(curl -fsS -H 'Content-Type: application/json' \
        --data '{"username": "bench_rep", "password": "bench-rep-password"}' "$URL/api/v1/auth/login" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    shuf -n 100000 --random-source=<(yes) "$BIG.ids" >"$OUT/ids-policy.txt"
    [ -f "$OUT/q-lastname-created.txt" ] || python3 - "$BIG" "$OUT" <<'EOF2'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
top = [r[0] for r in db.execute(
    "SELECT last_name FROM contact GROUP BY last_name ORDER BY count(*) DESC LIMIT 5")]
with open("%s/q-lastname-created.txt" % sys.argv[2], "w") as f:
    f.write("\n".join("filter=last_name = '%s'&sort=-created_at&limit=50" % s for s in top) + "\n")
EOF2
    for round in $(seq 1 "${BENCH_POLICY_ROUNDS:-3}"); do
        for who in admin rep; do
            tok=$TOKEN
            [ "$who" = rep ] && tok=$REP
            TOKEN=$tok run_wrk "policy-get-$who-$round" get.lua RAPPORT_IDS="$OUT/ids-policy.txt"
            TOKEN=$tok run_wrk "policy-list-$who-$round" list.lua \
                RAPPORT_QUERIES="$OUT/q-lastname-created.txt"
            TOKEN=$(cat "$BIG.token")
        done
    done
    # Leave the shared database as it was.
    api DELETE /api/v1/admin/sharing-rules/bench_city
    api PUT /api/v1/admin/sharing/contact '{"default_access": null}'
    api PATCH "/api/v1/admin/users/$admin_id" '{"role": null}'
    stop_server
fi

# ---- the rule engine's cost on durable create: 50 active rules on contact ----
if want rules; then
    for with in none rules none2 rules2; do
        CDB="$OUT/rules-$with.db"
        cp "$SMALL_TEMPLATE" "$CDB"
        TOKEN=$(cat "$SMALL_TEMPLATE.token")
        start_server "$CDB" "server-rules-$with"
        if [ "${with#rules}" != "$with" ]; then
            # 40 rules watch field changes, 10 watch creates; conditions rarely hold, as in a
            # real installation where each rule targets a few records.
            for i in $(seq 1 50); do
                if [ "$i" -le 40 ]; then
                    trig='{"on": "changed", "fields": ["title", "mailing_city", "last_name"]}'
                else
                    trig='{"on": "created"}'
                fi
                api PUT "/api/v1/automation/rules/bench_$i" \
                    "{\"object\": \"contact\", \"trigger\": $trig, \"condition\": \"mailing_city = 'Nowhere $i'\", \"actions\": [{\"type\": \"set_fields\", \"values\": {\"department\": \"rule $i\"}}]}"
            done
        fi
        run_wrk "create-$with" create.lua
        stop_server
        rm -f "$CDB" "$CDB"-wal "$CDB"-shm
    done
fi

# ---- durable create on a fresh small database ----
RSS_LOG=
if want create; then
    CDB="$OUT/create.db"
    cp "$SMALL_TEMPLATE" "$CDB"
    TOKEN=$(cat "$SMALL_TEMPLATE.token")
    start_server "$CDB" server-create
    run_wrk create-healthz healthz.lua
    before=$(count_contacts "$CDB")
    thread_cpu "$SERVER_PID" >"$OUT/cpu-create-before.txt"
    run_wrk create create.lua
    sleep 0.5 # let the last group commit
    thread_cpu "$SERVER_PID" >"$OUT/cpu-create-after.txt"
    mid=$(count_contacts "$CDB")
    cpu_report "create CPU (-c$WC run)" "$OUT/cpu-create-before.txt" "$OUT/cpu-create-after.txt" \
        $((mid - before))
    WRK_C1=1 run_wrk create create.lua
    stop_server
    after=$(count_contacts "$CDB")
    record "create: contacts $before -> $after ($((after - before)) rows committed)"
    rm -f "$CDB" "$CDB"-wal "$CDB"-shm
fi

echo
echo "summary: $SUMMARY"
cat "$SUMMARY"
