/*
 * fuzz_ckpt_dir.c - libFuzzer target for the checkpoint-folder reader:
 * config.json, model.safetensors.index.json and its shards, or one
 * model.safetensors, opened as a folder by tfrt_st_open.  The input is cut
 * at "#||#" into config.json, the index, and two shards named as the
 * index would name them; its first byte picks index or single file.
 * Every tensor of a folder that opens is read through (ASan checks the
 * views), and config.json's values are read as tfc reads them.
 *
 * Seeds: tests/fuzz/corpus/ckpt_dir.
 */
#include "fuzz_util.h"
#include "json.h"
#include "safetensors_internal.h"

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const files[] = {"config.json", "model.safetensors.index.json",
                                        "model-00001-of-00002.safetensors",
                                        "model-00002-of-00002.safetensors", "model.safetensors"};
    char path[256], err[512];
    const uint8_t *part;
    size_t at = 1, n;
    TfrtSafetensors *st;
    JsonValue *cfg;
    int single;

    if (size < 1)
        return 0;
    single = data[0] & 1;
    for (int k = 0; k < 5; k++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir(), files[k]);
        unlink(path);
    }
    for (int k = 0; k < 4; k++) {
        n = fuzz_part(data, size, &at, &part);
        if (k == 1 && single)
            continue;
        fuzz_file(single && k == 2 ? files[4] : files[k], part, n, path, sizeof path);
    }
    err[0] = '\0';
    if (tfrt_st_open(&st, fuzz_dir(), err, sizeof err) == TFRT_OK) {
        for (int i = 0; i < tfrt_st_count(st); i++) {
            const TfrtTensor *t = tfrt_st_tensor(st, i);
            unsigned sum = 0;
            for (size_t b = 0; b < t->nbytes; b++)
                sum += ((const unsigned char *)t->data)[b];
            sink = sum;
            if (tfrt_st_find(st, t->name) != t)
                abort();
        }
        tfrt_st_close(st);
    } else if (!err[0]) {
        abort();
    }
    err[0] = '\0';
    if (ckpt_config_load(fuzz_dir(), &cfg, err, sizeof err) == TFRT_OK && cfg) {
        char text[64];
        for (size_t i = 0; i < cfg->u.object.count; i++)
            if (ckpt_config_text(&cfg->u.object.members[i].value, text, sizeof text))
                sink = (unsigned)strlen(text);
        json_free(cfg);
    }
    return 0;
}
