#!/bin/bash
# tests/hostile/run.sh - hostile input, refused cleanly (issue 11).
#
# Each case runs tfc as an attacker would and states what must happen: an
# exit status, a phrase of the message, and nothing else (no sanitizer
# report, no internal error, no hang past 10 s, no leftover or changed
# file).  One case per defect class and then some: expressions too deep
# for the stack, sizes whose products overflow, unrolling without end,
# compile time that grows with the square of the file, non-regular files
# as weights, outputs that would overwrite inputs or end half-written, a
# shell built from $TMPDIR, NaN logits in every sampling mode, and lax
# numbers and lists on the command line.  Inputs too big to commit are
# generated here.  Prints one line per case, then "N passed, M failed".
#   TFC=./tfc PYTHON=/usr/bin/python3 tests/hostile/run.sh
set -u
TFC=${TFC:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
CC=${CC:-cc}
root=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
case $TFC in /*) ;; *) TFC=$root/$TFC ;; esac
cd "$root" || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfc-hostile.XXXXXX") || exit 2
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# try STATUS PHRASE LABEL -- ARGS...: tfc ARGS (in $tmp/run) must exit with
# STATUS within 10 s, print PHRASE on stderr and no sanitizer report.
try() {
    local want=$1 phrase=$2 label=$3
    shift 4
    (cd "$tmp/run" && timeout 10 "$TFC" "$@" >"$tmp/out" 2>"$tmp/err"; exit $?) 2>/dev/null
    local got=$?
    if [ $got -eq 124 ]; then
        fail "$label: no answer within 10 s"
    elif [ $got -ne "$want" ]; then
        fail "$label: exit $got, expected $want: $(head -c 300 "$tmp/err" | head -n 2 | tr '\n' ' ')"
    elif ! grep -qF -- "$phrase" "$tmp/err"; then
        fail "$label: stderr lacks '$phrase': $(head -c 300 "$tmp/err" | head -n 2 | tr '\n' ' ')"
    elif grep -q -e AddressSanitizer -e LeakSanitizer -e 'runtime error' -e 'internal error' "$tmp/err"; then
        fail "$label: $(grep -m 1 -e Sanitizer -e 'runtime error' -e 'internal error' "$tmp/err")"
    else
        return 0
    fi
    return 1
}

# Files in $tmp/run other than the ones a case starts with.
listing() { (cd "$tmp/run" && ls -A | sort | tr '\n' ' '); }

mkdir -p "$tmp/run"
run=$tmp/run
BASE='input t[s <= 4]
e = Embedding(4, 4) at "e"
x = e(t)'

# ---- the front end ---------------------------------------------------------

awk 'BEGIN { printf "config a = 1"; for (i = 1; i < 100000; i++) printf " + 1"; print "" }' >"$run/sum.model"
printf '%s\noutput y = a\n' "$BASE" >>"$run/sum.model"
try 1 "nests operators and calls more than 256 deep" "config of 10^5 terms" -- sum.model --dump-ir &&
    pass "config a = 1 + 1 + ... (10^5 terms): located error, no stack overflow"

{ printf '%s\noutput y = x' "$BASE"; awk 'BEGIN { for (i = 1; i < 100000; i++) printf " + x"; print "" }'; } >"$run/tsum.model"
try 1 "more than 256 deep" "output of 10^5 tensors" -- tsum.model -o y.c &&
    pass "output y = x + x + ... (10^5 terms): located error"

{ printf 'config a = '; awk 'BEGIN { for (i = 0; i < 50000; i++) printf "-"; print "1" }'; printf '%s\noutput y = x\n' "$BASE"; } >"$run/minus.model"
try 1 "nests too deeply" "unary minus x 50000" -- minus.model --dump-ir &&
    pass "50000 unary minus signs: located error"

cat >"$run/linear.model" <<'EOF'
input t[s <= 4]
e = Embedding(4, 1073741824) at "e"
x = e(t)
l0 = Linear(1073741824, 1073741824) at "l0"
l1 = Linear(1073741824, 1073741824) at "l1"
l2 = Linear(1073741824, 1073741824) at "l2"
l3 = Linear(1073741824, 1073741824) at "l3"
output y = l3(l2(l1(l0(x))))
EOF
try 1 "linear.model:4:6: error: a tensor (1073741824,1073741824) would exceed 2^40 bytes" \
    "four Linear(2^30, 2^30)" -- linear.model --plan &&
    pass "four Linear(2^30, 2^30): refused at the first, not a negative WEIGHT_BYTES"

cat >"$run/sinus.model" <<'EOF'
input t[s <= 1073741824]
p = positions(t)
a0 = sinusoidal(p, 1073741824)
a1 = sinusoidal(p, 1073741824)
a2 = sinusoidal(p, 1073741824)
a3 = sinusoidal(p, 1073741824)
output y = a0 + a1 + a2 + a3
EOF
try 1 "would exceed 2^40 bytes" "four sinusoidal(p, 2^30)" -- sinus.model --plan &&
    pass "four sinusoidal(p, 2^30) over 2^30 positions: refused, not planned over each other"

printf '%s\nrepeat i < 100000 {\n repeat j < 100000 {\n }\n}\noutput y = x\n' "$BASE" >"$run/nest.model"
try 1 "more than 10000000 statements" "nested repeats" -- nest.model --dump-ir &&
    pass "repeat 10^5 inside repeat 10^5: stopped at the statement limit"

# Linear time: the front end lowers each of these, then stops at an
# unknown name in the output (so that only lowering is timed; the planner
# is not the front end's).  Quadratic lookups took 30 s and more.
{ printf '%s\nrepeat i < 100000 {\n x = x * 2\n}\n' "$BASE"; echo "output y = nothing"; } >"$run/rep.model"
{ printf '%s\n' "$BASE"; awk 'BEGIN { for (i = 0; i < 200000; i++) print "x = x * 2" }'; echo "output y = nothing"; } >"$run/assign.model"
{ awk 'BEGIN { for (i = 0; i < 300000; i++) print "config c" i " = " i }'; printf '%s\n' "$BASE"; echo "output y = nothing"; } >"$run/config.model"
for m in "rep:repeat i < 100000" "assign:200000 assignments" "config:300000 config lines"; do
    start=$(date +%s%N)
    try 1 "unknown name 'nothing'" "${m#*:}" -- "${m%%:*}.model" --dump-ir || continue
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ "$ms" -lt 10000 ]; then
        pass "${m#*:}: lowered in $ms ms"
    else
        fail "${m#*:}: lowered in $ms ms"
    fi
done

try 1 "larger than 67108864 bytes" "/dev/zero as the model" -- /dev/zero --dump-ir &&
    pass "/dev/zero as the model file: refused at the size limit"

name=$(awk 'BEGIN { for (i = 0; i < 300; i++) printf "n" }')
printf '%s\n%s = x\noutput y = x\n' "$BASE" "$name" >"$run/name.model"
try 1 "names have at most 256" "a 300-character name" -- name.model --dump-ir &&
    pass "a 300-character name: located error"

# ---- weights that are not regular files ---------------------------------------

cat >"$run/lm.model" <<'EOF'
config vocab = 8
input tokens[seq <= 16]
wte = Embedding(vocab, 4) at "wte"
wpe = Embedding(16, 4) at "wpe"
qkv = Linear(4, 12) at "qkv"
x = wte(tokens) + wpe(positions(tokens))
q, k, v = split(qkv(x), 3)
x = x + attention(q, k, v, heads = 1, causal = true)
output logits = linear(x, wte.weight)
EOF
cp "$run/lm.model" "$tmp/lm.model"
PYTHONPATH=tests/golden "$PYTHON" - "$run" <<'EOF' || fail "setup: cannot write the weights (numpy?)"
import sys
import numpy as np
import safetensors_io as st
r = np.random.default_rng(1)
w = {"wte.weight": r.standard_normal((8, 4)).astype("f4"),
     "wpe.weight": r.standard_normal((16, 4)).astype("f4"),
     "qkv.weight": r.standard_normal((12, 4)).astype("f4"),
     "qkv.bias": np.zeros(12, "f4")}
st.save(sys.argv[1] + "/ok.safetensors", w)
st.save(sys.argv[1] + "/../ok.safetensors", w)
w["wpe.weight"][3, :] = np.nan          # NaN from the token at position 3 on
st.save(sys.argv[1] + "/nan.safetensors", w)
EOF
mkfifo "$run/fifo"
try 3 "fifo: not a regular file" "FIFO" -- lm.model --weights fifo --run --tokens 1,2 &&
    pass "a FIFO as --weights: refused at once"
try 3 "no model.safetensors" "folder" -- lm.model --weights . --run --tokens 1,2 &&
    pass "a folder without a checkpoint as --weights: refused"
rm -f "$run/fifo"

# ---- output files --------------------------------------------------------------

mkdir "$run/out.c"
echo "old header" >"$run/out.h"
before=$(listing)
try 3 "cannot write 'out.c': it is a folder" "-o onto a folder" -- lm.model -o out.c &&
    { [ "$(cat "$run/out.h")" = "old header" ] && [ "$(listing)" = "$before" ]; } &&
    pass "-o out.c where out.c is a folder: status 3, out.h untouched, nothing left"
rmdir "$run/out.c"

cp "$run/lm.model" "$run/lm.h"
try 2 "'lm.h' would be overwritten: it is an input and an output" "-o over the model" -- lm.h -o lm.c &&
    cmp -s "$run/lm.h" "$run/lm.model" && [ ! -e "$run/lm.c" ] &&
    pass "tfc lm.h -o lm.c: refused, the model file intact"
try 2 "would be overwritten" "--plan=svg over the model" -- lm.model --plan=svg lm.model &&
    pass "--plan=svg onto the model file: refused"
try 2 "would be overwritten" "--logits over the weights" -- lm.model --weights ok.safetensors --run \
    --tokens 1,2 --logits ok.safetensors && pass "--logits onto the weights file: refused"
cp "$tmp/lm.model" "$run/lm.model"
cp "$tmp/ok.safetensors" "$run/ok.safetensors"

# The second rename of a pair fails: the first output gets its old content
# back, and no temporary stays.
if $CC -shared -fPIC -o "$tmp/fail_rename.so" tests/hostile/fail_rename.c -ldl 2>"$tmp/cc.log"; then
    before=$(listing)
    if FAIL_RENAME=out.c LD_PRELOAD=$tmp/fail_rename.so ASAN_OPTIONS=verify_asan_link_order=0 \
        try 3 "cannot write 'out.c'" "a failing rename" -- lm.model -o out.c; then
        if [ "$(cat "$run/out.h")" = "old header" ] && [ "$(listing)" = "$before" ]; then
            pass "-o out.c whose rename fails: out.h restored, no out.c, no temporary"
        else
            fail "a failing rename left: $(listing) (out.h: $(head -c 40 "$run/out.h"))"
        fi
    fi
else
    fail "setup: cannot build tests/hostile/fail_rename.c: $(head -n 1 "$tmp/cc.log")"
fi
rm -f "$run/out.h"
cp "$tmp/lm.model" "$run/lm.model"     # as it was, should a case above have failed

# ---- --run: no shell, no leftovers ---------------------------------------------
# (--jit cc: the back end that writes a build folder and runs a compiler)

evil="$run/x';touch INJECTED;'"
mkdir "$evil"
TMPDIR=$evil try 0 "forward pass" "TMPDIR=\".../x';touch INJECTED;'\"" -- lm.model \
    --weights ok.safetensors --run --tokens 1,2 --jit cc
if [ -e "$run/INJECTED" ]; then
    fail "TMPDIR=\".../x';touch INJECTED;'\" runs the touch"
else
    pass "TMPDIR=\".../x';touch INJECTED;'\": nothing runs"
fi
rm -rf "$evil"
mkdir "$run/q'uote"
TMPDIR="$run/q'uote" try 0 "forward pass" "TMPDIR with a quote" -- lm.model --weights ok.safetensors \
    --run --tokens 1,2 --jit cc && [ -z "$(ls -A "$run/q'uote")" ] &&
    pass "TMPDIR holding a quote: --run works and cleans up"
CC=false TMPDIR="$run/q'uote" try 1 "the C compiler failed" "a failing C compiler" -- lm.model \
    --weights ok.safetensors --run --tokens 1,2 --jit cc && [ -z "$(ls -A "$run/q'uote")" ] &&
    pass "a failed --run build leaves no build folder"

# ---- NaN logits in every sampling path ----------------------------------------------

for mode in "" "--top-k 3" "--temp 0" "--top-p 0.5" "--beams 2"; do
    # shellcheck disable=SC2086  # a mode is words
    try 1 "generating token 3: the model's logit for token 0 is NaN" "NaN logits ${mode:-sampling}" -- \
        lm.model --weights nan.safetensors --run --tokens 1,2 -n 5 --seed 1 $mode &&
        pass "NaN logits, ${mode:-temperature 0.8}: stops naming the step"
done

# ---- numbers and lists on the command line ----------------------------------------

for bad in "1," "" "1,,2" " 1" "1, 2" "+1" "0x10" "1;2"; do
    try 2 "is not a comma-separated list of ids" "--tokens '$bad'" -- lm.model --weights ok.safetensors \
        --run --tokens "$bad" && pass "--tokens '$bad': refused"
done
try 2 "--decode '' is not a comma-separated list" "--decode ''" -- --tokenizer \
    "$root/models/shakespeare.chars.json" --decode "" && pass "--decode '': refused"
for bad in "0x40" " 64" "64 " "inf" "nan" "1e999" "--64"; do
    try 1 "the value must be a number" "-D vocab='$bad'" -- lm.model -D "vocab=$bad" --dump-ir &&
        pass "-D vocab='$bad': refused"
done
try 2 "--src: the model has no input it fills" "--src without a src input" -- lm.model \
    --weights ok.safetensors --run --tokens 1,2 --src 3 && pass "--src for a model without src: refused"
for opt in "--threads 0x4" "--threads 2abc" "--temp nan" "--temp 0x1p-2" "--top-p .5" "--seed -1" \
           "--beams 1e1" "-n 5." "--top-k 40k"; do
    # shellcheck disable=SC2086
    try 2 ": '${opt#* }' is " "$opt" -- lm.model --weights ok.safetensors --run --tokens 1,2 $opt &&
        pass "$opt: refused"
done
try 2 "--weights goes with --run" "--weights alone" -- lm.model --weights ok.safetensors &&
    pass "--weights without --run: refused, not ignored"

# ---- --quantize and --quant-report: usage ---------------------------------------------

try 2 "the one scheme is int8" "--quantize int4" -- lm.model --quantize int4 &&
    pass "--quantize int4: refused"
try 2 "-fno-quantize-head goes with --quantize int8" "-fno-quantize-head alone" -- lm.model \
    -fno-quantize-head && pass "-fno-quantize-head without --quantize: refused"
try 2 "--quant-report measures --quantize int8" "--quant-report without --quantize" -- lm.model \
    --weights ok.safetensors --quant-report lm.model && pass "--quant-report without --quantize: refused"
try 2 "--quant-report needs --weights" "--quant-report without --weights" -- lm.model \
    --quantize int8 --quant-report lm.model && pass "--quant-report without --weights: refused"
try 2 "does not go with --run" "--quant-report with --run" -- lm.model --quantize int8 \
    --weights ok.safetensors --run --tokens 1 --quant-report lm.model &&
    pass "--quant-report with --run: refused"
try 2 "needs a TEXT file" "--quant-report without its file" -- lm.model --quantize int8 \
    --weights ok.safetensors --quant-report && pass "--quant-report without a file: refused"

# ---- generation options: strict values, refused where nothing would read them --------

for opt in "--repeat-penalty nan" "--repeat-penalty 1,5" "--repeat-penalty -1" "--repeat-penalty 101" \
           "-c 0" "-c 1e3" "--ctx-size -5" "-c 12x"; do
    # shellcheck disable=SC2086
    try 2 ": '${opt#* }' " "$opt" -- lm.model --weights ok.safetensors --run --tokens 1,2 -n 2 $opt &&
        pass "$opt: refused"
done
try 2 "--repeat-penalty: '0' must be more than 0" "--repeat-penalty 0" -- lm.model \
    --weights ok.safetensors --run --tokens 1,2 -n 2 --repeat-penalty 0 && pass "--repeat-penalty 0: refused"
chars=$root/models/shakespeare.chars.json
printf 'ROMEO:' >"$run/prompt.txt"
gen_refusal() {   # PHRASE LABEL -- ARGS: exit 2 naming the conflict
    local phrase=$1 label=$2
    shift 3
    try 2 "$phrase" "$label" -- lm.model --weights ok.safetensors --run "$@" && pass "$label: refused"
}
gen_refusal "-f reads the prompt from a file: it does not go with --prompt" "-f with --prompt" -- \
    --tokenizer "$chars" -f prompt.txt --prompt x
gen_refusal "-f gives the model its tokens: it does not go with --tokens" "-f with --tokens" -- \
    --tokenizer "$chars" -f prompt.txt --tokens 1,2
gen_refusal "-f goes once" "-f twice" -- --tokenizer "$chars" -f prompt.txt -f prompt.txt
gen_refusal "--stop goes with --prompt or -f" "--stop with --tokens" -- --tokens 1,2 -n 3 --stop x
gen_refusal "--echo goes with --prompt or -f" "--echo with --tokens" -- --tokens 1,2 -n 3 --echo
gen_refusal "--repeat-penalty goes with generation" "--repeat-penalty with --logits" -- \
    --tokens 1,2 -n 3 --logits l.f32 --repeat-penalty 1.1
gen_refusal "-c goes with generation" "-c without -n" -- --tokens 1,2 -c 2
gen_refusal "--beams does not go with --stop" "--stop with --beams" -- --tokenizer "$chars" \
    --prompt x --beams 2 --stop y
gen_refusal "--beams does not go with --repeat-penalty" "--repeat-penalty with --beams" -- \
    --tokenizer "$chars" --prompt x --beams 2 --repeat-penalty 1.2
gen_refusal "--stop: the string is empty" "--stop ''" -- --tokenizer "$chars" --prompt x --stop ""
gen_refusal "--stop '" "--stop of 257 bytes" -- --tokenizer "$chars" --prompt x \
    --stop "$(head -c 257 /dev/zero | tr '\0' x)"
many=()
for i in $(seq 65); do many+=(--stop "s$i"); done
gen_refusal "too many --stop options (at most 64)" "65 --stop options" -- --tokenizer "$chars" \
    --prompt x "${many[@]}"
gen_refusal "--stop goes with text generation; this model is a classifier" "--stop for a classifier" -- \
    --tokenizer "$chars" --prompt x --stop y      # 8 logits a row for 65 tokens: a classifier
gen_refusal "--echo goes with text generation; this model is a classifier" "--echo for a classifier" -- \
    --tokenizer "$chars" --prompt x --echo
gen_refusal "-c 17: the model holds at most 16 tokens" "-c beyond the compiled context" -- \
    --tokens 1,2 -n 3 -c 17
try 2 "--stop goes with --run" "--stop without --run" -- lm.model --stop x && pass "--stop without --run: refused"
try 2 "-f goes with --run" "-f without --run" -- lm.model -f prompt.txt && pass "-f without --run: refused"
mkfifo "$run/fifo"
try 3 "-f fifo: not a regular file" "-f FIFO" -- lm.model --weights ok.safetensors --tokenizer "$chars" \
    --run -f fifo && pass "-f FIFO: refused at once, no hang"
rm -f "$run/fifo"
try 3 "-f missing.txt: No such file" "-f missing" -- lm.model --weights ok.safetensors --tokenizer "$chars" \
    --run -f missing.txt && pass "-f of a missing file: I/O error"
cp "$run/prompt.txt" "$run/prompt.c"
try 2 "would be overwritten: it is an input and an output" "-f FILE.c with -o FILE.c" -- lm.model \
    --weights ok.safetensors --tokenizer "$chars" -o prompt.c --run -f prompt.c &&
    [ "$(cat "$run/prompt.c")" = "ROMEO:" ] && [ ! -e "$run/prompt.h" ] &&
    pass "-f FILE.c with -o FILE.c: refused, nothing overwritten"
rm -f "$run/prompt.c" "$run/prompt.txt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
