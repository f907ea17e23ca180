#!/bin/sh
# tests/golden/checkpoints.sh - checkpoints in the forms people download,
# and text to text for every family, against PyTorch (checkpoints_ref.py).
#
#   TFC=./tfc PYTHON=/usr/bin/python3 tests/golden/checkpoints.sh
#
# - Hugging Face folders for GPT-2 (with a tied lm_head.weight stored),
#   Llama and BERT: config.json, bf16 weights in two shards and an index,
#   tokenizer.json.  Each runs with --weights DIR and no -D; the logits
#   must match PyTorch's on the same bf16 weights (widened to float32) to
#   1e-4 x max(1, max |ref|), the golden tolerance.
# - BERT --prompt prints label names from config.json's id2label and
#   PyTorch's probabilities (to 1e-4).  T5 --prompt prints the text of
#   PyTorch's greedy target.  GPT-2 --prompt finds the folder's tokenizer.
# - llama2.c checkpoints (legacy and version 1 fp32: PyTorch's greedy ids;
#   version 2, Q8_0: logits of the dequantized weights), and with
#   tokenizer.bin the same text as the safetensors copy with tokenizer.json.
# - A -D that contradicts config.json is reported, a shape error names the
#   key to change, pytorch_model.bin is refused with how to convert, and a
#   FIFO as --weights or --tokenizer is refused at once.
set -u
TFC=${TFC:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
golden_setup checkpoints
REF=$HERE/checkpoints_ref.py
TOKS=$tmp/toks
SHARED=${TFC_SHARED:-$ROOT/../shared}
[ -d "$SHARED/data/gpt2" ] && SHARED=$SHARED/data

# ---- the folders ---------------------------------------------------------------
spm_train --input="$SHARED/tinyshakespeare.txt" --model_prefix="$tmp/t5sp" --vocab_size=3000 \
    --model_type=unigram --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 \
    --normalization_rule_name=nmt_nfkc --character_coverage=1.0 --minloglevel=2 \
    > "$tmp/spm.log" 2>&1 || { fail "setup: spm_train"; detail "$tmp/spm.log"; finish; }
node "$ROOT/tests/tokenizer/make_families.mjs" "$TOKS" "$tmp/t5sp.model" &&
    node "$ROOT/tests/tokenizer/make_tokenizer_json.js" "$SHARED/gpt2" "$tmp/g2" &&
    mkdir -p "$TOKS/gpt2" && cp "$tmp/g2/strings.json" "$TOKS/gpt2/tokenizer.json" ||
    { fail "setup: tokenizers"; finish; }
OUT=$tmp/ck
mkdir -p "$OUT"
SRC_TEXT="Good morrow, my lord; what news?"
printf '%s' "$SRC_TEXT" > "$tmp/src.txt"
node "$ROOT/tests/tokenizer/oracle_hf.mjs" "$TOKS/t5/tokenizer.json" "$tmp/src.txt" special \
    > "$OUT/t5.src.in" || { fail "setup: t5 source ids"; finish; }
t0=$(now)
"$PYTHON" "$REF" make "$OUT" "$TOKS" 2> "$tmp/make.log" ||
    { fail "setup: checkpoints_ref.py make"; detail "$tmp/make.log" 10; finish; }
echo "     (checkpoints and references: $(elapsed "$t0"))"

run() {   # run LOG ARGS...: tfc with a time limit; status in $rc
    log=$1
    shift
    timeout 300 "$TFC" "$@" > "$log.out" 2> "$log.err"
    rc=$?
}

compare() {   # compare LABEL OUT REF N VOCAB
    if "$PYTHON" "$HERE/compare.py" "$2" "$3" --n "$4" --vocab "$5" --label "$1" > "$tmp/cmp" 2>&1; then
        pass "$(cat "$tmp/cmp")"
    else
        fail "$(cat "$tmp/cmp")"
    fi
}

# logits FAMILY MODEL N VOCAB: --weights DIR, no -D, against the reference
logits() {
    run "$tmp/$1" "$ROOT/models/$2.model" --weights "$OUT/$1" --run \
        --tokens "$(cat "$OUT/$1.ids")" --logits "$tmp/$1.f32"
    if [ $rc -ne 0 ]; then
        fail "$1 folder: tfc exited $rc"
        detail "$tmp/$1.err"
    else
        compare "$1 bf16 sharded folder, no -D" "$tmp/$1.f32" "$OUT/$1.ref.f32" "$3" "$4"
    fi
}
logits gpt2 gpt2 12 50257
logits llama llama 13 32000
logits bert bert 1 3

# ---- text to text ------------------------------------------------------------------
printf 'The quick brown fox jumps over the lazy dog.' > "$tmp/bert.txt"
run "$tmp/bertp" "$ROOT/models/bert.model" --weights "$OUT/bert" --run --prompt "$(cat "$tmp/bert.txt")"
"$PYTHON" "$REF" probs "$OUT/bert.ref.f32" 3 > "$tmp/probs"
if [ $rc -eq 0 ] && awk -v p="$tmp/probs" 'BEGIN { split("NEGATIVE NEUTRAL POSITIVE", n, " ");
        for (i = 1; i <= 3; i++) { getline v < p; want[n[i]] = v } }
        { if (!($1 in want) || ($2 - want[$1]) ^ 2 > 1e-8) bad = 1; seen++ }
        END { exit bad || seen != 3 }' "$tmp/bertp.out"; then
    pass "bert --prompt: labels from id2label, PyTorch's probabilities"
