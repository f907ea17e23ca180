#!/bin/sh
# End-to-end golden tests of tfc's BERT, Llama, T5 and Transformer model
# files against the PyTorch references in families_ref.py.
#
#   TFC=./tfc SAN= PYTHON=/usr/bin/python3 tests/golden/families.sh
#
# TFC     the compiler to test (default ./tfc)
# SAN     1 when TFC is an AddressSanitizer + UBSan build: reports in stderr
#         fail a case even when the exit status is 0, and the base-size
#         models are left out
# PYTHON  a Python with torch and numpy (default /usr/bin/python3)
# GOLDEN_SKIP_BIG  1 leaves out the base-size models (BERT-base, Llama with
#                  12 layers of width 768, T5-small, FLAN-T5-small,
#                  Transformer-base)
# GOLDEN_ONLY      space-separated families to run (bert llama t5 transformer)
# GOLDEN_KEEP      1 keeps the temporary folder and prints its path
# GOLDEN_JIT_BOTH  1: each case again with --jit cc, whose logits must equal
#                  the first run's (tfc's default back end) bit for bit
# GOLDEN_TIMEOUT   seconds allowed for one tfc run (default 600)
# TFC_POISON       1 (default) builds the models in poison mode (freed arena
#                  buffers read as NaN); 0 runs the plain build
#
# A family whose model file (models/X.model) does not exist yet is skipped
# with a SKIP line.  Prints one line per case and ends with
# "N passed, M failed" (skips not counted); exits 1 when any case failed,
# 2 when the suite could not run at all.

set -u

TFC=${TFC:-./tfc}
SAN=${SAN:-}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TIMEOUT=${GOLDEN_TIMEOUT:-600}
REF="$HERE/families_ref.py"
ONLY=${GOLDEN_ONLY:-bert llama t5 transformer}
BIG=1
[ "${GOLDEN_SKIP_BIG:-}" = 1 ] && BIG=0
[ -n "$SAN" ] && [ "$SAN" != 0 ] && BIG=0

# ---- preflight -------------------------------------------------------------

. "$HERE/lib.sh"
golden_setup families

# want FAMILY MODEL...: true when every models/MODEL.model exists and
# FAMILY is selected; otherwise prints a SKIP line.
want() {
    fam=$1
    shift
    case " $ONLY " in *" $fam "*) ;; *) return 1 ;; esac
    for m in "$@"; do
        if [ ! -f "$ROOT/models/$m.model" ]; then
            skip "$fam: models/$m.model does not exist yet"
            return 1
        fi
    done
    return 0
}

# make LABEL FAMILY ARGS...: runs families_ref.py make; a failure is a FAIL.
make_ref() {
    label=$1
    shift
    t0=$(now)
    if ! ref_make "$REF" make "$@" 2>"$tmp/make-err.txt"; then
        fail "setup: $label weights or references"
        detail "$tmp/make-err.txt" 8
        return 1
    fi
    echo "     ($label weights and references: $(elapsed "$t0"))"
    return 0
}

# golden LABEL MODEL WEIGHTS SHAPE REF TFC-ARGS...: runs tfc and compares its
# output (SHAPE like 9,101 or 2) with REF.
golden() {
    label=$1 model=$2 weights=$3 shape=$4 ref=$5
    shift 5
    out=$tmp/out.f32
    rm -f "$out"
    if [ ! -f "$ref" ]; then
        fail "$label: no reference (its setup failed)"
        return
    fi
    run_tfc "$ROOT/models/$model.model" "$@" --weights "$weights" --run --logits "$out"
    judge_output "$label" \
        "$TFC models/$model.model $(echo "$*" | sed -E 's/([0-9]+,[0-9]+,)[0-9,]+/\1.../g') --weights $weights --run --logits $out" \
        "$PYTHON" "$REF" compare "$out" "$ref" --shape "$shape"
    same_bits "$label" "$out" "$ROOT/models/$model.model" "$@" --weights "$weights" --run
}

# bad LABEL MODEL WANT WEIGHTS TFC-ARGS...: tfc must fail cleanly with a
# message on stderr matching WANT (case-insensitive extended regex).
bad() {
    label=$1 model=$2 re=$3 weights=$4
    shift 4
    rm -f "$tmp/out.f32"
    if [ ! -f "$weights" ]; then
        fail "$label: no weights (their setup failed)"
        return
    fi
    run_tfc "$ROOT/models/$model.model" "$@" --weights "$weights" --run --logits "$tmp/out.f32"
    judge_refusal "$label" "$re"
}

