#!/usr/bin/env bash
# Durability under SIGKILL: "nothing is acknowledged before it is durable".
#
# Each cycle starts `rapport serve` on the same database, runs concurrent
# writers (crash_writer.py: 8 keep-alive connections sending creates, updates
# with If-Match and deletes of their own accounts, one of them atomic batches
# of creates, updates and a delete) that record the acknowledged state of every
# record they touch, and kill -9s the server after a random 0.5-2 s while they
# are running. Then:
#   - a copy of the crashed files (database + WAL, untouched by any recovery)
#     must hold every acknowledged record with its acknowledged values, version
#     and deletion state; each operation in flight at the crash must be applied
#     whole or not at all (batches included); no account may exist that was
#     neither acknowledged nor in flight; every account must have `version`
#     entries in rp_change and rp_audit that agree with its row; and
#     PRAGMA integrity_check must pass;
#   - the restarted server must answer GET for every acknowledged id of the
#     cycle with the acknowledged state, replay the newest keyed creates
#     (Idempotency-Key) with the stored answer, and retrying the keyed creates
#     that were in flight at the crash must leave exactly one account per name.
# After the last cycle one more write stream is cut by SIGTERM instead (the
# server must exit 0 and lose nothing it acknowledged), and the whole history
# is checked once more on the database file.
#
# usage: bash tests/e2e/test_crash.sh /path/to/rapport
# env:   RP_CRASH_CYCLES (default 20), RP_CRASH_THREADS (8), RP_CRASH_SEED
# shellcheck disable=SC2015,SC2119  # "check && check || fail"; rp_stop takes an optional PID
. "$(dirname "$0")/lib.sh"
rp_init "$@"

CYCLES=${RP_CRASH_CYCLES:-20}
THREADS=${RP_CRASH_THREADS:-8}
SEED=${RP_CRASH_SEED:-$$}
RANDOM=$SEED
[[ $CYCLES =~ ^[1-9][0-9]*$ ]] || fail "RP_CRASH_CYCLES must be a positive number, not '$CYCLES'"
[[ $THREADS =~ ^[2-9]$|^[1-9][0-9]+$ ]] || fail "RP_CRASH_THREADS must be at least 2, not '$THREADS'"
WRITER=$RP_E2E_DIR/crash_writer.py
DB=$RP_TMP/crash.db
ACKED=()
TOTAL_ACKED=0
TOTAL_SENT=0

note "crash test: $CYCLES cycles, $THREADS writers, seed $SEED"

# Runs crash_writer.py verify-api for the given acknowledgement files.
verify_api()
{
    local what=$1 out
    shift
    out=$(python3 "$WRITER" verify-api --port "$RP_PORT" --token "$TOKEN" "$@") ||
        fail "$what: acknowledged records missing or different after restart: $out"
    printf '   %s: %s\n' "$what" "$out"
}

# Checks a copy of the crashed database without recovering the original.
verify_crashed_copy()
{
    local cycle=$1 copy=$RP_TMP/copy out f
    rm -rf "$copy"
    mkdir "$copy"
    for f in "$DB" "$DB-wal"; do
        [ -e "$f" ] && cp "$f" "$copy/"
    done
    [ "$(sqlite3 "$copy/crash.db" 'PRAGMA integrity_check')" = ok ] ||
        fail "cycle $cycle: the crashed database fails integrity_check"
    out=$(python3 "$WRITER" verify-db --db "$copy/crash.db" "${ACKED[@]}") ||
        fail "cycle $cycle: the crashed database lost or altered acknowledged writes: $out"
    printf '   crashed files: %s\n' "$out"
    rm -rf "$copy"
}

# start_writers LABEL: runs crash_writer.py against the current server; sets
# WPID and WFILE (its acknowledgement file), and waits for the first ack so that
# the random delay that follows falls in the middle of a write stream even on a
# slow (ASan) server.
start_writers()
{
    local label=$1 i
    WFILE=$RP_TMP/acked.$label.jsonl
    : >"$WFILE"
    ACKED+=("$WFILE")
    python3 "$WRITER" write --port "$RP_PORT" --token "$TOKEN" --prefix "$label" \
        --out "$WFILE" --threads "$THREADS" --batch-threads 1 --max-seconds 90 \
        >"$WFILE.summary" 2>"$WFILE.err" &
    WPID=$!
    RP_PIDS+=("$WPID")
    for ((i = 0; i < 600; i++)); do
        [ -s "$WFILE" ] && break
        rp_alive "$WPID" || break
        sleep 0.05
    done
    [ -s "$WFILE" ] ||
        fail "$label: no create was acknowledged within 30 s: $(cat "$WFILE.summary" "$WFILE.err")"
}

# random_pause: 0.5-2 s, then checks that the writers and the server still run.
random_pause()
{
    local label=$1
    DELAY_MS=$((500 + RANDOM % 1501))
    sleep "$((DELAY_MS / 1000)).$(printf '%03d' $((DELAY_MS % 1000)))"
    rp_alive "$WPID" ||
        fail "$label: the writers ended too early: $(cat "$WFILE.summary" "$WFILE.err")"
    rp_alive "$RP_PID" || fail "$label: the server died by itself"
}

