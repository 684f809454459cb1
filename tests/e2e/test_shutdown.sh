#!/usr/bin/env bash
# Graceful shutdown: SIGTERM while writers are busy, and the bound on a stop.
#
# 1. Eight keep-alive writers (crash_writer.py: creates, updates, deletes, atomic
#    batches) run against the server; after a random 0.5-2 s it gets SIGTERM. It
#    must exit 0 within its --shutdown-timeout. Every acknowledged write must be
#    in the file in its acknowledged state, and no operation that was left
#    without an answer may have been applied: a request the server accepted is
#    answered (201/200, or 503 "shutting down" with Connection: close), never
#    cut off. Then a restart serves every acknowledged record.
# 2. A request whose body never finishes holds the stop only for the 2 s grace
#    given to uploads, then is cut off (exit 0). With --shutdown-timeout 1 the
#    same stop outlasts the bound and the process ends with status 1 and a
#    message naming the reason; the database is intact afterwards.
#
# usage: bash tests/e2e/test_shutdown.sh /path/to/rapport
# env:   RP_SHUTDOWN_ROUNDS (default 3)
# shellcheck disable=SC2015,SC2119  # "check && check || fail"; rp_stop takes an optional PID
. "$(dirname "$0")/lib.sh"
rp_init "$@"

ROUNDS=${RP_SHUTDOWN_ROUNDS:-3}
WRITER=$RP_E2E_DIR/crash_writer.py
DB=$RP_TMP/stop.db
ACKED=()

rp_start "$DB" --shutdown-timeout 10
TOKEN=$("$RP_BIN" token create admin --name stop --db "$DB" 2>"$RP_TMP/token.err") ||
    fail "rapport token create failed: $(cat "$RP_TMP/token.err")"
RP_TOKEN=$TOKEN

for ((round = 1; round <= ROUNDS; round++)); do
    note "round $round/$ROUNDS: SIGTERM under write load"
    WFILE=$RP_TMP/acked.stop-$round.jsonl
    : >"$WFILE"
    ACKED+=("$WFILE")
    python3 "$WRITER" write --port "$RP_PORT" --token "$TOKEN" --prefix "stop$round" \
        --out "$WFILE" --threads 8 --batch-threads 1 --max-seconds 60 \
        >"$WFILE.summary" 2>"$WFILE.err" &
    WPID=$!
    RP_PIDS+=("$WPID")
    for ((i = 0; i < 600; i++)); do
        [ -s "$WFILE" ] && break
        sleep 0.05
    done
    [ -s "$WFILE" ] || fail "round $round: no write acknowledged within 30 s"
    DELAY_MS=$((500 + RANDOM % 1501))
    sleep "$((DELAY_MS / 1000)).$(printf '%03d' $((DELAY_MS % 1000)))"
    T0=$SECONDS
    rp_stop
    [ "$RP_STOP_STATUS" = 0 ] || fail "round $round: exit status $RP_STOP_STATUS after SIGTERM"
    [ $((SECONDS - T0)) -le 11 ] || fail "round $round: the stop took $((SECONDS - T0)) s"
    grep -q "stopping (signal 15)" "$RP_ERR" || fail "round $round: no stop message"
    rp_wait_exit "$WPID" 30 || fail "round $round: writers did not end after the server stopped"
    wait "$WPID" || fail "round $round: crash_writer.py failed: $(cat "$WFILE.err")"
    rp_forget_pid "$WPID"
    printf '   stopped %d ms into the load; writers: %s\n' "$DELAY_MS" "$(cat "$WFILE.summary")"
    [ "$(jget 'd["unexpected"]' "$WFILE.summary")" = '[]' ] ||
        fail "round $round: unexpected answers: $(jget 'd["unexpected"]' "$WFILE.summary")"
    [ "$(jget '"deadline" in d["ended_by"]' "$WFILE.summary")" = false ] ||
        fail "round $round: a writer ran into its deadline instead of the server's end"
    out=$(python3 "$WRITER" verify-db --none-applied --db "$DB" "$WFILE") ||
        fail "round $round: after SIGTERM: $out"
    printf '   database: %s\n' "$out"
    rp_start "$DB" --shutdown-timeout 10
    out=$(python3 "$WRITER" verify-api --port "$RP_PORT" --token "$TOKEN" "$WFILE") ||
        fail "round $round: after restart: $out"
