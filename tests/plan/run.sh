#!/bin/sh
# The memory plan of every shipped model, checked by tests/plan/check_plan.py
# (independent of the planner) at N = 1 and at N = the longest input the
# model takes (every length symbol at once: --seq N caps them all, so an
# encoder-decoder's source and target are both N, or their own maximum
# when that is shorter).
#
#   TFC=./tfc tests/plan/run.sh
#
# PLAN_MAX_RATIO  the largest arena / lower bound allowed (default 1.02)
#
# Prints one line per model and N, then "N passed, M failed"; exits 1 when
# any case failed.
set -u
TFC=${TFC:-./tfc}
PY=${PLAN_PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RATIO=${PLAN_MAX_RATIO:-1.02}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# the checker itself must reject broken plans
if "$TFC" "$ROOT/models/gpt2.model" --plan=json >"$tmp/gpt2.json" &&
   "$PY" "$HERE/check_plan.py" --self-test "$tmp/gpt2.json" >"$tmp/out"; then
    passed=$((passed + 1)); echo "PASS $(cat "$tmp/out")"
else
    failed=$((failed + 1)); echo "FAIL $(cat "$tmp/out" 2>/dev/null)"
fi

for model in "$ROOT"/models/*.model; do
    name=$(basename "$model" .model)
    if ! "$TFC" "$model" --plan=json >"$tmp/full.json" 2>"$tmp/err"; then
        failed=$((failed + 1)); echo "FAIL $name: tfc --plan=json: $(head -n 1 "$tmp/err")"
        continue
    fi
    # fusion changes how the work is done, not how much: the FLOPs agree
    "$TFC" "$model" -fno-fuse --plan=json >"$tmp/unfused.json" 2>/dev/null
    flops="import json, sys; print(json.load(open(sys.argv[1]))['flops'])"
    if [ "$("$PY" -c "$flops" "$tmp/full.json")" = "$("$PY" -c "$flops" "$tmp/unfused.json")" ]; then
        passed=$((passed + 1)); echo "PASS $name: the same FLOPs with and without fusion"
    else
        failed=$((failed + 1)); echo "FAIL $name: FLOPs differ with -fno-fuse"
    fi
    ctx=$("$PY" "$HERE/check_plan.py" --longest "$tmp/full.json")
    for n in 1 "$ctx"; do
        if ! "$TFC" "$model" --seq "$n" --plan=json >"$tmp/plan.json" 2>"$tmp/err"; then
            failed=$((failed + 1)); echo "FAIL $name N=$n: tfc: $(head -n 1 "$tmp/err")"
            continue
        fi
        if "$PY" "$HERE/check_plan.py" "$tmp/plan.json" --length "$n" --full "$tmp/full.json" \
               --max-ratio "$RATIO" >"$tmp/out"; then
            passed=$((passed + 1)); echo "PASS $name N=$n: $(head -n 1 "$tmp/out")"
        else
            failed=$((failed + 1)); echo "FAIL $name N=$n: $(head -n 1 "$tmp/out")"
            sed -n '2,12p' "$tmp/out"
        fi
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