# ---- BERT ------------------------------------------------------------------
# Sequence classification (models/bert.model, [labels]) and token
# classification (models/bert_ner.model, [n, labels]); padding cases give
# --length L < n.

if want bert bert bert_ner; then
    SMALL="-D vocab=101 -D ctx=64 -D types=2 -D dim=64 -D heads=4 -D layers=2 -D ffn=128 -D labels=3"
    for n in 1 9 64; do
        eval "BT$n=\$(random_tokens $n 101 $((n + 100)))"
        eval "BY$n=\$(random_tokens $n 2 $((n + 200)))"
    done
    # Types as given, and (n=9) left out: then all zero.
    for fam in bert bert_ner; do
        extra=""
        [ $fam = bert ] && extra="--position-ids"
        # shellcheck disable=SC2086
        make_ref "$fam small" $fam --seed 31 --out "$tmp/$fam-s.st" $SMALL $extra \
            --case "tokens=$BT1 types=$BY1 ref=$tmp/$fam-s-1.f32" \
            --case "tokens=$BT9 ref=$tmp/$fam-s-9.f32" \
            --case "tokens=$BT64 types=$BY64 ref=$tmp/$fam-s-64.f32" \
            --case "tokens=$BT9 types=$BY9 length=5 ref=$tmp/$fam-s-9L5.f32" \
            --case "tokens=$BT64 types=$BY64 length=33 ref=$tmp/$fam-s-64L33.f32" \
            --case "tokens=$BT64 types=$BY64 length=1 ref=$tmp/$fam-s-64L1.f32"
    done
    for fam in bert bert_ner; do
        r=$tmp/$fam-s
        if [ $fam = bert ]; then s1=3 s9=3 s64=3; what="$fam small (+position_ids)"
        else s1=1,3 s9=9,3 s64=64,3; what="$fam small"; fi
        # shellcheck disable=SC2086
        {
        golden "$what n=1" $fam "$r.st" $s1 "$r-1.f32" $SMALL --tokens "$BT1" --types "$BY1"
        golden "$what n=9 (no --types)" $fam "$r.st" $s9 "$r-9.f32" $SMALL --tokens "$BT9"
        golden "$what n=64" $fam "$r.st" $s64 "$r-64.f32" $SMALL --tokens "$BT64" --types "$BY64"
        golden "$what n=9 L=5" $fam "$r.st" $s9 "$r-9L5.f32" $SMALL --tokens "$BT9" \
            --types "$BY9" --length 5
        golden "$what n=64 L=33" $fam "$r.st" $s64 "$r-64L33.f32" $SMALL --tokens "$BT64" \
            --types "$BY64" --length 33
        golden "$what n=64 L=1" $fam "$r.st" $s64 "$r-64L1.f32" $SMALL --tokens "$BT64" \
            --types "$BY64" --length 1
        }
    done
    # shellcheck disable=SC2086
    bad "bad: token-classification file (no pooler) to bert.model" bert \
        'bert\.pooler\.dense' "$tmp/bert_ner-s.st" $SMALL --tokens 1,2,3
    rm -f "$tmp"/bert_ner-s*

    if [ $BIG = 1 ]; then
        for n in 1 9 64; do
            eval "BT$n=\$(random_tokens $n 30522 $((n + 300)))"
            eval "BY$n=\$(random_tokens $n 2 $((n + 400)))"
        done
        r=$tmp/bert-b
        make_ref "bert-base" bert --seed 32 --out "$r.st" \
            --case "tokens=$BT1 types=$BY1 ref=$r-1.f32" \
            --case "tokens=$BT9 types=$BY9 ref=$r-9.f32" \
            --case "tokens=$BT64 types=$BY64 ref=$r-64.f32" \
            --case "tokens=$BT64 types=$BY64 length=33 ref=$r-64L33.f32"
        golden "bert-base n=1" bert "$r.st" 2 "$r-1.f32" --tokens "$BT1" --types "$BY1"
        golden "bert-base n=9" bert "$r.st" 2 "$r-9.f32" --tokens "$BT9" --types "$BY9"
        golden "bert-base n=64" bert "$r.st" 2 "$r-64.f32" --tokens "$BT64" --types "$BY64"
        golden "bert-base n=64 L=33" bert "$r.st" 2 "$r-64L33.f32" --tokens "$BT64" \
            --types "$BY64" --length 33
        rm -f "$r"*
        r=$tmp/bert_ner-b
        make_ref "bert_ner-base" bert_ner --seed 33 --out "$r.st" \
            --case "tokens=$BT9 types=$BY9 ref=$r-9.f32" \
            --case "tokens=$BT64 types=$BY64 length=33 ref=$r-64L33.f32"
        golden "bert_ner-base n=9" bert_ner "$r.st" 9,2 "$r-9.f32" --tokens "$BT9" --types "$BY9"
        golden "bert_ner-base n=64 L=33" bert_ner "$r.st" 64,2 "$r-64L33.f32" --tokens "$BT64" \
            --types "$BY64" --length 33
        rm -f "$r"*
    fi
