#!/bin/sh
# tfc --save-weights: int8 weights quantized once, saved, and opened again
# with no conversion (docs/quantization.md "Saved int8 weights").
#
#   TFC=./tfc SAN= PYTHON=/usr/bin/python3 tests/golden/save_weights.sh
#
# TFC     the compiler to test (the plain one: the cases add --quantize int8)
# SAN     1 when TFC is an AddressSanitizer + UBSan build (reports in
#         stderr fail a case even when the exit status is 0)
# PYTHON  a Python with torch and numpy (default /usr/bin/python3)
#
# For a tiny GPT-2 (F32 with prefixed names and mask buffers, and BF16),
# a small Llama (HF names, with and without -fno-quantize-head), a small
# Transformer (three views of one stored tensor) and the trained demo GPT-2:
#   - the saved file keeps the safetensors rules, and each int8 tensor is,
#     byte for byte, the documented layout computed by tests/golden/q8_file.py
#     with NumPy from the float weights (an independent reading of the
#     format); the other tensors are copies;
#   - logits from the saved file equal those of quantizing at open, bit for
#     bit (the same kernels on the same bytes; anything else is a bug), and
#     the GPT-2 ones are within the int8 criterion of PyTorch's fp32
#     (compare.py, GOLDEN_QUANT=int8); through --jit cc (the generated C's
#     open) too, and through the KV cache (--prefill) for the Llama;
#   - damaged saved files (truncated, another block size or version, a
#     tensor's metadata entry missing, garbled, of another shape or of the
#     other layout, a flattened tensor) and a saved file without --quantize int8, or with
#     another head option, are refused with a message naming the tensor;
#   - saving again from a saved file gives the same bytes;
#   - usage errors, an output that is the input, and a failed save leave no
#     file behind (and an existing output untouched).
# Prints one line per case and "N passed, M failed"; exits 1 when any
# case failed, 2 when the suite could not run.

set -u

TFC=${TFC:-./tfc}
SAN=${SAN:-}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TIMEOUT=${GOLDEN_TIMEOUT:-600}
Q8="$HERE/q8_file.py"
GPT2="$ROOT/models/gpt2.model"
LLAMA="$ROOT/models/llama.model"

. "$HERE/lib.sh"
golden_setup save-weights

# ok LABEL: the last run_tfc had to succeed, without a sanitizer report.
ok() {
    if [ "$rc" -ne 0 ] || sanitizer_report "$tmp/err.txt"; then
        fail "$1: exit $rc ($took)"
        detail "$tmp/err.txt" 8
        return 1
    fi
    return 0
}

# save LABEL MODEL WEIGHTS OUT ARGS...: tfc MODEL ARGS --quantize int8
# --weights WEIGHTS --save-weights OUT, then OUT checked against WEIGHTS.
save() {
    label=$1 model=$2 weights=$3 out=$4
    shift 4
    run_tfc "$model" "$@" --quantize int8 --weights "$weights" --save-weights "$out"
    ok "$label: save" || return 1
    if line=$("$PYTHON" "$Q8" check "$out" --float "$weights"); then
        pass "$label: save ($took); $(echo "$line" | sed "s|$tmp/||g")"
    else
        fail "$label: $line"
        return 1
    fi
}

# same LABEL MODEL FLOAT SAVED ARGS...: the logits of SAVED equal those of
# quantizing FLOAT at open, bit for bit; the run's logits stay in $tmp/saved.f32.
same() {
    label=$1 model=$2 float=$3 saved=$4
    shift 4
    run_tfc "$model" "$@" --quantize int8 --weights "$float" --run --logits "$tmp/open.f32"
    ok "$label: at open" || return 1
    run_tfc "$model" "$@" --quantize int8 --weights "$saved" --run --logits "$tmp/saved.f32"
    ok "$label: saved" || return 1
    if [ -s "$tmp/saved.f32" ] && cmp -s "$tmp/open.f32" "$tmp/saved.f32"; then
        pass "$label: saved = quantized at open, bit for bit ($took)"
    else
        fail "$label: the logits differ ($(cmp "$tmp/open.f32" "$tmp/saved.f32" 2>&1 | head -n 1))"
    fi
}

# refused LABEL WANT ARGS...: tfc ARGS must fail cleanly, stderr matching WANT.
refused() {
    label=$1 want=$2
    shift 2
    run_tfc "$@"
    judge_refusal "$label" "$want"
}

# ---- GPT-2: a tied head, Conv1D weights stored (in, out) -------------------

TINY="-D vocab=101 -D ctx=64 -D dim=64 -D heads=4 -D layers=2"
tiny_make="--vocab 101 --ctx 64 --dim 64 --heads 4 --layers 2 --std 0.1"
T7=$(random_tokens 7 101 7)
g=$tmp/gpt2
# shellcheck disable=SC2086
if ! "$PYTHON" "$HERE/gpt2_ref.py" make $tiny_make --seed 3 --prefix --mask-buffers \
        --out "$g.safetensors" --tokens "$T7" --ref "$g-ref.f32" ||
   ! "$PYTHON" "$HERE/gpt2_ref.py" make $tiny_make --seed 4 --dtype BF16 --out "$g-bf16.safetensors"; then
    fail "setup: GPT-2 weights"
    finish
