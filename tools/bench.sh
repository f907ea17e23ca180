#!/bin/sh
# make bench: GPT-2 small's shape (random weights), decoding one token at
# positions 16, 128 and 512, with and without the KV cache, tfc beside
# PyTorch (Debian's python3-torch, its own KV cache) in the same run.
# Threads: BENCH_THREADS (default 2) for both; OMP_WAIT_POLICY=PASSIVE.
#   tools/bench.sh [TFC]
set -eu
cd "$(dirname "$0")/.."
TFC=${1:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
THREADS=${BENCH_THREADS:-2}
STEPS=${BENCH_STEPS:-16}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
W=$tmp/gpt2.safetensors
$PYTHON tests/golden/gpt2_ref.py make --vocab 50257 --ctx 1024 --dim 768 --heads 12 --layers 12 \
    --seed 1 --out "$W" >/dev/null
cfg="-D layers=12 -D dim=768 -D heads=12 -D vocab=50257 -D ctx=1024"
toks() { $PYTHON -c "import random; print(','.join(str(random.randrange(50257)) for _ in range($1)))"; }
echo "GPT-2 small shape, float32, $THREADS threads, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "ms per generated token (lower is better)"
printf '%-9s %12s %12s %14s %14s %10s\n' position "tfc cached" "torch cached" "tfc uncached" "torch uncached" "tfc/torch"
for P in 16 128 512; do
    cached=$($TFC models/gpt2.model $cfg -t "$THREADS" --weights "$W" --run --tokens "$(toks $((P + STEPS)))" \
        --prefill "$P" --logits "$tmp/o.f32" 2>&1 | sed -n 's/.*(\([0-9.]*\) ms a token).*/\1/p')
    uncached=$($TFC models/gpt2.model $cfg -fno-kv-cache -t "$THREADS" --weights "$W" --run \
        --tokens "$(toks $((P + 1)))" --logits "$tmp/o.f32" 2>&1 |
        sed -n 's/.*forward pass in \([0-9.]*\) s.*/\1/p' | awk '{ printf "%.3f", $1 * 1000 }')
    set -- $($PYTHON tools/bench_torch.py "$W" 12 "$P" "$STEPS")
    printf '%-9s %12s %12s %14s %14s %10s\n' "$P" "$cached" "$1" "$uncached" "$2" \
        "$(awk -v a="$cached" -v b="$1" 'BEGIN { printf "%.2f", a / b }')"
done
echo "(tfc/torch: cached ms per token, tfc over torch; below 1 means tfc is faster)"
