#!/bin/sh
# The KV cache and generation against PyTorch.
#   TFC=./tfc PYTHON=/usr/bin/python3 tests/golden/kv_cache.sh
#
# - 64 consecutive one-token steps (--prefill 1 over 65 tokens) and a
#   prefill of 33 then 32 steps give the logits of PyTorch's full
#   recomputation, for a tiny GPT-2 and for GPT-2 small's shape, and
#   (64 steps) for a small Llama and a 12-layer dim-768 one with kv_heads 4,
#   and (64 steps over one encoding) for small encoder-decoders: the
#   Transformer and T5 (whose relative position bias follows the step);
# - greedy generation (--temp 0) gives PyTorch's greedy tokens, with and
#   without the cache;
# - the same --seed gives the same sample, and beam search finds a
#   continuation at least as likely as greedy's (scored by PyTorch);
# - a sequence longer than the context is refused, not overflowed.
# KV_SKIP_BIG=1 skips the GPT-2 small and 12-layer Llama shapes.  The model is
# built in poison mode (freed arena buffers read as NaN) unless TFC_POISON=0.
set -u
TFC_POISON=${TFC_POISON:-1}
export TFC_POISON
TFC=${TFC:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
tmp=$(mktemp -d)
. "$HERE/ref_cache.sh"
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
sanitizer_clean() { ! grep -q -e "AddressSanitizer" -e "runtime error" "$1"; }

tokens() { $PYTHON -c "import random; random.seed($2); print(','.join(str(random.randrange($1)) for _ in range($3)))"; }

# cache_case NAME CFG WEIGHTS VOCAB N PREFILL
cache_case() {
    name=$1 cfg=$2 w=$3 vocab=$4 n=$5 k=$6
    toks=$(tokens "$vocab" 11 "$n")
    [ -f "$tmp/$name.ref" ] || $PYTHON "$HERE/gpt2_ref.py" logits --weights "$w" --tokens "$toks" \
        --out "$tmp/$name.ref" --heads "$(echo "$cfg" | sed 's/.*heads=\([0-9]*\).*/\1/')" >/dev/null
    if $TFC "$ROOT/models/gpt2.model" $cfg --weights "$w" --run --tokens "$toks" --prefill "$k" \
        --logits "$tmp/out.f32" 2>"$tmp/err" && sanitizer_clean "$tmp/err" &&
       $PYTHON "$HERE/compare.py" "$tmp/out.f32" "$tmp/$name.ref" --n "$n" --vocab "$vocab" >"$tmp/cmp"; then
        pass "$name: prefill $k, then $((n - k)) steps == PyTorch ($(cat "$tmp/cmp" | sed 's/;.*//'))"
    else
        fail "$name: prefill $k, then $((n - k)) steps"; cat "$tmp/err" "$tmp/cmp" 2>/dev/null | head -5
    fi
}

# weights of std 0.3 (not GPT-2's 0.02): logits far enough apart that greedy
# generation does not settle on one token, so the greedy checks mean something
small="-D layers=2 -D dim=64 -D heads=4 -D vocab=101 -D ctx=80"
ref_make "$HERE/gpt2_ref.py" make --vocab 101 --ctx 80 --dim 64 --heads 4 --layers 2 --seed 3 --std 0.3 \
    --out "$tmp/small.safetensors" >/dev/null
cache_case small "$small" "$tmp/small.safetensors" 101 65 1
cache_case small "$small" "$tmp/small.safetensors" 101 65 33

# greedy generation equals PyTorch's greedy choice at every step
want=$($PYTHON "$HERE/greedy_ref.py" greedy --weights "$tmp/small.safetensors" --heads 4 --tokens 5,9,2 -n 24)
got=$($TFC "$ROOT/models/gpt2.model" $small --weights "$tmp/small.safetensors" --run --tokens 5,9,2 \
      -n 24 --temp 0 2>"$tmp/err")
[ "$got" = "$want" ] && sanitizer_clean "$tmp/err" && pass "greedy: 24 tokens == PyTorch ($got)" ||
    fail "greedy: tfc '$got' != PyTorch '$want'"
got=$($TFC "$ROOT/models/gpt2.model" $small -fno-kv-cache --weights "$tmp/small.safetensors" --run \
      --tokens 5,9,2 -n 24 --temp 0 2>"$tmp/err")
[ "$got" = "$want" ] && pass "greedy without the KV cache == PyTorch" || fail "greedy without cache: '$got'"

# past the context (80): the newer half is kept and generation goes on;
# until the context fills, the ids are PyTorch's greedy ones
got=$($TFC "$ROOT/models/gpt2.model" $small --weights "$tmp/small.safetensors" --run --tokens 5,9,2 \
      -n 120 --temp 0 2>"$tmp/err")
if [ "$(echo "$got" | tr ',' '\n' | wc -l)" -eq 120 ] && [ "$(echo "$got" | cut -d, -f1-24)" = "$want" ] &&
   sanitizer_clean "$tmp/err"; then
    pass "greedy for 120 tokens in a context of 80: slides over the context"
else
    fail "greedy past the context: '$got'"; head -5 "$tmp/err"
fi

# sampling: reproducible with a seed, and not a constant
a=$($TFC "$ROOT/models/gpt2.model" $small --weights "$tmp/small.safetensors" --run --tokens 5 -n 30 \
    --temp 1.5 --seed 42 2>/dev/null)
b=$($TFC "$ROOT/models/gpt2.model" $small --weights "$tmp/small.safetensors" --run --tokens 5 -n 30 \
    --temp 1.5 --seed 42 2>/dev/null)
c=$($TFC "$ROOT/models/gpt2.model" $small --weights "$tmp/small.safetensors" --run --tokens 5 -n 30 \
    --temp 1.5 --seed 43 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ] && pass "sampling: --seed 42 twice agrees, --seed 43 differs" ||
    fail "sampling reproducibility: '$a' '$b' '$c'"

# beam search: a continuation at least as likely as the greedy one
beam=$($TFC "$ROOT/models/gpt2.model" $small --weights "$tmp/small.safetensors" --run --tokens 5,9,2 \
       -n 8 --beams 4 2>"$tmp/err")
greedy=$(echo "$want" | cut -d, -f1-8)
sb=$($PYTHON "$HERE/greedy_ref.py" score --weights "$tmp/small.safetensors" --heads 4 --tokens 5,9,2 --cont "$beam")
sg=$($PYTHON "$HERE/greedy_ref.py" score --weights "$tmp/small.safetensors" --heads 4 --tokens 5,9,2 --cont "$greedy")
if [ "$(echo "$beam" | tr ',' '\n' | wc -l)" -eq 8 ] && awk -v b="$sb" -v g="$sg" 'BEGIN { exit !(b >= g - 1e-4) }'; then
    pass "beam search (4 beams): log-probability $sb >= greedy's $sg"
else
    fail "beam search: '$beam' scores $sb, greedy '$greedy' scores $sg"; cat "$tmp/err"
fi

# the context is a hard limit
if $TFC "$ROOT/models/gpt2.model" $small --weights "$tmp/small.safetensors" --run \
    --tokens "$(tokens 101 1 81)" --logits "$tmp/x.f32" 2>"$tmp/err"; then
    fail "81 tokens in a context of 80 were accepted"
else
    grep -q "at most 80" "$tmp/err" && sanitizer_clean "$tmp/err" && pass "81 tokens in a context of 80: refused" ||
        fail "context overflow message: $(head -1 "$tmp/err")"
fi

if [ "${KV_SKIP_BIG:-0}" != 1 ]; then
    big="-D layers=12 -D dim=768 -D heads=12 -D vocab=50257 -D ctx=1024"
    ref_make "$HERE/gpt2_ref.py" make --vocab 50257 --ctx 1024 --dim 768 --heads 12 --layers 12 --seed 5 \
        --out "$tmp/big.safetensors" >/dev/null
    cache_case gpt2-small "$big" "$tmp/big.safetensors" 50257 65 1
fi
# Llama: rotary positions continue from the cache, grouped-query heads
# share cached keys and values.  families_ref.py writes the weights, the
# full-recomputation logits and its greedy continuation.
# llama_case NAME CFG N_TOKENS GREEDY_N
llama_case() {
    name=$1 cfg=$2 n=$3 gn=$4
    vocab=$(echo "$cfg" | sed 's/.*vocab=\([0-9]*\).*/\1/')
    toks=$(tokens "$vocab" 11 "$n")
    if ! ref_make "$HERE/families_ref.py" make llama --seed 7 --out "$tmp/$name.safetensors" $cfg \
        --case "tokens=$toks ref=$tmp/$name.ref" --greedy "tokens=5,9,2 n=$gn ref=$tmp/$name.greedy" \
        2>"$tmp/err"; then
        fail "$name: reference"; head -5 "$tmp/err"; return
    fi
    if $TFC "$ROOT/models/llama.model" $cfg --weights "$tmp/$name.safetensors" --run --tokens "$toks" \
        --prefill 1 --logits "$tmp/out.f32" 2>"$tmp/err" && sanitizer_clean "$tmp/err" &&
       $PYTHON "$HERE/compare.py" "$tmp/out.f32" "$tmp/$name.ref" --n "$n" --vocab "$vocab" >"$tmp/cmp"; then
        pass "$name: prefill 1, then $((n - 1)) steps == PyTorch ($(sed 's/;.*//' "$tmp/cmp"))"
    else
        fail "$name: prefill 1, then $((n - 1)) steps"; cat "$tmp/err" "$tmp/cmp" 2>/dev/null | head -5
    fi
    want=$(cat "$tmp/$name.greedy")
    got=$($TFC "$ROOT/models/llama.model" $cfg --weights "$tmp/$name.safetensors" --run --tokens 5,9,2 \
          -n "$gn" --temp 0 2>"$tmp/err")
    [ "$got" = "$want" ] && sanitizer_clean "$tmp/err" && pass "$name: greedy $gn tokens == PyTorch ($got)" ||
        fail "$name: greedy: tfc '$got' != PyTorch '$want'"
}
llama_case llama-small "-D layers=2 -D dim=64 -D heads=4 -D kv_heads=2 -D vocab=97 -D ctx=80 -D ffn=160" 65 24
if [ "${KV_SKIP_BIG:-0}" != 1 ]; then
    llama_case llama-12x768 "-D layers=12 -D dim=768 -D heads=12 -D kv_heads=4 -D vocab=32000 -D ctx=128 -D ffn=2048" 65 4
fi

# Transformer (encoder-decoder): encode runs once per source; the
# decoder's causal self-attention is cached, its cross-attention reads the
# keys and values that encode computed.  families_ref.py writes the
# weights, the full-recomputation logits of torch.nn.Transformer and its
# greedy continuation, and scores beam search's.
tr="-D src_vocab=89 -D tgt_vocab=83 -D ctx=80 -D dim=64 -D heads=4 -D layers=2 -D ffn=128"
trsrc=$(tokens 89 13 10)
trtoks=$(tokens 83 11 65)
# tr_run ARGS...: the small transformer with its weights and source
tr_run() {
    # shellcheck disable=SC2086
    $TFC "$ROOT/models/transformer.model" $tr --weights "$tmp/tr.safetensors" --run --src "$trsrc" "$@"
}
# shellcheck disable=SC2086
if ref_make "$HERE/families_ref.py" make transformer --seed 71 --out "$tmp/tr.safetensors" $tr \
    --case "src=$trsrc tokens=$trtoks ref=$tmp/tr.ref" \
    --greedy "src=$trsrc tokens=1 n=24 ref=$tmp/tr.greedy" 2>"$tmp/err"; then
    if tr_run --tokens "$trtoks" --prefill 1 --logits "$tmp/out.f32" 2>"$tmp/err" &&
       sanitizer_clean "$tmp/err" &&
       $PYTHON "$HERE/compare.py" "$tmp/out.f32" "$tmp/tr.ref" --n 65 --vocab 83 >"$tmp/cmp"; then
        pass "transformer: encode, prefill 1, then 64 steps == PyTorch ($(sed 's/;.*//' "$tmp/cmp"))"
    else
        fail "transformer: encode, prefill 1, then 64 steps"; cat "$tmp/err" "$tmp/cmp" 2>/dev/null | head -5
    fi
    want=$(cat "$tmp/tr.greedy")
    got=$(tr_run --tokens 1 -n 24 --temp 0 2>"$tmp/err")
    [ "$got" = "$want" ] && sanitizer_clean "$tmp/err" && pass "transformer: greedy 24 tokens == PyTorch ($got)" ||
        fail "transformer: greedy: tfc '$got' != PyTorch '$want'"
    got=$(tr_run -fno-kv-cache --tokens 1 -n 24 --temp 0 2>"$tmp/err")
    [ "$got" = "$want" ] && sanitizer_clean "$tmp/err" && pass "transformer: greedy without the KV cache == PyTorch" ||
        fail "transformer: greedy without cache: '$got'"
    beam=$(tr_run --tokens 1 -n 8 --beams 4 2>"$tmp/err")
    greedy=$(echo "$want" | cut -d, -f1-8)
    score() { $PYTHON "$HERE/families_ref.py" score transformer --weights "$tmp/tr.safetensors" \
                  --src "$trsrc" --tokens 1 --cont "$1"; }
    sb=$(score "$beam") sg=$(score "$greedy")
    if [ "$(echo "$beam" | tr ',' '\n' | wc -l)" -eq 8 ] && sanitizer_clean "$tmp/err" &&
       awk -v b="$sb" -v g="$sg" 'BEGIN { exit !(b >= g - 1e-4) }'; then
        pass "transformer: beam search (4 beams): log-probability $sb >= greedy's $sg"
    else
        fail "transformer: beam search: '$beam' scores $sb, greedy '$greedy' scores $sg"; cat "$tmp/err"
    fi
else
    fail "transformer: reference"; head -5 "$tmp/err"
fi

# T5: the relative position bias of a step is that of its absolute row.
t5="-D layers=2 -D dim=64 -D heads=4 -D kv_dim=64 -D vocab=90 -D ctx=80 -D ffn=128"
t5src=$(tokens 90 4 20)
t5toks=$(tokens 90 3 65)
# shellcheck disable=SC2086
if ref_make "$HERE/families_ref.py" make t5 --seed 2 --out "$tmp/t5.safetensors" $t5 \
    --case "src=$t5src tokens=$t5toks ref=$tmp/t5.ref" \
    --greedy "src=$t5src tokens=0 n=16 ref=$tmp/t5.greedy" 2>"$tmp/err"; then
    # shellcheck disable=SC2086
    if $TFC "$ROOT/models/t5.model" $t5 --weights "$tmp/t5.safetensors" --run --src "$t5src" \
        --tokens "$t5toks" --prefill 1 --logits "$tmp/out.f32" 2>"$tmp/err" && sanitizer_clean "$tmp/err" &&
       $PYTHON "$HERE/compare.py" "$tmp/out.f32" "$tmp/t5.ref" --n 65 --vocab 90 >"$tmp/cmp"; then
        pass "t5: encode, prefill 1, then 64 steps == PyTorch ($(sed 's/;.*//' "$tmp/cmp"))"
    else
        fail "t5: encode, prefill 1, then 64 steps"; cat "$tmp/err" "$tmp/cmp" 2>/dev/null | head -5
    fi
    want=$(cat "$tmp/t5.greedy")
    # shellcheck disable=SC2086
    got=$($TFC "$ROOT/models/t5.model" $t5 --weights "$tmp/t5.safetensors" --run --src "$t5src" \
          --tokens 0 -n 16 --temp 0 2>"$tmp/err")
    [ "$got" = "$want" ] && sanitizer_clean "$tmp/err" && pass "t5: greedy 16 tokens == PyTorch ($got)" ||
        fail "t5: greedy: tfc '$got' != PyTorch '$want'"
else
    fail "t5: reference"; head -5 "$tmp/err"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