fi

# shellcheck disable=SC2086
if save "gpt2 F32" "$GPT2" "$g.safetensors" "$g-q8.safetensors" $TINY; then
    # shellcheck disable=SC2086
    same "gpt2 F32 n=7" "$GPT2" "$g.safetensors" "$g-q8.safetensors" $TINY --tokens "$T7"
    judge_output "gpt2 F32 n=7 saved against PyTorch fp32" "" \
        env GOLDEN_QUANT=int8 "$PYTHON" "$HERE/compare.py" "$tmp/saved.f32" "$g-ref.f32" --n 7 --vocab 101
    GOLDEN_JIT_BOTH=1 same_bits "gpt2 F32 n=7 saved" "$tmp/saved.f32" "$GPT2" $TINY --quantize int8 \
        --weights "$g-q8.safetensors" --run --tokens "$T7"
    # saved again from the saved file: its int8 tensors copied as they are
    run_tfc "$GPT2" $TINY --quantize int8 --weights "$g-q8.safetensors" --save-weights "$g-q8-again.safetensors"
    if ok "gpt2 saved again" && cmp -s "$g-q8.safetensors" "$g-q8-again.safetensors"; then
        pass "gpt2 saved again from the saved file: the same bytes ($took)"
    elif [ "$rc" -eq 0 ]; then
        fail "gpt2 saved again from the saved file: the bytes differ"
    fi
fi
# shellcheck disable=SC2086
save "gpt2 BF16" "$GPT2" "$g-bf16.safetensors" "$g-bf16-q8.safetensors" $TINY &&
    same "gpt2 BF16 n=7" "$GPT2" "$g-bf16.safetensors" "$g-bf16-q8.safetensors" $TINY --tokens "$T7"

# ---- Llama: Linear weights (out, in), an untied head, SwiGLU ----------------

SMALL="-D vocab=97 -D ctx=64 -D dim=64 -D heads=4 -D kv_heads=2 -D layers=2 -D ffn=96"
L9=$(random_tokens 9 97 9)
l=$tmp/llama
# shellcheck disable=SC2086
if ! "$PYTHON" "$HERE/families_ref.py" make llama --seed 5 --out "$l.safetensors" $SMALL; then
    fail "setup: Llama weights"
    finish
fi
# shellcheck disable=SC2086
if save "llama" "$LLAMA" "$l.safetensors" "$l-q8.safetensors" $SMALL; then
    # shellcheck disable=SC2086
    {
    same "llama n=9" "$LLAMA" "$l.safetensors" "$l-q8.safetensors" $SMALL --tokens "$L9"
    GOLDEN_JIT_BOTH=1 same_bits "llama n=9 saved" "$tmp/saved.f32" "$LLAMA" $SMALL --quantize int8 \
        --weights "$l-q8.safetensors" --run --tokens "$L9"
    same "llama n=9 --prefill 4 (KV cache)" "$LLAMA" "$l.safetensors" "$l-q8.safetensors" $SMALL \
        --tokens "$L9" --prefill 4
    }
fi
# -fno-quantize-head: the head saved as stored; a file and a compile that
# disagree on the head: an fp32 head copy is quantized at open, an int8
# head read as floats is refused.
# shellcheck disable=SC2086
{
save "llama -fno-quantize-head" "$LLAMA" "$l.safetensors" "$l-q8h.safetensors" $SMALL -fno-quantize-head &&
    same "llama -fno-quantize-head n=9" "$LLAMA" "$l.safetensors" "$l-q8h.safetensors" $SMALL \
        -fno-quantize-head --tokens "$L9" &&
    same "llama fp32-head file, int8 head at open n=9" "$LLAMA" "$l.safetensors" "$l-q8h.safetensors" \
        $SMALL --tokens "$L9"
refused "int8-head file with -fno-quantize-head" "tensor 'lm_head.weight' holds int8.*reads it as floats" \
    "$LLAMA" $SMALL -fno-quantize-head --quantize int8 --weights "$l-q8.safetensors" --run --tokens 1,2,3
refused "saved file without --quantize int8" "tensor '[^']+' holds int8 weights.*--quantize int8" \
    "$LLAMA" $SMALL --weights "$l-q8.safetensors" --run --tokens 1,2,3
}

# ---- the Transformer: views of one stored tensor (cross_w split in three) ---
# Its three views share the saved tensor: each reads its own rows.

SMALLT="-D src_vocab=89 -D tgt_vocab=83 -D ctx=64 -D dim=64 -D heads=4 -D layers=2 -D ffn=128"
t=$tmp/transformer
# shellcheck disable=SC2086
if ! "$PYTHON" "$HERE/families_ref.py" make transformer --seed 6 --out "$t.safetensors" $SMALLT; then
    fail "setup: Transformer weights"
    finish