fi

# ---- Llama -----------------------------------------------------------------
# Meta names (models/llama_meta.model, interleaved RoPE) and Hugging Face
# names (models/llama.model, rotate-half RoPE, q/k rows permuted) hold the
# same model: the references agree, and tfc must match on both.

if want llama llama llama_meta; then
    SMALL="-D vocab=97 -D ctx=64 -D dim=64 -D heads=4 -D kv_heads=2 -D layers=2 -D ffn=96"
    for n in 1 9 64; do
        eval "LT$n=\$(random_tokens $n 97 $((n + 500)))"
    done
    r=$tmp/llama-s
    # shellcheck disable=SC2086
    make_ref "llama small (Meta + HF)" llama --seed 41 --names meta --out "$r-meta.st" \
        --hf-out "$r-hf.st" $SMALL \
        --case "tokens=$LT1 ref=$r-1.f32" --case "tokens=$LT9 ref=$r-9.f32" \
        --case "tokens=$LT64 ref=$r-64.f32"
    # shellcheck disable=SC2086
    make_ref "llama small kv_heads=1" llama --seed 42 --out "$r-mq.st" \
        $SMALL -D kv_heads=1 \
        --case "tokens=$LT9 ref=$r-mq-9.f32" --case "tokens=$LT64 ref=$r-mq-64.f32"
    # shellcheck disable=SC2086
    make_ref "llama small rope_theta=500000" llama --seed 43 --out "$r-theta.st" \
        $SMALL -D rope_theta=500000 --case "tokens=$LT64 ref=$r-theta-64.f32"
    for n in 1 9 64; do
        # shellcheck disable=SC2086
        golden "llama small HF names n=$n" llama "$r-hf.st" $n,97 "$r-$n.f32" $SMALL --tokens "$(eval echo \$LT$n)"
    done
    for n in 1 9 64; do
        # shellcheck disable=SC2086
        golden "llama_meta small Meta names n=$n" llama_meta "$r-meta.st" $n,97 "$r-$n.f32" \
            $SMALL --tokens "$(eval echo \$LT$n)"
    done
    # shellcheck disable=SC2086
    {
    golden "llama small kv_heads=1 n=9" llama "$r-mq.st" 9,97 "$r-mq-9.f32" $SMALL -D kv_heads=1 --tokens "$LT9"
    golden "llama small kv_heads=1 n=64" llama "$r-mq.st" 64,97 "$r-mq-64.f32" $SMALL -D kv_heads=1 --tokens "$LT64"
    golden "llama small -D rope_theta=500000 n=64" llama "$r-theta.st" 64,97 "$r-theta-64.f32" \
        $SMALL -D rope_theta=500000 --tokens "$LT64"
    bad "bad: kv_heads=2 file with -D kv_heads=4" llama \
        'model\.layers\.0\.self_attn\.k_proj\.weight' "$r-hf.st" $SMALL -D kv_heads=4 --tokens 1,2,3
    bad "bad: Meta-names file to llama.model" llama \
        'model\.(embed_tokens|layers\.0\.|norm)|lm_head' "$r-meta.st" $SMALL --tokens 1,2,3
    }
    [ -f "$tmp/bert-s.st" ] ||
        make_ref "bert small (for a bad case)" bert --seed 31 --out "$tmp/bert-s.st" \
            -D vocab=101 -D ctx=64 -D dim=64 -D heads=4 -D layers=2 -D ffn=128 -D labels=3
    bad "bad: BERT file to llama.model" llama \
        'model\.(embed_tokens|layers\.0\.|norm)|lm_head' "$tmp/bert-s.st" --tokens 1,2,3
    rm -f "$r"*

    if [ $BIG = 1 ]; then
        BASE="-D layers=12 -D dim=768 -D heads=12 -D kv_heads=4 -D ffn=2048 -D vocab=32000"
        for n in 1 9 64; do
            eval "LT$n=\$(random_tokens $n 32000 $((n + 600)))"
        done
        r=$tmp/llama-b
        # shellcheck disable=SC2086
        make_ref "llama base (HF)" llama --seed 44 --out "$r.st" $BASE \
            --case "tokens=$LT1 ref=$r-1.f32" --case "tokens=$LT9 ref=$r-9.f32" \
            --case "tokens=$LT64 ref=$r-64.f32"
        for n in 1 9 64; do
            # shellcheck disable=SC2086
            golden "llama base n=$n" llama "$r.st" $n,32000 "$r-$n.f32" $BASE --tokens "$(eval echo \$LT$n)"
        done
        rm -f "$r"*
    fi
