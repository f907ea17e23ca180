/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors and JSON readers.
 *
 * Each input is written to one temporary file and opened with
 * tfrt_st_open.  When it opens, every byte of every tensor is read, so that
 * AddressSanitizer reports any view that reaches outside the mapping, and
 * names and shapes are checked against what open promised.  The raw input
 * is also parsed as JSON on its own, since that parser reads other files
 * (tokenizer.json) too.
 *
 *   make fuzz                    # 30 s from tests/fuzz/corpus
 *   FUZZ_SECONDS=600 make fuzz
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "tfrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;

/* One file for the whole run; rewritten for each input.  In memory
 * (/dev/shm) where there is one: a file on disk costs a write per input
 * and made the harness ten times slower. */
static int put_input(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        snprintf(path, sizeof path, "/dev/shm/fuzz_safetensors_XXXXXX");
        fd = mkstemp(path);
        if (fd < 0) {
            snprintf(path, sizeof path, "/tmp/fuzz_safetensors_XXXXXX");
            fd = mkstemp(path);
        }
        if (fd < 0)
            abort();
        unlink(path);                   /* /proc/self/fd keeps it reachable */
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    return 0;
}

static volatile unsigned sink;     /* keeps the reads from being dropped */

static void touch(const TfrtTensor *t)
{
    unsigned sum = 0;
    const unsigned char *p = t->data;
    uint64_t elems = 1;
    for (size_t i = 0; i < t->nbytes; i++)
        sum += p[i];
    sink = sum;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0)
            abort();
        elems *= (uint64_t)t->shape[d];
    }
    if (elems == 0 && t->nbytes != 0)
        abort();
    if (strlen(t->name) > 1u << 20)     /* reads the whole name */
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    TfrtSafetensors *st;
    put_input(data, size);
    if (tfrt_st_open(&st, path, err, sizeof err) == TFRT_OK) {
        for (int i = 0; i < tfrt_st_count(st); i++) {
            const TfrtTensor *t = tfrt_st_tensor(st, i);
            touch(t);
            if (tfrt_st_find(st, t->name) != t)
                abort();
        }
        tfrt_st_close(st);
    } else if (strlen(err) == 0) {
        abort();                        /* every failure explains itself */
    }
    json_free(json_parse((const char *)data, size, err, sizeof err));
    return 0;
}
