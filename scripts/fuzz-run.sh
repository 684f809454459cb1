#!/bin/sh
# Runs the libFuzzer targets of build/fuzz (cmake --preset fuzz) for SECONDS each, JOBS at a
# time, with ASan and UBSan; exits 1 if any target crashed, leaked, timed out or failed to
# start. Each target starts from its committed corpus (tests/fuzz/corpus/NAME). New inputs go
# to build/fuzz/new/NAME, or into the committed corpus with --grow (`make fuzz`); crash inputs
# go to build/fuzz/artifacts/NAME/ and the output to build/fuzz/logs/NAME.log.
#
#   scripts/fuzz-run.sh [--grow] SECONDS JOBS TARGET...
set -eu
cd "$(dirname "$0")/.."

grow=0
if [ "${1:-}" = "--grow" ]; then
    grow=1
    shift
fi
if [ $# -lt 3 ]; then
    echo "usage: scripts/fuzz-run.sh [--grow] SECONDS JOBS TARGET..." >&2
    exit 2
fi
seconds=$1
jobs=$2
shift 2

run_one() {
    t=$1
    name=${t#fuzz_}
    corpus=tests/fuzz/corpus/$name
    log=build/fuzz/logs/$name.log
    mkdir -p "$corpus" build/fuzz/logs "build/fuzz/artifacts/$name" "build/fuzz/new/$name"
    if [ "$grow" = 1 ]; then
        dirs="$corpus"
    else
        dirs="build/fuzz/new/$name $corpus"
    fi
    # shellcheck disable=SC2086 # dirs is a list of directories without spaces
    if "build/fuzz/tests/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$name/" $dirs \
        >"$log" 2>&1; then
        echo "ok   $t: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" |
            sed -E 's/^#([0-9]+)[[:space:]]+DONE +(cov: [0-9]+ ft: [0-9]+).*exec\/s: ([0-9]+).*/\1 runs, \2, \3 exec\/s/')"
    else
        echo "FAIL $t (log: $log, inputs: build/fuzz/artifacts/$name/)"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20
        return 1
    fi
}

failed=0
pids=""
running=0
for t in "$@"; do
    run_one "$t" &
    pids="$pids $!"
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        for p in $pids; do
            wait "$p" || failed=1
        done
        pids=""
        running=0
    fi
done
for p in $pids; do
    wait "$p" || failed=1
done
exit $failed
