#!/bin/sh
# tests/tokenizer/run.sh - the runtime's GPT-2 tokenizer against an
# independent implementation, the npm package gpt-3-encoder.
#
#   tests/tokenizer/run.sh            (from anywhere; SAN=1 for sanitizers)
#
# For tinyshakespeare.txt and awkward.txt, the ids from tfrt_tok_encode must
# equal gpt-3-encoder's, loading the tokenizer three ways (encoder.json +
# vocab.bpe; a tokenizer.json with "a b" merges; one with ["a", "b"]
# merges) and a fourth (vocab.json + merges.txt) on awkward.txt; decoding
# must give back the input byte for byte, invalid UTF-8 included.
# The shared data folder is $TFC_SHARED/data (or $TFC_SHARED itself), by
# default ../shared/data beside the repository.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/tokenizer/lib.sh
tok_setup || exit 2

node tests/tokenizer/make_tokenizer_json.js "$GPT2" "$TMP" || exit 2
mkdir "$TMP/hfnames"
ln -s "$GPT2/encoder.json" "$TMP/hfnames/vocab.json"
ln -s "$GPT2/vocab.bpe" "$TMP/hfnames/merges.txt"

node tests/tokenizer/oracle.js "$SHAKES" > "$TMP/shakes.ids" || exit 2
node tests/tokenizer/oracle.js "$AWK" > "$TMP/awk.ids" || exit 2

for tok in "$GPT2" "$TMP/strings.json" "$TMP/pairs.json"; do
    name=$(basename "$tok")
    expect_same "tinyshakespeare, $name" "$tok" "$SHAKES" "$TMP/shakes.ids"
    expect_same "awkward.txt, $name" "$tok" "$AWK" "$TMP/awk.ids"
done
expect_same "awkward.txt, vocab.json + merges.txt" "$TMP/hfnames" "$AWK" "$TMP/awk.ids"

expect_roundtrip "round trip tinyshakespeare" "$GPT2" "$SHAKES"
expect_roundtrip "round trip awkward.txt" "$GPT2" "$AWK"

# Invalid UTF-8: stray continuation bytes, truncated and overlong forms,
# encoded surrogates, bytes that never occur in UTF-8, then every byte.
printf 'ok \377\376 x\200\201 y\342\202 z\300\257 \355\240\200 w\370\210\200\200\200 \364\220\200\200!\n' > "$TMP/invalid.bin"
i=0
while [ $i -lt 256 ]; do
    printf "\\$(printf %03o $i)" >> "$TMP/invalid.bin"
    i=$((i + 1))
done
printf 'caf\303\251 \342\202\254\342\202 end \342' >> "$TMP/invalid.bin"
expect_roundtrip "round trip invalid UTF-8 (encoder.json)" "$GPT2" "$TMP/invalid.bin"
expect_roundtrip "round trip invalid UTF-8 (pairs.json)" "$TMP/pairs.json" "$TMP/invalid.bin"

# Added tokens are matched before pre-tokenization: ids of "Hello there"
# and "world" around 50256.
printf 'Hello there<|endoftext|>world' > "$TMP/eot.txt"
printf 'Hello there' > "$TMP/a.txt"
printf 'world' > "$TMP/b.txt"
echo "$(node tests/tokenizer/oracle.js "$TMP/a.txt"),50256,$(node tests/tokenizer/oracle.js "$TMP/b.txt")" > "$TMP/eot.ids"
expect_same "<|endoftext|> as one token (encoder.json)" "$GPT2" "$TMP/eot.txt" "$TMP/eot.ids"
expect_same "<|endoftext|> as one token (strings.json)" "$TMP/strings.json" "$TMP/eot.txt" "$TMP/eot.ids"

"$TOKCHECK" encode "$GPT2" "$SHAKES" 2>&1 > /dev/null | sed 's/^/time: /'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
