#!/bin/sh
# The accuracy bar of --quantize int8 on the two trained demo models
# (docs/quantization.md, "Figures"): on the held-out tinyshakespeare (its
# last 111,540 characters, the report reads the first 32,768 of them), the
# held-out loss changes by at most 0.5% and the top-1 prediction agrees
# with fp32's at least 98% of the time.  The fp32 side is the same model
# run without quantization (--quant-report runs both).
#
#   TFC=./tfc PYTHON=/usr/bin/python3 tests/golden/int8_accuracy.sh
#
# TFC_SHARED, or ../shared/data beside the repository, holds
# tinyshakespeare.txt.  Prints one line per model and "N passed, M failed".
set -u
TFC=${TFC:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${TFC_SHARED:-$ROOT/../shared/data}
text=$DATA/tinyshakespeare.txt
if [ ! -f "$text" ]; then
    echo "tests/golden/int8_accuracy.sh: $text not found (set TFC_SHARED)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
tail -c 111540 "$text" >"$tmp/heldout.txt"
passed=0 failed=0
SMALL="-D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4"

# check NAME MODEL WEIGHTS ARGS...
check() {
    name=$1 model=$2 weights=$3
    shift 3
    # shellcheck disable=SC2086
    if ! "$TFC" "$ROOT/models/$model.model" "$@" --weights "$ROOT/models/$weights" \
            --tokenizer "$ROOT/models/shakespeare.chars.json" --quantize int8 \
            --quant-report=json "$tmp/heldout.txt" >"$tmp/report.json" 2>"$tmp/err"; then
        failed=$((failed + 1))
        echo "FAIL $name: tfc failed: $(head -n 3 "$tmp/err")"
        return
    fi
    if verdict=$("$PYTHON" - "$tmp/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
change, top1 = r["loss_change"], r["top1_agreement"]
ok = abs(change) <= 0.005 and top1 >= 0.98 and r["predictions"] > 30000
print("loss %.6f -> %.6f (%+.3f%%, bar 0.5%%), top-1 %.2f%% (bar 98%%), %d predictions"
      % (r["loss_fp32"], r["loss_int8"], 100 * change, 100 * top1, r["predictions"]))
sys.exit(0 if ok else 1)
PY
    ); then
        passed=$((passed + 1))
        echo "PASS $name: $verdict"
    else
        failed=$((failed + 1))
        echo "FAIL $name: $verdict"
    fi
}

# shellcheck disable=SC2086
check "demo GPT-2 int8" gpt2 shakespeare.safetensors $SMALL
# shellcheck disable=SC2086
check "demo Llama int8" llama shakespeare_llama.safetensors $SMALL -D kv_heads=2 -D ffn=384

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