fi
# shellcheck disable=SC2086
save "transformer" "$ROOT/models/transformer.model" "$t.safetensors" "$t-q8.safetensors" $SMALLT &&
    same "transformer src n=9 tokens n=5" "$ROOT/models/transformer.model" "$t.safetensors" \
        "$t-q8.safetensors" $SMALLT --src "$(random_tokens 9 89 11)" --tokens "$(random_tokens 5 83 12)"

# ---- the trained demo GPT-2 (models/shakespeare.safetensors) ----------------

DEMO="-D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4"
# shellcheck disable=SC2086
save "demo GPT-2" "$GPT2" "$ROOT/models/shakespeare.safetensors" "$tmp/demo-q8.safetensors" $DEMO &&
    same "demo GPT-2 n=20" "$GPT2" "$ROOT/models/shakespeare.safetensors" "$tmp/demo-q8.safetensors" \
        $DEMO --tokens "$(random_tokens 20 65 13)"

# ---- damaged saved files ---------------------------------------------------

q=$g-q8.safetensors
n=transformer.h.1.mlp.c_fc.weight
sq=transformer.h.0.attn.c_proj.weight   # square: either layout has its U8 shape
# kind | tensor | what the message must say
while IFS='|' read -r kind name want; do
    bad=$tmp/bad-$kind.safetensors
    if ! "$PYTHON" "$Q8" break --in "$q" --kind "$kind" ${name:+--name "$name"} --out "$bad" >"$tmp/break.txt" 2>&1; then
        fail "setup: damaged file ($kind)"
        detail "$tmp/break.txt"
        continue
    fi
    # shellcheck disable=SC2086
    refused "damaged: $kind" "$want" "$GPT2" $TINY --quantize int8 --weights "$bad" --run --tokens 1,2,3
done <<EOF
truncate||beyond the end of the data section
block||values a block is "64".*reads 32
version||int8 layout version is "2".*reads 1
no-version||no "tfc.q8.version"
no-entry|$n|tensor '$n' is U8 in a file of int8 weights.*no "tfc.q8.tensor.$n"
entry|$n|tensor '$n': its metadata entry "sideways 1 2"
entry-shape|$n|tensor '$n': int8 weights of 256 rows and 96 inputs.*U8 \[16, 3, 576\].*has U8 \[16, 2, 576\]
shape|$n|tensor '$n': int8 weights of 256 rows and 64 inputs.*has U8 \[16, 1152\]
layout|$sq|tensor '$sq' holds int8 weights saved to be read \(out, in\), but the model reads it \(in, out\)
EOF

# ---- the output: usage, inputs, all or nothing -------------------------------

out=$tmp/out.safetensors
# shellcheck disable=SC2086
{
refused "usage: --save-weights without --quantize int8" "give --quantize int8" \
    "$GPT2" $TINY --weights "$g.safetensors" --save-weights "$out"
refused "usage: --save-weights without --weights" "needs --weights" "$GPT2" $TINY --quantize int8 --save-weights "$out"
refused "usage: --save-weights with --run" "does not go with --run" \
    "$GPT2" $TINY --quantize int8 --weights "$g.safetensors" --save-weights "$out" --run --tokens 1
refused "usage: --save-weights with --tokens" "does not go with --tokens" \
    "$GPT2" $TINY --quantize int8 --weights "$g.safetensors" --save-weights "$out" --tokens 1
refused "usage: --save-weights -" "give a file name" \
    "$GPT2" $TINY --quantize int8 --weights "$g.safetensors" --save-weights -
[ -e "$out" ] && fail "usage errors: $out was written"
sum=$(cksum <"$g.safetensors")
refused "output = input" "would be overwritten: it is an input" \
    "$GPT2" $TINY --quantize int8 --weights "$g.safetensors" --save-weights "$g.safetensors"
[ "$(cksum <"$g.safetensors")" = "$sum" ] || fail "output = input: the weights changed"
mkdir -p "$tmp/dir"
cp "$g.safetensors" "$tmp/dir/model.safetensors"
refused "output = the folder's model.safetensors" "would be overwritten: it is an input" \
    "$GPT2" $TINY --quantize int8 --weights "$tmp/dir" --save-weights "$tmp/dir/model.safetensors"
refused "output in a missing folder" "cannot write.*No such file" \
    "$GPT2" $TINY --quantize int8 --weights "$g.safetensors" --save-weights "$tmp/nowhere/q.safetensors"
echo "an older file" >"$out"
refused "a model that does not fit the weights" "shape|missing" \
    "$GPT2" -D vocab=101 -D ctx=64 -D dim=64 -D heads=4 -D layers=3 --quantize int8 \
    --weights "$g.safetensors" --save-weights "$out"
}
if [ "$(cat "$out")" = "an older file" ] && [ -z "$(ls "$tmp" | grep 'out.safetensors.tmp')" ]; then
    pass "failed saves: the existing output untouched, no temporary left"
else
    fail "failed saves: the output or a temporary changed ($(ls "$tmp" | tr '\n' ' '))"
fi

finish
