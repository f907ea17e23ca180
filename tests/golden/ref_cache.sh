# tests/golden/ref_cache.sh - ref_make, sourced by the golden suites (after
# they set PYTHON, HERE and tmp).
#
# make test runs the golden suites up to four times over (fused, unfused,
# int8; and CI again under SAN and without LLVM), and every run made the
# same random weights and PyTorch references again: about five minutes of
# PyTorch a run for the base-size models alone.  ref_make keeps what one
# `make` wrote in build/golden-cache, keyed by its arguments (with the
# temporary folder's name taken out), by GOLDEN_THREADS and by the text of
# every reference script, so a change to any of them makes everything
# again.  GOLDEN_CACHE names another folder; GOLDEN_CACHE=0 turns it off.

# ref_make SCRIPT ARGS...: "$PYTHON" SCRIPT ARGS..., or the files it wrote
# last time with the same key.  Its outputs are the arguments (or the
# "key=PATH" parts of an argument) that name files in $tmp.  Returns the
# script's status; its standard output is replayed on a hit.
ref_make() {
    cache=${GOLDEN_CACHE:-$HERE/../../build/golden-cache}
    outs=$(printf '%s\n' "$@" | tr ' =' '\n\n' | grep "^$tmp/" | sort -u)
    if [ "$cache" = 0 ] || [ -z "$outs" ]; then
        "$PYTHON" "$@"
        return
    fi
    key=$( { cat "$HERE"/*.py; printf '%s\n' "$@" | sed "s|$tmp/|@TMP@/|g"; echo "${GOLDEN_THREADS:-}"; } |
           sha256sum | cut -c1-40)
    dir=$cache/$key
    if [ -f "$dir/stdout" ]; then
        hit=1
        for o in $outs; do
            if [ -f "$dir/$(basename "$o")" ]; then
                cp "$dir/$(basename "$o")" "$o" || hit=0
            fi
        done
        if [ $hit = 1 ]; then
            cat "$dir/stdout"
            return 0
        fi
    fi
    "$PYTHON" "$@" >"$tmp/ref-make.out"
    rc=$?
    cat "$tmp/ref-make.out"
    [ $rc -eq 0 ] || return $rc
    # written aside and renamed: a suite running beside this one sees the
    # whole entry or none
    mkdir -p "$cache" && part=$(mktemp -d "$cache/part.XXXXXX") || return 0
    for o in $outs; do
        [ -f "$o" ] && cp "$o" "$part/"
    done
    cp "$tmp/ref-make.out" "$part/stdout" && mv -T "$part" "$dir" 2>/dev/null || rm -rf "$part"
    return 0
}
