# tests/tokenizer/lib.sh - what run.sh and families.sh share: the data
# folder, the tokcheck driver, the npm oracles, a temporary folder, and the
# verdicts.  Sourced from the repository root.

SHARED=${TFC_SHARED:-$(pwd)/../shared}
if [ -d "$SHARED/data/gpt2" ]; then DATA=$SHARED/data; else DATA=$SHARED; fi
GPT2=$DATA/gpt2
SHAKES=$DATA/tinyshakespeare.txt
AWK=tests/tokenizer/awkward.txt
PYTHON=${PYTHON:-/usr/bin/python3}
pass=0
fail=0

# Builds tokcheck, checks the oracles are installed, makes $TMP.
tok_setup() {
    for f in "$GPT2/encoder.json" "$GPT2/vocab.bpe" "$SHAKES"; do
        [ -f "$f" ] || { echo "tokenizer tests: missing $f (set TFC_SHARED)"; return 2; }
    done
    CC=${CC:-cc}
    if [ "${SAN:-0}" = 1 ]; then
        B=build/san/tokenizer
        SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
    else
        B=build/tokenizer
        SANFLAGS=
    fi
    mkdir -p "$B"
    TOKCHECK=$B/tokcheck
    $CC -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Wshadow \
        -Wmissing-prototypes -Wstrict-prototypes -O2 -g $SANFLAGS -Iruntime \
        -o "$TOKCHECK" tests/tokenizer/tokcheck.c runtime/tokenizer*.c runtime/tok_*.c \
        runtime/unicode_tables.c runtime/json.c -lm \
        || { echo "tokenizer tests: cannot build tokcheck"; return 2; }
    if [ ! -f tests/tokenizer/node_modules/.package-lock.json ]; then
        echo "tokenizer tests: the npm oracles are not installed (run tools/deps.sh test)"
        return 2
    fi
    TMP=$(mktemp -d) || return 2
    trap 'rm -rf "$TMP"' EXIT INT TERM
}

ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# expect_same NAME TOKENIZER FILE ORACLE_IDS [ORACLE [COMMAND]]
expect_same() {
    if "$TOKCHECK" "${6:-encode}" "$2" "$3" > "$TMP/ours" 2> "$TMP/log" &&
       cmp -s "$TMP/ours" "$4"; then
        ok "$1"
    else
        cat "$TMP/log"
        bad "$1: ids differ from ${5:-gpt-3-encoder} ($(cmp "$TMP/ours" "$4" 2>&1 | head -1))"
    fi
}

# expect_roundtrip NAME TOKENIZER FILE: encode, decode through the ids file
expect_roundtrip() {
    if "$TOKCHECK" encode "$2" "$3" > "$TMP/ids" 2> "$TMP/log" &&
       "$TOKCHECK" decode "$2" "$TMP/ids" "$TMP/back" 2>> "$TMP/log" &&
       cmp -s "$TMP/back" "$3"; then
        ok "$1"
    else
        cat "$TMP/log"
        bad "$1: decode(encode(x)) != x"
    fi
}
