#!/bin/sh
# tests/valgrind.sh - valgrind memcheck, zero errors, over: the unit tests;
# tfc compiling a model (front end, passes, emitter); tfc running the
# shipped model through the LLVM JIT (when built with it); and one golden model,
# GPT-2 at a small shape with random weights, run through the generated
# library (examples/next_token.c, built without sanitizers) and compared
# with PyTorch within 1e-4.  Definite and indirect leaks count as errors;
# tfc's arena, reachable until exit by design, does not.  make test runs
# this when SAN is not 1 (valgrind and AddressSanitizer do not mix).
#   TFC=./tfc B=build tests/valgrind.sh
set -eu
TFC=${TFC:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
B=${B:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfc-valgrind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
# OpenBLAS with one thread: its idle workers spin, which valgrind makes slow
export OPENBLAS_NUM_THREADS=1
memcheck() {
    label=$1
    shift
    rc=0
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --log-file="$tmp/vg.log" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); echo "ok   $label: no memcheck error"
        return 0
    fi
    fail=$((fail + 1)); echo "FAIL $label: exit $rc (99: memcheck errors)"
    sed -n '1,30p' "$tmp/vg.log" "$tmp/err" | sed 's/^/     | /'
    return 1
}

memcheck "unit tests" "$B/unit_tests" || true

cfg="-D layers=2 -D dim=64 -D heads=4 -D vocab=101 -D ctx=64"
# shellcheck disable=SC2086  # the configuration is words
memcheck "tfc compiling GPT-2 (2 layers, 64 wide)" $TFC models/gpt2.model $cfg -o "$tmp/gpt2.c" || true

# tfc --run through the LLVM JIT (the host that opens, checks and steps,
# and the compiled bodies), when this tfc has it: the shipped model.
shk="-D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4"
# shellcheck disable=SC2086
if $TFC models/gpt2.model $shk --dump-llvm >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    memcheck "tfc --run --jit llvm (prefill, then steps)" $TFC models/gpt2.model $shk \
        --weights models/shakespeare.safetensors --run --tokens 1,2,3 --prefill 1 -t 1 --jit llvm || true
fi

$PYTHON tests/golden/gpt2_ref.py make --vocab 101 --ctx 64 --dim 64 --heads 4 --layers 2 \
    --seed 11 --out "$tmp/w.safetensors" --tokens 5,17,99,3,0,100 --ref "$tmp/ref.f32" >/dev/null
blas=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# shellcheck disable=SC2086
cc -std=c99 -O1 -g -Iruntime -I"$tmp" -o "$tmp/next" examples/next_token.c "$tmp/gpt2.c" \
    "$B/libtfrt.a" $blas -lm
if memcheck "golden GPT-2 through the generated library" "$tmp/next" "$tmp/w.safetensors" \
        5 17 99 3 0 100 --logits "$tmp/out.f32"; then
    if $PYTHON tests/golden/compare.py "$tmp/out.f32" "$tmp/ref.f32" --n 6 --vocab 101 >"$tmp/cmp" 2>&1; then
        pass=$((pass + 1)); echo "ok   golden GPT-2 under valgrind agrees with PyTorch: $(tail -n 1 "$tmp/cmp")"
    else
        fail=$((fail + 1)); echo "FAIL golden GPT-2 under valgrind against PyTorch"; sed 's/^/     | /' "$tmp/cmp"
    fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
