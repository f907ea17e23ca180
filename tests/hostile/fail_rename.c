/*
 * fail_rename.c - an LD_PRELOAD shim for tests/hostile/run.sh: rename()
 * fails with EIO when its target ends in $FAIL_RENAME, so that a test can
 * make the second of two outputs fail after the first was renamed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rename(const char *from, const char *to)
{
    const char *suffix = getenv("FAIL_RENAME");
    size_t n = suffix ? strlen(suffix) : 0, m = strlen(to);
    if (n && m >= n && strcmp(to + m - n, suffix) == 0) {
        errno = EIO;
        return -1;
    }
    int (*real)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}
