#!/bin/sh
# The --report page of every shipped model: checked against tfc's own plans
# (tests/report/check_report.py), its scaling formulas against the model
# compiled at every point of its charts (check_scaling.py), then opened in
# headless Chromium, which must render it (a screenshot is written) with
# nothing on its console.  tests/report/attention.sh (sourced) adds pages
# made with weights: the attention a run records against PyTorch's, and
# their rendering.
#
#   TFC=./tfc tests/report/run.sh
#
# REPORT_SCREENSHOTS=DIR keeps the screenshots there (model.png).
# Prints one line per check, then "N passed, M failed"; exits 1 when any
# check failed.
set -u
TFC=${TFC:-./tfc}
PY=${PLAN_PYTHON:-python3}
CHROMIUM=${CHROMIUM:-chromium}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# the page, all or nothing: a model with an error leaves no file behind
printf 'model broken\nconfig dim = \n' >"$tmp/broken.model"
if ! "$TFC" "$tmp/broken.model" --report "$tmp/broken.html" 2>/dev/null && [ ! -e "$tmp/broken.html" ]; then
    pass "a model that does not compile writes no page"
else
    fail "a model that does not compile wrote a page (or tfc succeeded)"
fi
if "$TFC" "$ROOT/models/gpt2.model" --report "$tmp/x.html" --plan 2>/dev/null; then
    fail "--report with --plan was accepted"
else
    pass "--report with --plan is refused"
fi

# Chromium renders path (file://) into shot: a screenshot and an empty
# console, or the reason it did not.
render() {
    rm -rf "$tmp/profile"
    timeout 120 "$CHROMIUM" --headless --disable-gpu --no-sandbox --no-first-run \
        --user-data-dir="$tmp/profile" --hide-scrollbars --window-size=1440,2600 \
        --screenshot="$2" --enable-logging=stderr --v=0 "file://$1" >"$tmp/chromium.out" 2>"$tmp/chromium.err"
    rc=$?
    if [ $rc -ne 0 ]; then echo "chromium exited with $rc: $(grep -v dbus "$tmp/chromium.err" | tail -n 2)"; return 1; fi
    if [ ! -s "$2" ]; then echo "no screenshot"; return 1; fi
    if grep -q ':CONSOLE' "$tmp/chromium.err"; then echo "console: $(grep ':CONSOLE' "$tmp/chromium.err" | head -n 2)"; return 1; fi
    return 0
}

command -v "$CHROMIUM" >/dev/null 2>&1 || { fail "no $CHROMIUM (tools/deps.sh test installs it)"; CHROMIUM=; }
# the checker itself must see a console error
if [ -n "$CHROMIUM" ]; then
    printf '<!DOCTYPE html><p>x<script>console.error("planted")</script>' >"$tmp/bad.html"
    if render "$tmp/bad.html" "$tmp/bad.png" >/dev/null; then
        fail "a planted console error went unseen"
    else
        pass "a planted console error is seen"
    fi
fi

for model in "$ROOT"/models/*.model; do
    name=$(basename "$model" .model)
    page="$tmp/$name.html"
    if ! "$TFC" "$model" --report "$page" 2>"$tmp/err" || ! "$TFC" "$model" --plan=json >"$tmp/full.json" 2>>"$tmp/err" ||
       ! "$TFC" "$model" --seq 16 --plan=json >"$tmp/p16.json" 2>>"$tmp/err" ||
       ! "$TFC" "$model" --seq 64 --plan=json >"$tmp/p64.json" 2>>"$tmp/err"; then
        fail "$name: tfc: $(head -n 1 "$tmp/err")"
        continue
    fi
    max=""
    [ "$name" = gpt2 ] && max="--max-bytes 2000000"
    # shellcheck disable=SC2086
    if "$PY" "$HERE/check_report.py" "$page" "$tmp/full.json" --seq 16 "$tmp/p16.json" \
           --seq 64 "$tmp/p64.json" $max >"$tmp/out"; then
        pass "$(cat "$tmp/out")"
    else
        fail "$name: $(head -n 1 "$tmp/out")"; sed -n '2,10p' "$tmp/out"
    fi
    if "$PY" "$HERE/check_scaling.py" "$TFC" "$model" "$page" >"$tmp/out"; then
        pass "$(cat "$tmp/out")"
    else
        fail "$name: $(head -n 1 "$tmp/out")"; sed -n '2,10p' "$tmp/out"
    fi
    [ -n "$CHROMIUM" ] || continue
    shot="$tmp/$name.png"
    [ -n "${REPORT_SCREENSHOTS:-}" ] && shot="$REPORT_SCREENSHOTS/$name.png"
    if why=$(render "$page" "$shot"); then
        pass "$name: Chromium rendered the page, no console messages"
    else
        fail "$name: Chromium: $why"
    fi
done
. "$HERE/attention.sh"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
