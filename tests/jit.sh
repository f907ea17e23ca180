#!/bin/sh
# The two back ends of --run: the LLVM JIT (--jit llvm) and the system C
# compiler (--jit cc), on the shipped Shakespeare model (no PyTorch needed;
# the golden suites compare both with PyTorch, tests/golden/lib.sh same_bits).
#
#   TFC=./tfc tests/jit.sh
#
# With a tfc built without LLVM (make LLVM=0), checks that --jit llvm and
# --dump-llvm are refused by name and that --run still works through cc.
# Prints one line a case and "N passed, M failed"; exits 1 on a failure.

set -u
TFC=${TFC:-./tfc}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfc-jit.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; sed -n 1,6p "$tmp/err" | sed 's/^/     | /'; }

M="$ROOT/models/gpt2.model"
W="$ROOT/models/shakespeare.safetensors"
CFG="-D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4"
TOK=18,47,56,57,58,1,15,47,58,47,64,43,52,10

# run NAME [VAR=VALUE...] ARGS...: tfc ARGS in that environment, stdout in
# $tmp/NAME, stderr in $tmp/err; sets rc.
run() {
    name=$1
    shift
    env_args=""
    while [ $# -gt 0 ]; do
        case $1 in *=*) env_args="$env_args $1"; shift ;; *) break ;; esac
    done
    # shellcheck disable=SC2086
    env $env_args "$TFC" "$@" >"$tmp/$name" 2>"$tmp/err"
    rc=$?
    if grep -q -e AddressSanitizer -e LeakSanitizer -e 'runtime error' "$tmp/err"; then
        fail "sanitizer report: tfc $(echo "$*" | cut -c 1-80)"
    fi
}

if ! "$TFC" --help | grep -q -- '--jit llvm|cc'; then
    echo "tests/jit.sh: $TFC has no --jit option" >&2
    exit 2
fi

# A tfc without LLVM: refusals, and cc as the only back end.
# shellcheck disable=SC2086
if run probe $M $CFG --dump-llvm && [ $rc -eq 2 ] && grep -q "without LLVM" "$tmp/err"; then
    pass "built without LLVM: --dump-llvm refused by name"
    run x $M $CFG --run --weights "$W" --tokens $TOK --jit llvm
    if [ $rc -eq 2 ] && grep -q "without LLVM" "$tmp/err"; then pass "--jit llvm refused by name"
    else fail "--jit llvm without LLVM: exit $rc"; fi
    run x $M $CFG --run --weights "$W" --tokens $TOK --logits -
    if [ $rc -eq 0 ] && [ -s "$tmp/x" ]; then pass "--run goes through cc by default"
    else fail "--run without LLVM: exit $rc"; fi
    echo "$passed passed, $failed failed"
    [ $failed -eq 0 ]
    exit
fi

# Same logits, bit for bit, with and without the KV cache's steps, fused
# and not (the unfused program has an elementwise loop a node).
for extra in "" "--prefill 5" "-fno-fuse" "-fno-fuse --prefill 3"; do
    # shellcheck disable=SC2086
    run llvm.f32 $M $CFG $extra --run --weights "$W" --tokens $TOK --logits - --jit llvm
    rc1=$rc
    # shellcheck disable=SC2086
    run cc.f32 $M $CFG $extra --run --weights "$W" --tokens $TOK --logits - --jit cc
    if [ $rc1 -ne 0 ] || [ $rc -ne 0 ]; then
        fail "logits ${extra:-fused}: exit $rc1 (llvm), $rc (cc)"
    elif [ ! -s "$tmp/llvm.f32" ] || ! cmp -s "$tmp/llvm.f32" "$tmp/cc.f32"; then
        fail "logits ${extra:-fused}: --jit llvm and --jit cc differ"
    else
        pass "logits ${extra:-fused}: --jit llvm and --jit cc bitwise equal ($(wc -c <"$tmp/cc.f32") bytes)"
    fi
done

