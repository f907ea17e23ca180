/*
 * save_weights.c - tfc MODEL --quantize int8 --weights W --save-weights Q:
 * the model's weights quantized once and written to Q, a safetensors file
 * whose int8 tensors later open with no conversion (runtime/q8_file.h,
 * docs/quantization.md "Saved int8 weights").
 *
 * The model decides what is written: the tensors it reads, each under its
 * name in the file.  A tensor that only int8 layers read, all in one
 * layout, is written int8 in the kernels' own layout; every other one is
 * copied as it is (F32, F16 or BF16).  Tensors the model does not read
 * (buffers its ignore patterns name, a tied head's copy) are left out.
 *
 * Memory: the file is read where it is mapped and written tensor by
 * tensor, an int8 tensor 16 rows at a time (tfrt_q8_write_tensor), with
 * the mapped pages released as they are done: the peak is a few of them,
 * not the model.  The output is written all or nothing (output_files.c).
 */
#include "output_files.h"
#include "q8_file.h"
#include "q8_internal.h"
#include "tfc.h"
#include "tfrt.h"

#include <stdlib.h>
#include <string.h>

enum { SAVE_SKIP, SAVE_COPY, SAVE_Q8, SAVE_AS_SAVED };
enum { DATA_ALIGN = 64 };   /* where the data section starts: the kernels' loads */

/* What becomes of each tensor of the file. */
typedef struct {
    const TfrtTensor *t;
    int how;                 /* SAVE_* */
    int layout;              /* SAVE_Q8: the layout its int8 layers read */
    int read_f32, read_q8;   /* by fp32 readers, by int8 layers */
    int layouts;             /* bit 1 << layout for each int8 part */
    TfrtQ8Saved saved;       /* SAVE_AS_SAVED: its metadata entry */
    uint64_t begin, end;     /* in the output's data section */
} Entry;

/* The stored tensor of name (bare, then behind each of the model's
 * prefixes, as tfrt_bind_weights looks it up). */
static const TfrtTensor *find(const Graph *g, const TfrtSafetensors *st, const char *name)
{
    const TfrtTensor *t = tfrt_st_find(st, name);
    for (int i = 0; !t && i < g->nprefixes; i++)
        t = tfrt_st_find(st, tfc_format("%s%s", g->prefixes[i], name));
    return t;
}

static int index_of(const TfrtSafetensors *st, const TfrtTensor *t)
{
    return (int)(t - tfrt_st_tensor(st, 0));
}

/* Binds every weight as stored (no float copies: TfrtWeightSpec.quantized),
 * so that the file is checked as an open checks it; exits on a mismatch. */
static void check_binding(const Graph *g, const TfrtSafetensors *st)
{
    static const char *const none[] = {""};
    TfrtWeightSpec *specs = tfc_alloc((size_t)(g->count + 1) * sizeof *specs);
    const void **table = tfc_alloc((size_t)(g->count + 1) * sizeof *table);
    int n = 0;
    for (int i = 0; i < g->count; i++) {
        const Node *w = &g->nodes[i];
        if (w->dead || w->op != OP_WEIGHT)
            continue;
        Shape stored = shard_stored_shape(w);
        TfrtWeightSpec *s = &specs[n++];
        s->name = w->attr.weight.ckpt, s->ndim = stored.ndim;
        for (int d = 0; d < stored.ndim; d++)
            s->shape[d] = stored.d[d].n;
        s->offset = (size_t)i * sizeof *table, s->first = (size_t)w->attr.weight.first;
        s->quantized = 1;
    }
    TfrtNameMap names = {g->nprefixes ? g->prefixes : none, g->nprefixes,
                         g->nignores ? g->ignores : none, g->nignores};
    TfrtBindings *b;
    char err[512];
    if (tfrt_bind_weights(&b, st, specs, n, &names, table, err, sizeof err) != TFRT_OK)
        error_status(EXIT_INPUT, "%s", err);
    tfrt_bindings_free(b);
}

/* Who reads each tensor: fp32 readers, int8 layers and their layouts. */
static void mark_readers(const Graph *g, const TfrtSafetensors *st, Entry *e)
{
    for (int i = 0; i < g->count; i++) {
        const Node *w = &g->nodes[i];
        if (w->dead || w->op != OP_WEIGHT)
            continue;
        Entry *x = &e[index_of(st, find(g, st, w->attr.weight.ckpt))];
        x->read_q8 |= w->dtype == DT_Q8;
        x->read_f32 |= w->dtype != DT_Q8;
    }
    int n;
    KPackedPart *parts = kprog_q8_parts(g, &n);
    for (int p = 0; p < n; p++) {
        Entry *x = &e[index_of(st, find(g, st, g->nodes[parts[p].weight].attr.weight.ckpt))];
        x->layouts |= 1 << parts[p].layout;
        x->layout = parts[p].layout;
    }
}

