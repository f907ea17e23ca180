#!/bin/sh
# tests/generate/options.sh - what --stop, --echo, -f, -c and
# --repeat-penalty do, on the shipped demo model (a character model, so
# every multi-character stop string spans tokens).
#
# The expectations come from runs without the option under test, with
# the same seed, and from arithmetic done here, not from the code under
# test:
#   --stop S    the plain output cut before the first S (found by Python's
#               str.find), for an S taken from that output and for one
#               that never occurs; of two, the earlier cut;
#   --echo      the prompt's bytes, then the plain output;
#   -f FILE     the same output as --prompt with the file's bytes (a
#               trailing newline included);
#   -c 16       the same output as a build planned for 16 tokens (--seq 16:
#               a window of 16 set at compile time), not as the full one;
#               a prompt longer than 16 and -c beyond the compiled 128 are
#               refused;
#   --repeat-penalty 1 changes nothing; 1.5 changes greedy output.
#   TFC=./tfc PYTHON=/usr/bin/python3 tests/generate/options.sh
set -u
TFC=${TFC:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
root=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
case $TFC in /*) ;; *) TFC=$root/$TFC ;; esac
cd "$root" || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfc-options.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# gen OUT [tfc options]: the demo model generating into $tmp/OUT (stderr
# into $tmp/OUT.err); returns tfc's status.
gen() {
    out=$1
    shift
    "$TFC" models/gpt2.model -D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4 \
        --weights models/shakespeare.safetensors --tokenizer models/shakespeare.chars.json \
        --run "$@" >"$tmp/$out" 2>"$tmp/$out.err"
}
same() {   # LABEL FILE1 FILE2
    if cmp -s "$tmp/$2" "$tmp/$3"; then ok "$1"; else bad "$1"; diff "$tmp/$2" "$tmp/$3" | head -5; fi
}

gen plain --prompt "ROMEO:" -n 200 --seed 5 || { bad "plain run"; cat "$tmp/plain.err"; exit 1; }

# ---- --stop ----------------------------------------------------------------------

# cut FILE STOP...: FILE's text before the earliest of the stop strings
cut() {
    f=$1
    shift
    "$PYTHON" -c 'import sys
t = open(sys.argv[1], "rb").read()
cuts = [t.find(s.encode()) for s in sys.argv[2:]]
cuts = [c for c in cuts if c >= 0]
sys.stdout.buffer.write(t[:min(cuts)] if cuts else t)' "$f" "$@"
}
s1=$("$PYTHON" -c 'import sys; print(open(sys.argv[1]).read()[60:64])' "$tmp/plain")
s2=$("$PYTHON" -c 'import sys; print(open(sys.argv[1]).read()[30:33])' "$tmp/plain")
cut "$tmp/plain" "$s1" >"$tmp/want1"
if gen stop1 --prompt "ROMEO:" -n 200 --seed 5 --stop "$s1" && cmp -s "$tmp/stop1" "$tmp/want1" &&
   grep -q "stopped at --stop" "$tmp/stop1.err"; then
    ok "--stop '$s1' (4 tokens, from the text): the text before it ($(wc -c <"$tmp/want1") bytes)"
else
    bad "--stop '$s1'"; head -c 200 "$tmp/stop1"; echo; head -c 200 "$tmp/want1"; echo
fi
cut "$tmp/plain" "$s2" "$s1" >"$tmp/want2"
if gen stop2 --prompt "ROMEO:" -n 200 --seed 5 --stop "$s2" --stop "$s1" &&
   cmp -s "$tmp/stop2" "$tmp/want2"; then
    ok "two --stop strings: the earlier cut ($(wc -c <"$tmp/want2") bytes)"
else
    bad "two --stop strings"
fi
gen stop3 --prompt "ROMEO:" -n 200 --seed 5 --stop "zzQzz" --stop "ROMEO:ROMEO:"
same "--stop strings that never occur: the whole text" stop3 plain
[ "$(wc -c <"$tmp/want1")" -lt "$(wc -c <"$tmp/plain")" ] || bad "the stop string cut something"

# ---- --echo, -f ---------------------------------------------------------------------

gen echo --prompt "ROMEO:" -n 200 --seed 5 --echo
{ printf 'ROMEO:'; cat "$tmp/plain"; } >"$tmp/want_echo"
same "--echo: the prompt, then the same text" echo want_echo
printf 'ROMEO:' >"$tmp/prompt.txt"
gen file -f "$tmp/prompt.txt" -n 200 --seed 5
same "-f FILE: as --prompt with its bytes" file plain
printf 'JULIET:\nO Romeo!\n' >"$tmp/prompt2.txt"
nl=$(printf 'JULIET:\nO Romeo!\nx')
gen file2 --file "$tmp/prompt2.txt" -n 100 --seed 3
gen arg2 --prompt "${nl%x}" -n 100 --seed 3
same "--file with two lines and a trailing newline: as --prompt with the same bytes" file2 arg2
gen arg3 --prompt "JULIET:
O Romeo!" -n 100 --seed 3
if cmp -s "$tmp/file2" "$tmp/arg3"; then
    bad "-f kept the trailing newline (the output should differ without it)"
else
    ok "-f keeps the file's trailing newline (without it the text differs)"
fi
gen fileecho -f "$tmp/prompt2.txt" -n 100 --seed 3 --echo
{ cat "$tmp/prompt2.txt"; cat "$tmp/file2"; } >"$tmp/want_fileecho"
same "-f with --echo: the file's bytes, then the text" fileecho want_fileecho

# ---- -c ---------------------------------------------------------------------------

gen c16 -c 16 --prompt "ROMEO:" -n 100 --seed 2
"$TFC" models/gpt2.model -D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4 --seq 16 \
    --weights models/shakespeare.safetensors --tokenizer models/shakespeare.chars.json \
    --run --prompt "ROMEO:" -n 100 --seed 2 >"$tmp/seq16" 2>"$tmp/seq16.err"
same "-c 16: as a build planned for 16 tokens (--seq 16), over a sliding window" c16 seq16
grep -q "context 16 tokens" "$tmp/c16.err" && ok "-c 16: reported on stderr" || bad "-c 16 reported"
gen full --prompt "ROMEO:" -n 100 --seed 2
if cmp -s "$tmp/c16" "$tmp/full"; then bad "-c 16 changed nothing"; else ok "-c 16 differs from 128"; fi
gen c128 -c 128 --prompt "ROMEO:" -n 100 --seed 2
same "-c 128 (the compiled context): as without -c" c128 full
gen nocache -fno-kv-cache -c 16 --prompt "ROMEO:" -n 100 --seed 2
same "-c 16 without a KV cache: the same window" nocache c16
gen long -c 16 --prompt "ROMEO: a prompt of more than sixteen" -n 5
if [ $? -eq 1 ] && grep -q "the prompt has 36 tokens; the model holds at most 16 (-c)" "$tmp/long.err"; then
    ok "-c 16 with a prompt of 36 tokens: refused"
else
    bad "-c 16 with a long prompt"; cat "$tmp/long.err"
fi
gen big -c 129 --prompt "ROMEO:" -n 5
if [ $? -eq 2 ] && grep -q -- "-c 129: the model holds at most 128 tokens" "$tmp/big.err"; then
    ok "-c 129 beyond the compiled 128: refused"
else
    bad "-c 129"; cat "$tmp/big.err"
fi

# ---- --repeat-penalty ---------------------------------------------------------------

gen greedy --prompt "ROMEO:" -n 100 --temp 0
gen pen1 --prompt "ROMEO:" -n 100 --temp 0 --repeat-penalty 1
same "--repeat-penalty 1: no change" pen1 greedy
gen pen15 --prompt "ROMEO:" -n 100 --temp 0 --repeat-penalty 1.5
if cmp -s "$tmp/pen15" "$tmp/greedy"; then bad "--repeat-penalty 1.5 changed nothing"; else
    ok "--repeat-penalty 1.5 changes greedy text"; fi

# under SAN=1 a sanitizer report goes to stderr whatever the output
if grep -l -e AddressSanitizer -e LeakSanitizer -e 'runtime error' "$tmp"/*.err >/dev/null 2>&1; then
    bad "sanitizer report: $(grep -h -m 1 -e Sanitizer -e 'runtime error' "$tmp"/*.err | head -n 1)"
else
    ok "no sanitizer report in any run"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
