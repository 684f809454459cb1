#!/usr/bin/env bash
# Scale-out (issue #7): two `rapport serve` processes on one PostgreSQL database behave as one
# system. Run by ctest under tests/helpers/pg.sh, which sets RP_TEST_PG_URL (label pg).
#
#   1. writes through one instance are read (and updated) through the other;
#   2. a custom field added on A is usable on B: B's metadata snapshot follows the change
#      through LISTEN/NOTIFY (polled for at most 5 s; without the notice B never sees it);
#   2b. a duplicate rule defined on A is enforced on B (B's write hooks keep which objects have
#      definitions; A's notice makes B read them again);
#   3. a session made on A works on B, and its logout on A is refused on B within 2 s (B had
#      just cached the token, and its cache keeps an entry 5 s: only the notice can do it);
#   4. Idempotency-Key across instances: the same key and body on B after A answered replays
#      A's answer, a different body is a 409, and the same key sent to both at once writes once;
#   5. 1,000 leads through both instances, each queuing one rule job (create a task): every job
#      runs exactly once across both, and both instances ran some;
#   6. a stream of creates through both instances (a client that retries on the other instance
#      with the same Idempotency-Key when its own fails) while rule jobs run; A is killed with
#      SIGKILL in the middle, then started again: every acknowledged create is there once, every
#      lead has exactly one task, every rule job is done with exactly one successful run.
#
# usage: sh tests/helpers/pg.sh run bash tests/e2e/pg/test_two_instances.sh /path/to/rapport
# env:   RP_TWO_LEADS (1000), RP_TWO_STREAM (150 creates per instance)
# shellcheck disable=SC2015,SC2119  # "check && check || fail"; rp_stop takes an optional PID
. "$(dirname "$0")/../lib.sh"
rp_init "$@"

DB=${RP_TEST_PG_URL:?run under tests/helpers/pg.sh}
LEADS=${RP_TWO_LEADS:-1000}
STREAM=${RP_TWO_STREAM:-150}
LEASE_S=5
CHUNK=50
[[ $LEADS =~ ^[1-9][0-9]*$ ]] && [ $((LEADS % CHUNK)) = 0 ] ||
    fail "RP_TWO_LEADS must be a positive multiple of $CHUNK, not '$LEADS'"
command -v psql >/dev/null 2>&1 || fail "psql is not installed (postgresql-client)"
# every job attempt waits this long first (debug builds), so the kill finds jobs running
export RP_FAULT_JOB_DELAY_MS=10

sql()
{
    psql "$DB" -AtqX -v ON_ERROR_STOP=1 -c "$1" 2>"$RP_TMP/psql.err" ||
        fail "psql: $(cat "$RP_TMP/psql.err")"
}

# start_instance NAME: starts a server and keeps its PID and URL as NAME_PID and NAME_URL.
start_instance()
{
    rp_start "$DB" --job-lease "$LEASE_S"
    printf -v "${1}_PID" '%s' "$RP_PID"
    printf -v "${1}_URL" '%s' "$RP_URL"
    printf -v "${1}_ERR" '%s' "$RP_ERR"
}

# on NAME: the next api calls go to that instance.
on()
{
    local u=${1}_URL e=${1}_ERR
    RP_URL=${!u}
    RP_ERR=${!e}
}

note "two instances on one database"
start_instance A
PASSWORD=$RP_ADMIN_PASSWORD
[ -n "$PASSWORD" ] || fail "the first start did not print an admin password"
start_instance B
[ -z "$RP_ADMIN_PASSWORD" ] || fail "the second instance printed another admin password"
[ "$A_PID" != "$B_PID" ] && [ "$A_URL" != "$B_URL" ] || fail "the instances are not two"
on A
rp_login admin "$PASSWORD"
ADMIN=$RP_TOKEN

