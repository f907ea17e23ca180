/*
 * fuzz_llama2c.c - libFuzzer target for llama2.c checkpoints (legacy
 * headers and versions 1 and 2): the input as a file opened by
 * tfrt_st_open.  A file that opens must give tensors of the shapes its
 * header promises, every byte of them readable.
 *
 * Seeds: tests/fuzz/corpus/llama2c (tiny valid files of each layout).
 */
#include "fuzz_util.h"
#include "safetensors_internal.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[512];
    TfrtSafetensors *st;

    fuzz_file("model.bin", data, size, path, sizeof path);
    err[0] = '\0';
    if (tfrt_st_open(&st, path, err, sizeof err) != TFRT_OK) {
        if (!err[0])
            abort();
        return 0;
    }
    for (int i = 0; i < tfrt_st_count(st); i++) {
        const TfrtTensor *t = tfrt_st_tensor(st, i);
        size_t elems = 1;
        float acc = 0;
        for (int d = 0; d < t->ndim; d++)
            elems *= (size_t)t->shape[d];
        if (t->dtype == TFRT_DT_F32 && elems * 4 != t->nbytes)
            abort();
        for (size_t b = 0; b + 4 <= t->nbytes; b += 4) {
            float f;
            memcpy(&f, (const char *)t->data + b, 4);
            acc += f;
        }
        sink = acc;
    }
    tfrt_st_close(st);
    return 0;
}
