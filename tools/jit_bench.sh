#!/bin/sh
# tools/jit_bench.sh - the two back ends of --run side by side, runs
# interleaved (llvm, cc, llvm, cc, ...) so that a noisy machine hurts both
# alike; prints each run and the medians, with the load average.
#
#   tools/jit_bench.sh GPT2_WEIGHTS LLAMA_WEIGHTS [RUNS]
#
# start: GPT-2 small, `--tokens 464 -n 1`: wall time from exec to exit
#        (compile, open, one forward, one token), weights in the page cache.
# decode: the 110M Llama of make bench, 128 tokens after one: tokens/s of
#        the generation (tfc's own report), with the JIT against the
#        generated C built with cc -O2 (--jit cc).
set -eu
TFC=${TFC:-./tfc}
GPT2=$1
LLAMA=$2
RUNS=${3:-7}
G="-D vocab=50257 -D ctx=1024 -D dim=768 -D heads=12 -D layers=12"
L="-D vocab=32000 -D ctx=512 -D dim=768 -D heads=12 -D kv_heads=12 -D layers=12 -D ffn=2048"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfc-jit-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat "$GPT2" "$LLAMA" >/dev/null   # into the page cache

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
    for j in llvm cc; do
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        $TFC models/gpt2.model $G --run --weights "$GPT2" --tokens 464 -n 1 --seed 1 --jit $j \
            >/dev/null 2>"$tmp/err"
        t1=$(date +%s.%N)
        echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }' >>"$tmp/start-$j"
        echo "start $j run $i: $(tail -n 1 "$tmp/start-$j") s"
    done
done
for i in $(seq "$RUNS"); do
    for j in llvm cc; do
        # shellcheck disable=SC2086
        $TFC models/llama_meta.model $L --run --weights "$LLAMA" --tokens 1 -n 128 --temp 0 --jit $j \
            >/dev/null 2>"$tmp/err"
        rate=$(sed -n 's/.*generated [0-9]* tokens in [0-9.]* s (\([0-9.]*\) tokens\/s).*/\1/p' "$tmp/err")
        echo "$rate" >>"$tmp/decode-$j"
        echo "decode $j run $i: $rate tokens/s"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for j in llvm cc; do
    echo "median start to first token, --jit $j: $(median <"$tmp/start-$j") s"
done
for j in llvm cc; do
    echo "median decode, --jit $j: $(median <"$tmp/decode-$j") tokens/s"
done
