#!/bin/sh
# tests/passes/run.sh TFC - pass tests: the graph after a pass, exactly.
#
# Each case is NAME.model beside NAME.expected, the output of
# `tfc NAME.model --dump-ir=PASS` without its WEIGHT lines (the first line
# of NAME.expected says which pass: "# after PASS").  The model file's
# comment says what the case checks; the expected graph was read against
# it by hand.  NAME.args, when present, holds extra arguments (one line,
# split on spaces: switches such as -fno-fuse-rope) and NAME.model may be
# another case's model, named on the line "# model OTHER" of NAME.args'
# second line.  A difference prints as a diff.  Prints one line per case and
# "N passed, M failed"; exits 1 when any case failed.
#
#   tests/passes/run.sh ./tfc            check every case
#   tests/passes/run.sh ./tfc --update   rewrite the .expected files (then
#                                        read every change before committing)
set -u
if [ $# -lt 1 ]; then
    echo "usage: tests/passes/run.sh TFC [--update]" >&2
    exit 2
fi
TFC=$1
case $TFC in */*) ;; *) TFC=./$TFC ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
for want in "$HERE"/*.expected; do
    name=$(basename "$want" .expected)
    model=$HERE/$name.model
    args=
    if [ -f "$HERE/$name.args" ]; then
        args=$(sed -n 1p "$HERE/$name.args")
        other=$(sed -n '2s/^# model //p' "$HERE/$name.args")
        [ -n "$other" ] && model=$HERE/$other.model
    fi
    pass=$(sed -n '1s/^# after //p' "$want" 2>/dev/null)
    pass=${pass:-fuse}
    # shellcheck disable=SC2086  # args split on spaces
    { echo "# after $pass"; "$TFC" "$model" $args --dump-ir="$pass" 2>&1 | grep -v ' f32 = WEIGHT '; } >"$tmp/got"
    if [ "${2:-}" = --update ]; then
        cp "$tmp/got" "$want"
        echo "updated $name"
    elif diff -u "$want" "$tmp/got" >"$tmp/diff"; then
        passed=$((passed + 1)); echo "PASS $name"
    else
        failed=$((failed + 1)); echo "FAIL $name"
        sed 's/^/     | /' "$tmp/diff"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