note "writes through one are read and changed through the other"
on A
api POST /api/v1/records/contact '{"last_name":"王","first_name":"芳","email":"wf@example.cn"}'
expect_status 201 "create on A"
ID=$(jget 'd["id"]')
on B
api GET "/api/v1/records/contact/$ID"
expect_status 200 "read on B"
[ "$(jget 'd["email"]')" = wf@example.cn ] || fail "B read another email"
api PATCH "/api/v1/records/contact/$ID" '{"title":"CFO"}' -H 'If-Match: "1"'
expect_status 200 "update on B"
on A
api GET "/api/v1/records/contact/$ID"
expect_status 200 "read on A"
[ "$(jget 'd["title"]')/$(jget 'd["version"]')" = CFO/2 ] || fail "A does not see B's update"
api PATCH "/api/v1/records/contact/$ID" '{"title":"CEO"}' -H 'If-Match: "1"'
expect_status 412 "a stale If-Match on A after B's update"

note "a custom field added on A is usable on B"
on B
api POST /api/v1/records/lead '{"last_name":"Early","company":"X","region_code":"east"}'
expect_status 400 "B refuses the field before it exists"
on A
api POST /api/v1/meta/objects/lead/fields '{"name":"region_code","type":"text","label":{"en":"Region code","zh":"区域代码"}}'
expect_status 201 "add lead.region_code on A"
on B
seen=
for ((i = 0; i < 100; i++)); do
    api GET /api/v1/meta/objects/lead
    expect_status 200 "lead metadata on B"
    if [ "$(jget 'any(f["name"] == "region_code" for f in d["fields"])')" = true ]; then
        seen=$i
        break
    fi
    sleep 0.05
done
[ -n "$seen" ] || fail "B did not see the new field within 5 s"
note "  B saw it after $seen polls of 50 ms"
api POST /api/v1/records/lead '{"last_name":"Field","company":"X","region_code":"east"}'
expect_status 201 "create with the new field on B"
api GET "/api/v1/records/lead?filter=region_code%20%3D%20%27east%27"
expect_status 200 "filter on the new field on B"
[ "$(jget 'len(d["data"])')" = 1 ] || fail "the filter on B found $(jget 'len(d["data"])') leads"
grep -q 'reloaded metadata' "$B_ERR" || fail "B's log does not show the reload"

note "a duplicate rule made on A is in force on B"
# B's write hooks have looked for contact definitions already (the writes above), and it keeps
# what it found; only A's notice makes B look again.
on A
api PUT /api/v1/definitions/duplicate-rules/contacts '{"object":"contact","action":"block","match":[{"method":"email","field":"email"}]}'
expect_status 201 "a blocking duplicate rule for contacts on A"
on B
blocked=
for ((i = 0; i < 40; i++)); do
    api POST /api/v1/records/contact '{"last_name":"Twin","email":"twin@example.cn"}'
    if [ "$API_STATUS" = 409 ]; then
        blocked=$i
        break
    fi
    expect_status 201 "a contact on B before the rule is in force there"
    sleep 0.05
done
[ -n "$blocked" ] || fail "B did not enforce A's duplicate rule within 2 s"
note "  B refused a duplicate at its create number $((blocked + 1))"
on A
api DELETE /api/v1/definitions/duplicate-rules/contacts
expect_status 204 "delete the rule on A"

note "a session made on A works on B; logout on A is honoured on B"
on A
rp_login admin "$PASSWORD"
on B
api GET /api/v1/auth/me
expect_status 200 "A's session on B"
on A
api POST /api/v1/auth/logout
expect_status 204 "logout on A"
on B
refused=
for ((i = 0; i < 40; i++)); do
    api GET /api/v1/auth/me
    if [ "$API_STATUS" = 401 ]; then
        refused=$i
        break
    fi
    expect_status 200 "the session on B before the notice"
    sleep 0.05
done
[ -n "$refused" ] || fail "B still accepts the session 2 s after its logout on A"
note "  B refused it after $refused polls of 50 ms"
RP_TOKEN=$ADMIN
api GET /metrics
expect_status 200 "B's metrics"
n=$(printf '%s\n' "$API_BODY" | sed -n 's/^rapport_config_notices_total //p')
[ "${n:-0}" -ge 3 ] || fail "B counts ${n:-no} configuration notices, expected at least 3"
on A
api POST /api/v1/auth/tokens '{"name":"two-instances"}'
expect_status 201 "a named API token on A"
NAMED=$(jget 'd["token"]')
RP_TOKEN=$NAMED
on B
api GET /api/v1/auth/me
expect_status 200 "A's API token on B"
RP_TOKEN=$ADMIN

