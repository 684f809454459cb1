#!/usr/bin/env bash
# The lead-to-order loop end to end (issue #5): one lead walked from a public web form to an
# invoice request against a real `rapport serve` on loopback, through the HTTP API only, with
# the dispatcher, job workers and hooks of the running server doing their part. The walk itself
# is tests/e2e/lead_to_order.py; it checks every record, event, audit entry and KPI on the way.
#
# usage: bash tests/e2e/test_lead_to_order.sh /path/to/rapport
. "$(dirname "$0")/lib.sh"
rp_init "$@"

rp_start "$RP_TMP/loop.db"
[ -n "$RP_ADMIN_PASSWORD" ] || fail "the first start printed no admin password"
rp_login admin "$RP_ADMIN_PASSWORD"
note "walking a lead from web form to invoice request on $RP_URL"
python3 "$RP_E2E_DIR/lead_to_order.py" "$RP_URL" "$RP_TOKEN" || fail "the walk failed"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "rapport exited with $RP_STOP_STATUS"
note "ok"
