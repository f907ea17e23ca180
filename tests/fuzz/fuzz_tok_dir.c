/*
 * fuzz_tok_dir.c - libFuzzer target for the tokenizer formats made of
 * several files in a folder: vocab.json + merges.txt (GPT-2's pair), and
 * vocab.txt with a tokenizer_config.json beside it (BERT).  The input is
 * cut at "#||#" into the files' contents; its first byte picks the pair.
 *
 * Seeds: tests/fuzz/corpus/tok_dir.
 */
#include "fuzz_util.h"
#include "tfrt_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[2][2] = {{"vocab.json", "merges.txt"},
                                            {"vocab.txt", "tokenizer_config.json"}};
    char path[256], err[512];
    const uint8_t *part;
    size_t at = 1, n;
    TfrtTokenizer *tok;
    int pair;

    if (size < 1)
        return 0;
    pair = data[0] & 1;
    for (int k = 0; k < 4; k++) {          /* a clean folder */
        snprintf(path, sizeof path, "%s/%s", fuzz_dir(), names[k / 2][k % 2]);
        unlink(path);
    }
    for (int k = 0; k < 2; k++) {
        n = fuzz_part(data, size, &at, &part);
        fuzz_file(names[pair][k], part, n, path, sizeof path);
    }
    err[0] = '\0';
    if (tfrt_tok_load(&tok, fuzz_dir(), err, sizeof err) != TFRT_OK) {
        if (!err[0])
            abort();
        return 0;
    }
    {
        int32_t *ids;
        size_t count, blen;
        char *back;
        if (tfrt_tok_encode(tok, "hello world", 11, &ids, &count, err, sizeof err) == TFRT_OK) {
            if (tfrt_tok_decode(tok, ids, count, &back, &blen, err, sizeof err) != TFRT_OK)
                abort();
            free(back);
            free(ids);
        }
    }
    tfrt_tok_free(tok);
    return 0;
}
