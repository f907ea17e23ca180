#!/bin/bash
# tests/errors/run.sh TFC - the error tests.
#
# Each case is NAME.model beside NAME.expected, the exact first line tfc
# must print on stderr.  Optional files:
#   NAME.args    one line of extra arguments (split on spaces), e.g. -D dim=770
#   NAME.status  the expected exit status when it is not 1
# Every case runs twice from the repository root: once with -o into a fresh
# temporary folder, which must stay empty (no .c, .h or temporary file left
# behind), and once with --dump-ir instead, which must fail the same way.
# Either run fails the case if stderr mentions a sanitizer report or an
# internal error.  Prints one line per failure and ends with
# "N passed, M failed"; exits 1 when M > 0.

if [ $# -ne 1 ]; then
    echo "usage: tests/errors/run.sh TFC" >&2
    exit 2
fi

case $1 in
/*) tfc=$1 ;;
*) tfc=$PWD/$1 ;;
esac
if [ ! -x "$tfc" ]; then
    echo "run.sh: '$1' is not an executable" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
cd "$root" || exit 2
work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT

# Runs tfc with the given arguments; sets status and leaves stderr in
# $work/err.  The subshell keeps the shell's own "Aborted" notice for a
# crashing tfc out of the report (the status says it).
run_tfc() {
    local limit=
    command -v timeout >/dev/null && limit="timeout 60"
    ($limit "$tfc" "$@" >"$work/out" 2>"$work/err"; exit $?) 2>/dev/null
    status=$?
}

# Checks the last run against the case; prints and returns 1 on a failure.
check_run() {
    local name=$1 mode=$2 want_status=$3 want_line=$4 line
    line=$(head -n 1 "$work/err")
    if [ "$status" -ne "$want_status" ]; then
        echo "FAIL $name ($mode): exit status $status, expected $want_status; stderr: $line"
        return 1
    fi
    if [ "$line" != "$want_line" ]; then
        echo "FAIL $name ($mode): stderr begins"
        echo "    $line"
        echo "  expected"
        echo "    $want_line"
        return 1
    fi
    if grep -q -e AddressSanitizer -e LeakSanitizer -e 'runtime error' -e 'internal error' "$work/err"; then
        echo "FAIL $name ($mode): $(grep -m 1 -e AddressSanitizer -e LeakSanitizer \
            -e 'runtime error' -e 'internal error' "$work/err")"
        return 1
    fi
    return 0
}

passed=0
failed=0
for model in tests/errors/*.model; do
    name=$(basename "$model" .model)
    base=tests/errors/$name
    if [ ! -f "$base.expected" ]; then
        echo "FAIL $name: $base.expected is missing"
        failed=$((failed + 1))
        continue
    fi
    IFS= read -r want_line <"$base.expected"
    want_status=1
    [ -f "$base.status" ] && read -r want_status <"$base.status"
    args=()
    [ -f "$base.args" ] && read -r -a args <"$base.args"

    ok=1
    outdir=$work/out.d
    rm -rf "$outdir" && mkdir "$outdir"
    run_tfc "$model" "${args[@]}" -o "$outdir/$name.c"
    check_run "$name" "-o" "$want_status" "$want_line" || ok=0
    if [ $ok = 1 ] && [ -n "$(ls -A "$outdir")" ]; then
        echo "FAIL $name (-o): left files behind: $(ls -A "$outdir" | tr '\n' ' ')"
        ok=0
    fi
    if [ $ok = 1 ]; then
        run_tfc "$model" "${args[@]}" --dump-ir
        check_run "$name" "--dump-ir" "$want_status" "$want_line" || ok=0
    fi

    if [ $ok = 1 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