note "Idempotency-Key across instances"
on A
api POST /api/v1/records/account '{"name":"Idem One"}' -H 'Idempotency-Key: two-1'
expect_status 201 "create on A with a key"
FIRST=$(jget 'd["id"]')
on B
api POST /api/v1/records/account '{"name":"Idem One"}' -H 'Idempotency-Key: two-1'
expect_status 201 "the same key and body on B"
[ "$(hdr Idempotent-Replayed)" = true ] || fail "B did not replay A's answer"
[ "$(jget 'd["id"]')" = "$FIRST" ] || fail "B's replay names another record"
api POST /api/v1/records/account '{"name":"Idem Other"}' -H 'Idempotency-Key: two-1'
expect_status 409 "the same key with another body on B"
# the same key sent to both at once, 20 times: one write each
for ((k = 1; k <= 20; k++)); do
    for inst in A B; do
        u=${inst}_URL
        curl -sS --max-time 30 -o "$RP_TMP/race.$k.$inst" -w '%{http_code}' \
            -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
            -H "Idempotency-Key: race-$k" --data-binary "{\"name\":\"Race $k\"}" \
            "${!u}/api/v1/records/account" >"$RP_TMP/race.$k.$inst.status" &
    done
done
wait_for=0
for ((i = 0; i < 600; i++)); do
    wait_for=$(find "$RP_TMP" -name 'race.*.status' -size +0 | wc -l)
    [ "$wait_for" = 40 ] && break
    sleep 0.05
done
[ "$wait_for" = 40 ] || fail "only $wait_for of 40 concurrent requests were answered"
for ((k = 1; k <= 20; k++)); do
    a=$(cat "$RP_TMP/race.$k.A.status") b=$(cat "$RP_TMP/race.$k.B.status")
    [ "$a/$b" = 201/201 ] || fail "key race-$k: A answered $a, B answered $b"
    ia=$(jget 'd["id"]' "$RP_TMP/race.$k.A") ib=$(jget 'd["id"]' "$RP_TMP/race.$k.B")
    [ "$ia" = "$ib" ] || fail "key race-$k: A and B answered different records"
done
n=$(sql "SELECT count(*) FROM account WHERE name LIKE 'Race %'")
[ "$n" = 20 ] || fail "$n accounts for 20 keys sent to both instances at once"

note "$LEADS leads through both instances, one rule job each"
RP_TOKEN=$ADMIN
on A
api PUT /api/v1/automation/rules/lead_task \
    '{"object": "lead", "trigger": {"on": "created"}, "actions": [{"type": "create_record", "object": "activity", "values": {"type": "task", "subject": "Call the new lead", "related_object": "lead", "related_id": {"expr": "id"}}}]}'
expect_status 201 "rule lead_task"
for ((c = 1; c <= LEADS / CHUNK; c++)); do
    ops=
    for ((i = 1; i <= CHUNK; i++)); do
        ops+="${ops:+,}{\"op\":\"create\",\"data\":{\"last_name\":\"Bulk $c-$i\",\"company\":\"Two Ltd\"}}"
    done
    if ((c % 2)); then on A; else on B; fi
    api POST /api/v1/records/lead/batch "{\"atomic\":true,\"operations\":[$ops]}" \
        -H "Idempotency-Key: bulk-$c"
    expect_status 200 "lead batch $c"
done

# wait_jobs: until every lead's rule job is queued (the dispatchers follow the change log) and
# no job is queued or running (a dead process's leases expire after LEASE_S).
wait_jobs()
{
    local i left jobs leads
    for ((i = 0; i < 1800; i++)); do
        leads=$(sql "SELECT count(*) FROM lead WHERE last_name <> 'Field'")
        jobs=$(sql "SELECT count(*) FROM rp_job WHERE kind = 'automation.run'")
        left=$(sql "SELECT count(*) FROM rp_job WHERE state IN ('queued', 'running')")
        [ "$left" = 0 ] && [ "$jobs" -ge "$leads" ] && return 0
        sleep 0.1
    done
    fail "after 180 s: $jobs rule jobs for $leads leads, $left still queued or running"
}

