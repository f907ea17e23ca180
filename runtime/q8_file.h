/*
 * q8_file.h - int8 weights saved in a safetensors file (tfc --save-weights)
 * and opened again with no conversion (inside libtfrt, and read by tfc).
 *
 * A saved file is an ordinary safetensors file.  Each int8 weight keeps
 * its name and holds the kernels' own layout (q8_internal.h: panels of 16
 * output rows, each a run of 576-byte blocks of 16 x 32 weights stored as
 * q + 128 and then their 16 float scales) as dtype U8, shape
 *
 *     [ceil(rows / 16), in / 32, 576]        (panel, block, bytes)
 *
 * so that binding points the kernels at the mapped file.  The header's
 * __metadata__ says what the U8 tensors are:
 *
 *     "tfc.q8.version": "1"                  this layout
 *     "tfc.q8.block":   "32"                 values a block along the input
 *     "tfc.q8.panel":   "16"                 output rows a panel
 *     "tfc.q8.tensor.NAME": "out_in D0 D1"   NAME was stored [D0, D1] as
 *                                            (out, in), torch.nn.Linear's
 *                       "in_out D0 D1"       or as (in, out), GPT-2's Conv1D
 *
 * Every other tensor is copied as it was (docs/quantization.md).
 */
#ifndef TFRT_Q8_FILE_H
#define TFRT_Q8_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "tfrt.h"

#define TFRT_Q8_FILE_VERSION "1"
#define TFRT_Q8_KEY_VERSION "tfc.q8.version"
#define TFRT_Q8_KEY_BLOCK "tfc.q8.block"
#define TFRT_Q8_KEY_PANEL "tfc.q8.panel"
#define TFRT_Q8_KEY_TENSOR "tfc.q8.tensor."   /* + the tensor's name */

/* What the metadata says of one saved int8 tensor. */
typedef struct {
    int layout;          /* TfrtWeightLayout of the float tensor it came from */
    int64_t shape[2];    /* that tensor's shape: the model's expectation */
    int rows, in;        /* outputs and inputs: shape in the layout's order */
} TfrtQ8Saved;

/* Whether t is an int8 tensor saved by tfc: TFRT_OK with *saved 1 (and
 * *info filled when info is not NULL) or 0; or, when t or the file claims
 * to be one and is not consistent (version, block, panel, a U8 tensor the
 * metadata does not describe, an entry that does not parse, a shape that
 * does not hold the entry's weights), a status, with "tensor 'NAME': what
 * is wrong" in err. */
int tfrt_q8_saved(const TfrtSafetensors *st, const TfrtTensor *t, TfrtQ8Saved *info, int *saved,
                  char *err, size_t errlen);

/* Writes t (F32, F16 or BF16, 2-D, stored in `layout`, in % 32 == 0) to f
 * in the saved layout, streaming: 16 rows at a time through a small float
 * buffer, releasing the mapped file's pages as they are done.  The bytes
 * equal what tfrt_quantize_weights makes of the same rows at open.
 * TFRT_OK, TFRT_ERR_IO (f failed), TFRT_ERR_NOMEM or TFRT_ERR_ARG. */
int tfrt_q8_write_tensor(FILE *f, const TfrtSafetensors *st, const TfrtTensor *t, int layout);

/* bind.c: the saved int8 tensor bound at `offset` of the table, and the
 * spec's view offset (elements of the float tensor); NULL for any other. */
struct TfrtBindings;
const TfrtQ8Saved *tfrt_bindings_saved(const struct TfrtBindings *b, size_t offset, size_t *first);

#endif
