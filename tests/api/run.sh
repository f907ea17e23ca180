#!/bin/sh
# tests/api/run.sh - the generated library's API under misuse and hostile
# weights files (tests/api/api_test.c says what is checked): compiles
# tests/api/lm.model with --prefix api, builds the test with -Werror (and
# SANFLAGS, so that make test SAN=1 runs it under ASan and UBSan), writes
# a clean and a NaN weights file, and runs it.
#   TFC=./tfc B=build tests/api/run.sh
set -eu
TFC=${TFC:-./tfc}
PYTHON=${PYTHON:-/usr/bin/python3}
B=${B:-build}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfc-api.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
$TFC tests/api/lm.model --prefix api -o "$tmp/api.c"
blas=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# shellcheck disable=SC2086  # flag lists are words
$CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -O1 ${SANFLAGS:-} -Iruntime -I"$tmp" \
    -o "$tmp/api_test" tests/api/api_test.c "$tmp/api.c" "$B/libtfrt.a" $blas -lm
PYTHONPATH=tests/golden "$PYTHON" - "$tmp" <<'PY'
import sys
import numpy as np
import safetensors_io as st
r = np.random.default_rng(3)
w = {"wte.weight": r.standard_normal((8, 4)).astype("f4"),
     "wpe.weight": r.standard_normal((16, 4)).astype("f4"),
     "qkv.weight": r.standard_normal((12, 4)).astype("f4"),
     "qkv.bias": r.standard_normal(12).astype("f4")}
st.save(sys.argv[1] + "/clean.safetensors", w)
w["wpe.weight"][3, :] = np.nan
st.save(sys.argv[1] + "/nan.safetensors", w)
PY
mkdir "$tmp/scratch"
"$tmp/api_test" "$tmp/clean.safetensors" "$tmp/nan.safetensors" "$tmp/scratch"
