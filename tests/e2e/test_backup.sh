#!/usr/bin/env bash
# Backups under write load, and restore.
#
# A server runs while crash_writer.py's writers (keep-alive connections creating, updating with
# If-Match and deleting their own accounts, one of them sending atomic batches) keep writing.
# Meanwhile `rapport backup` takes RP_BACKUP_COUNT (10) online backups, and each is restored with
# `rapport restore BACKUP --db TARGET` into a fresh file. Once the writers stop, every restored
# file must:
#   - pass PRAGMA integrity_check and be at the schema version of this build;
#   - hold every account acknowledged before its backup started, each in one of the states the
#     writers were acknowledged (or had in flight), and no account the writers never wrote;
#   - have, for every account present, exactly `version` entries in rp_change and rp_audit, the
#     first a create and the last matching its row (crash_writer.py verify-db --history);
#   - answer over HTTP: a server started on the last one lists as many live accounts as its
#     table holds.
# It also checks what restore refuses: a non-empty target without --force (exit 1, untouched),
# a file that is not a database, a damaged backup, and a usage error (exit 2).
#
# usage: bash tests/e2e/test_backup.sh /path/to/rapport
# env:   RP_BACKUP_COUNT (default 10), RP_BACKUP_THREADS (4)
# shellcheck disable=SC2119,SC2034  # rp_stop takes an optional PID; lib.sh reads RP_TOKEN
. "$(dirname "$0")/lib.sh"
rp_init "$@"

COUNT=${RP_BACKUP_COUNT:-10}
THREADS=${RP_BACKUP_THREADS:-4}
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || fail "RP_BACKUP_COUNT must be a positive number, not '$COUNT'"
WRITER=$RP_E2E_DIR/crash_writer.py
DB=$RP_TMP/live.db
WFILE=$RP_TMP/acked.jsonl

note "backup test: $COUNT backups under $THREADS writers"
rp_start "$DB"
[ -n "$RP_ADMIN_PASSWORD" ] || fail "first start printed no admin password"
TOKEN=$("$RP_BIN" token create admin --name backup --db "$DB" 2>"$RP_TMP/token.err") ||
    fail "rapport token create failed: $(cat "$RP_TMP/token.err")"
RP_TOKEN=$TOKEN # read by api (lib.sh)
VERSION=$(sqlite3 "$DB" 'PRAGMA user_version')

python3 "$WRITER" write --port "$RP_PORT" --token "$TOKEN" --prefix bk --out "$WFILE" \
    --threads "$THREADS" --batch-threads 1 --max-seconds 300 \
    >"$WFILE.summary" 2>"$WFILE.err" &
WPID=$!
RP_PIDS+=("$WPID")

# Waits until the writers have acknowledged at least N writes (bounded).
wait_acks()
{
    local n=$1 i
    for ((i = 0; i < 600; i++)); do
        [ -f "$WFILE" ] && [ "$(wc -l <"$WFILE")" -ge "$n" ] && return 0
        rp_alive "$WPID" || fail "the writers ended early: $(cat "$WFILE.summary" "$WFILE.err")"
        sleep 0.05
    done
    fail "the writers acknowledged fewer than $n writes in 30 s"
}

for ((i = 1; i <= COUNT; i++)); do
    wait_acks $((i * 40))
    # Everything acknowledged before the backup starts must be in it (whole lines only).
    head -n "$(wc -l <"$WFILE")" "$WFILE" >"$RP_TMP/before-$i.jsonl"
    "$RP_BIN" backup "$RP_TMP/b$i.bak" --db "$DB" >"$RP_TMP/backup.out" 2>"$RP_TMP/backup.err" ||
        fail "backup $i under load failed: $(cat "$RP_TMP/backup.err")"
    "$RP_BIN" restore "$RP_TMP/b$i.bak" --db "$RP_TMP/r$i.db" >"$RP_TMP/restore.out" \
        2>"$RP_TMP/restore.err" || fail "restore $i failed: $(cat "$RP_TMP/restore.err")"
    grep -q "^restored .*schema version $VERSION" "$RP_TMP/restore.out" ||
        fail "restore $i said: $(cat "$RP_TMP/restore.out")"
    printf '   backup %d: %d writes acknowledged before it, %s accounts in it\n' "$i" \
        "$(wc -l <"$RP_TMP/before-$i.jsonl")" "$(sqlite3 "$RP_TMP/r$i.db" 'SELECT count(*) FROM account')"
done

note "stopping the writers"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "rapport exited with $RP_STOP_STATUS after SIGTERM under load"
rp_wait_exit "$WPID" 30 || fail "the writers did not stop within 30 s of the server"
wait "$WPID" || fail "crash_writer.py failed: $(cat "$WFILE.err")"
rp_forget_pid "$WPID"
printf '   writers: %s\n' "$(cat "$WFILE.summary")"
[ "$(jget 'd["unexpected"]' "$WFILE.summary")" = '[]' ] ||
    fail "writes answered with unexpected statuses: $(jget 'd["unexpected"]' "$WFILE.summary")"

