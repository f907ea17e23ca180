#!/bin/sh
# tests/generate/embed.sh - generation in a program of one's own, built the
# two ways the README gives:
#   1. `make install PREFIX=<tmp>`, then examples/generate.c and a generated
#      model compiled outside the source tree with
#      `cc ... $(pkg-config --cflags --libs tfrt)` found through
#      PKG_CONFIG_PATH alone, under gcc and clang with -Werror;
#   2. README.md's build line for the generated C, run as written (taken
#      from the README itself) in a folder laid out as it assumes.
# Each program runs the shipped demo model (docs/demo-model.md) and must
# print exactly what `tfc --run --prompt` prints with the same seed: 300
# tokens, so the window of 128 slides twice.
#   TFC=./tfc B=build [SAN=1 SANFLAGS=...] tests/generate/embed.sh
set -u
TFC=${TFC:-./tfc}
B=${B:-build}
MAKE=${MAKE:-make}
root=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
case $TFC in /*) ;; *) TFC=$root/$TFC ;; esac
cd "$root" || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfc-embed.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

demo="-D vocab=65 -D ctx=128 -D dim=128 -D heads=4 -D layers=4"
weights=$root/models/shakespeare.safetensors
chars=$root/models/shakespeare.chars.json
# shellcheck disable=SC2086  # $demo is words
"$TFC" models/gpt2.model $demo --weights "$weights" --tokenizer "$chars" \
    --run --prompt "ROMEO:" -n 300 --seed 7 >"$tmp/want.txt" 2>"$tmp/tfc.log" || {
    bad "tfc --run --prompt on the demo model"; cat "$tmp/tfc.log"; exit 1; }
printf '\n' >>"$tmp/want.txt"    # the example ends its text with a newline
[ "$(wc -c <"$tmp/want.txt")" -gt 300 ] || bad "tfc printed 300 characters"

# ---- 1. installed, found through pkg-config -------------------------------------

prefix=$tmp/prefix
if $MAKE -s install PREFIX="$prefix" SAN="${SAN:-}" >"$tmp/install.log" 2>&1 &&
   [ -f "$prefix/lib/libtfrt.a" ] && [ -f "$prefix/include/tfrt_generate.h" ] &&
   [ -f "$prefix/lib/pkgconfig/tfrt.pc" ]; then
    ok "make install PREFIX=<tmp>: libtfrt.a, headers, tfrt.pc"
else
    bad "make install PREFIX=<tmp>"; cat "$tmp/install.log"; exit 1
fi
mkdir "$tmp/app"
cp examples/generate.c "$tmp/app/"
# shellcheck disable=SC2086
"$TFC" models/gpt2.model $demo -o "$tmp/app/gpt2.c" || { bad "tfc -o gpt2.c"; exit 1; }
flags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs tfrt) ||
    { bad "pkg-config finds tfrt through PKG_CONFIG_PATH"; exit 1; }
case $flags in
    *"$root"*) bad "pkg-config's flags point into the source tree: $flags" ;;
    *) ok "pkg-config --cflags --libs tfrt: $flags" ;;
esac
for cc in gcc clang; do
    # shellcheck disable=SC2086  # flags are words
    if (cd "$tmp/app" && $cc -std=c99 -Wall -Wextra -Werror -O2 -o "generate_$cc" generate.c gpt2.c \
            $flags ${SANFLAGS:-}) 2>"$tmp/cc.log"; then
        ok "$cc builds examples/generate.c against the installed library (-Werror)"
    else
        bad "$cc builds examples/generate.c"; cat "$tmp/cc.log"; continue
    fi
    if "$tmp/app/generate_$cc" "$weights" "$chars" "ROMEO:" 300 7 >"$tmp/got_$cc.txt" 2>"$tmp/run.log" &&
       cmp -s "$tmp/got_$cc.txt" "$tmp/want.txt"; then
        ok "$cc example prints what tfc --run prints (seed 7, 300 tokens)"
    else
        bad "$cc example against tfc --run"; cat "$tmp/run.log"; diff "$tmp/got_$cc.txt" "$tmp/want.txt" | head -5
    fi
done

# ---- 2. README.md's build line, as written ---------------------------------------------

line=$(sed -n 's/^    \(cc .* app\.c gpt2\.c .*\)$/\1/p' README.md | head -n 1)
if [ -z "$line" ]; then
    bad "README.md has a build line 'cc ... app.c gpt2.c ...'"
else
    mkdir "$tmp/readme"
    ln -s "$root/runtime" "$tmp/readme/runtime"
    ln -s "$root/$B" "$tmp/readme/build"       # build/libtfrt.a (build/san under SAN=1)
    cp examples/generate.c "$tmp/readme/app.c"
    cp "$tmp/app/gpt2.c" "$tmp/app/gpt2.h" "$tmp/readme/"
    # shellcheck disable=SC2086  # the line is words, as a shell would split it
    if (cd "$tmp/readme" && $line ${SANFLAGS:-}) >"$tmp/cc.log" 2>&1 &&
       "$tmp/readme/a.out" "$weights" "$chars" "ROMEO:" 300 7 >"$tmp/readme.txt" 2>"$tmp/run.log" &&
       cmp -s "$tmp/readme.txt" "$tmp/want.txt"; then
        ok "README.md's line builds a program that generates as tfc does: $line"
    else
        bad "README.md's line: $line"; cat "$tmp/cc.log" "$tmp/run.log"
    fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
