#!/bin/sh
# Installs the Debian packages a make target needs, when any is missing.
#   tools/deps.sh build   flex, bison, OpenBLAS, a C compiler, LLVM 14 (not
#                         with LLVM=0 in the environment)
#   tools/deps.sh test    the above, CUnit, clang (libFuzzer), valgrind,
#                         PyTorch and NumPy for the golden references, librsvg for the plan pictures,
#                         Chromium (headless) for the --report pages,
#                         SentencePiece, Node.js and npm for the tokenizer
#                         oracles, the oracles' npm packages (npm ci in
#                         tests/tokenizer, from its package-lock.json), and
#                         Open MPI for tensor parallelism (--tp; not with
#                         MPI=0 in the environment)
# Runs apt-get as root, or through sudo otherwise; does nothing (and needs
# no network) when everything is already installed.
set -e
build="gcc make flex bison libopenblas-dev pkg-config"
# LLVM 14 for the JIT of --run; make LLVM=0 builds without it
[ "${LLVM:-1}" = 0 ] || build="$build llvm-14-dev"
test="$build libcunit1-dev clang libclang-rt-14-dev valgrind python3 python3-torch python3-numpy librsvg2-bin sentencepiece chromium"
# Open MPI for --tp (runtime/comm_mpi.c, tests/mpi); make MPI=0 builds without it
[ "${MPI:-1}" = 0 ] || test="$test openmpi-bin libopenmpi-dev"
case "${1:-build}" in
  build) want=$build ;;
  test)  want=$test ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
missing=""
# node and npm may come from another packaging of Node.js: ask for the commands
if [ "${1:-build}" = test ]; then
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "tools/deps.sh: installing$missing" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2
fi
# The tokenizer oracles: installed once, again when the lock file changes.
if [ "${1:-build}" = test ]; then
  dir=$(dirname "$0")/../tests/tokenizer
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "tools/deps.sh: npm ci in tests/tokenizer" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --silent) >&2
  fi
fi
exit 0