note "checking the $COUNT restored databases"
for ((i = 1; i <= COUNT; i++)); do
    r=$RP_TMP/r$i.db
    [ "$(sqlite3 "$r" 'PRAGMA integrity_check')" = ok ] || fail "restored $i: integrity_check"
    [ "$(sqlite3 "$r" 'PRAGMA user_version')" = "$VERSION" ] || fail "restored $i: schema version"
    out=$(python3 "$WRITER" verify-db --db "$r" --history "$WFILE" -- "$RP_TMP/before-$i.jsonl") ||
        fail "restored $i is incomplete or inconsistent: $out"
    printf '   restored %d: %s\n' "$i" "$out"
done

note "a server on the last restored database"
LAST=$RP_TMP/r$COUNT.db
LIVE=$(sqlite3 "$LAST" 'SELECT count(*) FROM account WHERE deleted_at IS NULL')
rp_start "$LAST"
[ -z "$RP_ADMIN_PASSWORD" ] || fail "a restored database got new admin credentials"
api GET '/api/v1/records/account?count=true&limit=1'
expect_status 200 "list on the restored database"
# list totals are exact up to 10,000 (RP_LIMIT_COUNT_EXACT), then capped and marked inexact;
# how many accounts the writers made depends on the machine's speed
CAP=10000
WANT_COUNT=$((LIVE < CAP ? LIVE : CAP))
WANT_EXACT=$([ "$LIVE" -le "$CAP" ] && echo true || echo false)
[ "$(jget 'd["total"]["count"]')/$(jget 'd["total"]["exact"]')" = "$WANT_COUNT/$WANT_EXACT" ] ||
    fail "the API counts $(jget 'd["total"]["count"]') accounts (exact: $(jget 'd["total"]["exact"]')), the file $LIVE"
rp_stop
[ "$RP_STOP_STATUS" = 0 ] || fail "rapport exited with $RP_STOP_STATUS"

note "what restore refuses"
SUM=$(sqlite3 "$RP_TMP/r1.db" 'SELECT count(*), max(seq) FROM rp_change')
"$RP_BIN" restore "$RP_TMP/b$COUNT.bak" --db "$RP_TMP/r1.db" >/dev/null 2>"$RP_TMP/refuse.err"
st=$?
[ "$st" = 1 ] || fail "restore over a non-empty database exited $st, not 1"
grep -q -- "--force" "$RP_TMP/refuse.err" || fail "the refusal does not mention --force: $(cat "$RP_TMP/refuse.err")"
[ "$(sqlite3 "$RP_TMP/r1.db" 'SELECT count(*), max(seq) FROM rp_change')" = "$SUM" ] ||
    fail "a refused restore changed the target"
"$RP_BIN" restore "$RP_TMP/b$COUNT.bak" --db "$RP_TMP/r1.db" --force >/dev/null 2>"$RP_TMP/force.err" ||
    fail "restore --force failed: $(cat "$RP_TMP/force.err")"
[ "$(sqlite3 "$RP_TMP/r1.db" 'SELECT count(*), max(seq) FROM rp_change')" = \
    "$(sqlite3 "$RP_TMP/b$COUNT.bak" 'SELECT count(*), max(seq) FROM rp_change')" ] ||
    fail "restore --force did not replace the target"
head -c 4096 /dev/urandom >"$RP_TMP/junk.bak"
"$RP_BIN" restore "$RP_TMP/junk.bak" --db "$RP_TMP/new1.db" >/dev/null 2>"$RP_TMP/junk.err" &&
    fail "restore accepted a file that is not a database"
# A backup damaged in the middle: its header still says SQLite, its pages do not add up.
cp "$RP_TMP/b$COUNT.bak" "$RP_TMP/damaged.bak"
SIZE=$(stat -c %s "$RP_TMP/damaged.bak")
dd if=/dev/urandom of="$RP_TMP/damaged.bak" bs=4096 seek=$((SIZE / 4096 / 2)) count=4 conv=notrunc \
    2>/dev/null
"$RP_BIN" restore "$RP_TMP/damaged.bak" --db "$RP_TMP/new2.db" >/dev/null 2>"$RP_TMP/damaged.err" &&
    fail "restore accepted a damaged backup"
[ ! -s "$RP_TMP/new2.db" ] || [ "$(sqlite3 "$RP_TMP/new2.db" 'SELECT count(*) FROM sqlite_master')" = 0 ] ||
    fail "a refused restore wrote the target"
"$RP_BIN" restore >/dev/null 2>&1
st=$?
[ "$st" = 2 ] || fail "restore without a backup exited $st, not 2"
printf '   refused: non-empty target (%s), junk (%s), damage (%s)\n' \
    "$(head -n1 "$RP_TMP/refuse.err")" "$(head -n1 "$RP_TMP/junk.err")" "$(head -n1 "$RP_TMP/damaged.err")"

note "ok"
