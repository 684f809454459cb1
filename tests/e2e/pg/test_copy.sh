#!/usr/bin/env bash
# End to end: `rapport copy` moves an installation from SQLite to PostgreSQL. A server on a
# SQLite file with the demo data, a custom object and a custom field; a first copy while it
# runs (a snapshot), a write after it, the server stopped; a second copy refused (the
# destination holds data), a --force copy; then `rapport serve --db postgres://...` reads the
# records, the custom field and the late write back over HTTP, with the same admin password.
# Bad input (unknown scheme, missing file, unreachable PostgreSQL, a SQLite destination) gives
# a clear message and a non-zero exit, and changes nothing. Run by ctest under
# tests/helpers/pg.sh, which sets RP_TEST_PG_URL (label pg).
#
# usage: sh tests/helpers/pg.sh run bash tests/e2e/pg/test_copy.sh /path/to/rapport
# shellcheck disable=SC2119  # rp_stop takes an optional PID
. "$(dirname "$0")/../lib.sh"
rp_init "$@"

DB=${RP_TEST_PG_URL:?run under tests/helpers/pg.sh}
SRC=$RP_TMP/src.db
export RAPPORT_LOG=warn

# copy ARGS...: runs rapport copy; COPY_STATUS, COPY_OUT and COPY_ERR (files) are set.
copy()
{
    COPY_OUT=$RP_TMP/copy.out
    COPY_ERR=$RP_TMP/copy.err
    "$RP_BIN" copy "$@" >"$COPY_OUT" 2>"$COPY_ERR"
    COPY_STATUS=$?
}

# expect_copy_error STATUS TEXT WHAT: the last copy failed with STATUS and said TEXT.
expect_copy_error()
{
    [ "$COPY_STATUS" = "$1" ] || fail "$3: exit status $COPY_STATUS, expected $1: $(cat "$COPY_ERR")"
    grep -qF -- "$2" "$COPY_ERR" || fail "$3: stderr does not say '$2': $(cat "$COPY_ERR")"
}

note "a SQLite installation with demo data, a custom object and a custom field"
rp_start "$SRC" --demo
PASSWORD=$RP_ADMIN_PASSWORD
[ -n "$PASSWORD" ] || fail "first start did not print an admin password"
rp_login admin "$PASSWORD"
api POST /api/v1/meta/objects/account/fields '{"name": "erp_code", "type": "text", "label": {"en": "ERP code", "zh": "ERP 编码"}}'
expect_status 201 "custom field"
api POST /api/v1/meta/objects '{"name": "project", "label": {"en": "Project", "zh": "项目"}, "fields": [{"name": "code", "type": "text", "unique": true}, {"name": "budget", "type": "money"}, {"name": "kickoff", "type": "datetime"}, {"name": "active", "type": "bool"}]}'
expect_status 201 "custom object"
api GET '/api/v1/records/account?limit=3&sort=name'
expect_status 200 "list demo accounts"
read -r -a ACCOUNTS <<<"$(jget '" ".join(r["id"] for r in d["data"])')"
[ "${#ACCOUNTS[@]}" = 3 ] || fail "the demo has fewer than 3 accounts"
api PATCH "/api/v1/records/account/${ACCOUNTS[0]}" '{"erp_code": "ERP-上海-001"}'
expect_status 200 "set the custom field"
api POST /api/v1/records/project '{"code": "P-1", "budget": "1234567.8901", "kickoff": "2026-03-01T09:30:00.250Z", "active": true}'
expect_status 201 "custom record"
PROJECT=$(jget 'd["id"]')

note "a first copy while the server runs (a snapshot of the SQLite file)"
copy --from "sqlite:$SRC" --to "$DB"
[ "$COPY_STATUS" = 0 ] || fail "copy beside a running server: $(cat "$COPY_ERR")"
grep -q 'every table verified' "$COPY_OUT" || fail "copy did not report a verification"

note "a write after the copy, the server stopped"
api POST /api/v1/records/project '{"code": "P-LATE", "budget": "1"}'
expect_status 201 "a late record"
LATE=$(jget 'd["id"]')
for id in "${ACCOUNTS[@]}"; do
    api GET "/api/v1/records/account/$id"
    expect_status 200 "read $id on SQLite"
    printf '%s' "$API_BODY" >"$RP_TMP/sqlite.$id.json"
done
api GET "/api/v1/records/project/$PROJECT"
printf '%s' "$API_BODY" >"$RP_TMP/sqlite.project.json"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "serve exited with $RP_STOP_STATUS"

note "a second copy is refused (the destination holds data), then forced"
copy --from "sqlite:$SRC" --to "$DB"
expect_copy_error 1 "--force" "copy onto data"
grep -q 'already holds data' "$COPY_ERR" || fail "the refusal does not say why: $(cat "$COPY_ERR")"
copy --from "$SRC" --to "$DB" --force
[ "$COPY_STATUS" = 0 ] || fail "copy --force: $(cat "$COPY_ERR")"
grep -qE '^account +[0-9]+ +[0-9a-f]{16} +ok$' "$COPY_OUT" || fail "no verified account row: $(cat "$COPY_OUT")"
grep -qE '^project +2 +[0-9a-f]{16} +ok$' "$COPY_OUT" || fail "the custom object's 2 rows not verified: $(cat "$COPY_OUT")"
grep -q MISMATCH "$COPY_OUT" && fail "copy reported a mismatch: $(cat "$COPY_OUT")"

