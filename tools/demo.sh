#!/bin/sh
# The shipped demo: a small GPT trained on tinyshakespeare (docs/demo-model.md)
# writes Shakespeare-like text.  The model is GPT-2's architecture at a tiny
# size, so it runs from models/gpt2.model with its configuration overridden.
#   tools/demo.sh [TFC] [extra tfc options, e.g. --prompt "JULIET:" -n 500]
set -eu
cd "$(dirname "$0")/.."
TFC=${1:-./tfc}
[ $# -gt 0 ] && shift
exec "$TFC" models/gpt2.model \
    -D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4 \
    --weights models/shakespeare.safetensors \
    --tokenizer models/shakespeare.chars.json \
    --run --prompt "ROMEO:" -n 400 --temp 0.8 --seed 1 "$@"
