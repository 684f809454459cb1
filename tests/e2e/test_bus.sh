#!/usr/bin/env bash
# The message bus through a real `rapport serve --nats` and a real nats-server on loopback
# (tests/unit/automation/test_bus.c covers the publisher in depth; this checks the wiring):
#   - the dispatcher thread publishes record changes as rapport.<object>.<op> within seconds,
#     with the webhook body and Nats-Msg-Id = the event id;
#   - a rule's publish action arrives on its own subject with id job:<job id>:0;
#   - /metrics counts what was published and shows the connection;
#   - with nats-server stopped the outage is logged once, not every tick, the cursor stays, and
#     after a restart on the same port the events that waited are published (cursor at the end).
# nats-server (scripts/install-deps.sh) is required: without it the test fails.
#
# usage: bash tests/e2e/test_bus.sh /path/to/rapport
# shellcheck disable=SC2119  # rp_stop takes an optional PID
. "$(dirname "$0")/lib.sh"
rp_init "$@"

NATS_SERVER=/usr/sbin/nats-server
[ -x "$NATS_SERVER" ] || fail "$NATS_SERVER is missing (scripts/install-deps.sh installs nats-server)"
DB=$RP_TMP/bus.db
MSGS=$RP_TMP/messages.jsonl
NATS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NATS_PID=

nats_start()
{
    local i
    "$NATS_SERVER" -a 127.0.0.1 -p "$NATS_PORT" >>"$RP_TMP/nats.log" 2>&1 </dev/null &
    NATS_PID=$!
    RP_PIDS+=("$NATS_PID")
    for ((i = 0; i < 200; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && return 0
        rp_alive "$NATS_PID" || fail "nats-server exited: $(tail -n 5 "$RP_TMP/nats.log")"
        sleep 0.05
    done
    fail "nats-server did not accept on port $NATS_PORT within 10 s"
}

nats_stop()
{
    rp_kill9 "$NATS_PID"
}

# wait_for N EXPR: until N lines of the messages file satisfy the Python expression EXPR on m
# (one message), at most 15 s.
wait_for()
{
    local n=$1 expr=$2 i got
    for ((i = 0; i < 150; i++)); do
        got=$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("{"):
        m = json.loads(line)
        n += bool(eval(sys.argv[2]))
print(n)' "$MSGS" "$expr")
        [ "$got" -ge "$n" ] && return 0
        sleep 0.1
    done
    fail "only $got of $n messages with $expr arrived: $(cat "$MSGS")"
}

sql()
{
    sqlite3 -cmd '.timeout 5000' "$DB" "$1"
}

note "nats-server on 127.0.0.1:$NATS_PORT, a subscriber on rapport.> and crm.>"
nats_start
: >"$MSGS"
python3 "$RP_E2E_DIR/bus_sub.py" "$NATS_PORT" "$MSGS" 'rapport.>' 'crm.>' 2>"$RP_TMP/sub.err" &
SUB_PID=$!
RP_PIDS+=("$SUB_PID")
for ((i = 0; i < 100; i++)); do
    grep -q '^ready$' "$MSGS" && break
    sleep 0.05
done
grep -q '^ready$' "$MSGS" || fail "the subscriber did not get ready: $(cat "$RP_TMP/sub.err")"

note "rapport serve --nats"
"$RP_BIN" serve --nats http://127.0.0.1:1 --db "$DB" >/dev/null 2>"$RP_TMP/usage.err"
[ $? = 2 ] || fail "--nats with an http URL must be a usage error"
rp_start "$DB" --nats "nats://127.0.0.1:$NATS_PORT"
TOKEN=$("$RP_BIN" token create admin --name bus --db "$DB" 2>"$RP_TMP/token.err") ||
    fail "rapport token create failed: $(cat "$RP_TMP/token.err")"
RP_TOKEN=$TOKEN
api POST /api/v1/records/lead '{"last_name": "Bus", "company": "NATS Ltd"}'
expect_status 201 "create a lead"
LEAD=$(jget 'd["id"]')
api PATCH "/api/v1/records/lead/$LEAD" '{"title": "CTO"}'
expect_status 200 "update the lead"
api DELETE "/api/v1/records/lead/$LEAD"
expect_status 200 "delete the lead"
for op in create update delete; do
    wait_for 1 "m['subject'] == 'rapport.lead.$op' and m['body']['record_id'] == '$LEAD' and m['msg_id'] == m['body']['id'] == 'evt_%d' % m['body']['seq'] and m['body']['op'] == '$op'"
done

note "a rule's publish action"
api PUT /api/v1/automation/rules/notify \
    '{"object": "lead", "trigger": {"on": "created"}, "actions": [{"type": "publish", "subject": "crm.custom.lead_created", "values": {"name": {"expr": "last_name"}, "source": "web"}}]}'
expect_status 201 "rule notify"
api PUT /api/v1/automation/rules/bad \
    '{"object": "lead", "trigger": {"on": "created"}, "actions": [{"type": "publish", "subject": "crm.>"}]}'
expect_status 422 "a wildcard subject"
api POST /api/v1/records/lead '{"last_name": "Ruled"}'
expect_status 201 "create a lead"
RULED=$(jget 'd["id"]')
wait_for 1 "m['subject'] == 'crm.custom.lead_created' and m['body']['record_id'] == '$RULED' and m['body']['values'] == {'name': 'Ruled', 'source': 'web'} and m['msg_id'] == m['body']['id'] and m['msg_id'].startswith('job:') and m['msg_id'].endswith(':0')"
api GET /metrics
expect_status 200 "metrics"
grep -q '^rapport_bus_connected 1$' <<<"$API_BODY" || fail "metrics: not connected"
PUBLISHED=$(sed -n 's/^rapport_bus_published_total //p' <<<"$API_BODY")
[ "${PUBLISHED:-0}" -ge 5 ] || fail "metrics: rapport_bus_published_total ${PUBLISHED:-missing}, expected at least 5"

note "nats-server stopped: events wait, the outage is logged once"
nats_stop
CURSOR=$(sql "SELECT value FROM rp_setting WHERE key = 'bus.cursor'")
for name in Waiting1 Waiting2; do
    api POST /api/v1/records/lead "{\"last_name\": \"$name\"}"
    expect_status 201 "create a lead during the outage"
done
sleep 1.5 # several dispatcher ticks (200 ms)
[ "$(sql "SELECT value FROM rp_setting WHERE key = 'bus.cursor'")" = "$CURSOR" ] ||
    fail "the bus cursor moved while NATS was down"
n=$(grep -c 'message bus: cannot publish' "$RP_ERR")
[ "$n" = 1 ] || fail "the outage was logged $n times, expected once"

note "nats-server back on the same port: the waiting events are published"
nats_start
LAST=$(sql "SELECT max(seq) FROM rp_change")
for ((i = 0; i < 150; i++)); do
    [ "$(sql "SELECT value FROM rp_setting WHERE key = 'bus.cursor'")" = "$LAST" ] && break
    sleep 0.1
done
[ "$(sql "SELECT value FROM rp_setting WHERE key = 'bus.cursor'")" = "$LAST" ] ||
    fail "the bus cursor did not reach the end of the change log after NATS came back"
grep -q 'message bus: publishing to .* again' "$RP_ERR" || fail "no log line for the end of the outage"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "rapport exited with $RP_STOP_STATUS after SIGTERM"
note "PASS"
