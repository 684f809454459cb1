#!/usr/bin/env bash
# Jobs under SIGKILL: "kill -9 during job execution loses no job and runs none twice to
# completion" (issue #4).
#
# A rule creates a task (an activity linked to the lead) for every lead created. The leads
# arrive in atomic batches (each with an Idempotency-Key, so a batch sent again after a crash is
# not created twice) while the rule jobs run; several times the test waits until rule jobs are
# running and kills the server with SIGKILL a random 0-250 ms later, then restarts it on the
# same file. The server runs with RP_FAULT_JOB_DELAY_MS (debug builds: every job attempt waits
# that long first) so that jobs are reliably caught running, and with a short --job-lease so
# that the jobs a dead process held run again within seconds. When every job has finished:
#   - every lead has exactly one task (a retried job's write is idempotent);
#   - there is exactly one automation.run job per lead (none lost, none queued twice), each
#     `done`, with exactly one successful run in rp_job_run and one "done" in the rule's run
#     log (rp_automation_run);
#   - at least one kill hit running jobs: the crashed file held jobs in state `running`, and
#     rp_job counts more attempts than rp_job_run has finished runs (an attempt that never
#     finished) for at least one job;
#   - PRAGMA integrity_check passes.
#
# usage: bash tests/e2e/test_job_crash.sh /path/to/rapport
# env:   RP_JOB_CRASH_LEADS (300), RP_JOB_CRASH_KILLS (4), RP_JOB_CRASH_DELAY_MS (40),
#        RP_JOB_CRASH_SEED
# shellcheck disable=SC2015,SC2119  # "check && check || fail"; rp_stop takes an optional PID
. "$(dirname "$0")/lib.sh"
rp_init "$@"

LEADS=${RP_JOB_CRASH_LEADS:-300}
KILLS=${RP_JOB_CRASH_KILLS:-4}
DELAY_MS=${RP_JOB_CRASH_DELAY_MS:-40}
SEED=${RP_JOB_CRASH_SEED:-$$}
CHUNK=30
LEASE_S=5
RANDOM=$SEED
[[ $LEADS =~ ^[1-9][0-9]*$ ]] && [ $((LEADS % CHUNK)) = 0 ] ||
    fail "RP_JOB_CRASH_LEADS must be a positive multiple of $CHUNK, not '$LEADS'"
CHUNKS=$((LEADS / CHUNK))
[[ $KILLS =~ ^[0-9]+$ ]] && [ "$KILLS" -lt "$CHUNKS" ] ||
    fail "RP_JOB_CRASH_KILLS must be below $CHUNKS, not '$KILLS'"
DB=$RP_TMP/jobs.db
export RP_FAULT_JOB_DELAY_MS=$DELAY_MS

note "job crash test: $LEADS leads in $CHUNKS batches, $KILLS kills, jobs delayed ${DELAY_MS} ms, seed $SEED"

sql()
{
    sqlite3 -cmd '.timeout 5000' "$DB" "$1"
}

start()
{
    rp_start "$DB" --job-lease "$LEASE_S"
    if [ -z "$TOKEN" ]; then
        [ -n "$RP_ADMIN_PASSWORD" ] || fail "first start printed no admin password"
        TOKEN=$("$RP_BIN" token create admin --name jobcrash --db "$DB" 2>"$RP_TMP/token.err") ||
            fail "rapport token create failed: $(cat "$RP_TMP/token.err")"
    fi
    RP_TOKEN=$TOKEN
    api GET /readyz
    expect_status 200 "readyz"
}

# post_chunk C: creates leads C-1..C-30 in one atomic batch with an Idempotency-Key.
post_chunk()
{
    local c=$1 i ops=
    for ((i = 1; i <= CHUNK; i++)); do
        ops+="${ops:+,}{\"op\":\"create\",\"data\":{\"last_name\":\"Crash $c-$i\",\"company\":\"Jobs Ltd\"}}"
    done
    api POST /api/v1/records/lead/batch "{\"atomic\":true,\"operations\":[$ops]}" \
        -H "Idempotency-Key: leads-$c"
    expect_status 200 "lead batch $c"
}

# running_jobs PID: rule jobs claimed by that server process (its worker is "<host>:<pid>") and
# not finished.
running_jobs()
{
    sql "SELECT count(*) FROM rp_job WHERE kind = 'automation.run' AND state = 'running'
        AND lease_owner LIKE '%:$1'"
}

# wait_running: until the current server runs rule jobs, at most 30 s.
wait_running()
{
    local i n
    for ((i = 0; i < 600; i++)); do
        n=$(running_jobs "$RP_PID")
        [ "${n:-0}" -gt 0 ] && return 0
        sleep 0.05
    done
    fail "no rule job was running within 30 s"
}

TOKEN=
start
grep -q RP_FAULT_JOB_DELAY_MS "$RP_ERR" ||
    fail "the server ignores RP_FAULT_JOB_DELAY_MS: the crash test needs a debug (or asan) build"
api PUT /api/v1/automation/rules/lead_task \
    '{"object": "lead", "trigger": {"on": "created"}, "actions": [{"type": "create_record", "object": "activity", "values": {"type": "task", "subject": "Call the new lead", "related_object": "lead", "related_id": {"expr": "id"}}}]}'
