/*
 * bind.c - binds a compiled model's weight table to a safetensors file.
 *
 * The model lists the weights it needs (TfrtWeightSpec: checkpoint name,
 * shape, byte offset of its pointer in the weight table).  For each one we
 * look up the name, bare and then behind each of the model's prefixes
 * ("transformer.", "model."), check its dtype and shape, and store a
 * float pointer.  F32 data is used in place (the file is mapped, so
 * nothing is copied); F16 and BF16 are widened into buffers the binding
 * owns, except for the weights a model quantizes at open (spec.quantized):
 * those stay as stored, in any of the three, and the quantizer reads
 * them (quantize.c), so no float copy of them is made.  A tensor saved
 * int8 by tfc --save-weights (q8_file.h) is bound as saved, for a weight
 * the model quantizes, and refused for one it reads as floats.  Finally
 * every tensor of the file must be accounted for: bound, or
 * matched by one of the model's ignore globs, or a tied copy: a tensor
 * that repeats a bound one byte for byte (converted GPT-2 files store
 * lm_head.weight beside the wte.weight the model ties its head to).  A file
 * with any other stray tensor is usually a checkpoint for a different
 * model, so it is an error.
 */
#include "tfrt.h"
#include "status_internal.h"
#include "q8_file.h"
#include "widen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct TfrtBindings {
    float **owned;              /* converted copies, freed with the binding */
    int n_owned, cap_owned;
    struct {                    /* the weights bound as stored (quantized) */
        size_t offset;          /* in the table */
        TfrtDtype dtype;        /* U8: saved int8 (q8_file.h), as saved */
        TfrtQ8Saved saved;
        size_t first;           /* the spec's view offset, for saved int8 */
    } *stored;
    int n_stored;
};

/* '*' matches any run of characters, possibly empty.  On a mismatch after
 * a '*' we retry with that star swallowing one more character; only the
 * last star needs backtracking, so this is linear-time per star. */
