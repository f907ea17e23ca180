#!/bin/sh
# The npm packages of the bench's peers, pinned, into a folder outside the
# sources (default build/bench/node): node-llama-cpp 3.21.1 (llama.cpp's
# prebuilt CPU binary) and onnxruntime-node 1.30.0.
#   tools/bench/setup.sh [DIR]
# Install scripts are not run: the CPU binaries ship inside the packages,
# and onnxruntime-node's script would only download GPU libraries.  Never
# fails `make bench`: without the packages those rows say they are skipped.
set -u
DIR=${1:-build/bench/node}
LLAMA_NODE=node-llama-cpp@3.21.1
ORT_NODE=onnxruntime-node@1.30.0
have() { [ -f "$DIR/node_modules/$1/package.json" ] &&
         grep -q "\"version\": \"$2\"" "$DIR/node_modules/$1/package.json"; }
if have node-llama-cpp 3.21.1 && have onnxruntime-node 1.30.0; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "tools/bench/setup.sh: npm is missing; the node-llama-cpp and onnxruntime rows will be skipped" >&2
    exit 0
fi
mkdir -p "$DIR" || exit 0
[ -f "$DIR/package.json" ] || echo '{ "name": "tfc-bench-peers", "private": true }' >"$DIR/package.json"
echo "tools/bench/setup.sh: npm install $LLAMA_NODE $ORT_NODE into $DIR" >&2
if ! (cd "$DIR" && npm install --no-audit --no-fund --ignore-scripts --save-exact \
        "$LLAMA_NODE" "$ORT_NODE" >&2); then
    echo "tools/bench/setup.sh: npm install failed; those rows will be skipped" >&2
fi
exit 0
