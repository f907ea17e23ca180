/*
 * q8_file.c - recognizing the int8 tensors of a file saved by tfc
 * --save-weights (q8_file.h), and checking them before the kernels read
 * them in place.
 *
 * The file is untrusted: the safetensors reader has checked that every
 * tensor's bytes lie in the file; here the metadata entry must parse and
 * the U8 tensor must be exactly as large as the layout of the weights the
 * entry names, so that no kernel reads past it.  The bytes themselves
 * need no check: any value is a weight and any scale a float.
 */
#include "q8_file.h"
#include "status_internal.h"
#include "q8_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "out_in D0 D1" or "in_out D0 D1", each D in [1, INT_MAX]. */
static int parse_entry(const char *s, TfrtQ8Saved *q)
{
    char layout[8];
    long long d0, d1;
    int end = 0;
    if (sscanf(s, "%7s %lld %lld%n", layout, &d0, &d1, &end) != 3 || s[end] != '\0')
        return 0;
    if (strcmp(layout, "out_in") == 0)
        q->layout = TFRT_W_OUT_IN;
    else if (strcmp(layout, "in_out") == 0)
        q->layout = TFRT_W_IN_OUT;
    else
        return 0;
    if (d0 < 1 || d1 < 1 || d0 > INT_MAX || d1 > INT_MAX)
        return 0;
    q->shape[0] = d0, q->shape[1] = d1;
    q->rows = (int)(q->layout == TFRT_W_OUT_IN ? d0 : d1);
    q->in = (int)(q->layout == TFRT_W_OUT_IN ? d1 : d0);
    return 1;
}

/* The file-wide keys: this layout's version, block and panel. */
static int check_keys(const TfrtSafetensors *st, const char *name, char *err, size_t errlen)
{
    static const struct {
        const char *key, *want, *what;
    } keys[] = {
        {TFRT_Q8_KEY_VERSION, TFRT_Q8_FILE_VERSION, "int8 layout version"},
        {TFRT_Q8_KEY_BLOCK, "32", "values a block"},
        {TFRT_Q8_KEY_PANEL, "16", "rows a panel"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = tfrt_st_metadata(st, keys[i].key);
        if (!v)
            return tfrt_errf(err, errlen, TFRT_ERR_FORMAT,
                        "tensor '%s' is saved int8, but the file's metadata has no \"%s\"", name,
                        keys[i].key);
        if (strcmp(v, keys[i].want) != 0)
            return tfrt_errf(err, errlen, TFRT_ERR_FORMAT,
                        "tensor '%s': the file's %s is \"%.32s\" (\"%s\"); this tfc reads %s",
                        name, keys[i].what, v, keys[i].key, keys[i].want);
    }
    return TFRT_OK;
}

int tfrt_q8_saved(const TfrtSafetensors *st, const TfrtTensor *t, TfrtQ8Saved *info, int *saved,
                  char *err, size_t errlen)
{
    TfrtQ8Saved q;
    *saved = 0;
    size_t len = strlen(TFRT_Q8_KEY_TENSOR) + strlen(t->name) + 1;
    char *key = malloc(len);
    if (!key)
        return tfrt_errf(err, errlen, TFRT_ERR_NOMEM, "out of memory");
    snprintf(key, len, "%s%s", TFRT_Q8_KEY_TENSOR, t->name);
    const char *entry = tfrt_st_metadata(st, key);
    free(key);
    if (!entry) {   /* an ordinary tensor, unless a U8 one in a file of int8 weights */
        if (t->dtype == TFRT_DT_U8 && tfrt_st_metadata(st, TFRT_Q8_KEY_VERSION))
            return tfrt_errf(err, errlen, TFRT_ERR_FORMAT,
                        "tensor '%s' is U8 in a file of int8 weights, but the metadata has no "
                        "\"%s%s\" saying what it holds", t->name, TFRT_Q8_KEY_TENSOR, t->name);
        return TFRT_OK;
    }
    int r = check_keys(st, t->name, err, errlen);
    if (r)
        return r;
    if (!parse_entry(entry, &q))
        return tfrt_errf(err, errlen, TFRT_ERR_FORMAT,
                    "tensor '%s': its metadata entry \"%.64s\" is not \"out_in|in_out ROWS COLS\"",
                    t->name, entry);
    if (q.in % TFRT_Q8_BLOCK)
        return tfrt_errf(err, errlen, TFRT_ERR_FORMAT,
                    "tensor '%s': %d inputs are not whole blocks of %d", t->name, q.in, TFRT_Q8_BLOCK);
    int64_t panels = ((int64_t)q.rows + TFRT_Q8_PANEL - 1) / TFRT_Q8_PANEL;
    if (t->dtype != TFRT_DT_U8 || t->ndim != 3 || t->shape[0] != panels
        || t->shape[1] != q.in / TFRT_Q8_BLOCK || t->shape[2] != TFRT_Q8_BLOCK_BYTES) {
        char have[96] = "";
        for (int d = 0, at = 0; d < t->ndim && at < (int)sizeof have - 24; d++)
            at += snprintf(have + at, sizeof have - (size_t)at, "%s%lld", d ? ", " : "",
                           (long long)t->shape[d]);
        return tfrt_errf(err, errlen, TFRT_ERR_SHAPE,
                    "tensor '%s': int8 weights of %d rows and %d inputs (blocks of %d) are U8 "
                    "[%lld, %d, %d], but the file has %s [%s]", t->name, q.rows, q.in,
                    TFRT_Q8_BLOCK, (long long)panels, q.in / TFRT_Q8_BLOCK, TFRT_Q8_BLOCK_BYTES,
                    tfrt_dtype_name(t->dtype), have);
    }
    *saved = 1;
    if (info)
        *info = q;
    return TFRT_OK;
}
