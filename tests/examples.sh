#!/bin/sh
# Generated code as a library: compile examples/next_token.c with code from
# `tfc -o` under gcc and clang with -Werror, link two models with different
# --prefix into one binary, and check the result against PyTorch.  The
# example runs in a caller-owned arena of exactly GPT2_ARENA_BYTES; with
# SANFLAGS (make test SAN=1) AddressSanitizer fails a run that touches a
# byte beyond it, and the second run (ctx tokens) reaches the plan's end.
# tests/api/trace_check.c checks the trace callback of a --trace build,
# tests/api/options_check.c open_ex (context, caller's cache) and
# prefill_last.
#   TFC=./tfc tests/examples.sh
set -eu
TFC=${TFC:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
B=${B:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

cfg="-D layers=2 -D dim=64 -D heads=4 -D vocab=101 -D ctx=64"
long=$(awk 'BEGIN { for (i = 0; i < 64; i++) printf "%s%d", (i ? "," : ""), (i * 37 + 11) % 101 }')
$PYTHON tests/golden/gpt2_ref.py make --vocab 101 --ctx 64 --dim 64 --heads 4 --layers 2 \
    --seed 7 --out "$tmp/w.safetensors" --tokens 5,17,99,3 --ref "$tmp/ref.f32" \
    --tokens "$long" --ref "$tmp/ref64.f32" >/dev/null
$TFC models/gpt2.model $cfg -o "$tmp/gpt2.c"
$TFC models/gpt2.model $cfg --prefix other -o "$tmp/other.c"
blas=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
for cc in gcc clang; do
    if $cc -std=c99 -Wall -Wextra -Werror -O2 -Iruntime -I"$tmp" -o "$tmp/next_$cc" \
        examples/next_token.c "$tmp/gpt2.c" "$tmp/other.c" $B/libtfrt.a $blas -lm \
        ${SANFLAGS:-} 2>"$tmp/cc.log"; then
        ok "$cc builds the example with two models linked (-Werror)"
    else
        bad "$cc builds the example"; cat "$tmp/cc.log"; continue
    fi
    if "$tmp/next_$cc" "$tmp/w.safetensors" 5 17 99 3 --logits "$tmp/out_$cc.f32" >/dev/null &&
       $PYTHON tests/golden/compare.py "$tmp/out_$cc.f32" "$tmp/ref.f32" --n 4 --vocab 101 >/dev/null; then
        ok "$cc example agrees with PyTorch"
    else
        bad "$cc example agrees with PyTorch"
    fi
    # shellcheck disable=SC2046  # one argument per token
    if "$tmp/next_$cc" "$tmp/w.safetensors" $(echo "$long" | tr ',' ' ') --logits "$tmp/out64_$cc.f32" \
           >/dev/null &&
       $PYTHON tests/golden/compare.py "$tmp/out64_$cc.f32" "$tmp/ref64.f32" --n 64 --vocab 101 >/dev/null; then
        ok "$cc example at ctx = 64 tokens, in an arena of exactly GPT2_ARENA_BYTES, agrees with PyTorch"
    else
        bad "$cc example at ctx = 64 tokens in an arena of exactly GPT2_ARENA_BYTES"
    fi
done
# the trace callback: a --trace build reports each kernel call's result
$TFC models/gpt2.model $cfg --trace -o "$tmp/gpt2.c"
$TFC models/gpt2.model $cfg --prefix plain -o "$tmp/plain.c"
if gcc -std=c99 -Wall -Wextra -Werror -O2 -Iruntime -I"$tmp" -o "$tmp/trace_check" \
       tests/api/trace_check.c "$tmp/gpt2.c" "$tmp/plain.c" $B/libtfrt.a $blas -lm ${SANFLAGS:-} \
       2>"$tmp/cc.log" && "$tmp/trace_check" "$tmp/w.safetensors" >"$tmp/trace.log"; then
    ok "trace callback ($(sed -n 1p "$tmp/trace.log" | cut -c6-))"
else
    bad "trace callback"; cat "$tmp/cc.log" "$tmp/trace.log" 2>/dev/null
fi
# open_ex (a shorter context in the caller's memory) and prefill_last
if gcc -std=c99 -Wall -Wextra -Werror -O2 -Iruntime -I"$tmp" -o "$tmp/options_check" \
       tests/api/options_check.c "$tmp/gpt2.c" $B/libtfrt.a $blas -lm ${SANFLAGS:-} \
       2>"$tmp/cc.log" && "$tmp/options_check" "$tmp/w.safetensors" >"$tmp/options.log"; then
    while read -r line; do ok "${line#ok   }"; done <"$tmp/options.log"
else
    bad "open_ex and prefill_last"; cat "$tmp/cc.log" "$tmp/options.log" 2>/dev/null
fi
# every symbol a generated file exports carries its prefix
gcc -std=c99 -c -Iruntime -I"$tmp" -o "$tmp/other.o" "$tmp/other.c"
if nm -g --defined-only "$tmp/other.o" | awk '{print $3}' | grep -v '^other_' | grep -q .; then
    bad "exported symbols carry the prefix"; nm -g --defined-only "$tmp/other.o"
else
    ok "exported symbols carry the prefix"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