expect_status 201 "rule lead_task"

# The kills come after evenly spaced batches, each at a random moment while jobs run.
HIT=0
KILLED=0
for ((c = 1; c <= CHUNKS; c++)); do
    post_chunk "$c"
    if [ "$KILLS" -gt 0 ] && [ $((c % (CHUNKS / (KILLS + 1)))) = 0 ] && [ "$KILLED" -lt "$KILLS" ]; then
        wait_running
        pause=$((RANDOM % 251))
        sleep "0.$(printf '%03d' "$pause")"
        pid=$RP_PID
        rp_kill9 "$pid"
        KILLED=$((KILLED + 1))
        n=$(running_jobs "$pid")
        [ "$(sql 'PRAGMA integrity_check')" = ok ] || fail "kill $KILLED: integrity_check failed"
        printf '   kill %d after batch %d (+%d ms): %s rule jobs were running\n' "$KILLED" "$c" \
            "$pause" "$n"
        HIT=$((HIT + n))
        start
    fi
done

note "waiting for every rule job to finish (a dead process's leases expire after ${LEASE_S} s)"
for ((i = 0; i < 1200; i++)); do
    left=$(sql "SELECT count(*) FROM rp_job WHERE state IN ('queued', 'running')")
    [ "$left" = 0 ] && break
    rp_alive "$RP_PID" || fail "the server died by itself"
    sleep 0.1
done
[ "$left" = 0 ] || fail "$left jobs still queued or running after 120 s"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "rapport exited with $RP_STOP_STATUS after SIGTERM"

note "checks on the database file"
[ "$(sql 'PRAGMA integrity_check')" = ok ] || fail "integrity_check after the last stop"
n=$(sql "SELECT count(*) FROM lead WHERE deleted_at IS NULL")
[ "$n" = "$LEADS" ] || fail "$n leads, expected $LEADS"
n=$(sql "SELECT count(*) FROM lead l WHERE (SELECT count(*) FROM activity a
    WHERE a.related_object = 'lead' AND a.related_id = l.id AND a.type = 'task'
    AND a.deleted_at IS NULL) != 1")
[ "$n" = 0 ] || fail "$n leads do not have exactly one task"
n=$(sql "SELECT count(*) FROM activity WHERE type = 'task'")
[ "$n" = "$LEADS" ] || fail "$n tasks for $LEADS leads"
JOBS=$(sql "SELECT count(*) FROM rp_job WHERE kind = 'automation.run'")
[ "$JOBS" = "$LEADS" ] || fail "$JOBS rule jobs for $LEADS leads"
n=$(sql "SELECT count(*) FROM lead l WHERE (SELECT count(*) FROM rp_job j
    WHERE j.kind = 'automation.run' AND json_extract(j.payload, '\$.record_id') = l.id) != 1")
[ "$n" = 0 ] || fail "$n leads do not have exactly one rule job"
n=$(sql "SELECT count(*) FROM rp_job WHERE kind = 'automation.run' AND state != 'done'")
[ "$n" = 0 ] || fail "$n rule jobs are not done: $(sql "SELECT state, count(*) FROM rp_job GROUP BY state")"
n=$(sql "SELECT count(*) FROM rp_job j WHERE j.kind = 'automation.run' AND (SELECT count(*)
    FROM rp_job_run r WHERE r.job_id = j.id AND r.outcome = 'ok') != 1")
[ "$n" = 0 ] || fail "$n rule jobs do not have exactly one successful run"
UNFINISHED=$(sql "SELECT count(*) FROM rp_job j WHERE j.kind = 'automation.run' AND j.attempts >
    (SELECT count(*) FROM rp_job_run r WHERE r.job_id = j.id)")
# Jobs whose task was written by an attempt that a kill cut off before it finished: the retry
# found the write done (the Idempotency-Key's entry is older than the successful run).
REPLAYED=$(sql "SELECT count(*) FROM rp_job j JOIN rp_idempotency i ON i.key = 'job:' || j.id || ':0'
    JOIN rp_job_run r ON r.job_id = j.id AND r.outcome = 'ok'
    WHERE j.kind = 'automation.run' AND i.created_at < r.started_at")
RETRIED=$(sql "SELECT count(*) FROM rp_job WHERE kind = 'automation.run' AND attempts > 1")
n=$(sql "SELECT count(*) FROM rp_job j WHERE j.kind = 'automation.run' AND (SELECT count(*)
    FROM rp_automation_run r WHERE r.job_id = j.id AND r.outcome = 'done') != 1")
[ "$n" = 0 ] || fail "$n rule jobs do not have exactly one \"done\" in the automation run log"
if [ "$KILLS" -gt 0 ]; then
    [ "$HIT" -gt 0 ] || fail "no kill hit a running rule job"
    [ "$UNFINISHED" -gt 0 ] || fail "rp_job_run shows no attempt that did not finish"
fi

note "summary: $LEADS leads, $LEADS tasks, $JOBS rule jobs all done once; $KILLED kills caught $HIT running jobs; $RETRIED jobs ran again after a kill ($UNFINISHED attempts never finished), $REPLAYED of them had written their task before the kill"
note "PASS"
