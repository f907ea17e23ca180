# tests/golden/lib.sh - what the golden suites share; sourced by run.sh and
# families.sh after they set TFC, PYTHON and HERE.
#
# Counters and report lines (PASS, FAIL, SKIP, "N passed, M failed"), the
# preflight (an executable TFC, a Python with torch and numpy), a temporary
# folder removed on exit unless GOLDEN_KEEP=1, and the environment every
# run gets: GOLDEN_THREADS (default 2) and TFC_POISON (default 1: freed
# arena buffers read as NaN, so a wrong reuse of memory fails a case).

passed=0
failed=0
skipped=0

pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }
# Indented detail lines under a failure (first lines of a file).
detail() { sed -n "1,${2:-6}p" "$1" | sed 's/^/     | /'; }

now() { date +%s.%N 2>/dev/null || date +%s; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

finish() {
    [ "$skipped" -gt 0 ] && echo "($skipped skipped)"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] || exit 1
    exit 0
}

# golden_setup NAME: the preflight, then $tmp (named after the suite).
golden_setup() {
    case $TFC in */*) ;; *) TFC=./$TFC ;; esac
    if [ ! -x "$TFC" ]; then
        fail "setup: $TFC is not an executable (build it with make)"
        finish
    fi
    if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
        echo "tests/golden/$1.sh: $PYTHON cannot import torch and numpy" >&2
        echo "0 passed, 1 failed"
        exit 2
    fi
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfc-$1.XXXXXX") || exit 2
    trap golden_cleanup EXIT
    trap 'exit 130' INT TERM HUP
    GOLDEN_THREADS=${GOLDEN_THREADS:-2}
    TFC_POISON=${TFC_POISON:-1}
    export GOLDEN_THREADS TFC_POISON
}

# shellcheck disable=SC2317  # called from the trap
golden_cleanup() {
    if [ "${GOLDEN_KEEP:-}" = 1 ]; then
        echo "(kept $tmp)"
    else
        rm -rf "$tmp"
    fi
}

# random_tokens N VOCAB SEED: N comma-separated ids in 0..VOCAB-1; for N >= 3
# the second and third are VOCAB-1 and 0 (the table's edges).
random_tokens() {
    awk -v n="$1" -v v="$2" -v s="$3" 'BEGIN {
        srand(s)
        for (i = 0; i < n; i++) {
            t = int(rand() * v)
            if (n >= 3 && i == 1) t = v - 1
            if (n >= 3 && i == 2) t = 0
            printf "%s%d", (i ? "," : ""), t
        }
    }'
}

# sanitizer_report FILE: true when FILE holds a sanitizer report.
sanitizer_report() {
    grep -q -e 'AddressSanitizer' -e 'LeakSanitizer' -e 'UndefinedBehaviorSanitizer' \
        -e 'runtime error' "$1"
}
