# Sourced by tests/report/run.sh (its TFC, PY, HERE, ROOT, tmp, pass, fail,
# render and CHROMIUM): the attention section of pages made with weights.
#
#   - attention_ref.py setup: tiny random GPT-2, BERT, Llama (grouped-query),
#     T5 and Transformer models and PyTorch's attention probabilities for
#     one input each (BERT padded with --length);
#   - tfc --report --attention-json for each (GPT-2 also with --jit cc): the
#     probabilities tfc's attention kernel recorded equal PyTorch's within
#     the golden tolerance; the page has a heatmap and entropies for every
#     attention node (check_report.py --attention), and Chromium renders it;
#   - an encoder-decoder's --prompt: the decoder tokens tfc chooses
#     greedily are PyTorch's, and the attention over them PyTorch's;
#   - a page of GPT-2's shape (12 layers of 12 heads) over a 200-token
#     prompt is downsampled and stays under 2 MB;
#   - --quantize int8 with -f TEXT (the shipped demo model): the page's
#     per-layer errors are --quant-report=json's on the same text
#     (check_quant.py), and the page renders;
#   - bad input: --prompt without --weights, --report with -n are refused.
#
# GOLDEN_PYTHON: a Python with torch and numpy (default /usr/bin/python3).

APY=${GOLDEN_PYTHON:-/usr/bin/python3}
adir=$tmp/attention
mkdir -p "$adir"

# page_checks LABEL PAGE MODEL DEFINES CALLS: check_report.py against the
# plans of the same configuration, then Chromium.
page_checks() {
    # shellcheck disable=SC2086
    if ! "$TFC" "$ROOT/models/$3.model" $4 --plan=json >"$adir/full.json" 2>"$adir/err"; then
        fail "$1: --plan=json: $(head -n 1 "$adir/err")"
        return
    fi
    if "$PY" "$HERE/check_report.py" "$2" "$adir/full.json" --attention "$5" >"$adir/out"; then
        pass "$1: page: $(cat "$adir/out")"
    else
        fail "$1: page: $(head -n 1 "$adir/out")"; sed -n '2,6p' "$adir/out"
    fi
    [ -n "$CHROMIUM" ] || return
    if why=$(render "$2" "$adir/shot.png"); then
        pass "$1: Chromium rendered the page with its attention section, no console messages"
    else
        fail "$1: Chromium: $why"
    fi
}

if ! "$APY" "$HERE/attention_ref.py" setup "$adir" >"$adir/setup.out" 2>&1; then
    fail "attention: PyTorch references: $(tail -n 1 "$adir/setup.out")"
