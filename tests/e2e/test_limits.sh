#!/usr/bin/env bash
# Admission control over real sockets, with `rapport serve` options set low so
# that each limit is reached quickly (tests/e2e/slow_clients.py does the
# misbehaving; other loopback addresses, 127.0.0.2 and up, play other clients):
#   - per-address connections (--max-per-ip 20): 60 slow connections from
#     127.0.0.1 trickling header lines; those past 20 are closed at once, and a
#     normal client at 127.0.0.2 gets every one of its requests answered 200;
#   - the header deadline (--header-timeout 3): the 20 held connections keep
#     sending a header line every 0.5 s, so no inactivity timeout applies, and
#     are closed all the same;
#   - idle connections (--conn-timeout 2) are closed by the server;
#   - a body trickled byte by byte (--body-timeout 3) is cut off unanswered;
#   - requests in flight (--max-inflight 4): four uploads held open make a
#     fifth request a 503 problem+json with Retry-After, and closing them
#     brings back 200;
#   - the rate limit (--rate-limit 0.2 --rate-burst 5): 429 rate_limited with
#     Retry-After once the burst is spent, while another address is served;
#   - option checks: bad values are usage errors (exit 2).
#
# usage: bash tests/e2e/test_limits.sh /path/to/rapport
# shellcheck disable=SC2119  # rp_stop takes an optional PID
. "$(dirname "$0")/lib.sh"
rp_init "$@"

SLOW=$RP_E2E_DIR/slow_clients.py
DB=$RP_TMP/limits.db

check()
{
    local what=$1 expr=$2 file=$3
    [ "$(jget "$expr" "$file")" = true ] || fail "$what: $(cat "$file")"
}

note "option checks"
for bad in "--max-per-ip 0" "--max-inflight x" "--rate-limit -1" "--conn-timeout 1.5" \
    "--shutdown-timeout" "--rate-burst 0"; do
    # shellcheck disable=SC2086  # the option and its value are two words
    "$RP_BIN" serve --db "$RP_TMP/never.db" $bad >/dev/null 2>"$RP_TMP/usage.err"
    st=$?
    [ "$st" = 2 ] || fail "serve $bad: exit $st, not 2"
    grep -q -- "${bad%% *}" "$RP_TMP/usage.err" || fail "serve $bad: error does not name the option"
done
[ ! -e "$RP_TMP/never.db" ] || fail "a usage error created the database"

rp_start "$DB" --max-per-ip 20 --conn-timeout 2 --header-timeout 3 --body-timeout 3 --max-inflight 4

note "60 slowloris connections from 127.0.0.1, a normal client at 127.0.0.2"
python3 "$SLOW" slowloris --port "$RP_PORT" --from 127.0.0.1 --count 60 --seconds 7 \
    --probe-from 127.0.0.2 --probes 40 >"$RP_TMP/slowloris.json" || fail "slowloris script failed"
printf '   %s\n' "$(cat "$RP_TMP/slowloris.json")"
check "per-address limit" 'd["held"] <= 20 and d["closed_at_once"] >= 40' "$RP_TMP/slowloris.json"
check "normal client during slowloris" 'd["probe_ok"] == d["probe_total"] == 40' "$RP_TMP/slowloris.json"
check "header deadline" 'd["held"] > 0 and d["still_open_after"] == 0' "$RP_TMP/slowloris.json"

note "an idle connection is closed after --conn-timeout"
python3 "$SLOW" idle --port "$RP_PORT" --from 127.0.0.3 --max-wait 20 >"$RP_TMP/idle.json" ||
    fail "idle script failed"
printf '   %s\n' "$(cat "$RP_TMP/idle.json")"
check "idle timeout" 'd["closed"] and 1 <= d["seconds"] <= 10' "$RP_TMP/idle.json"

note "a body trickled one byte every 0.5 s is cut off after --body-timeout"
python3 "$SLOW" slowbody --port "$RP_PORT" --from 127.0.0.4 --max-wait 30 >"$RP_TMP/body.json" ||
    fail "slowbody script failed"
printf '   %s\n' "$(cat "$RP_TMP/body.json")"
check "body timeout" 'd["closed"] and d["answer"] == "" and 2.5 <= d["seconds"] <= 15 and d["sent"] < 200' \
    "$RP_TMP/body.json"

note "past --max-inflight: 503 overloaded with Retry-After, then served again"
python3 "$SLOW" inflight --port "$RP_PORT" --from 127.0.0.5 --hold 4 >"$RP_TMP/inflight.json" ||
    fail "inflight script failed"
printf '   %s\n' "$(cat "$RP_TMP/inflight.json")"
check "in-flight bound" 'd["refused"]["status"] == 503 and d["refused"]["retry_after"] == "1" and d["refused"]["code"] == "overloaded" and d["refused"]["content_type"] == "application/problem+json"' \
    "$RP_TMP/inflight.json"
check "after the in-flight requests end" 'd["after_release"] == 200' "$RP_TMP/inflight.json"
api GET /readyz
expect_status 200 "readyz after the limits"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "exit status $RP_STOP_STATUS"

note "--rate-limit 0.2 --rate-burst 5: 429 with Retry-After, other clients unaffected"
rp_start "$DB" --rate-limit 0.2 --rate-burst 5
n429=0
for ((i = 0; i < 12; i++)); do
    api GET /healthz
    if [ "$API_STATUS" = 429 ]; then
        n429=$((n429 + 1))
        [ "$(hdr Retry-After)" -ge 1 ] 2>/dev/null || fail "429 without a Retry-After in seconds"
        [ "$(jget 'd["code"]')" = rate_limited ] || fail "429 with code $(jget 'd["code"]')"
        [ "$(hdr Content-Type)" = application/problem+json ] || fail "429 is not problem+json"
    else
        expect_status 200 "healthz under the rate limit"
    fi
done
# 12 requests against a burst of 5 and one more every 5 s: even on a slow machine several are refused
[ "$n429" -ge 3 ] || fail "only $n429 of 12 requests were rate limited"
api GET /healthz "" --interface 127.0.0.2
expect_status 200 "another address under the rate limit"
RP_TOKEN=some-token-of-another-client
api GET /healthz
expect_status 200 "another token from the same address"
RP_TOKEN=
note "$n429 of 12 requests refused with 429"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "exit status $RP_STOP_STATUS"
note "PASS"
