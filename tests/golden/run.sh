#!/bin/sh
# End-to-end golden tests of tfc against a PyTorch GPT-2 reference.
#
#   TFC=./tfc SAN= PYTHON=/usr/bin/python3 tests/golden/run.sh
#
# TFC     the compiler to test (default ./tfc)
# SAN     1 when TFC is an AddressSanitizer + UBSan build (reports in stderr
#         fail a case even when the exit status is 0)
# PYTHON  a Python with torch and numpy (default /usr/bin/python3)
# GOLDEN_MODEL     the model description (default models/gpt2.model)
# GOLDEN_SKIP_BIG  1 skips the GPT-2 small cases (~500 MB of weights)
# GOLDEN_KEEP      1 keeps the temporary folder and prints its path
# GOLDEN_JIT_BOTH  1: each case again with --jit cc, whose logits must equal
#                  the first run's (tfc's default back end) bit for bit
# GOLDEN_TIMEOUT   seconds allowed for one tfc run (default 600)
# TFC_POISON       1 (default) builds the model in poison mode: freed arena
#                  buffers read as NaN, so a wrong reuse of memory fails a
#                  case (tfc --help); 0 runs the plain build
#
# Prints one line per case and ends with "N passed, M failed"; exits 1 when
# any case failed, 2 when the suite could not run at all.

set -u

TFC=${TFC:-./tfc}
SAN=${SAN:-}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODEL=${GOLDEN_MODEL:-$ROOT/models/gpt2.model}
TIMEOUT=${GOLDEN_TIMEOUT:-600}
REF="$HERE/gpt2_ref.py"
CMP="$HERE/compare.py"

# ---- preflight -------------------------------------------------------------

. "$HERE/lib.sh"
golden_setup golden
if [ ! -f "$MODEL" ]; then
    fail "setup: model description $MODEL not found"
    finish
fi

# golden LABEL WEIGHTS N VOCAB TOKENS REF [-D name=value]...
golden() {
    label=$1 weights=$2 n=$3 vocab=$4 tokens=$5 ref=$6
    shift 6
    out=$tmp/out.f32
    rm -f "$out"
    run_tfc "$MODEL" "$@" --weights "$weights" --run --tokens "$tokens" --logits "$out"
    judge_output "$label" "$TFC $MODEL $* --weights $weights --run --tokens ${tokens%%,*},... --logits $out" \
        "$PYTHON" "$CMP" "$out" "$ref" --n "$n" --vocab "$vocab"
    same_bits "$label" "$out" "$MODEL" "$@" --weights "$weights" --run --tokens "$tokens"
}

# bad LABEL WANT FILE [-D name=value]...: tfc must fail cleanly, with a
# message on stderr that matches WANT (a case-insensitive extended regex).
# The tokens are $BAD_TOKENS (default 1,2,3).
bad() {
    label=$1 want=$2 weights=$3
    shift 3
    rm -f "$tmp/out.f32"
    run_tfc "$MODEL" "$@" --weights "$weights" --run --tokens "${BAD_TOKENS:-1,2,3}" --logits "$tmp/out.f32"
    judge_refusal "$label" "$want"
}

# ---- the reference itself ------------------------------------------------------

t0=$(now)
if "$PYTHON" "$REF" selftest --quick >"$tmp/selftest.txt" 2>&1; then
    pass "reference selftest: $(tail -n 1 "$tmp/selftest.txt") ($(elapsed "$t0"))"
else
    fail "reference selftest ($(elapsed "$t0"))"
    grep -v ' ok$' "$tmp/selftest.txt" | sed -n '1,12p' | sed 's/^/     | /'
fi

# ---- tiny model: layers 2, dim 64, heads 4, vocab 101, ctx 64 ---------------

# The tiny model's weights have std 0.1 rather than GPT-2's 0.02: at width 64
# the smaller weights leave attention nearly uniform and GELU nearly linear,
# so that a wrong attention scale or GELU form would hide inside the
# tolerance (gpt2_ref.py selftest checks that such mistakes fail).
TINY="-D vocab=101 -D ctx=64 -D dim=64 -D heads=4 -D layers=2"
tiny_make="--vocab 101 --ctx 64 --dim 64 --heads 4 --layers 2 --std 0.1"

t0=$(now)
for v in plain prefix; do
    if [ $v = plain ]; then
        args="--seed 1 --out $tmp/tiny.safetensors"
    else
        args="--seed 2 --prefix --mask-buffers --out $tmp/tiny-prefix.safetensors"
    fi
    for n in 1 7 64; do
        s=$n
        [ $v = prefix ] && s=$((n + 1000))
        random_tokens $n 101 $s >"$tmp/tok-$v-$n"
        args="$args --tokens $(cat "$tmp/tok-$v-$n") --ref $tmp/ref-$v-$n.f32"
    done
    # shellcheck disable=SC2086
    if ! ref_make "$REF" make $tiny_make $args; then
        fail "setup: tiny-$v weights or reference logits"
        finish
    fi
