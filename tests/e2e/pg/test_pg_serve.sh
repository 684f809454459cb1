#!/usr/bin/env bash
# End to end on PostgreSQL: `rapport migrate` on an empty database and again (nothing to
# do), `rapport serve --db postgres://...` on loopback (first start prints the admin), the
# record life cycle and a Chinese full-text search over HTTP, the CLI beside the running
# server, a restart on the same database. Run by ctest under tests/helpers/pg.sh, which
# sets RP_TEST_PG_URL (label pg; it fails, never skips, without PostgreSQL).
#
# usage: sh tests/helpers/pg.sh run bash tests/e2e/pg/test_pg_serve.sh /path/to/rapport
# shellcheck disable=SC2119  # rp_stop takes an optional PID
. "$(dirname "$0")/../lib.sh"
rp_init "$@"

DB=${RP_TEST_PG_URL:?run under tests/helpers/pg.sh}

note "migrate an empty database, then again"
"$RP_BIN" migrate --db "$DB" >"$RP_TMP/m1.out" 2>&1 || fail "migrate: $(cat "$RP_TMP/m1.out")"
"$RP_BIN" migrate --db "$DB" >"$RP_TMP/m2.out" 2>&1 || fail "second migrate: $(cat "$RP_TMP/m2.out")"
grep -q 'applied migration' "$RP_TMP/m2.out" && fail "second migrate applied steps again"

note "serve on PostgreSQL"
rp_start "$DB"
[ -n "$RP_ADMIN_PASSWORD" ] || fail "first start did not print an admin password"
PASSWORD=$RP_ADMIN_PASSWORD
rp_login admin "$PASSWORD"

api POST /api/v1/records/contact '{"last_name":"张","first_name":"浩然","email":"hr@example.cn"}'
expect_status 201 "create a contact"
ID=$(jget 'd["id"]')
api GET "/api/v1/records/contact/$ID"
expect_status 200 "read it back"
[ "$(jget 'd["last_name"]')" = "张" ] || fail "last_name did not round-trip"
api GET "/api/v1/records/contact?q=%E5%BC%A0%E6%B5%A9%E7%84%B6"
expect_status 200 "search 张浩然"
[ "$(jget 'len(d["data"])')" = 1 ] || fail "search for 张浩然 found $(jget 'len(d["data"])') records"
api POST /api/v1/records/contact '{"last_name":"Smith","first_name":"John"}'
expect_status 201 "create a second contact"
api GET "/api/v1/records/contact?q=smi"
expect_status 200 "search by a Latin prefix"
[ "$(jget 'len(d["data"])')" = 1 ] || fail "search for smi found $(jget 'len(d["data"])') records"
api PATCH "/api/v1/records/contact/$ID" '{"title":"CTO"}' -H 'If-Match: "1"'
expect_status 200 "update"
api GET "/api/v1/changes?after=0"
expect_status 200 "change feed"
[ "$(jget 'len(d["data"])')" = 3 ] || fail "change feed has $(jget 'len(d["data"])') events, expected 3"

note "the CLI beside the running server"
printf 'correct horse battery staple\n' | "$RP_BIN" user add e2e_pg --db "$DB" >"$RP_TMP/u.out" 2>&1 ||
    fail "user add: $(cat "$RP_TMP/u.out")"
"$RP_BIN" user list --db "$DB" >"$RP_TMP/ul.out" 2>&1 || fail "user list: $(cat "$RP_TMP/ul.out")"
grep -q e2e_pg "$RP_TMP/ul.out" || fail "user list does not show the new user"
rp_login e2e_pg 'correct horse battery staple'

note "restart on the same database"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "serve exited with $RP_STOP_STATUS"
rp_start "$DB"
[ -z "$RP_ADMIN_PASSWORD" ] || fail "a restart printed a new admin password"
rp_login admin "$PASSWORD"
api GET "/api/v1/records/contact/$ID"
expect_status 200 "the record survives a restart"
[ "$(jget 'd["title"]')" = "CTO" ] || fail "the update did not survive"
rp_stop
note "ok"
