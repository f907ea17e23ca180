# tests/golden/lib.sh - what the golden suites share; sourced by run.sh and
# families.sh after they set TFC, PYTHON and HERE.
#
# Counters and report lines (PASS, FAIL, SKIP, "N passed, M failed"), the
# preflight (an executable TFC, a Python with torch and numpy), a temporary
# folder removed on exit unless GOLDEN_KEEP=1, and the environment every
# run gets: GOLDEN_THREADS (default 2) and TFC_POISON (default 1: freed
# arena buffers read as NaN, so a wrong reuse of memory fails a case);
# ref_make (ref_cache.sh), which makes each reference once a build.

. "$HERE/ref_cache.sh"

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

# run_tfc ARGS...: tfc ARGS within $TIMEOUT seconds, its output in
# $tmp/stdout.txt and $tmp/err.txt; sets rc and took.
run_tfc() {
    t0=$(now)
    timeout "$TIMEOUT" "$TFC" "$@" >"$tmp/stdout.txt" 2>"$tmp/err.txt"
    rc=$?
    took=$(elapsed "$t0")
}

# judge_output LABEL SHOWN COMPARE...: the verdict on a run_tfc that had to
# succeed: exit 0, no sanitizer report, and COMPARE (a command printing one
# line ending in "; PASS" or "; FAIL", exit 0 within tolerance) passing.
# SHOWN is the command line printed when tfc failed.
judge_output() {
    label=$1 shown=$2
    shift 2
    if [ "$rc" -ne 0 ]; then
        if [ "$rc" -eq 124 ]; then why="timed out after ${TIMEOUT}s"
        elif [ "$rc" -ge 128 ]; then why="killed by signal $((rc - 128))"
        else why="exit status $rc"; fi
        fail "$label: tfc failed, $why ($took)"
        echo "     | $shown"
        detail "$tmp/err.txt" 8
        return
    fi
    if sanitizer_report "$tmp/err.txt"; then
        fail "$label: sanitizer report in stderr ($took)"
        detail "$tmp/err.txt" 12
        return
    fi
    line=$("$@")
    cmp_rc=$?
    line=${line%; PASS}
    line=${line%; FAIL}
    if [ $cmp_rc -eq 0 ]; then
        pass "$label: $line ($took)"
    else
        fail "$label: $line ($took)"
    fi
}

# same_bits LABEL OUT ARGS...: with GOLDEN_JIT_BOTH=1 (make test sets it
# for the fused suites, which run tfc's default back end, the LLVM JIT),
# after a passing case whose logits are in OUT: tfc ARGS again with
# --jit cc must write the same bytes.  Both back ends run the same
# kernels with the same arguments, so nothing but equality is right.
same_bits() {
    [ "${GOLDEN_JIT_BOTH:-}" = 1 ] || return 0
    label=$1 out=$2
    shift 2
    [ -f "$out" ] || return 0
    t0=$(now)
    timeout "$TIMEOUT" "$TFC" "$@" --jit cc --logits "$out.cc" >"$tmp/stdout-cc.txt" 2>"$tmp/err-cc.txt"
    rc_cc=$?
    if [ $rc_cc -ne 0 ]; then
        fail "$label: --jit cc failed, exit status $rc_cc ($(elapsed "$t0"))"
        detail "$tmp/err-cc.txt" 8
    elif cmp -s "$out" "$out.cc"; then
        pass "$label: --jit llvm and --jit cc logits bitwise equal ($(elapsed "$t0"))"
    else
        fail "$label: --jit llvm and --jit cc logits differ ($(cmp "$out" "$out.cc" | head -n 1))"
    fi
    rm -f "$out.cc"
}

# judge_refusal LABEL WANT: the verdict on a run_tfc that had to fail
# cleanly, with a message on stderr matching WANT (a case-insensitive
# extended regex).
judge_refusal() {
    label=$1 want=$2
    err=$tmp/err.txt
    if [ "$rc" -eq 0 ]; then
        fail "$label: tfc exited 0 on bad weights ($took)"
    elif [ "$rc" -eq 124 ]; then
        fail "$label: tfc timed out after ${TIMEOUT}s"
    elif [ "$rc" -ge 128 ]; then
        fail "$label: tfc crashed (signal $((rc - 128))) ($took)"
        detail "$err" 8
    elif sanitizer_report "$err"; then
        fail "$label: sanitizer report (exit $rc) ($took)"
        detail "$err" 12
    elif ! grep -q -i -E -e "$want" "$err"; then
        fail "$label: exit $rc, but stderr does not match /$want/ ($took)"
        detail "$err" 6
    else
        pass "$label: exit $rc: $(grep -i -E -e "$want" "$err" | head -n 1 | cut -c 1-160) ($took)"
    fi
}
