#!/bin/sh
# Installs the Debian packages Rapport needs to build, test and run, but only
# those that are missing. Safe to run repeatedly; used by `make run` and `make test`.
# RP_EXTRA_PACKAGES adds more (`make fuzz` adds clang and its libFuzzer runtime).
set -eu

PACKAGES="build-essential cmake pkg-config clang-format
libmicrohttpd-dev libjansson-dev libsqlite3-dev libsodium-dev libcmocka-dev libcurl4-openssl-dev libnats-dev libhpdf-dev libutf8proc-dev liblinear-dev tzdata
postgresql-15 libpq-dev
sqlite3 curl wrk python3 nats-server chromium fonts-noto-cjk ${RP_EXTRA_PACKAGES:-}"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# nodejs and npm build the web UI. They are looked for as commands, because a machine may have
# them from another source: a NodeSource nodejs bundles npm and conflicts with Debian's npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
    echo "installing:$missing"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
