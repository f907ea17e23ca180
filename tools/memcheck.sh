#!/bin/sh
# The header's memory figures against what a run really uses: GPT-2 small's
# shape with random weights, one forward pass over N tokens (default 1024).
#
#   tools/memcheck.sh [TFC]
#
# MEMCHECK_N          tokens (default 1024, the context)
# MEMCHECK_TOLERANCE  percent allowed between formula and measurement (5)
# MEMCHECK_WEIGHTS    an existing GPT-2 small safetensors file to reuse
# MEMCHECK_THREADS    threads for the matrix products (default 2)
#
# The formula is the generated header's: gpt2_memory_bytes(N, N) =
# GPT2_WEIGHT_BYTES + gpt2_arena_bytes(N) + gpt2_kv_cache_bytes(N), plus the
# caller's output buffer (N x vocab floats), which tfc --run allocates.  A
# small program compiled against the header evaluates it; tfc --run prints
# the same figures and the measurement: the peak resident size since just
# before the model was opened, less the resident size then.  The weights are
# mapped, so they count as the file pages the pass touched: all of them, as
# the tied head reads the whole token table.  Exits 1 when the two differ by
# more than the tolerance, or when tfc's figures disagree with the header's.
set -eu
cd "$(dirname "$0")/.."
TFC=${1:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
N=${MEMCHECK_N:-1024}
TOL=${MEMCHECK_TOLERANCE:-5}
THREADS=${MEMCHECK_THREADS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cfg="-D layers=12 -D dim=768 -D heads=12 -D vocab=50257 -D ctx=1024"
W=${MEMCHECK_WEIGHTS:-$tmp/gpt2.safetensors}
if [ ! -f "$W" ]; then
    $PYTHON tests/golden/gpt2_ref.py make --vocab 50257 --ctx 1024 --dim 768 --heads 12 --layers 12 \
        --seed 1 --out "$W" >/dev/null
fi

# the header's formula, evaluated by C code that includes it
# shellcheck disable=SC2086
$TFC models/gpt2.model $cfg -o "$tmp/gpt2.c"
cat >"$tmp/figures.c" <<EOF
#include <stdio.h>
#include "gpt2.h"
int main(void)
{
    printf("%lld %zu %zu %zu\n", GPT2_WEIGHT_BYTES, gpt2_arena_bytes($N), gpt2_kv_cache_bytes($N),
           gpt2_memory_bytes($N, $N));
    return 0;
}
EOF
cc -std=c99 -I"$tmp" -o "$tmp/figures" "$tmp/figures.c"
# shellcheck disable=SC2046
set -- $("$tmp/figures")
h_weights=$1 h_arena=$2 h_kv=$3 h_total=$4
out=$((N * 50257 * 4))

tokens=$(awk -v n="$N" 'BEGIN { srand(1); for (i = 0; i < n; i++) printf "%s%d", (i ? "," : ""), int(rand() * 50257) }')
# shellcheck disable=SC2086
$TFC models/gpt2.model $cfg -t "$THREADS" --weights "$W" --run --tokens "$tokens" 2>"$tmp/log" >/dev/null
line=$(grep '^tfc: memory: ' "$tmp/log") || { cat "$tmp/log"; exit 1; }
meas=$(grep '^tfc: memory measured: ' "$tmp/log") || { cat "$tmp/log"; exit 1; }
# tfc: memory: weights W + arena A (of P planned) + kv cache K (N tokens) + output O = T bytes
t_weights=$(echo "$line" | sed 's/.*weights \([0-9]*\) .*/\1/')
t_arena=$(echo "$line" | sed 's/.* arena \([0-9]*\) .*/\1/')
t_kv=$(echo "$line" | sed 's/.*kv cache \([0-9]*\) .*/\1/')
t_out=$(echo "$line" | sed 's/.*output \([0-9]*\) .*/\1/')
rss_peak=$(echo "$meas" | sed 's/.*peak RSS \([0-9]*\) .*/\1/')
rss_base=$(echo "$meas" | sed 's/.*before open \([0-9]*\) .*/\1/')
used=$((rss_peak - rss_base))
want=$((h_total + out))

mib() { awk -v b="$1" 'BEGIN { printf "%10.2f MiB", b / 1048576 }'; }
echo "GPT-2 small shape, N = $N tokens, $THREADS threads"
printf '  %-30s %14d %s\n' "weights (GPT2_WEIGHT_BYTES)" "$h_weights" "$(mib "$h_weights")"
printf '  %-30s %14d %s\n' "arena (gpt2_arena_bytes)" "$h_arena" "$(mib "$h_arena")"
printf '  %-30s %14d %s\n' "KV cache (gpt2_kv_cache_bytes)" "$h_kv" "$(mib "$h_kv")"
printf '  %-30s %14d %s\n' "gpt2_memory_bytes" "$h_total" "$(mib "$h_total")"
printf '  %-30s %14d %s\n' "+ output (the caller's)" "$out" "$(mib "$out")"
printf '  %-30s %14d %s\n' "= expected" "$want" "$(mib "$want")"
printf '  %-30s %14d %s\n' "measured: peak RSS - baseline" "$used" "$(mib "$used")"
printf '    (peak RSS %d, RSS before open %d)\n' "$rss_peak" "$rss_base"
status=0
if [ "$t_weights" != "$h_weights" ] || [ "$t_arena" != "$h_arena" ] || [ "$t_kv" != "$h_kv" ] ||
   [ "$t_out" != "$out" ]; then
    echo "FAIL tfc --run reports other figures than the header: $line"
    status=1
fi
if awk -v u="$used" -v w="$want" -v t="$TOL" 'BEGIN { d = (u - w) / w * 100; printf "  difference %+.2f%% (allowed %s%%)\n", d, t; exit !(d <= t && d >= -t) }'; then
    echo "PASS measured use within ${TOL}% of the header's figures"
else
    echo "FAIL measured use differs from the header's figures by more than ${TOL}%"
    status=1
fi
exit $status
