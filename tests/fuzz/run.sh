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
# Exits 1 if any harness failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
[ $# -gt 0 ] || { echo "usage: tests/fuzz/run.sh NAME..." >&2; exit 2; }
if [ -n "${FUZZ_RUNS:-}" ]; then
    budget="-runs=$FUZZ_RUNS"
else
    budget="-max_total_time=${FUZZ_SECONDS:-30}"
fi
failed=0
for name in "$@"; do
    bin=build/fuzz/fuzz_$name
    if [ ! -x "$bin" ]; then
        echo "FAIL $name: $bin is not built (make fuzz-build)"
        failed=1
        continue
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
        echo "PASS $name: ${runs:-?} runs, ${cov:-no coverage line}"
    else
        echo "FAIL $name: exit $rc after ${runs:-?} runs; see $log"
        grep -m 3 -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | sed 's/^/     | /'
        failed=1
    fi
done
exit $failed