fi

# ---- T5 --------------------------------------------------------------------
# models/t5.model (ReLU, tied head) and models/t5_gated.model (gated GELU,
# lm_head); --src feeds the encoder, --tokens the decoder.

if want t5 t5 t5_gated; then
    SMALL="-D vocab=103 -D ctx=64 -D dim=64 -D kv_dim=64 -D heads=4 -D layers=2 -D ffn=128"
    for n in 1 9 64; do
        eval "TS$n=\$(random_tokens $n 103 $((n + 700)))"
        eval "TT$n=\$(random_tokens $n 103 $((n + 800)))"
    done
    r=$tmp/t5-s
    # shellcheck disable=SC2086
    make_ref "t5 small" t5 --seed 51 --out "$r.st" $SMALL \
        --case "src=$TS1 tokens=$TT1 ref=$r-1.f32" \
        --case "src=$TS9 tokens=$TT9 ref=$r-9.f32" \
        --case "src=$TS64 tokens=$TT64 ref=$r-64.f32" \
        --case "src=$TS64 tokens=$TT9 ref=$r-64x9.f32" \
        --case "src=$TS9 tokens=$TT64 ref=$r-9x64.f32"
    # kv_dim != dim (heads of 24), and a long distance (max_distance 20).
    KV="-D vocab=103 -D ctx=64 -D dim=64 -D kv_dim=96 -D heads=4 -D layers=2 -D ffn=128 -D max_distance=20 -D buckets=16"
    # shellcheck disable=SC2086
    make_ref "t5 small kv_dim=96" t5 --seed 52 --out "$r-kv.st" $KV \
        --case "src=$TS64 tokens=$TT64 ref=$r-kv-64.f32"
    for n in 1 9 64; do
        # shellcheck disable=SC2086
        golden "t5 small src n=$n tokens n=$n" t5 "$r.st" $n,103 "$r-$n.f32" $SMALL \
            --src "$(eval echo \$TS$n)" --tokens "$(eval echo \$TT$n)"
    done
    # shellcheck disable=SC2086
    {
    golden "t5 small src n=64 tokens n=9" t5 "$r.st" 9,103 "$r-64x9.f32" $SMALL --src "$TS64" --tokens "$TT9"
    golden "t5 small src n=9 tokens n=64" t5 "$r.st" 64,103 "$r-9x64.f32" $SMALL --src "$TS9" --tokens "$TT64"
    golden "t5 small kv_dim=96 buckets=16 max_distance=20 n=64" t5 "$r-kv.st" 64,103 "$r-kv-64.f32" $KV \
        --src "$TS64" --tokens "$TT64"
    }
    [ -f "$tmp/bert-s.st" ] ||
        make_ref "bert small (for a bad case)" bert --seed 31 --out "$tmp/bert-s.st" \
            -D vocab=101 -D ctx=64 -D dim=64 -D heads=4 -D layers=2 -D ffn=128 -D labels=3
    # shellcheck disable=SC2086
    bad "bad: BERT file to t5.model" t5 "tensor 'shared\.weight' is missing" "$tmp/bert-s.st" \
        $SMALL --src 1,2,3 --tokens 1,2
    # shellcheck disable=SC2086
    bad "bad: ReLU (wi) file to t5_gated.model" t5_gated \
        "tensor 'encoder\.block\.0\.layer\.1\.DenseReluDense\.wi_0\.weight' is missing" \
        "$r.st" $SMALL --src 1,2,3 --tokens 1,2
    rm -f "$r"*

    # The gated-GELU variant (T5 v1.1, FLAN-T5) with its untied head.
    # shellcheck disable=SC2086
    make_ref "t5_gated small" t5_gated --seed 54 --out "$r-g.st" $SMALL \
        --case "src=$TS1 tokens=$TT1 ref=$r-g-1.f32" \
        --case "src=$TS9 tokens=$TT9 ref=$r-g-9.f32" \
        --case "src=$TS64 tokens=$TT64 ref=$r-g-64.f32" \
        --case "src=$TS64 tokens=$TT9 ref=$r-g-64x9.f32"
    for n in 1 9 64; do
        # shellcheck disable=SC2086
        golden "t5_gated small src n=$n tokens n=$n" t5_gated "$r-g.st" $n,103 "$r-g-$n.f32" \
            $SMALL --src "$(eval echo \$TS$n)" --tokens "$(eval echo \$TT$n)"
    done
    # shellcheck disable=SC2086
    {
    golden "t5_gated small src n=64 tokens n=9" t5_gated "$r-g.st" 9,103 "$r-g-64x9.f32" $SMALL \
        --src "$TS64" --tokens "$TT9"
    bad "bad: gated file (lm_head) to t5.model" t5 \
        "tensor 'encoder\.block\.0\.layer\.1\.DenseReluDense\.wi\.weight' is missing" \
        "$r-g.st" $SMALL --src 1,2,3 --tokens 1,2
    }
    rm -f "$r"*

    if [ $BIG = 1 ]; then
        for n in 1 9 64; do
            eval "TS$n=\$(random_tokens $n 32128 $((n + 900)))"
            eval "TT$n=\$(random_tokens $n 32128 $((n + 1000)))"
        done
        r=$tmp/t5-b
        make_ref "t5-small (defaults)" t5 --seed 53 --out "$r.st" \
            --case "src=$TS1 tokens=$TT1 ref=$r-1.f32" \
            --case "src=$TS9 tokens=$TT9 ref=$r-9.f32" \
            --case "src=$TS64 tokens=$TT64 ref=$r-64.f32"
        for n in 1 9 64; do
            golden "t5-small src n=$n tokens n=$n" t5 "$r.st" $n,32128 "$r-$n.f32" \
                --src "$(eval echo \$TS$n)" --tokens "$(eval echo \$TT$n)"
        done
        rm -f "$r"*
        make_ref "flan-t5-small (t5_gated defaults)" t5_gated --seed 55 --out "$r-g.st" \
            --case "src=$TS9 tokens=$TT9 ref=$r-g-9.f32" \
            --case "src=$TS64 tokens=$TT64 ref=$r-g-64.f32"
        for n in 9 64; do
            golden "flan-t5-small src n=$n tokens n=$n" t5_gated "$r-g.st" $n,32128 "$r-g-$n.f32" \
                --src "$(eval echo \$TS$n)" --tokens "$(eval echo \$TT$n)"
        done
        rm -f "$r"*
    fi