# check_jobs: every lead has exactly one task and one rule job, done with one successful run.
check_jobs()
{
    local leads n
    leads=$(sql "SELECT count(*) FROM lead WHERE deleted_at IS NULL AND last_name <> 'Field'")
    n=$(sql "SELECT count(*) FROM lead l WHERE l.last_name <> 'Field' AND (SELECT count(*)
        FROM activity a WHERE a.related_object = 'lead' AND a.related_id = l.id
        AND a.type = 'task' AND a.deleted_at IS NULL) != 1")
    [ "$n" = 0 ] || fail "$n of $leads leads do not have exactly one task"
    n=$(sql "SELECT count(*) FROM rp_job WHERE kind = 'automation.run'")
    [ "$n" = "$leads" ] || fail "$n rule jobs for $leads leads"
    n=$(sql "SELECT count(*) FROM lead l WHERE l.last_name <> 'Field' AND (SELECT count(*)
        FROM rp_job j WHERE j.kind = 'automation.run'
        AND CAST(j.payload AS json)->>'record_id' = l.id) != 1")
    [ "$n" = 0 ] || fail "$n leads do not have exactly one rule job"
    n=$(sql "SELECT count(*) FROM rp_job WHERE kind = 'automation.run' AND state != 'done'")
    [ "$n" = 0 ] || fail "$n rule jobs are not done"
    n=$(sql "SELECT count(*) FROM rp_job j WHERE j.kind = 'automation.run' AND (SELECT count(*)
        FROM rp_job_run r WHERE r.job_id = j.id AND r.outcome = 'ok') != 1")
    [ "$n" = 0 ] || fail "$n rule jobs do not have exactly one successful run"
    n=$(sql "SELECT count(*) FROM rp_job j WHERE j.kind = 'automation.run' AND (SELECT count(*)
        FROM rp_automation_run r WHERE r.job_id = j.id AND r.outcome = 'done') != 1")
    [ "$n" = 0 ] || fail "$n rule jobs do not have exactly one \"done\" in the run log"
    CHECKED_LEADS=$leads
}

