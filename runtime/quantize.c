/*
 * quantize.c - a model's int8 weights, made at open from the weights file,
 * and the embedding lookup that reads an int8 table.
 *
 * A part is `rows` output rows of `in` inputs (TfrtPackedPart); its int8
 * form is the kernels' (runtime/q8.h: blocks of TFRT_Q8_BLOCK along `in`,
 * one float scale a block).  The stored tensor may be F32, F16 or BF16
 * and either layout; it is read a run of rows at a time into a small
 * float buffer, quantized, and the file's pages of that run released, so
 * that the fp32 (or f16) weights and their int8 copy are never resident
 * together: the peak stays near the int8 size plus one run.
 */
#include "tfrt.h"
#include "q8.h"
#include "widen.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { RUN_FLOATS = 1 << 16 };   /* the float buffer: 256 KiB */

/* The stored data of part i and its dtype. */
static const unsigned char *part_data(const TfrtBindings *b, const void *weights,
                                      const TfrtPackedPart *pt, TfrtDtype *dt, size_t *esize)
{
    const unsigned char *base;
    memcpy(&base, (const char *)weights + pt->weight, sizeof base);
    *dt = (TfrtDtype)tfrt_bindings_dtype(b, pt->weight);
    *esize = *dt == TFRT_DT_F32 ? 4 : 2;
    return base ? base + pt->first * *esize : NULL;
}

/* The first j < i with part i's pointer and shape, or -1. */
static int earlier_same(const TfrtPackedPart *parts, const void *weights, int i)
{
    const TfrtPackedPart *a = &parts[i];
    for (int j = 0; j < i; j++) {
        const TfrtPackedPart *b = &parts[j];
        const void *pa, *pb;
        memcpy(&pa, (const char *)weights + a->weight, sizeof pa);
        memcpy(&pb, (const char *)weights + b->weight, sizeof pb);
        if (pa == pb && a->first == b->first && a->in == b->in && a->rows == b->rows
            && a->ldw == b->ldw && a->layout == b->layout)
            return j;
    }
    return -1;
}

/* Rows [r0, r0 + nr) of the part as floats, row-major (nr, in): element
 * (r, k) is W(out = r, in = k) in either stored layout. */
static void read_rows(float *buf, const unsigned char *src, TfrtDtype dt, const TfrtPackedPart *pt,
                      int r0, int nr)
{
    for (int r = 0; r < nr; r++)
        for (int k = 0; k < pt->in; k++) {
            size_t at = pt->layout == TFRT_W_OUT_IN ? (size_t)(r0 + r) * (size_t)pt->ldw + (size_t)k
                                                    : (size_t)k * (size_t)pt->ldw + (size_t)(r0 + r);
            buf[(size_t)r * (size_t)pt->in + (size_t)k] = tfrt_stored_value(src, dt, at);
        }
}

/* The stored bytes part pt spans, from its first element to its last. */
static size_t span_bytes(const TfrtPackedPart *pt, int rows, size_t esize)
{
    size_t elems = pt->layout == TFRT_W_OUT_IN
                       ? (size_t)(rows - 1) * (size_t)pt->ldw + (size_t)pt->in
                       : (size_t)(pt->in - 1) * (size_t)pt->ldw + (size_t)rows;
    return elems * esize;
}

static void quantize_part(const TfrtSafetensors *file, const TfrtBindings *b, const void *weights,
                          const TfrtPackedPart *pt, void *dst, float *buf)
{
    TfrtDtype dt;
    size_t esize;
    const unsigned char *src = part_data(b, weights, pt, &dt, &esize);
    int run = RUN_FLOATS / pt->in > 0 ? RUN_FLOATS / pt->in : 1;
    for (int r = 0; r < pt->rows; r += run) {
        int nr = pt->rows - r < run ? pt->rows - r : run;
        read_rows(buf, src, dt, pt, r, nr);
        tfrt_q8_quantize_rows(dst, pt->rows, pt->in, r, nr, buf);
        /* stored (out, in), a run of rows is a run of memory; stored (in,
         * out), every run reads across the whole part: released at the end */
        if (pt->layout == TFRT_W_OUT_IN)
            tfrt_st_release(file, src + (size_t)r * (size_t)pt->ldw * esize,
                            span_bytes(pt, nr, esize));
    }
    if (pt->layout == TFRT_W_IN_OUT)
        tfrt_st_release(file, src, span_bytes(pt, pt->rows, esize));
}

int tfrt_quantize_weights(const TfrtSafetensors *file, const TfrtBindings *b, const void *weights,
                          const TfrtPackedPart *parts, int n, const void **q8, void **data)
{
    size_t total = 0;
    *data = NULL;
    for (int i = 0; i < n; i++)
        q8[i] = NULL;
    if (n <= 0)
        return TFRT_OK;
    for (int i = 0; i < n; i++) {
        TfrtDtype dt;
        size_t esize;
        if (!part_data(b, weights, &parts[i], &dt, &esize) || parts[i].in <= 0 || parts[i].rows <= 0
            || parts[i].in % TFRT_Q8_BLOCK)
            return TFRT_ERR_ARG;
        if (earlier_same(parts, weights, i) >= 0)
            continue;
        size_t bytes = tfrt_q8_weight_bytes(parts[i].rows, parts[i].in);   /* 0: too large */
        if (!bytes || bytes > SIZE_MAX - 64 - total)
            return TFRT_ERR_NOMEM;
        total += bytes;
    }
    void *mem = NULL;
    float *buf = malloc(sizeof(float) * RUN_FLOATS);
    if (!buf || posix_memalign(&mem, 64, total ? total : 64) != 0) {
        free(buf);
        return TFRT_ERR_NOMEM;
    }
    /* a run holds at least one row: a row longer than the buffer gets its own */
    int longest = 0;
    for (int i = 0; i < n; i++)
        longest = parts[i].in > longest ? parts[i].in : longest;
    if (longest > RUN_FLOATS) {
        free(buf);
        if (!(buf = malloc(sizeof(float) * (size_t)longest))) {
            free(mem);
            return TFRT_ERR_NOMEM;
        }
    }
    unsigned char *at = mem;
    for (int i = 0; i < n; i++) {
        int same = earlier_same(parts, weights, i);
        if (same >= 0) {
            q8[i] = q8[same];
            continue;
        }
        quantize_part(file, b, weights, &parts[i], at, buf);
        q8[i] = at;
        at += tfrt_q8_weight_bytes(parts[i].rows, parts[i].in);
    }
    free(buf);
    *data = mem;
    return TFRT_OK;
}

int tfrt_embed_q8(float *y, const void *q8, const int32_t *ids, int n, int vocab, int dim)
{
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return TFRT_ERR_TOKEN;
    for (int i = 0; i < n; i++)
        tfrt_q8_dequantize_row(y + (size_t)i * (size_t)dim, q8, vocab, dim, ids[i]);
    return TFRT_OK;
}