fi

# ---- Transformer (Vaswani et al.) ------------------------------------------
# The reference is torch.nn.Transformer itself.

if want transformer transformer; then
    SMALL="-D src_vocab=89 -D tgt_vocab=83 -D ctx=64 -D dim=64 -D heads=4 -D layers=2 -D ffn=128"
    for n in 1 9 64; do
        eval "XS$n=\$(random_tokens $n 89 $((n + 1100)))"
        eval "XT$n=\$(random_tokens $n 83 $((n + 1200)))"
    done
    r=$tmp/tr-s
    # shellcheck disable=SC2086
    make_ref "transformer small" transformer --seed 61 --out "$r.st" $SMALL \
        --case "src=$XS1 tokens=$XT1 ref=$r-1.f32" \
        --case "src=$XS9 tokens=$XT9 ref=$r-9.f32" \
        --case "src=$XS64 tokens=$XT64 ref=$r-64.f32" \
        --case "src=$XS64 tokens=$XT9 ref=$r-64x9.f32"
    for n in 1 9 64; do
        # shellcheck disable=SC2086
        golden "transformer small src n=$n tokens n=$n" transformer "$r.st" $n,83 "$r-$n.f32" \
            $SMALL --src "$(eval echo \$XS$n)" --tokens "$(eval echo \$XT$n)"
    done
    # shellcheck disable=SC2086
    golden "transformer small src n=64 tokens n=9" transformer "$r.st" 9,83 "$r-64x9.f32" \
        $SMALL --src "$XS64" --tokens "$XT9"
    rm -f "$r"*

    if [ $BIG = 1 ]; then
        for n in 1 9 64; do
            eval "XS$n=\$(random_tokens $n 32000 $((n + 1300)))"
            eval "XT$n=\$(random_tokens $n 32000 $((n + 1400)))"
        done
        r=$tmp/tr-b
        make_ref "transformer base" transformer --seed 62 --out "$r.st" \
            --case "src=$XS1 tokens=$XT1 ref=$r-1.f32" \
            --case "src=$XS9 tokens=$XT9 ref=$r-9.f32" \
            --case "src=$XS64 tokens=$XT64 ref=$r-64.f32"
        for n in 1 9 64; do
            golden "transformer base src n=$n tokens n=$n" transformer "$r.st" $n,32000 \
                "$r-$n.f32" --src "$(eval echo \$XS$n)" --tokens "$(eval echo \$XT$n)"
        done
        rm -f "$r"*
    fi
fi

finish
