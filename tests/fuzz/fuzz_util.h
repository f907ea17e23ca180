/*
 * fuzz_util.h - what the libFuzzer harnesses share: the input written to a
 * file (loaders read paths), cut into parts at "#||#" for harnesses that
 * need several files.  Header-only, one harness per binary.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private folder for the whole run, made once. */
static const char *fuzz_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/tfc_fuzz_XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* Writes data[0..size) to dir/name and returns the path (static buffer
 * per call site: copy it if two are needed at once). */
static const char *fuzz_file(const char *name, const void *data, size_t size, char *path,
                             size_t cap)
{
    FILE *f;
    snprintf(path, cap, "%s/%s", fuzz_dir(), name);
    if (!(f = fopen(path, "wb")) || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        abort();
    return path;
}

/* The next part of data[*at..size), up to "#||#" or the end. */
static size_t fuzz_part(const uint8_t *data, size_t size, size_t *at, const uint8_t **part)
{
    size_t i = *at;
    *part = data + i;
    while (i < size && !(size - i >= 4 && memcmp(data + i, "#||#", 4) == 0))
        i++;
    size_t n = i - *at;
    *at = i < size ? i + 4 : size;
    return n;
}

#endif