int tfrt_glob_match(const char *pattern, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pattern == '*') {
            star = ++pattern;
            resume = s;
        } else if (*pattern == *s) {
            pattern++;
            s++;
        } else if (star) {
            pattern = star;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

/* ---- dtype conversion ----------------------------------------------------- */

/* Room for n floats that b owns (freed with it); NULL when out of memory. */
static float *owned_floats(TfrtBindings *b, size_t n)
{
    if (b->n_owned == b->cap_owned) {
        int cap = b->cap_owned ? b->cap_owned * 2 : 8;
        float **o = realloc(b->owned, sizeof(float *) * (size_t)cap);
        if (!o)
            return NULL;
        b->owned = o;
        b->cap_owned = cap;
    }
    float *dst = malloc(n ? sizeof(float) * n : 1);
    if (dst)
        b->owned[b->n_owned++] = dst;
    return dst;
}

/* A float copy of t that b owns; NULL when out of memory. */
static float *convert(TfrtBindings *b, const TfrtTensor *t)
{
    size_t n = t->nbytes / (t->dtype == TFRT_DT_F32 ? 4 : 2);
    float *dst = owned_floats(b, n);
    if (!dst)
        return NULL;
    const unsigned char *src = t->data;
    if (t->dtype == TFRT_DT_F32) {
        memcpy(dst, src, t->nbytes);
        return dst;
    }
    for (size_t i = 0; i < n; i++) {
        /* safetensors stores little-endian; read bytewise, alignment-free. */
        uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        dst[i] = t->dtype == TFRT_DT_F16 ? tfrt_f16_to_f32(h) : tfrt_bf16_to_f32(h);
    }
    return dst;
}

/* Element i of t as a float (t is F32, F16 or BF16, validated at open). */
static float element(const TfrtTensor *t, size_t i)
{
    return tfrt_stored_value(t->data, t->dtype, i);
}

/* Whether s's split is consistent with its (checked) shape: an axis of
 * the tensor, parts that tile it, each a multiple of the ways. */
static int split_ok(const TfrtWeightSpec *s, const TfrtWeightSplit *sp, const int64_t *parts, int *nparts)
{
    int axis = sp->axis - 1;
    if (axis < 0 || axis >= s->ndim || sp->ways < 1)
        return 0;
    int64_t len = s->shape[axis], sum = 0;
    *nparts = 0;
    for (int k = 0; k < 3 && sp->parts[k] > 0; k++)
        sum += sp->parts[k], (*nparts)++;
    if (!*nparts)
        *nparts = 1, sum = len;
    for (int k = 0; k < *nparts; k++)   /* one part along axis 0 may be padded */
        if ((*nparts > 1 || axis > 0) && (*nparts > 1 ? parts[k] : len) % sp->ways)
            return 0;
    return *nparts > 1 ? sum == len : sum <= len;   /* one part: maybe a view's rows */
}

/* Elements from the start of the stored tensor to rank's slice of its
 * first part (split_ok holds). */
static size_t rank_offset(const TfrtWeightSpec *s, const TfrtWeightSplit *sp, int rank)
{
    int axis = sp->axis - 1;
    size_t ways = (size_t)sp->ways, inner = 1;
    size_t len = (size_t)(sp->parts[0] > 0 ? sp->parts[0] : s->shape[axis]);
    for (int d = axis + 1; d < s->ndim; d++)
        inner *= (size_t)s->shape[d];
    return (size_t)rank * ((len + ways - 1) / ways) * inner;
}

/* Whether rank's slice of a padded split runs past the stored rows. */
static int short_slice(const TfrtWeightSpec *s, const TfrtWeightSplit *sp, int rank)
{
    int64_t ways = sp->ways, len = sp->parts[0] > 0 && !sp->parts[1] ? sp->parts[0] : s->shape[sp->axis - 1];
    return (int64_t)(rank + 1) * ((len + ways - 1) / ways) > len;
}

/* Rank `rank`'s slice of t (the spec's split), as floats b owns: for every
 * index of the axes before the split one, each part's rank-th slice of
 * the split axis, with the axes after it whole, padded with zeros.  NULL
 * when out of memory.  (Used for the short slice of a padded axis 0,
 * where this layout is the stored one, and for a packed split.) */
static float *slice(TfrtBindings *b, const TfrtTensor *t, const TfrtWeightSpec *s,
                    const TfrtWeightSplit *sp, int rank)
{
    int axis = sp->axis - 1, nparts;
    if (!split_ok(s, sp, sp->parts, &nparts))
        return NULL;
    size_t outer = 1, inner = 1, len = (size_t)s->shape[axis];
    for (int d = 0; d < axis; d++)
        outer *= (size_t)s->shape[d];
    for (int d = axis + 1; d < s->ndim; d++)
        inner *= (size_t)s->shape[d];
    size_t ways = (size_t)sp->ways, rows = nparts == 1 ? (len + ways - 1) / ways : len / ways;
    size_t local = outer * rows * inner;
    float *dst = owned_floats(b, local), *d = dst;
    if (!dst)
        return NULL;
    for (size_t o = 0; o < outer; o++) {
        size_t part_at = 0;
        for (int k = 0; k < nparts; k++) {
            size_t plen = nparts == 1 ? len : (size_t)sp->parts[k];
            size_t n = nparts == 1 ? rows : plen / ways, first = (size_t)rank * n;
            size_t have = first >= plen ? 0 : plen - first < n ? plen - first : n;
            size_t from = (o * len + part_at + first) * inner;
            for (size_t i = 0; i < have * inner; i++)
                *d++ = element(t, from + i);
            for (size_t i = have * inner; i < n * inner; i++)   /* padding past the end */
                *d++ = 0.0f;
            part_at += plen;
        }
    }
    return dst;
}

/* ---- one weight ----------------------------------------------------------- */

/* Appends to the NUL-terminated buf (len bytes), truncating quietly. */
static void append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* "[64, 192]" */
static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape)
{
    buf[0] = '\0';
    append(buf, len, "[");
    for (int i = 0; i < ndim; i++)
        append(buf, len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    append(buf, len, "]");
}

static int check_shape(const TfrtTensor *t, const TfrtWeightSpec *s,
                       char *err, size_t errlen)
{
    int same = t->ndim == s->ndim;
    for (int i = 0; same && i < s->ndim; i++)
        same = t->shape[i] == s->shape[i];
    if (same)
        return TFRT_OK;
    char have[160], want[160];
    format_shape(have, sizeof have, t->ndim, t->shape);
    format_shape(want, sizeof want, s->ndim, s->shape);
    return tfrt_errf(err, errlen, TFRT_ERR_SHAPE, "tensor '%s' has shape %s, the model expects %s",
                t->name, have, want);
}

/* The tensor for spec s: s->name bare, then behind each prefix. */
static const TfrtTensor *lookup(const TfrtSafetensors *st, const char *name,
                                const TfrtNameMap *map)
{
    const TfrtTensor *t = tfrt_st_find(st, name);
    for (int i = 0; !t && map && i < map->n_prefixes; i++) {
        size_t lp = strlen(map->prefixes[i]), ln = strlen(name);
        char *full = malloc(lp + ln + 1);
        if (!full)
            return NULL;
        memcpy(full, map->prefixes[i], lp);
        memcpy(full + lp, name, ln + 1);
        t = tfrt_st_find(st, full);
        free(full);
    }
    return t;
}

static int missing(const char *name, const TfrtNameMap *map, char *err, size_t errlen)
{
    char looked[512] = "";
    append(looked, sizeof looked, "'%s'", name);
    for (int i = 0; map && i < map->n_prefixes; i++)
        append(looked, sizeof looked, ", '%s%s'", map->prefixes[i], name);
    return tfrt_errf(err, errlen, TFRT_ERR_MISSING, "tensor '%s' is missing (looked for %s)",
                name, looked);
}

/* A saved int8 tensor (q8_file.h) for spec s: bound as saved when the
 * model quantizes s, at the float shape it was saved from. */
static int bind_saved(TfrtBindings *b, const TfrtTensor *t, const TfrtQ8Saved *q,
                      const TfrtWeightSpec *s, void *table, char *err, size_t errlen)
{
    if (!s->quantized)
        return tfrt_errf(err, errlen, TFRT_ERR_DTYPE,
                    "tensor '%s' holds int8 weights (saved by tfc --save-weights), but the model "
                    "reads it as floats: compile it with --quantize int8 and the options the file "
                    "was saved with (-fno-quantize-head), or give the float weights", t->name);
    if (s->quantized >= 2 && s->quantized - 2 != q->layout)
        return tfrt_errf(err, errlen, TFRT_ERR_SHAPE,
                    "tensor '%s' holds int8 weights saved to be read %s, but the model reads it %s",
                    t->name, q->layout == TFRT_W_OUT_IN ? "(out, in)" : "(in, out)",
                    q->layout == TFRT_W_OUT_IN ? "(in, out)" : "(out, in)");
    int same = s->ndim == 2 && s->shape[0] == q->shape[0] && s->shape[1] == q->shape[1];
    if (!same) {
        char have[160], want[160];
        format_shape(have, sizeof have, 2, q->shape);
        format_shape(want, sizeof want, s->ndim, s->shape);
        return tfrt_errf(err, errlen, TFRT_ERR_SHAPE,
                    "tensor '%s' holds int8 weights saved from shape %s, the model expects %s",
                    t->name, have, want);
    }
    b->stored[b->n_stored].offset = s->offset;
    b->stored[b->n_stored].dtype = TFRT_DT_U8;
    b->stored[b->n_stored].saved = *q;
    b->stored[b->n_stored++].first = s->first;
    *(const void **)((char *)table + s->offset) = t->data;
    return TFRT_OK;
}

/* Finds, checks and stores one weight pointer; marks its tensor used. */
static int bind_one(TfrtBindings *b, const TfrtSafetensors *st,
                    const TfrtWeightSpec *s, const TfrtWeightSplit *sp, const TfrtNameMap *map,
                    void *table, int rank, char *used, char *err, size_t errlen)
{
    const TfrtTensor *t = lookup(st, s->name, map);
    const float *ptr;
    if (!t)
        return missing(s->name, map, err, errlen);
    TfrtQ8Saved q;
    int saved, r = tfrt_q8_saved(st, t, &q, &saved, err, errlen);
    if (r == TFRT_OK && saved && sp && sp->axis)
        r = tfrt_errf(err, errlen, TFRT_ERR_ARG, "tensor '%s': int8 weights are not split over ranks", t->name);
    if (r == TFRT_OK && saved && (r = bind_saved(b, t, &q, s, table, err, errlen)) == TFRT_OK)
        used[t - tfrt_st_tensor(st, 0)] = 1;
    if (r != TFRT_OK || saved)
        return r;
    if (t->dtype != TFRT_DT_F32 && t->dtype != TFRT_DT_F16 && t->dtype != TFRT_DT_BF16)
        return tfrt_errf(err, errlen, TFRT_ERR_DTYPE,
                    "tensor '%s' has dtype %s, the model needs F32, F16 or BF16",
                    t->name, tfrt_dtype_name(t->dtype));
    if ((r = check_shape(t, s, err, errlen)))
        return r;
    if (s->quantized) {   /* as stored: tfrt_quantize_weights reads it */
        if (sp && sp->axis)
            return tfrt_errf(err, errlen, TFRT_ERR_ARG, "tensor '%s': int8 weights are not split over ranks",
                        t->name);
        size_t esize = t->dtype == TFRT_DT_F32 ? 4 : 2;
        b->stored[b->n_stored].offset = s->offset;
        b->stored[b->n_stored++].dtype = t->dtype;
        used[t - tfrt_st_tensor(st, 0)] = 1;
        *(const void **)((char *)table + s->offset) = (const char *)t->data + s->first * esize;
        return TFRT_OK;
    }
    int nparts;
    static const TfrtWeightSplit whole;
    if (!sp)
        sp = &whole;
    if (sp->axis && (rank < 0 || rank >= sp->ways || !split_ok(s, sp, sp->parts, &nparts)))
        return tfrt_errf(err, errlen, TFRT_ERR_ARG, "tensor '%s' cannot be split %d ways for rank %d",
                    t->name, sp->ways, rank);
    size_t at = sp->axis ? rank_offset(s, sp, rank) : 0;
    if (sp->axis && (sp->packed || short_slice(s, sp, rank))) {   /* a copy: packed, or padded */
        if (!(ptr = slice(b, t, s, sp, rank)))
            return tfrt_errf(err, errlen, TFRT_ERR_NOMEM, "out of memory for rank %d's slice of tensor '%s'",
                        rank, t->name);
        at = 0;
    } else if (t->dtype == TFRT_DT_F32 && (uintptr_t)t->data % sizeof(float) == 0)
        ptr = t->data;
    else if (!(ptr = convert(b, t)))
        return tfrt_errf(err, errlen, TFRT_ERR_NOMEM, "out of memory converting tensor '%s'", t->name);
    ptr += at;
    used[t - tfrt_st_tensor(st, 0)] = 1;
    *(const float **)((char *)table + s->offset) = ptr + s->first;
    return TFRT_OK;
}

/* An ignore glob matches a name bare or behind one of the prefixes, as
 * weight names are looked up. */
static int ignore_matches(const TfrtNameMap *map, const char *glob, const char *name)
{
    if (tfrt_glob_match(glob, name))
        return 1;
    for (int i = 0; i < map->n_prefixes; i++) {
        size_t lp = strlen(map->prefixes[i]);
        if (strncmp(name, map->prefixes[i], lp) == 0 && tfrt_glob_match(glob, name + lp))
            return 1;
    }
    return 0;
}

/* A bound tensor that t repeats byte for byte (same dtype and shape). */
static const TfrtTensor *tied_to(const TfrtSafetensors *st, const char *used,
                                 const TfrtTensor *t)
{
    for (int i = 0; i < tfrt_st_count(st); i++) {
        const TfrtTensor *u = tfrt_st_tensor(st, i);
        int same = used[i] && u->dtype == t->dtype && u->ndim == t->ndim && u->nbytes == t->nbytes;
        for (int d = 0; same && d < t->ndim; d++)
            same = u->shape[d] == t->shape[d];
        if (same && (u->data == t->data || memcmp(u->data, t->data, t->nbytes) == 0))
            return u;
    }
    return NULL;
}

/* Every tensor of the file is bound, ignored on purpose, or a tied copy. */
static int check_unused(const TfrtSafetensors *st, const TfrtNameMap *map,
                        const char *used, char *err, size_t errlen)
{
    for (int i = 0; i < tfrt_st_count(st); i++) {
        const char *name = tfrt_st_tensor(st, i)->name;
        int ignored = 0;
        for (int g = 0; !used[i] && map && g < map->n_ignore && !ignored; g++)
            ignored = ignore_matches(map, map->ignore[g], name);
        if (!used[i] && !ignored && !tied_to(st, used, tfrt_st_tensor(st, i)))
            return tfrt_errf(err, errlen, TFRT_ERR_UNEXPECTED,
                        "the file has tensor '%s', which the model does not use "
                        "(nor is it a copy of a tensor the model uses)", name);
    }
    return TFRT_OK;
}

int tfrt_bind_weights(TfrtBindings **out, const TfrtSafetensors *st,
                      const TfrtWeightSpec *specs, int n_specs,
                      const TfrtNameMap *map, void *table,
                      char *err, size_t errlen)
{
    return tfrt_bind_weights_rank(out, st, specs, NULL, n_specs, map, table, 0, err, errlen);
}

int tfrt_bind_weights_rank(TfrtBindings **out, const TfrtSafetensors *st,
                           const TfrtWeightSpec *specs, const TfrtWeightSplit *splits,
                           int n_specs, const TfrtNameMap *map, void *table, int rank,
                           char *err, size_t errlen)
{
    if (err && errlen > 0)
        err[0] = '\0';
    if (!out || !st || (n_specs > 0 && (!specs || !table)) || n_specs < 0)
        return tfrt_errf(err, errlen, TFRT_ERR_ARG, "invalid arguments to tfrt_bind_weights");
    *out = NULL;
    TfrtBindings *b = calloc(1, sizeof *b);
    int count = tfrt_st_count(st);
    char *used = calloc((size_t)count + 1, 1);
    if (b)
        b->stored = calloc((size_t)n_specs + 1, sizeof *b->stored);
    if (!b || !used || !b->stored) {
        if (b)
            free(b->stored);
        free(b);
        free(used);
        return tfrt_errf(err, errlen, TFRT_ERR_NOMEM, "out of memory");
    }
    int r = TFRT_OK;
    for (int i = 0; i < n_specs && r == TFRT_OK; i++)
        r = bind_one(b, st, &specs[i], splits ? &splits[i] : NULL, map, table, rank, used, err, errlen);
    if (r == TFRT_OK)
        r = check_unused(st, map, used, err, errlen);
    free(used);
    if (r != TFRT_OK) {
        tfrt_bindings_free(b);
        return r;
    }
    *out = b;
    return TFRT_OK;
}

void tfrt_bindings_free(TfrtBindings *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b->stored);
    free(b);
}

const TfrtQ8Saved *tfrt_bindings_saved(const TfrtBindings *b, size_t offset, size_t *first)
{
    for (int i = 0; b && i < b->n_stored; i++)
        if (b->stored[i].offset == offset && b->stored[i].dtype == TFRT_DT_U8) {
            *first = b->stored[i].first;
            return &b->stored[i].saved;
        }
    return NULL;
}

int tfrt_bindings_dtype(const TfrtBindings *b, size_t offset)
{
    for (int i = 0; b && i < b->n_stored; i++)
        if (b->stored[i].offset == offset)
            return (int)b->stored[i].dtype;
    return TFRT_DT_F32;
}
