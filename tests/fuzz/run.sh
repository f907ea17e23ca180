#!/bin/sh
# tests/fuzz/run.sh NAME... - runs the libFuzzer harnesses build/fuzz/fuzz_NAME
# (built by `make fuzz-build`; the convention is in the Makefile's fuzz
# section), one after another, each for $FUZZ_SECONDS seconds (default 30)
# or, when FUZZ_RUNS is set, for that many runs.  Each starts from its
# committed seeds (tests/fuzz/corpus/NAME) and what earlier runs found
# (build/fuzz/corpus/NAME), takes the extra flags of tests/fuzz/NAME.options,
# and reports its runs, coverage (edges and features) and corpus size.
# A crash, leak, timeout or sanitizer report fails the run; the input
# that caused it is left in build/fuzz/ (crash-*, leak-*, timeout-*).
# Harnesses run FUZZ_JOBS at a time (default: the number of CPUs), each on
# one core, so that a time budget costs its wall time once per batch.
# Exits 1 if any harness failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
[ $# -gt 0 ] || { echo "usage: tests/fuzz/run.sh NAME..." >&2; exit 2; }
if [ -n "${FUZZ_RUNS:-}" ]; then
    budget="-runs=$FUZZ_RUNS"
else
    budget="-max_total_time=${FUZZ_SECONDS:-30}"
fi
# fuzz_one NAME: runs one harness; its verdict goes to build/fuzz/NAME.verdict
# (first line PASS or FAIL), printed once its batch ends.
fuzz_one() {
    name=$1
    bin=build/fuzz/fuzz_$name
    verdict=build/fuzz/$name.verdict
    if [ ! -x "$bin" ]; then
        echo "FAIL $name: $bin is not built (make fuzz-build)" >"$verdict"
        return
    fi
    mkdir -p "build/fuzz/corpus/$name"
    seeds=tests/fuzz/corpus/$name
    [ -d "$seeds" ] || seeds=
    opts=
    [ -f "tests/fuzz/$name.options" ] && opts=$(cat "tests/fuzz/$name.options")
    log=build/fuzz/$name.log
    # shellcheck disable=SC2086  # options are words
    "$bin" $budget -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix=build/fuzz/ $opts "build/fuzz/corpus/$name" $seeds >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/\1 edges, \2 features, \3 inputs in the corpus/p')
    if [ $rc -eq 0 ]; then
        echo "PASS $name: ${runs:-?} runs, ${cov:-no coverage line}" >"$verdict"
    else
        { echo "FAIL $name: exit $rc after ${runs:-?} runs; see $log"
          grep -m 3 -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | sed 's/^/     | /'
        } >"$verdict"
    fi
}

jobs=${FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
case $jobs in ''|*[!0-9]*|0) jobs=1 ;; esac
mkdir -p build/fuzz
failed=0
while [ $# -gt 0 ]; do
    batch=
    n=0
    while [ $# -gt 0 ] && [ $n -lt "$jobs" ]; do
        fuzz_one "$1" &
        batch="$batch $1"
        n=$((n + 1))
        shift
    done
    wait
    for name in $batch; do
        cat "build/fuzz/$name.verdict"
        head -n 1 "build/fuzz/$name.verdict" | grep -q '^PASS' || failed=1
    done
done
exit $failed
