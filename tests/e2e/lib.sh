# Helpers for the end-to-end tests: sourced by tests/e2e/test_*.sh, which ctest
# runs as `bash SCRIPT /path/to/rapport`.
#
# Every test works in its own temporary directory (removed on exit) and starts
# `rapport serve` on 127.0.0.1 with an ephemeral port. Servers are stopped by
# the PID this file recorded when it started them, never by name. All waits
# are bounded. Exit status: 0 pass, 1 fail, 77 skipped (curl, python3 or
# sqlite3 missing). RP_KEEP_TMP=1 keeps the directory of a failed run.
#
#   rp_init "$@"                 check tools, make $RP_TMP, install the EXIT trap
#   rp_start DB [ARGS...]        start a server; sets RP_PID RP_PORT RP_URL
#                                RP_ADMIN_PASSWORD (empty unless first start)
#                                RP_OUT RP_ERR (its stdout and stderr files)
#   rp_stop [PID]                SIGTERM, wait (bounded), SIGKILL if needed;
#                                sets RP_STOP_STATUS to the exit status
#   rp_kill9 [PID]               SIGKILL and reap
#   api METHOD PATH [BODY] [CURL ARGS...]
#                                one request with the bearer token $RP_TOKEN;
#                                sets API_STATUS, API_BODY, API_HEADERS (a file)
#   expect_status CODE [WHAT]    fail unless the last response had CODE
#   hdr NAME                     a header of the last response (CR stripped)
#   jget EXPR [FILE]             a Python expression on the JSON `d` of the last
#                                response body (or FILE), printed (str / json)
#   rp_login USER PASSWORD       POST /api/v1/auth/login; sets RP_TOKEN
#   fail MESSAGE                 print, show the server logs' tails, exit 1
#   note MESSAGE                 progress line on stdout

# shellcheck disable=SC2034  # variables set here are read by the sourcing tests
set -u

RP_BIN=${1:-}
RP_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RP_START_TIMEOUT=${RP_START_TIMEOUT:-30}   # seconds; ASan start-up and argon2id are slow
RP_STOP_TIMEOUT=${RP_STOP_TIMEOUT:-20}
RP_CURL_TIMEOUT=${RP_CURL_TIMEOUT:-30}
RP_TOKEN=${RP_TOKEN:-}
RP_PIDS=()          # every process we started and have not reaped yet
RP_TMP=
RP_PID=
RP_PORT=
RP_URL=
RP_OUT=
RP_ERR=
RP_ADMIN_PASSWORD=
RP_STOP_STATUS=
RP_NSTARTS=0
API_STATUS=
API_BODY=
API_HEADERS=

note()
{
    printf '== [%3ds] %s\n' "$SECONDS" "$*"
}

skip()
{
    printf 'SKIP: %s\n' "$*"
    exit 77
}

fail()
{
    printf 'FAIL: %s\n' "$*" >&2
    if [ -n "${API_STATUS}" ]; then
        printf -- '--- last response: %s\n' "$API_STATUS" >&2
        [ -n "${API_BODY}" ] && printf '%s\n' "${API_BODY:0:2000}" >&2
    fi
    if [ -n "${RP_ERR}" ] && [ -f "${RP_ERR}" ]; then
        printf -- '--- tail of %s\n' "$RP_ERR" >&2
        tail -n 30 "$RP_ERR" >&2
    fi
    exit 1
}