else
    n=0
    while IFS='|' read -r label model defines args calls ref; do
        n=$((n + 1))
        page=$adir/$n.html json=$adir/$n.json
        # shellcheck disable=SC2086
        if ! "$TFC" "$ROOT/models/$model.model" $defines $args --report "$page" \
                --attention-json "$json" 2>"$adir/err"; then
            fail "attention $label: tfc: $(grep -v '^tfc: \(loaded\|compiled\)' "$adir/err" | head -n 1)"
            continue
        fi
        if [ -n "${SAN:-}" ] && [ "$SAN" != 0 ] && grep -q 'Sanitizer\|runtime error' "$adir/err"; then
            fail "attention $label: sanitizer: $(grep -m 1 'Sanitizer\|runtime error' "$adir/err")"
        fi
        if out=$("$APY" "$HERE/attention_ref.py" compare "$json" "$ref" --label "attention $label"); then
            pass "${out#PASS }"
        else
            fail "${out#FAIL }"
        fi
        page_checks "attention $label" "$page" "$model" "$defines" "$calls"
    done <"$adir/cases.txt"

    # an encoder-decoder's --prompt (a WordPiece vocab.txt made here): the
    # prompt is the source, the decoder's tokens its start token and the
    # ones tfc chose greedily, which must be PyTorch's greedy choices; the
    # recorded attention over them PyTorch's
    { printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nquick\nfox\ndog\n'
      for c in a b c d e f g h i j k l m n o p q r s t u v w x y z; do printf '%s\n##%s\n' $c $c; done
    } >"$adir/vocab.txt"
    xdef=$(grep '^transformer' "$adir/cases.txt" | cut -d'|' -f3)
    xw=$(grep '^transformer' "$adir/cases.txt" | cut -d'|' -f4 | sed 's/^--weights \([^ ]*\).*/\1/')
    # shellcheck disable=SC2086
    if "$TFC" "$ROOT/models/transformer.model" $xdef --weights "$xw" --tokenizer "$adir/vocab.txt" \
            --prompt "the quick brown fox" --report "$adir/greedy.html" --attention-json "$adir/greedy.json" \
            2>"$adir/err" &&
       "$APY" "$HERE/attention_ref.py" ref transformer --weights "$xw" --inputs-from "$adir/greedy.json" \
            --greedy-from 1 --out "$adir/greedy.ref.json" 2>"$adir/err"; then
        if out=$("$APY" "$HERE/attention_ref.py" compare "$adir/greedy.json" "$adir/greedy.ref.json" \
                 --label "attention transformer --prompt (decoder tokens chosen greedily, as PyTorch's)"); then
            pass "${out#PASS }"
        else
            fail "${out#FAIL }"
        fi
        page_checks "attention transformer --prompt" "$adir/greedy.html" transformer "$xdef" 6
    else
        fail "attention transformer --prompt: $(grep -v '^tfc: \(loaded\|compiled\)' "$adir/err" | tail -n 1)"
    fi

    # GPT-2's shape (12 x 12 heads) over a long prompt: downsampled, < 2 MB
    big="-D vocab=64 -D ctx=256 -D dim=24 -D heads=12 -D layers=12"
    ids=$(awk 'BEGIN { for (i = 0; i < 200; i++) printf "%s%d", (i ? "," : ""), (i * 7) % 64 }')
    if "$APY" "$ROOT/tests/golden/gpt2_ref.py" make --vocab 64 --ctx 256 --dim 24 --heads 12 \
            --layers 12 --seed 3 --out "$adir/big.safetensors" >/dev/null 2>"$adir/err" &&
       # shellcheck disable=SC2086
       "$TFC" "$ROOT/models/gpt2.model" $big --weights "$adir/big.safetensors" --tokens "$ids" \
            --report "$adir/big.html" 2>"$adir/err"; then
        size=$(wc -c <"$adir/big.html")
        if [ "$size" -lt 2000000 ] && grep -q 'Downsampled' "$adir/big.html"; then
            pass "attention: 12 x 12 heads over 200 tokens: downsampled, $size bytes (< 2 MB)"
        else
            fail "attention: 12 x 12 heads over 200 tokens: $size bytes, or not downsampled"
        fi
        page_checks "attention 12 x 12 heads, 200 tokens" "$adir/big.html" gpt2 "$big" 12
    else
        fail "attention: 12 x 12 heads over 200 tokens: $(head -n 1 "$adir/err")"
    fi

    # --quantize int8: the page's per-layer errors are --quant-report's on
    # the same text (the shipped demo model, a few lines of Romeo and Juliet)
    demo="-D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4 --weights $ROOT/models/shakespeare.safetensors
          --tokenizer $ROOT/models/shakespeare.chars.json --quantize int8"
    cat >"$adir/text.txt" <<'TEXT'
ROMEO:
But, soft! what light through yonder window breaks?
It is the east, and Juliet is the sun.
Arise, fair sun, and kill the envious moon,
Who is already sick and pale with grief,
That thou her maid art far more fair than she:
Be not her maid, since she is envious;
Her vestal livery is but sick and green
And none but fools do wear it; cast it off.
It is my lady, O, it is my love!
O, that she knew she were!
She speaks yet she says nothing: what of that?
Her eye discourses; I will answer it.
TEXT
    # shellcheck disable=SC2086
    if "$TFC" "$ROOT/models/gpt2.model" $demo --quant-report=json "$adir/text.txt" >"$adir/quant.json" 2>"$adir/err" &&
       "$TFC" "$ROOT/models/gpt2.model" $demo -f "$adir/text.txt" --report "$adir/quant.html" 2>"$adir/err"; then
        if out=$("$PY" "$HERE/check_quant.py" "$adir/quant.html" "$adir/quant.json"); then
            pass "quantization section: $out"
        else
            fail "quantization section: $(echo "$out" | head -n 2 | tr '\n' ' ')"
        fi
        page_checks "quantization section (demo model, int8)" "$adir/quant.html" gpt2 \
            "-D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4 --quantize int8" 4
    else
        fail "quantization section: tfc: $(grep -v '^tfc: \(loaded\|compiled\)' "$adir/err" | head -n 1)"
    fi

    # refusals: a clear message, no page
    if ! "$TFC" "$ROOT/models/gpt2.model" --prompt hi --report "$adir/no.html" 2>"$adir/err" &&
       grep -q 'give --weights' "$adir/err" && [ ! -e "$adir/no.html" ]; then
        pass "attention: --report --prompt without --weights is refused, no page"
    else
        fail "attention: --report --prompt without --weights: $(head -n 1 "$adir/err")"
    fi
    if ! "$TFC" "$ROOT/models/gpt2.model" --tokens 1 -n 3 --report "$adir/no.html" 2>"$adir/err" &&
       grep -q 'does not go with --report' "$adir/err" && [ ! -e "$adir/no.html" ]; then
        pass "attention: --report with -n is refused, no page"
    else
        fail "attention: --report with -n: $(head -n 1 "$adir/err")"
    fi
fi
