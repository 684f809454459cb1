#!/bin/sh
# A throwaway PostgreSQL 15 server for tests.
#
#   pg.sh run COMMAND [ARG...]
#
# initdb's a cluster in a new temporary directory, starts it on 127.0.0.1 with a free port and
# its socket in that directory, creates the database "rapport", runs COMMAND with
# RP_TEST_PG_URL=postgres://rapport@127.0.0.1:PORT/rapport in its environment, then stops the
# server by its own PID and removes the directory, whatever way COMMAND or this script ends
# (trap, and a watchdog for SIGKILL). Exits with COMMAND's status, or 1 when the server
# cannot be started: tests that need PostgreSQL fail, never skip.
#
# PostgreSQL refuses to run as root. As root, the server runs as "nobody" (present on every
# Debian system); if there is no such user, a system user "rapport-pg" is created once.
# PG_BIN names the server's binaries (default: Debian's postgresql-15); PG_OPTS its settings
# (default: fsync and full-page writes off).
set -eu

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# Server settings; tests need no durability, benchmarks set PG_OPTS to keep it.
PG_OPTS=${PG_OPTS:--c fsync=off -c full_page_writes=off}

if [ "${1:-}" != run ] || [ $# -lt 2 ]; then
    echo "usage: pg.sh run COMMAND [ARG...]" >&2
    exit 2
fi
shift

for b in initdb pg_ctl postgres; do
    if [ ! -x "$PG_BIN/$b" ]; then
        echo "pg.sh: $PG_BIN/$b not found; install postgresql-15 (scripts/install-deps.sh)" >&2
        exit 1
    fi
done

as_owner() {
    if [ -n "$RUN_AS" ]; then
        runuser -u "$RUN_AS" -- "$@"
    else
        "$@"
    fi
}

RUN_AS=""
if [ "$(id -u)" -eq 0 ]; then
    if id nobody >/dev/null 2>&1; then
        RUN_AS=nobody
    else
        id rapport-pg >/dev/null 2>&1 || useradd --system --no-create-home rapport-pg
        RUN_AS=rapport-pg
    fi
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rapport-pg-XXXXXX")
PID=""

stop() {
    # By the postmaster's own PID, never by name: other clusters may run on this machine.
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -INT "$PID" 2>/dev/null || true
        n=0
        while kill -0 "$PID" 2>/dev/null && [ $n -lt 100 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        kill -KILL "$PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

chmod 700 "$DIR"
[ -n "$RUN_AS" ] && chown "$RUN_AS" "$DIR"

if ! as_owner "$PG_BIN/initdb" -D "$DIR/data" -U rapport -A trust -E UTF8 --locale=C.UTF-8 \
    >"$DIR/initdb.log" 2>&1; then
    echo "pg.sh: initdb failed:" >&2
    cat "$DIR/initdb.log" >&2
    exit 1
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A free port may be taken between asking and listening: try a few.
started=""
for attempt in 1 2 3; do
    PORT=$(free_port)
    if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR $PG_OPTS" \
        start >/dev/null 2>&1; then
        started=1
        break
    fi
done
if [ -z "$started" ]; then
    echo "pg.sh: could not start PostgreSQL:" >&2
    cat "$DIR/server.log" >&2 || true
    exit 1
fi
PID=$(head -1 "$DIR/data/postmaster.pid")

# A trap does not run when this script is killed with SIGKILL (a ctest timeout): a watchdog
# in its own session (so a kill of this process group spares it) stops the server then, by
# its PID, once this script's process is gone, and removes the directory.
setsid sh -c '
    while kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; do
        sleep 1
    done
    ours() { tr "\\0" " " <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"; }
    if ours "$2" "$3"; then # still our server, not a process that reused its PID
        kill -INT "$2" 2>/dev/null
        n=0
        while ours "$2" "$3" && [ $n -lt 100 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        ours "$2" "$3" && kill -KILL "$2" 2>/dev/null
    fi
    rm -rf "$3"
' watchdog "$$" "$PID" "$DIR" </dev/null >/dev/null 2>&1 &

if ! as_owner "$PG_BIN/psql" -h 127.0.0.1 -p "$PORT" -U rapport -d postgres -q \
    -c "CREATE DATABASE rapport" >"$DIR/createdb.log" 2>&1; then
    echo "pg.sh: could not create the database:" >&2
    cat "$DIR/createdb.log" >&2
    exit 1
fi

RP_TEST_PG_URL="postgres://rapport@127.0.0.1:$PORT/rapport"
export RP_TEST_PG_URL
set +e
"$@"
status=$?
set -e
exit $status