else
    fail "bert --prompt (exit $rc)"
    detail "$tmp/bertp.out"
    detail "$tmp/bertp.err"
fi

run "$tmp/t5" "$ROOT/models/t5.model" --weights "$OUT/t5" --run --prompt "$SRC_TEXT" --temp 0 -n 12
"$TFC" --tokenizer "$OUT/t5/tokenizer.json" --decode "$(cat "$OUT/t5.greedy")" > "$tmp/t5.want" 2>&1
if [ $rc -eq 0 ] && cmp -s "$tmp/t5.out" "$tmp/t5.want"; then
    pass "t5 --prompt: the text of PyTorch's greedy target ($(cat "$tmp/t5.want"))"
else
    fail "t5 --prompt (exit $rc): '$(cat "$tmp/t5.out")', want '$(cat "$tmp/t5.want")'"
    detail "$tmp/t5.err"
fi

run "$tmp/g2p" "$ROOT/models/gpt2.model" --weights "$OUT/gpt2" --run --prompt "Hello" -n 4 --temp 0
if [ $rc -eq 0 ] && [ -s "$tmp/g2p.out" ]; then
    pass "gpt2 --prompt with the folder's tokenizer.json"
else
    fail "gpt2 --prompt without --tokenizer (exit $rc)"
    detail "$tmp/g2p.err"
fi

# ---- llama2.c ---------------------------------------------------------------------------
L2=$OUT/llama2c
for v in legacy v1; do
    run "$tmp/$v" "$ROOT/models/llama2c.model" --weights "$L2/$v.bin" --run \
        --tokens "$(cat "$OUT/llama.ids")" -n 12 --temp 0
    if [ $rc -eq 0 ] && cmp -s "$tmp/$v.out" "$L2/greedy.ids"; then
        pass "llama2.c $v checkpoint: PyTorch's greedy ids"
    else
        fail "llama2.c $v checkpoint (exit $rc): $(cat "$tmp/$v.out")"
        detail "$tmp/$v.err"
    fi
done
run "$tmp/v2" "$ROOT/models/llama2c.model" --weights "$L2/v2.bin" --run \
    --tokens "$(cat "$OUT/llama.ids")" --logits "$tmp/v2.f32"
compare "llama2.c version 2 (Q8_0) checkpoint" "$tmp/v2.f32" "$L2/v2.ref.f32" 13 32000
run "$tmp/l2text" "$ROOT/models/llama2c.model" --weights "$L2/legacy.bin" \
    --tokenizer "$TOKS/llama/tokenizer.bin" --run --prompt "Once upon a time" -n 12 --temp 0
run "$tmp/sttext" "$ROOT/models/llama_meta.model" --weights "$L2/model.safetensors" -D ctx=128 \
    -D dim=64 -D heads=4 -D kv_heads=2 -D layers=2 -D ffn=160 \
    --tokenizer "$TOKS/llama/tokenizer.json" --run --prompt "Once upon a time" -n 12 --temp 0
if [ -s "$tmp/l2text.out" ] && cmp -s "$tmp/l2text.out" "$tmp/sttext.out"; then
    pass "llama2.c checkpoint + tokenizer.bin: the text of the safetensors copy + tokenizer.json"
else
    fail "llama2.c text '$(cat "$tmp/l2text.out")' != '$(cat "$tmp/sttext.out")'"
    detail "$tmp/l2text.err"
fi

# ---- what must be refused or reported -------------------------------------------------
expect_msg() {   # expect_msg LABEL WANT_STATUS TEXT ARGS...
    label=$1 want=$2 text=$3
    shift 3
    run "$tmp/msg" "$@"
    if [ $rc -eq "$want" ] && grep -qF -- "$text" "$tmp/msg.err"; then
        pass "$label"
    else
        fail "$label: exit $rc, wanted $want and '$text'"
        detail "$tmp/msg.err"
    fi
}
expect_msg "-D against config.json is reported" 1 "-D dim=128 overrides $OUT/gpt2/config.json's \"n_embd\" = 64" \
    "$ROOT/models/gpt2.model" --weights "$OUT/gpt2" -D dim=128 --run --tokens 1,2
expect_msg "a shape error names the -D to change" 1 "dim = 128 comes from -D dim; the file fits dim = 64" \
    "$ROOT/models/gpt2.model" --weights "$OUT/gpt2" -D dim=128 --run --tokens 1,2
cp -r "$OUT/gpt2" "$tmp/g2bad"
sed 's/"n_head": 4/"n_head": 4, "n_embd_": 0/; s/"n_embd": 64/"n_embd": 32/' "$OUT/gpt2/config.json" \
    > "$tmp/g2bad/config.json"
expect_msg "a shape error names the config.json key" 1 "dim = 32 comes from $tmp/g2bad/config.json's \"n_embd\"" \
    "$ROOT/models/gpt2.model" --weights "$tmp/g2bad" --run --tokens 1,2
mkdir "$tmp/pt" && : > "$tmp/pt/pytorch_model.bin"
expect_msg "pytorch_model.bin is refused with how to convert" 1 "safetensors.torch import save_file" \
    "$ROOT/models/gpt2.model" --weights "$tmp/pt" --run --tokens 1,2
mkfifo "$tmp/fifo"
expect_msg "a FIFO as --weights is refused" 3 "not a regular file" \
    "$ROOT/models/gpt2.model" --weights "$tmp/fifo" --run --tokens 1,2
expect_msg "a FIFO as --tokenizer is refused" 1 "not a regular file" \
    --tokenizer "$tmp/fifo" --encode "$tmp/bert.txt"

finish