note "serve on PostgreSQL and read everything back"
rp_start "$DB"
[ -z "$RP_ADMIN_PASSWORD" ] || fail "the copied database got a new admin"
rp_login admin "$PASSWORD"
for id in "${ACCOUNTS[@]}"; do
    api GET "/api/v1/records/account/$id"
    expect_status 200 "read $id on PostgreSQL"
    printf '%s' "$API_BODY" >"$RP_TMP/pg.$id.json"
    python3 -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:3]); sys.exit(a!=b)' \
        "$RP_TMP/sqlite.$id.json" "$RP_TMP/pg.$id.json" ||
        fail "account $id differs: $(cat "$RP_TMP/sqlite.$id.json") vs $(cat "$RP_TMP/pg.$id.json")"
done
api GET "/api/v1/records/account/${ACCOUNTS[0]}"
[ "$(jget 'd["erp_code"]')" = "ERP-上海-001" ] || fail "the custom field did not come across"
api GET "/api/v1/records/project/$PROJECT"
expect_status 200 "the custom record"
python3 -c 'import json,sys; a,b=json.load(open(sys.argv[1])),json.loads(sys.argv[2]); sys.exit(a!=b)' \
    "$RP_TMP/sqlite.project.json" "$API_BODY" || fail "the custom record differs: $API_BODY"
[ "$(jget 'd["budget"]')" = "1234567.8901" ] || fail "money did not round-trip: $(jget 'd["budget"]')"
api GET "/api/v1/records/project/$LATE"
expect_status 200 "the write made after the first copy (the forced copy has it)"
api GET '/api/v1/records/account?filter=erp_code%20%3D%20%27ERP-%E4%B8%8A%E6%B5%B7-001%27'
[ "$(jget 'len(d["data"])')" = 1 ] || fail "filter on the custom field found $(jget 'len(d["data"])')"
api POST /api/v1/records/project '{"code": "P-PG", "budget": "2"}'
expect_status 201 "a new record on PostgreSQL (sequences moved past the copied rows)"
api GET '/api/v1/records/project?count=true'
[ "$(jget 'd["total"]["count"]')" = 3 ] || fail "project count $(jget 'd["total"]["count"]') after a new record"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "serve on PostgreSQL exited with $RP_STOP_STATUS"

note "bad input: clear errors, non-zero exit, nothing changed"
copy --from mysql://root@127.0.0.1/crm --to "$DB"
expect_copy_error 2 "--from needs sqlite:FILE" "unknown source scheme"
copy --from "sqlite:$RP_TMP/missing.db" --to "$DB"
expect_copy_error 1 "cannot read source database" "missing source file"
[ -e "$RP_TMP/missing.db" ] && fail "a missing source file was created"
copy --from "$SRC" --to "postgres://rapport@127.0.0.1:1/rapport?connect_timeout=5"
expect_copy_error 1 "could not connect to the PostgreSQL database" "unreachable PostgreSQL"
"$RP_BIN" migrate --db "$RP_TMP/never-served.db" >/dev/null 2>&1 || fail "migrate a new file"
copy --from "$RP_TMP/never-served.db" --to "$DB" --force
expect_copy_error 1 "the source database has no users" "a source never served"
python3 -c 'import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); d.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)"); d.execute("INSERT INTO orders VALUES (1, 9.5)"); d.commit()' "$RP_TMP/shop.db" ||
    fail "could not make another application's SQLite file"
sum_before=$(sha256sum <"$RP_TMP/shop.db")
copy --from "sqlite:$RP_TMP/shop.db" --to "$DB" --force
expect_copy_error 1 "is not a rapport database" "another application's SQLite file"
[ "$(sha256sum <"$RP_TMP/shop.db")" = "$sum_before" ] && [ ! -e "$RP_TMP/shop.db-wal" ] ||
    fail "a refused copy changed the other application's file"
copy --from "$SRC" --to "$RP_TMP/other.db"
expect_copy_error 2 "--to needs a postgres:// or postgresql:// URL" "SQLite destination"
copy --from "$SRC"
expect_copy_error 2 "usage: rapport copy" "no destination"
copy --from "$DB" --to "$DB"
expect_copy_error 2 "--from must be a SQLite database" "PostgreSQL source"
"$RP_BIN" copy --help | grep -q -- '--force' || fail "copy --help does not describe --force"
rp_start "$DB"
rp_login admin "$PASSWORD"
api GET '/api/v1/records/project?count=true'
[ "$(jget 'd["total"]["count"]')" = 3 ] || fail "failed copies changed the destination"
rp_stop
note "ok"