wait_jobs
check_jobs
[ "$CHECKED_LEADS" = "$LEADS" ] || fail "$CHECKED_LEADS leads, expected $LEADS"
WORKERS=$(sql "SELECT count(DISTINCT worker) FROM rp_job_run r JOIN rp_job j ON j.id = r.job_id
    WHERE j.kind = 'automation.run' AND r.outcome = 'ok'")
[ "$WORKERS" = 2 ] || fail "rule jobs ran in $WORKERS processes, expected both"
note "  $LEADS rule jobs, each run once: $(sql "SELECT string_agg(n::text, ' + ') FROM (SELECT
    count(*) AS n FROM rp_job_run WHERE outcome = 'ok' GROUP BY worker ORDER BY worker) x") by process"

note "kill -9 one instance while creates and jobs run through both"
cat >"$RP_TMP/stream.py" <<'EOF'
# A client that sends N creates to its instance and, when that one fails to answer, sends the
# same request (same Idempotency-Key) to the other; every acknowledged create is printed.
import json, sys, time, urllib.request, urllib.error
tag, token, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
urls = sys.argv[5:]
with open(out, "w", encoding="utf-8") as f:
    for i in range(n):
        name = "Stream %s-%d" % (tag, i)
        body = json.dumps({"last_name": name, "company": "Stream"}).encode()
        done = False
        for attempt in range(40):
            url = urls[0 if attempt == 0 else attempt % len(urls)]
            req = urllib.request.Request(url + "/api/v1/records/lead", data=body, method="POST",
                headers={"Authorization": "Bearer " + token,
                         "Content-Type": "application/json",
                         "Idempotency-Key": "stream-%s-%d" % (tag, i)})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    if r.status == 201:
                        f.write("%s\t%s\n" % (name, json.load(r)["id"]))
                        f.flush()
                        done = True
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        if not done:
            print("create %s was never acknowledged" % name, file=sys.stderr)
            sys.exit(1)
EOF
python3 "$RP_TMP/stream.py" A "$ADMIN" "$STREAM" "$RP_TMP/acked.A" "$A_URL" "$B_URL" \
    2>"$RP_TMP/stream.A.err" &
SA=$!
RP_PIDS+=("$SA")
python3 "$RP_TMP/stream.py" B "$ADMIN" "$STREAM" "$RP_TMP/acked.B" "$B_URL" "$A_URL" \
    2>"$RP_TMP/stream.B.err" &
SB=$!
RP_PIDS+=("$SB")
# kill A once a third of its stream is in and rule jobs are running in it
for ((i = 0; i < 600; i++)); do
    n=$(wc -l <"$RP_TMP/acked.A" 2>/dev/null || echo 0)
    running=$(sql "SELECT count(*) FROM rp_job WHERE state = 'running' AND lease_owner LIKE '%:$A_PID'")
    [ "$n" -ge $((STREAM / 3)) ] && [ "$running" -gt 0 ] && break
    sleep 0.05
done
[ "$n" -ge $((STREAM / 3)) ] && [ "$running" -gt 0 ] ||
    fail "A did not get a third of its stream with rule jobs running within 30 s"
rp_kill9 "$A_PID"
note "  killed A after $n of its creates, with $running rule jobs running in it"
HELD=$(sql "SELECT count(*) FROM rp_job WHERE state = 'running' AND lease_owner LIKE '%:$A_PID'")
for s in "$SA" "$SB"; do
    wait "$s" || fail "a stream client failed: $(cat "$RP_TMP"/stream.*.err)"
    rp_forget_pid "$s"
done
note "  the survivor took the rest; starting A again"
start_instance A
wait_jobs

note "checks on the database"
for t in A B; do
    [ "$(wc -l <"$RP_TMP/acked.$t")" = "$STREAM" ] || fail "stream $t: not every create was acknowledged"
done
cat "$RP_TMP/acked.A" "$RP_TMP/acked.B" >"$RP_TMP/acked"
sql "SELECT last_name || chr(9) || id FROM lead WHERE last_name LIKE 'Stream %'
    AND deleted_at IS NULL ORDER BY 1" >"$RP_TMP/stored"
sort "$RP_TMP/acked" >"$RP_TMP/acked.sorted"
missing=$(comm -23 "$RP_TMP/acked.sorted" "$RP_TMP/stored" | wc -l)
extra=$(comm -13 "$RP_TMP/acked.sorted" "$RP_TMP/stored" | wc -l)
[ "$missing" = 0 ] || fail "$missing acknowledged creates are missing: $(comm -23 "$RP_TMP/acked.sorted" "$RP_TMP/stored" | head -3)"
[ "$extra" = 0 ] || fail "$extra stream leads were stored but not acknowledged (twice?)"
check_jobs
[ "$CHECKED_LEADS" = $((LEADS + 2 * STREAM)) ] ||
    fail "$CHECKED_LEADS leads, expected $((LEADS + 2 * STREAM))"
UNFINISHED=$(sql "SELECT count(*) FROM rp_job j WHERE j.kind = 'automation.run' AND j.attempts >
    (SELECT count(*) FROM rp_job_run r WHERE r.job_id = j.id)")
[ "$HELD" -eq 0 ] || [ "$UNFINISHED" -gt 0 ] ||
    fail "A held $HELD running jobs at the kill but no attempt shows as cut off"

on A
RP_TOKEN=$ADMIN
api GET /readyz
expect_status 200 "the restarted A is ready"
rp_stop "$A_PID"
[ "$RP_STOP_STATUS" = 0 ] || fail "A exited with $RP_STOP_STATUS after SIGTERM"
rp_stop "$B_PID"
[ "$RP_STOP_STATUS" = 0 ] || fail "B exited with $RP_STOP_STATUS after SIGTERM"
note "summary: $CHECKED_LEADS leads with one task and one rule job each, all run once across two instances; $((2 * STREAM)) streamed creates acknowledged and stored once; A killed with $HELD rule jobs running, $UNFINISHED attempts cut off and run again"
note "PASS"
