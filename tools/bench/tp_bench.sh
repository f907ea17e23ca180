#!/bin/sh
# Tensor parallelism (--tp 2) on the 110M Llama of make bench
# (tools/bench/models.py, the same weights file), against one process:
#   - memory of one rank against the single process: peak RSS, and peak RSS
#     less the RSS before the weights were opened (the model's own memory:
#     weights resident, arena, KV cache; without the compiler, LLVM and MPI
#     libraries that every process carries), both from tfc's own report of a
#     32-token run through the KV cache;
#   - decode speed: 2 ranks x 1 thread against 1 process x 2 threads, 64
#     greedy tokens after an 8-token prompt, BENCH_TP_ROUNDS rounds
#     (default 3) alternating, the median of each; and the time the ranks
#     spend in their collectives per generated token (tfc's report).
#   tools/bench/tp_bench.sh TFC PYTHON [CACHE_DIR]
set -eu
TFC=${1:-./tfc}
PYTHON=${2:-/usr/bin/python3}
CACHE=${3:-build/bench}
ROUNDS=${BENCH_TP_ROUNDS:-3}
MPIRUN=${MPIRUN:-mpirun}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v "$MPIRUN" >/dev/null 2>&1; then
    echo "tp bench: skipped: no mpirun (tools/deps.sh test installs openmpi-bin)"
    exit 0
fi
mkdir -p "$CACHE"
W=$($PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tools/bench'); import models
print(models.ModelFiles('llama-110M', 1, '$CACHE', '$PYTHON').safetensors())")
D="-D vocab=32000 -D ctx=512 -D dim=768 -D heads=12 -D layers=12 -D kv_heads=12 -D ffn=2048"
M="$ROOT/models/llama_meta.model"
mpi() { "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# memory: "peak RSS A - RSS before open B = C bytes"
toks32=$($PYTHON -c "print(','.join(str(3 + i * 97 % 31000) for i in range(32)))")
$TFC "$M" $D --weights "$W" --run -t 2 --tokens "$toks32" --prefill 16 --logits /dev/null 2>"$tmp/one.mem"
mpi $TFC "$M" $D --tp 2 --weights "$W" --run -t 1 --tokens "$toks32" --prefill 16 --logits /dev/null \
    2>"$tmp/tp.mem"
mem() { sed -n "s/.*peak RSS \([0-9]*\) - RSS before open \([0-9]*\) = \([0-9]*\) bytes.*/\1 \3/p" "$1"; }
set -- $(mem "$tmp/one.mem")
one_peak=$1 one_model=$2
tp_peak=0 tp_model=0
for pair in $(mem "$tmp/tp.mem" | tr ' ' ':'); do   # the larger rank
    p=${pair%:*} m=${pair#*:}
    [ "$p" -gt "$tp_peak" ] && tp_peak=$p
    [ "$m" -gt "$tp_model" ] && tp_model=$m
done
echo "tp bench: llama-110M, memory of one rank of 2 against one process (peak RSS; peak RSS - RSS before open):"
awk -v a="$tp_peak" -v b="$one_peak" -v c="$tp_model" -v d="$one_model" 'BEGIN {
    printf "  peak RSS          %7.1f MiB / %7.1f MiB = %.3fx\n", a / 1048576, b / 1048576, a / b
    printf "  model memory      %7.1f MiB / %7.1f MiB = %.3fx  (bar: <= 0.55x)\n", c / 1048576, d / 1048576, c / d }'

# decode speed, rounds alternating so that both see the same machine load
prompt=5,9,2,7,100,200,300,400
rate() { sed -n 's/.*generated [0-9]* tokens in [0-9.]* s (\([0-9.]*\) tokens\/s).*/\1/p' "$1" | sort -n | head -1; }
: >"$tmp/one.rates"
: >"$tmp/tp.rates"
: >"$tmp/tp.comm"
r=0
while [ $r -lt "$ROUNDS" ]; do
    $TFC "$M" $D --weights "$W" --run -t 2 --tokens $prompt -n 64 --temp 0 2>"$tmp/one.err" >/dev/null
    rate "$tmp/one.err" >>"$tmp/one.rates"
    mpi $TFC "$M" $D --tp 2 --weights "$W" --run -t 1 --tokens $prompt -n 64 --temp 0 2>"$tmp/tp.err" >/dev/null
    rate "$tmp/tp.err" >>"$tmp/tp.rates"   # the slower rank's
    sed -n 's/.*collectives \([0-9.]*\) us and .* bytes a generated token.*/\1/p' "$tmp/tp.err" >>"$tmp/tp.comm"
    r=$((r + 1))
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
one=$(median "$tmp/one.rates") tp=$(median "$tmp/tp.rates") comm=$(median "$tmp/tp.comm")
echo "tp bench: llama-110M decode, 64 tokens, median of $ROUNDS rounds (load average: $(cut -d' ' -f1 /proc/loadavg)):"
awk -v a="$tp" -v b="$one" -v c="$comm" 'BEGIN {
    printf "  2 ranks x 1 thread  %6.1f tokens/s\n  1 process x 2 threads %6.1f tokens/s\n", a, b
    printf "  ratio %.2fx  (bar: >= 0.85x); collectives %.1f us a token a rank\n", a / b, c }'