/* SAVE_Q8 for a tensor that int8 layers alone read, in one layout, in
 * whole blocks; SAVE_AS_SAVED for one that is int8 already. */
static void choose(const TfrtSafetensors *st, Entry *x)
{
    int saved;
    char err[512];
    const TfrtTensor *t = x->t;
    if (!x->read_q8 && !x->read_f32)
        return;
    if (tfrt_q8_saved(st, t, &x->saved, &saved, err, sizeof err) != TFRT_OK)
        error_status(EXIT_INPUT, "%s", err);
    if (saved && x->read_f32)
        error_status(EXIT_INPUT, "tensor '%s' is int8 already, but the model reads it as floats",
                     t->name);
    if (saved && x->layouts & ~(1 << x->saved.layout))
        error_status(EXIT_INPUT, "tensor '%s' is int8 already, saved for the other layout than "
                     "the model reads it in", t->name);
    x->how = SAVE_COPY;
    if (saved)
        x->how = SAVE_AS_SAVED;
    else if (!x->read_f32 && x->layouts && !(x->layouts & (x->layouts - 1)) && t->ndim == 2
             && t->shape[x->layout == TFRT_W_OUT_IN ? 1 : 0] % TFRT_Q8_BLOCK == 0)
        x->how = SAVE_Q8;
}

/* Bytes an entry takes in the output. */
static uint64_t out_bytes(const Entry *x)
{
    if (x->how != SAVE_Q8)
        return x->t->nbytes;
    int out_in = x->layout == TFRT_W_OUT_IN;
    return tfrt_q8_weight_bytes((int)x->t->shape[out_in ? 0 : 1], (int)x->t->shape[out_in ? 1 : 0]);
}

/* Element size: copies go largest first, so each stays aligned to it. */
static int elem_size(const TfrtTensor *t)
{
    size_t count = 1;
    for (int d = 0; d < t->ndim; d++)
        count *= (size_t)t->shape[d];
    return count ? (int)(t->nbytes / count) : 1;
}

/* The output order: the int8 tensors (whole 64-byte panels) first, then
 * the copies by element size; offsets follow, with no gap. */
static int *order_entries(Entry *e, int count, int *n)
{
    int *order = tfc_alloc((size_t)(count + 1) * sizeof *order);
    uint64_t at = 0;
    *n = 0;
    for (int pass = 0; pass < 5; pass++)
        for (int i = 0; i < count; i++) {
            int q8 = e[i].how == SAVE_Q8 || e[i].how == SAVE_AS_SAVED;
            int want = pass == 0 ? q8 : !q8 && e[i].how == SAVE_COPY && elem_size(e[i].t) == 8 >> (pass - 1);
            if (!want)
                continue;
            order[(*n)++] = i;
            e[i].begin = at;
            e[i].end = at += out_bytes(&e[i]);
        }
    return order;
}

/* s as a JSON string. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* The metadata entry of an int8 tensor: its float layout and shape. */
static const char *entry_text(const Entry *x)
{
    if (x->how == SAVE_AS_SAVED)
        return tfc_format("%s %lld %lld", x->saved.layout == TFRT_W_OUT_IN ? "out_in" : "in_out",
                          (long long)x->saved.shape[0], (long long)x->saved.shape[1]);
    return tfc_format("%s %lld %lld", x->layout == TFRT_W_OUT_IN ? "out_in" : "in_out",
                      (long long)x->t->shape[0], (long long)x->t->shape[1]);
}

static void write_metadata(FILE *f, const Entry *e, const int *order, int n)
{
    fprintf(f, "{\"__metadata__\":{\"%s\":\"%s\",\"%s\":\"%d\",\"%s\":\"%d\"", TFRT_Q8_KEY_VERSION,
            TFRT_Q8_FILE_VERSION, TFRT_Q8_KEY_BLOCK, TFRT_Q8_BLOCK, TFRT_Q8_KEY_PANEL, TFRT_Q8_PANEL);
    for (int k = 0; k < n; k++) {
        const Entry *x = &e[order[k]];
        if (x->how != SAVE_Q8 && x->how != SAVE_AS_SAVED)
            continue;
        fputc(',', f);
        json_string(f, tfc_format("%s%s", TFRT_Q8_KEY_TENSOR, x->t->name));
        fprintf(f, ":\"%s\"", entry_text(x));
    }
    fputc('}', f);
}

/* The header: metadata, then each tensor in data order; returns its
 * text (padded with spaces so that the data section starts aligned). */