# finish_writers LABEL: the server is gone; the writers must end by themselves.
finish_writers()
{
    local label=$1 st n
    if ! rp_wait_exit "$WPID" 30; then
        kill -KILL "$WPID" 2>/dev/null
        rp_wait_exit "$WPID" 5
        wait "$WPID" 2>/dev/null
        rp_forget_pid "$WPID"
        fail "$label: the writers did not stop within 30 s of the server"
    fi
    wait "$WPID"
    st=$?
    rp_forget_pid "$WPID"
    [ "$st" = 0 ] || fail "$label: crash_writer.py exited with $st: $(cat "$WFILE.err")"
    printf '   stopped after %d ms; writers: %s\n' "$DELAY_MS" "$(cat "$WFILE.summary")"
    n=$(jget 'd["acked"]' "$WFILE.summary") || fail "bad writer summary: $(cat "$WFILE.summary")"
    [ "$n" = "$(wc -l <"$WFILE")" ] || fail "$label: summary and acknowledgement file disagree"
    [ "$(jget 'd["unexpected"]' "$WFILE.summary")" = '[]' ] ||
        fail "$label: writes answered with unexpected statuses: $(jget 'd["unexpected"]' "$WFILE.summary")"
    [ "$(jget '"deadline" in d["ended_by"]' "$WFILE.summary")" = false ] ||
        fail "$label: a writer ran into its deadline instead of the server's end"
    TOTAL_ACKED=$((TOTAL_ACKED + n))
    TOTAL_SENT=$((TOTAL_SENT + $(jget 'd["sent"]' "$WFILE.summary")))
}

# restart_and_verify LABEL: restart on the same file; check the last writers' acks.
restart_and_verify()
{
    local label=$1
    rp_start "$DB"
    [ -z "$RP_ADMIN_PASSWORD" ] || fail "$label: a restart printed admin credentials again"
    RP_TOKEN=$TOKEN
    api GET /readyz
    expect_status 200 "$label: readyz after restart"
    verify_api "$label after restart" --pending "$WFILE.pending" "$WFILE"
}

for ((cycle = 1; cycle <= CYCLES; cycle++)); do
    note "cycle $cycle/$CYCLES"
    if [ "$cycle" = 1 ]; then
        rp_start "$DB"
        [ -n "$RP_ADMIN_PASSWORD" ] || fail "first start printed no admin password"
        TOKEN=$("$RP_BIN" token create admin --name crash --db "$DB" 2>"$RP_TMP/token.err") ||
            fail "rapport token create failed: $(cat "$RP_TMP/token.err")"
        [ -n "$TOKEN" ] || fail "rapport token create printed nothing"
        RP_TOKEN=$TOKEN
    else
        restart_and_verify "crash-$((cycle - 1))"
    fi
    start_writers "crash-$cycle"
    random_pause "crash-$cycle"
    rp_kill9 "$RP_PID"
    finish_writers "crash-$cycle"
    verify_crashed_copy "$cycle"
done

note "restart after the last crash"
restart_and_verify "crash-$CYCLES"
api GET "/api/v1/changes?after=0&limit=1&objects=account"
expect_status 200 "change feed after the crashes"

note "online backup, then a graceful stop (SIGTERM), while the writers run"
start_writers graceful
# Everything acknowledged before the backup starts must be in the backup, which
# must be a consistent snapshot (one change and audit entry per account).
head -n "$(wc -l <"$WFILE")" "$WFILE" >"$RP_TMP/before-backup.jsonl" # whole lines only
"$RP_BIN" backup "$RP_TMP/online.bak" --db "$DB" >"$RP_TMP/backup.out" 2>"$RP_TMP/backup.err" ||
    fail "rapport backup under load failed: $(cat "$RP_TMP/backup.err")"
random_pause graceful
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "rapport exited with $RP_STOP_STATUS after SIGTERM under load"
finish_writers graceful
# The backup is checked once the writers are done: a snapshot may hold states acknowledged after
# it started, and every state it holds must be one the writers were acknowledged (or in flight).
out=$(python3 "$WRITER" verify-db --db "$RP_TMP/online.bak" --history "$WFILE" -- \
    "${ACKED[@]:0:${#ACKED[@]}-1}" "$RP_TMP/before-backup.jsonl") ||
    fail "the online backup is incomplete or inconsistent: $out"
printf '   online backup: %s\n' "$out"
restart_and_verify graceful
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "rapport exited with $RP_STOP_STATUS after SIGTERM"

note "final check of the database file"
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check after the last stop"
ROWS=$(sqlite3 "$DB" 'SELECT count(*) FROM account')
CREATES=$(sqlite3 "$DB" "SELECT count(*) FROM rp_change WHERE op='create' AND object='account'")
AUDITS=$(sqlite3 "$DB" "SELECT count(*) FROM rp_audit WHERE action='create' AND object='account'")
[ "$CREATES" = "$ROWS" ] || fail "$ROWS accounts but $CREATES create changes"
[ "$AUDITS" = "$ROWS" ] || fail "$ROWS accounts but $AUDITS create audit entries"
out=$(python3 "$WRITER" verify-db --db "$DB" "${ACKED[@]}") ||
    fail "acknowledged writes lost or altered: $out"
printf '   %s\n' "$out"

note "summary: $CYCLES cycles, $TOTAL_SENT record operations sent, $TOTAL_ACKED acknowledged and all found in their acknowledged state; $ROWS account rows"
note "PASS"