done
# The prefixed weights without the mask buffers, and the mask buffers
# without the prefix: the same numbers, so the same reference logits.
if ! "$PYTHON" "$REF" break --in "$tmp/tiny-prefix.safetensors" --kind drop-buffers \
        --out "$tmp/tiny-prefix-only.safetensors" ||
   ! "$PYTHON" "$REF" break --in "$tmp/tiny-prefix.safetensors" --kind drop-prefix \
        --out "$tmp/tiny-masks-only.safetensors"; then
    fail "setup: tiny weight variants"
    finish
fi
echo "     (tiny weights and references: $(elapsed "$t0"))"

for v in plain prefix; do
    w=$tmp/tiny.safetensors
    name="tiny"
    if [ $v = prefix ]; then
        w=$tmp/tiny-prefix.safetensors
        name="tiny transformer.+masks"
    fi
    for n in 1 7 64; do
        # shellcheck disable=SC2086
        golden "$name n=$n" "$w" $n 101 "$(cat "$tmp/tok-$v-$n")" "$tmp/ref-$v-$n.f32" $TINY
    done
done
# shellcheck disable=SC2086
golden "tiny transformer. (no masks) n=7" "$tmp/tiny-prefix-only.safetensors" 7 101 \
    "$(cat "$tmp/tok-prefix-7")" "$tmp/ref-prefix-7.f32" $TINY
# shellcheck disable=SC2086
golden "tiny masks (no prefix) n=7" "$tmp/tiny-masks-only.safetensors" 7 101 \
    "$(cat "$tmp/tok-prefix-7")" "$tmp/ref-prefix-7.f32" $TINY

# ---- bad weights ------------------------------------------------------------

good=$tmp/tiny.safetensors
names='error|wte|wpe|ln_f|h\.[0-9]+\.'
if "$PYTHON" "$REF" break --in "$good" --kind truncate --out "$tmp/bad-trunc.safetensors" &&
   "$PYTHON" "$REF" break --in "$good" --kind truncate-header --out "$tmp/bad-trunc-header.safetensors" &&
   "$PYTHON" "$REF" break --in "$good" --kind offsets --name ln_f.bias --out "$tmp/bad-offsets.safetensors" &&
   "$PYTHON" "$REF" break --in "$good" --kind missing --name h.1.mlp.c_fc.bias --out "$tmp/bad-missing.safetensors" &&
   "$PYTHON" "$REF" break --in "$good" --kind shape --name h.1.attn.c_attn.weight --out "$tmp/bad-shape.safetensors"
then
    # shellcheck disable=SC2086
    {
    bad "bad: file truncated in the data" "$names" "$tmp/bad-trunc.safetensors" $TINY
    bad "bad: file truncated in the header" "$names" "$tmp/bad-trunc-header.safetensors" $TINY
    bad "bad: data_offsets beyond the file" "error|ln_f\.bias" "$tmp/bad-offsets.safetensors" $TINY
    bad "bad: missing h.1.mlp.c_fc.bias" 'h\.1\.mlp\.c_fc\.bias' "$tmp/bad-missing.safetensors" $TINY
    bad "bad: h.1.attn.c_attn.weight shaped [192,64]" 'h\.1\.attn\.c_attn\.weight' "$tmp/bad-shape.safetensors" $TINY
    bad "bad: -D layers=3 on a 2-layer file" 'h\.2\.' "$good" \
        -D vocab=101 -D ctx=64 -D dim=64 -D heads=4 -D layers=3
    }
else
    fail "setup: could not write the damaged weight files"
fi

# ---- bad tokens (valid weights) -------------------------------------------------

# shellcheck disable=SC2086
{
BAD_TOKENS=5,101,7
bad "bad tokens: token 101 with vocab 101" 'error|token|vocab|101' "$good" $TINY
BAD_TOKENS=$(random_tokens 65 101 99)
bad "bad tokens: 65 tokens with ctx 64" 'error|token|ctx|65|64' "$good" $TINY
BAD_TOKENS=
}

# ---- GPT-2 small: layers 12, dim 768, heads 12, vocab 50257, ctx 1024 ---------

if [ "${GOLDEN_SKIP_BIG:-}" = 1 ]; then
    echo "     (GPT-2 small cases skipped: GOLDEN_SKIP_BIG=1)"
    finish
fi

t0=$(now)
big=$tmp/gpt2-small.safetensors
args="--out $big"
for n in 1 7 128; do
    random_tokens $n 50257 $((n + 2000)) >"$tmp/tok-big-$n"
    args="$args --tokens $(cat "$tmp/tok-big-$n") --ref $tmp/ref-big-$n.f32"
done
# shellcheck disable=SC2086
ref_make "$REF" make --vocab 50257 --ctx 1024 --dim 768 --heads 12 --layers 12 \
    --seed 3 $args
ok=$?
if [ $ok -ne 0 ]; then
    fail "setup: GPT-2 small weights or references"
    finish
fi
echo "     (GPT-2 small weights and references: $(elapsed "$t0"))"
for n in 1 7 128; do
    golden "gpt2-small n=$n" "$big" $n 50257 "$(cat "$tmp/tok-big-$n")" "$tmp/ref-big-$n.f32"
done

finish