# True while PID runs (a zombie, dead but not reaped, counts as not running).
rp_alive()
{
    local pid=$1 stat
    [ -r "/proc/$pid/stat" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

rp_forget_pid()
{
    local pid=$1 keep=() p
    for p in "${RP_PIDS[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    RP_PIDS=("${keep[@]}")
}

# Waits at most SECONDS for PID to end; 0 when it ended.
rp_wait_exit()
{
    local pid=$1 seconds=$2 i
    for ((i = 0; i < seconds * 20; i++)); do
        rp_alive "$pid" || return 0
        sleep 0.05
    done
    ! rp_alive "$pid"
}

rp_cleanup()
{
    local rc=$? pid
    for pid in "${RP_PIDS[@]}"; do
        if rp_alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null
            rp_wait_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    RP_PIDS=()
    if [ -n "$RP_TMP" ] && [ -d "$RP_TMP" ]; then
        if [ "$rc" -ne 0 ] && [ -n "${RP_KEEP_TMP:-}" ]; then
            printf 'kept %s\n' "$RP_TMP" >&2
        else
            rm -rf "$RP_TMP"
        fi
    fi
    exit "$rc"
}

rp_init()
{
    local tool
    [ -n "$RP_BIN" ] || fail "usage: bash $0 /path/to/rapport"
    [ -x "$RP_BIN" ] || fail "no executable at $RP_BIN"
    RP_BIN=$(cd "$(dirname "$RP_BIN")" && pwd)/$(basename "$RP_BIN")
    for tool in curl python3 sqlite3; do
        command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
    done
    RP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rapport-e2e.XXXXXX") || fail "mktemp -d failed"
    trap rp_cleanup EXIT
    rp_jq_start
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # The demo data and records carry Chinese text: keep tools in UTF-8.
    export LC_ALL=C.UTF-8 PYTHONIOENCODING=utf-8
    # Proxies must never see loopback traffic.
    unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
    export NO_PROXY='*'
}

# rp_start DB [ARGS...]: starts `rapport serve` on an ephemeral loopback port.
rp_start()
{
    local db=$1 i line
    shift
    RP_NSTARTS=$((RP_NSTARTS + 1))
    RP_OUT=$RP_TMP/serve.$RP_NSTARTS.out
    RP_ERR=$RP_TMP/serve.$RP_NSTARTS.err
    RP_ADMIN_PASSWORD=
    RP_PORT=
    "$RP_BIN" serve --db "$db" --listen 127.0.0.1:0 --no-access-log "$@" \
        >"$RP_OUT" 2>"$RP_ERR" </dev/null &
    RP_PID=$!
    RP_PIDS+=("$RP_PID")
    for ((i = 0; i < RP_START_TIMEOUT * 20; i++)); do
        line=$(grep -m1 '^rapport .* serving http://' "$RP_OUT" 2>/dev/null)
        if [ -n "$line" ]; then
            RP_PORT=${line##*:}
            RP_PORT=${RP_PORT%%/*}
            break
        fi
        if ! rp_alive "$RP_PID"; then
            wait "$RP_PID"
            local st=$?
            rp_forget_pid "$RP_PID"
            fail "rapport serve exited with status $st before serving"
        fi
        sleep 0.05
    done
    [ -n "$RP_PORT" ] || fail "rapport serve did not print its serving line within ${RP_START_TIMEOUT}s"
    case $RP_PORT in
    '' | *[!0-9]*) fail "could not parse the port from: $line" ;;
    esac
    RP_URL=http://127.0.0.1:$RP_PORT
    # The credentials block follows the serving line in the same flushed write.
    if grep -q '^  username: admin$' "$RP_OUT"; then
        RP_ADMIN_PASSWORD=$(sed -n 's/^  password: //p' "$RP_OUT" | head -n 1)
        [ -n "$RP_ADMIN_PASSWORD" ] || fail "username printed without a password"
    fi
}

# rp_stop [PID]: graceful stop; RP_STOP_STATUS is the server's exit status.
rp_stop()
{
    local pid=${1:-$RP_PID}
    kill -TERM "$pid" 2>/dev/null
    if ! rp_wait_exit "$pid" "$RP_STOP_TIMEOUT"; then
        kill -KILL "$pid" 2>/dev/null
        rp_wait_exit "$pid" 5
        wait "$pid" 2>/dev/null
        rp_forget_pid "$pid"
        fail "rapport (pid $pid) did not stop within ${RP_STOP_TIMEOUT}s of SIGTERM"
    fi
    wait "$pid"
    RP_STOP_STATUS=$?
    rp_forget_pid "$pid"
}

# rp_kill9 [PID]: the crash: SIGKILL, then reap.
rp_kill9()
{
    local pid=${1:-$RP_PID} dead=0
    # bash reports "Killed" for the job on its own stderr: keep that quiet.
    {
        kill -KILL "$pid"
        rp_wait_exit "$pid" 10 && dead=1
        wait "$pid"
    } 2>/dev/null
    [ "$dead" = 1 ] || fail "pid $pid survived SIGKILL"
    rp_forget_pid "$pid"
}

# api METHOD PATH [BODY] [CURL ARGS...]  (BODY "@FILE" sends a file)
api()
{
    local method=$1 path=$2 body=${3:-} auth=()
    shift 2
    [ $# -gt 0 ] && shift
    [ -n "$RP_TOKEN" ] && auth=(-H "Authorization: Bearer $RP_TOKEN")
    API_HEADERS=$RP_TMP/last.headers
    local out=$RP_TMP/last.body data=() ctype='Content-Type: application/json' a
    for a in "$@"; do
        # a Content-Type among the extra arguments replaces the default one
        [[ ${a,,} == content-type:* ]] && ctype=
    done
    [ -n "$body" ] && data=(--data-binary "$body") && [ -n "$ctype" ] && data+=(-H "$ctype")
    local w
    w=$(curl -sS --max-time "$RP_CURL_TIMEOUT" -o "$out" -D "$API_HEADERS" \
        -w '%{http_code} %{time_total}' -X "$method" "${auth[@]}" "${data[@]}" "$@" \
        "$RP_URL$path") || w="000 -"
    API_STATUS=${w%% *}
    API_BODY=$(cat "$out" 2>/dev/null)
    [ -z "${RP_E2E_TRACE:-}" ] ||
        printf '   %s %s -> %s (%ss)\n' "$method" "${path:0:80}" "$API_STATUS" "${w#* }" >&2
}

expect_status()
{
    local want=$1 what=${2:-}
    [ "$API_STATUS" = "$want" ] || fail "${what:+$what: }expected HTTP $want, got $API_STATUS"
}

hdr()
{
    local name=$1
    # Last block only (curl writes one per response); names are case-insensitive.
    awk -v n="$name" 'BEGIN { IGNORECASE = 1 }
        /^HTTP\// { v = "" }
        { sub(/\r$/, "") }
        tolower(substr($0, 1, length(n) + 1)) == tolower(n) ":" {
            v = substr($0, length(n) + 2); sub(/^[ \t]+/, "", v) }
        END { print v }' "$API_HEADERS"
}

# jget EXPR [FILE]: evaluates the Python expression EXPR with d = the parsed
# JSON of FILE (default: the last response body) and prints the result, strings
# raw and anything else as JSON. One Python process serves every call (through
# two FIFOs) because starting python3 for each check is slow on a loaded machine.
RP_JQ_PID=
rp_jq_start()
{
    local in=$RP_TMP/jq.in out=$RP_TMP/jq.out
    mkfifo "$in" "$out" || fail "mkfifo failed"
    python3 -c '
import json, sys
fin = open(sys.argv[1], encoding="utf-8")
fout = open(sys.argv[2], "w", encoding="utf-8")
for line in fin:
    path, _, expr = line.rstrip("\n").partition("\t")
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        v = eval(expr, {"d": d, "json": json})
        if not isinstance(v, str) or "\n" in v:
            v = json.dumps(v, ensure_ascii=False)
        fout.write("ok\t" + v + "\n")
    except Exception as e:
        fout.write("error\t" + type(e).__name__ + ": " + str(e).replace("\n", " ") + "\n")
    fout.flush()
' "$in" "$out" &
    RP_JQ_PID=$!
    RP_PIDS+=("$RP_JQ_PID")
    # Read-write opens of a FIFO do not block on Linux.
    exec 7<>"$in" 8<>"$out"
}

jget()
{
    local expr=$1 file=${2:-$RP_TMP/last.body} line
    [ -n "$RP_JQ_PID" ] || fail "jget before rp_init"
    [[ $expr != *$'\n'* ]] || fail "jget: an expression must be one line"
    printf '%s\t%s\n' "$file" "$expr" >&7
    IFS= read -r -t 60 line <&8 || fail "jget: no answer for: $expr"
    case $line in
    ok$'\t'*) printf '%s\n' "${line#ok$'\t'}" ;;
    *)
        printf 'jget %s: %s\n' "$expr" "${line#*$'\t'}" >&2
        return 1
        ;;
    esac
}

# JSON string literal of $1 (for building bodies in shell).
jstr()
{
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    printf '"%s"' "$s"
}

rp_login()
{
    local saved=$RP_TOKEN
    RP_TOKEN=
    api POST /api/v1/auth/login "{\"username\":$(jstr "$1"),\"password\":$(jstr "$2")}"
    RP_TOKEN=$saved
    expect_status 200 "login as $1"
    RP_TOKEN=$(jget 'd["token"]') || fail "login response without a token"
    [ -n "$RP_TOKEN" ] || fail "empty token from login"
}
