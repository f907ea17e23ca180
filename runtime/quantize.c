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
 *
 * A tensor saved int8 by tfc --save-weights (q8_file.h) is in the
 * kernels' layout already: its parts are read where the file is mapped
 * (a part that does not start a panel of it gets a copy of its rows).
 * tfrt_q8_write_tensor writes that layout, by the same quantizer.
 */
#include "tfrt.h"
#include "q8_file.h"
#include "q8_internal.h"
#include "widen.h"

#include <limits.h>
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

/* The view offset of a saved int8 tensor's spec (q8_file.h): its views
 * share the tensor's pointer.  0 for a float weight, whose pointer has it. */
static size_t view_first(const TfrtBindings *b, size_t weight)
{
    size_t first = 0;
    tfrt_bindings_saved(b, weight, &first);
    return first;
}

/* The first j < i with part i's pointer and shape, or -1. */
static int earlier_same(const TfrtBindings *bd, const TfrtPackedPart *parts, const void *weights, int i)
{
    const TfrtPackedPart *a = &parts[i];
    for (int j = 0; j < i; j++) {
        const TfrtPackedPart *b = &parts[j];
        const void *pa, *pb;
        memcpy(&pa, (const char *)weights + a->weight, sizeof pa);
        memcpy(&pb, (const char *)weights + b->weight, sizeof pb);
        if (pa == pb && a->first == b->first && a->in == b->in && a->rows == b->rows
            && a->ldw == b->ldw && a->layout == b->layout
            && view_first(bd, a->weight) == view_first(bd, b->weight))
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

/* Where part pt lies in the saved int8 tensor bound at its weight
 * (q8_file.h): *at its copy in place, or NULL with *row0, *k0 its first
 * row and input when it needs a copy of its own.  0 when it does not lie
 * on whole blocks of the tensor in the layout it was saved in. */
static int saved_place(const TfrtQ8Saved *sv, size_t first, const unsigned char *base,
                       const TfrtPackedPart *pt, const void **at, int *row0, int *k0)
{
    size_t e = first + pt->first, row, k;
    if (pt->layout != sv->layout || pt->ldw != (sv->layout == TFRT_W_OUT_IN ? sv->in : sv->rows))
        return 0;
    row = sv->layout == TFRT_W_OUT_IN ? e / (size_t)sv->in : e % (size_t)sv->rows;
    k = sv->layout == TFRT_W_OUT_IN ? e % (size_t)sv->in : e / (size_t)sv->rows;
    if (k % TFRT_Q8_BLOCK || k + (size_t)pt->in > (size_t)sv->in || row + (size_t)pt->rows > (size_t)sv->rows)
        return 0;
    *row0 = (int)row, *k0 = (int)k, *at = NULL;
    /* in place: whole panels of the tensor (a short last panel only at its end) */
    if (k == 0 && pt->in == sv->in && row % TFRT_Q8_PANEL == 0
        && (pt->rows % TFRT_Q8_PANEL == 0 || row + (size_t)pt->rows == (size_t)sv->rows))
        *at = base + row / TFRT_Q8_PANEL * tfrt_q8_panel_bytes(sv->in);
    return 1;
}

/* Part i's source: its int8 copy in place (*at), or 1 when it needs
 * memory of its own (quantized, or copied from a saved tensor, then
 * *sv set), or a negative status. */
static int part_source(const TfrtBindings *b, const void *weights, const TfrtPackedPart *pt,
                       const void **at, const TfrtQ8Saved **sv, int *row0, int *k0)
{
    size_t first;
    const unsigned char *base;
    memcpy(&base, (const char *)weights + pt->weight, sizeof base);
    *at = NULL;
    *sv = tfrt_bindings_saved(b, pt->weight, &first);
    if (!*sv)
        return 1;
    if (!base || !saved_place(*sv, first, base, pt, at, row0, k0))
        return -TFRT_ERR_SHAPE;
    return *at ? 0 : 1;
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
        const void *at;
        const TfrtQ8Saved *sv;
        int row0, k0, own = part_source(b, weights, &parts[i], &at, &sv, &row0, &k0);
        if (own < 0)
            return -own;
        if ((!sv && !part_data(b, weights, &parts[i], &dt, &esize)) || parts[i].in <= 0
            || parts[i].rows <= 0 || parts[i].in % TFRT_Q8_BLOCK)
            return TFRT_ERR_ARG;
        if (!own || earlier_same(b, parts, weights, i) >= 0)
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
        int same = earlier_same(b, parts, weights, i), row0, k0;
        const void *saved;
        const TfrtQ8Saved *sv;
        int own = part_source(b, weights, &parts[i], &saved, &sv, &row0, &k0);
        if (same >= 0 || !own) {
            q8[i] = same >= 0 ? q8[same] : saved;
            continue;
        }
        if (sv) {
            const void *base;
            memcpy(&base, (const char *)weights + parts[i].weight, sizeof base);
            tfrt_q8_copy_rows(at, parts[i].rows, parts[i].in, base, sv->in, row0, k0);
        } else {
            quantize_part(file, b, weights, &parts[i], at, buf);
        }
        q8[i] = at;
        at += tfrt_q8_weight_bytes(parts[i].rows, parts[i].in);
    }
    free(buf);
    *data = mem;
    return TFRT_OK;
}

int tfrt_q8_write_tensor(FILE *f, const TfrtSafetensors *st, const TfrtTensor *t, int layout)
{
    if (t->ndim != 2 || (t->dtype != TFRT_DT_F32 && t->dtype != TFRT_DT_F16 && t->dtype != TFRT_DT_BF16)
        || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > INT_MAX || t->shape[1] > INT_MAX)
        return TFRT_ERR_ARG;
    int out_in = layout == TFRT_W_OUT_IN;
    /* the whole tensor as one part: its rows are outputs, ldw its stored row */
    TfrtPackedPart pt = {0, 0, (int)t->shape[out_in ? 1 : 0], (int)t->shape[out_in ? 0 : 1],
                         (int)t->shape[1], layout};
    if (pt.in % TFRT_Q8_BLOCK)
        return TFRT_ERR_ARG;
    size_t esize = t->dtype == TFRT_DT_F32 ? 4 : 2, panel = tfrt_q8_panel_bytes(pt.in);
    float *buf = malloc(sizeof(float) * TFRT_Q8_PANEL * (size_t)pt.in);
    void *q = malloc(panel);
    int rc = buf && q ? TFRT_OK : TFRT_ERR_NOMEM;
    /* a panel is 16 rows quantized as a part of their own (the last padded):
       the panels of a part are its 16-row runs, so the bytes are the same */
    for (int r = 0; rc == TFRT_OK && r < pt.rows; r += TFRT_Q8_PANEL) {
        int nr = pt.rows - r < TFRT_Q8_PANEL ? pt.rows - r : TFRT_Q8_PANEL;
        read_rows(buf, t->data, t->dtype, &pt, r, nr);
        tfrt_q8_quantize_rows(q, nr, pt.in, 0, nr, buf);
        if (fwrite(q, 1, panel, f) != panel)
            rc = TFRT_ERR_IO;
        if (out_in)
            tfrt_st_release(st, (const unsigned char *)t->data + (size_t)r * (size_t)pt.ldw * esize,
                            span_bytes(&pt, nr, esize));
    }
    tfrt_st_release(st, t->data, t->nbytes);
    free(buf);
    free(q);
    return rc;
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