# Generation with a fixed seed: the same text.
GEN="--tokenizer $ROOT/models/shakespeare.chars.json --prompt ROMEO: -n 60 --seed 7"
# shellcheck disable=SC2086
run llvm.txt $M $CFG --run --weights "$W" $GEN --jit llvm
# shellcheck disable=SC2086
run cc.txt $M $CFG --run --weights "$W" $GEN --jit cc
if [ -s "$tmp/llvm.txt" ] && cmp -s "$tmp/llvm.txt" "$tmp/cc.txt"; then
    pass "generation --seed 7: the same text under both"
else
    fail "generation --seed 7: the texts differ"
fi

# No file written, no C compiler needed.
# shellcheck disable=SC2086
run nocc.f32 $M $CFG --run --weights "$W" --tokens $TOK --logits - --jit llvm
mv "$tmp/nocc.f32" "$tmp/ref.f32"
# shellcheck disable=SC2086
run nocc.f32 CC=false TMPDIR=/nonexistent $M $CFG --run --weights "$W" --tokens $TOK --logits -
if [ $rc -eq 0 ] && cmp -s "$tmp/nocc.f32" "$tmp/ref.f32"; then
    pass "CC=false TMPDIR=/nonexistent: runs, same logits"
else
    fail "CC=false TMPDIR=/nonexistent: exit $rc"
fi

# -v reports the JIT's time.
# shellcheck disable=SC2086
run x $M $CFG --run --weights "$W" --tokens $TOK -v
if [ $rc -eq 0 ] && grep -q "tfc: jit: .* compiled in memory by LLVM in [0-9.]* s" "$tmp/err"; then
    pass "-v: $(grep 'tfc: jit' "$tmp/err" | cut -c 1-100)"
else
    fail "-v: no JIT time reported (exit $rc)"
fi

# A symbol missing from the table: an internal error naming it, no crash.
# shellcheck disable=SC2086
run x TFC_JIT_DROP_SYMBOL=tfrt_layernorm $M $CFG --run --weights "$W" --tokens $TOK
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "internal error: LLVM JIT.*tfrt_layernorm" "$tmp/err"; then
    pass "missing symbol: exit $rc: $(grep -o 'Symbols not found.*' "$tmp/err")"
else
    fail "missing symbol: exit $rc"
fi

# Bad --jit values and --keep with the JIT: usage errors.
# shellcheck disable=SC2086
run x $M $CFG --run --weights "$W" --tokens $TOK --jit gcc
if [ $rc -eq 2 ] && grep -q "say llvm or cc" "$tmp/err"; then pass "--jit gcc: usage error"
else fail "--jit gcc: exit $rc"; fi
# shellcheck disable=SC2086
run x TFC_JIT=tcc $M $CFG --run --weights "$W" --tokens $TOK
if [ $rc -eq 2 ] && grep -q "TFC_JIT tcc" "$tmp/err"; then pass "TFC_JIT=tcc: usage error"
else fail "TFC_JIT=tcc: exit $rc"; fi
# shellcheck disable=SC2086
run x $M $CFG --run --weights "$W" --tokens $TOK --jit llvm --keep
if [ $rc -eq 2 ]; then pass "--jit llvm --keep: usage error"
else fail "--jit llvm --keep: exit $rc"; fi

# --dump-llvm for every model file at its default size: the module of
# each family verifies, and shows both stages.
for f in "$ROOT"/models/*.model; do
    mname=$(basename "$f" .model)
    run dump.ll "$f" --dump-llvm
    if [ $rc -eq 0 ] && grep -q "before optimization" "$tmp/dump.ll" &&
       grep -q "after default<O2>" "$tmp/dump.ll" && grep -q "define i32 @tfc_" "$tmp/dump.ll"; then
        pass "--dump-llvm $mname: $(grep -c 'call ' "$tmp/dump.ll") calls before and after -O2"
    else
        fail "--dump-llvm $mname: exit $rc"
    fi
done

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
