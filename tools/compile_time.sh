#!/bin/sh
# tools/compile_time.sh [TFC] - compile time against the size of a model,
# at 10^3, 10^4 and 10^5 statements, for docs/limits.md.  Four shapes:
#   assign   N lines x = x * 2 (a file of N statements)
#   config   N lines config cI = I
#   repeat   repeat i < N { x = x * 2 } (N statements once unrolled)
#   gpt2     models/gpt2.model with N/12 layers (12 statements a layer)
# Each is timed twice, the median of three runs: "front end" is parsing
# and lowering alone (the file ends in an output naming an unknown tensor,
# so tfc stops right after lowering), "tfc --dump-ir" the whole pipeline
# (the passes and the planner too).  Runs over COMPILE_TIME_LIMIT seconds
# (default 120) are cut short and shown as ">LIMIT".
set -eu
cd "$(dirname "$0")/.."
TFC=${1:-./tfc}
LIMIT=${COMPILE_TIME_LIMIT:-120}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BASE='input t[s <= 4]
e = Embedding(4, 4) at "e"
x = e(t)'

# model SHAPE N END: the model file on stdout, its output line END
model() {
    case $1 in
    assign) printf '%s\n' "$BASE"; awk -v n="$2" 'BEGIN { for (i = 0; i < n; i++) print "x = x * 2" }'
            echo "$3" ;;
    config) awk -v n="$2" 'BEGIN { for (i = 0; i < n; i++) print "config c" i " = " i }'
            printf '%s\n%s\n' "$BASE" "$3" ;;
    repeat) printf '%s\nrepeat i < %d {\n x = x * 2\n}\n%s\n' "$BASE" "$2" "$3" ;;
    gpt2)   sed -e "s/^config layers *=.*/config layers = $(($2 / 12))/" -e 's/^config dim *=.*/config dim = 64/' -e 's/^config heads *=.*/config heads = 4/' \
                -e 's/^output logits = .*//' models/gpt2.model
            echo "$3" ;;
    esac
}

# seconds FILE: median wall time of three runs of tfc FILE --dump-ir
seconds() {
    for k in 1 2 3; do
        s=$(date +%s%N)
        timeout "$LIMIT" "$TFC" "$1" --dump-ir >/dev/null 2>&1
        rc=$?
        [ $rc -eq 124 ] && { echo ">$LIMIT"; return; }
        # the whole-pipeline model must compile (the front-end one must not)
        [ "${2:-}" = ok ] && [ $rc -ne 0 ] && { echo "error"; return; }
        echo $(( $(date +%s%N) - s ))
    done | sort -n | sed -n 2p | awk '/^[>e]/ { print; next } { printf "%.3f\n", $1 / 1e9 }'
}

printf '%-8s %9s %12s %16s\n' shape statements "front end" "tfc --dump-ir"
for shape in assign config repeat gpt2; do
    for n in 1000 10000 100000; do
        model $shape $n "output y = no_such_tensor" >"$tmp/front.model"
        case $shape in gpt2) end="output logits = linear(ln_f(x), wte.weight)" ;; *) end="output y = x" ;; esac
        model $shape $n "$end" >"$tmp/full.model"
        set +e
        front=$(seconds "$tmp/front.model")
        full=$(seconds "$tmp/full.model" ok)
        set -e
        printf '%-8s %9d %11ss %15ss\n' $shape $n "$front" "$full"
    done
done