static char *header_text(const Entry *e, const int *order, int n, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        error_status(EXIT_IO, "out of memory for the header");
    write_metadata(f, e, order, n);
    for (int k = 0; k < n; k++) {
        const Entry *x = &e[order[k]];
        int q8 = x->how == SAVE_Q8;
        fputc(',', f);
        json_string(f, x->t->name);
        fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", q8 ? "U8" : tfrt_dtype_name(x->t->dtype));
        if (q8) {
            int64_t rows = x->t->shape[x->layout == TFRT_W_OUT_IN ? 0 : 1];
            int64_t in = x->t->shape[x->layout == TFRT_W_OUT_IN ? 1 : 0];
            fprintf(f, "%lld,%lld,%d", (long long)((rows + TFRT_Q8_PANEL - 1) / TFRT_Q8_PANEL),
                    (long long)(in / TFRT_Q8_BLOCK), TFRT_Q8_BLOCK_BYTES);
        }
        for (int d = 0; !q8 && d < x->t->ndim; d++)
            fprintf(f, "%s%lld", d ? "," : "", (long long)x->t->shape[d]);
        fprintf(f, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)x->begin,
                (unsigned long long)x->end);
    }
    fputc('}', f);
    while ((8 + ftell(f)) % DATA_ALIGN)
        fputc(' ', f);
    if (fclose(f) != 0)
        error_status(EXIT_IO, "out of memory for the header");
    *len = size;
    return buf;
}

/* A copied tensor: its stored bytes, a few MB at a time, each run's
 * mapped pages released once written. */
static int write_copy(FILE *f, const TfrtSafetensors *st, const TfrtTensor *t)
{
    const size_t run = 4u << 20;
    const unsigned char *p = t->data;
    for (size_t at = 0; at < t->nbytes; at += run) {
        size_t n = t->nbytes - at < run ? t->nbytes - at : run;
        if (fwrite(p + at, 1, n, f) != n)
            return TFRT_ERR_IO;
        tfrt_st_release(st, p + at, n);
    }
    return TFRT_OK;
}

static void write_file(FILE *f, const TfrtSafetensors *st, const Entry *e, const int *order, int n,
                       const char *path)
{
    size_t hlen;
    char *header = header_text(e, order, n, &hlen);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int rc = fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen ? TFRT_OK : TFRT_ERR_IO;
    free(header);
    for (int k = 0; k < n && rc == TFRT_OK; k++) {
        const Entry *x = &e[order[k]];
        if (tfrt_st_check_file(st) != TFRT_OK)
            error_status(EXIT_IO, "the weights file changed while it was read");
        rc = x->how == SAVE_Q8 ? tfrt_q8_write_tensor(f, st, x->t, x->layout) : write_copy(f, st, x->t);
    }
    if (rc == TFRT_ERR_NOMEM)
        error_status(EXIT_IO, "out of memory writing '%s'", path);
    if (rc != TFRT_OK)
        error_status(EXIT_IO, "cannot write '%s'", path);
}

int save_weights(const Graph *g, const char *weights, const char *path)
{
    TfrtSafetensors *st;
    char err[512];
    double t0 = run_now();
    if (tfrt_st_open(&st, weights, err, sizeof err) != TFRT_OK)
        error_status(EXIT_INPUT, "%s", err);
    if (tfrt_st_holds(st, path))
        error_status(EXIT_USAGE, "'%s' would be overwritten: it is an input and an output", path);
    check_binding(g, st);
    int count = tfrt_st_count(st), n;
    Entry *e = tfc_alloc((size_t)(count + 1) * sizeof *e);
    for (int i = 0; i < count; i++)
        e[i].t = tfrt_st_tensor(st, i);
    mark_readers(g, st, e);
    for (int i = 0; i < count; i++)
        choose(st, &e[i]);
    int *order = order_entries(e, count, &n);
    Outputs out = {0};
    write_file(outputs_open(&out, path), st, e, order, n, path);
    outputs_commit(&out);
    uint64_t q8 = 0, copied = 0;
    int nq8 = 0;
    for (int k = 0; k < n; k++) {
        int is_q8 = e[order[k]].how != SAVE_COPY;
        nq8 += is_q8;
        *(is_q8 ? &q8 : &copied) += e[order[k]].end - e[order[k]].begin;
    }
    fprintf(stderr, "tfc: wrote %s in %.2f s: %d int8 tensors (%.1f MB), %d copied as stored (%.1f MB)\n",
            path, run_now() - t0, nq8, q8 / 1e6, n - nq8, copied / 1e6);
    tfrt_st_close(st);
    return 0;
}