done
rp_stop
out=$(python3 "$WRITER" verify-db --db "$DB" "${ACKED[@]}") || fail "all rounds: $out"
printf '   all rounds: %s\n' "$out"

# held_upload_stop SHUTDOWN_TIMEOUT: starts a server, holds one upload open (headers and part of
# the body), sends SIGTERM; sets STOP_STATUS and STOP_SECONDS.
held_upload_stop()
{
    local t0 slow i
    rp_start "$DB" --shutdown-timeout "$1" --body-timeout 60
    python3 - "$RP_PORT" "$TOKEN" >"$RP_TMP/slow.out" 2>&1 <<'PY' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("POST /api/v1/records/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":" % sys.argv[2]).encode())
print("sent", flush=True)
s.settimeout(30)
try:
    print("answer:", s.recv(4096)[:40], flush=True)
except OSError as e:
    print("error:", type(e).__name__, flush=True)
PY
    slow=$!
    RP_PIDS+=("$slow")
    for ((i = 0; i < 200; i++)); do
        grep -q sent "$RP_TMP/slow.out" 2>/dev/null && break
        sleep 0.05
    done
    # the server holds the connection (this poll's own is the other), then reads its headers
    for ((i = 0; i < 100; i++)); do
        [ "$(curl -s "http://127.0.0.1:$RP_PORT/metrics" |
            awk '/^rapport_http_connections_open / {print $2}')" -ge 2 ] 2>/dev/null && break
        sleep 0.05
    done
    sleep 1 # the headers reach the server and the request is admitted
    t0=$SECONDS
    kill -TERM "$RP_PID"
    rp_wait_exit "$RP_PID" 15 || fail "the server did not stop within 15 s with an upload held open"
    wait "$RP_PID"
    STOP_STATUS=$?
    STOP_SECONDS=$((SECONDS - t0))
    rp_forget_pid "$RP_PID"
    rp_wait_exit "$slow" 10
    wait "$slow" 2>/dev/null
    rp_forget_pid "$slow"
}

note "an upload that never finishes holds the stop for its 2 s grace only"
held_upload_stop 10
[ "$STOP_STATUS" = 0 ] || fail "stop with a held upload exited $STOP_STATUS: $(tail -3 "$RP_ERR")"
[ "$STOP_SECONDS" -le 6 ] || fail "stop with a held upload took $STOP_SECONDS s"
grep -q "cutting off 1 requests whose body had not arrived" "$RP_ERR" ||
    fail "no message about the upload cut off: $(tail -3 "$RP_ERR")"
grep -q "answer: b''" "$RP_TMP/slow.out" || grep -q "error:" "$RP_TMP/slow.out" ||
    fail "the held upload got an answer: $(cat "$RP_TMP/slow.out")"

note "--shutdown-timeout 1 ends a stop that takes longer (status 1)"
held_upload_stop 1
[ "$STOP_STATUS" = 1 ] || fail "a stop cut short by --shutdown-timeout exited $STOP_STATUS, not 1"
[ "$STOP_SECONDS" -le 5 ] || fail "the bounded stop took $STOP_SECONDS s with --shutdown-timeout 1"
grep -q "still running 1 s after the stop signal" "$RP_ERR" ||
    fail "no message about the shutdown timeout: $(tail -3 "$RP_ERR")"
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check after the cut stop"
out=$(python3 "$WRITER" verify-db --db "$DB" "${ACKED[@]}") || fail "after the cut stop: $out"
note "PASS"
