/*
 * fuzz_tok_load.c - libFuzzer target for every tokenizer file format the
 * runtime reads from one file: tokenizer.json, a character vocabulary,
 * llama2.c's tokenizer.bin, BERT's vocab.txt (tfrt_tok_load tells them
 * apart by content).  A file that loads is then used: a fixed text and the
 * input itself are encoded, every id must be a token, and the ids decode.
 *
 * Seeds: tests/fuzz/corpus/tok_load.
 */
#include "fuzz_util.h"
#include "tfrt_text.h"

static void use(const TfrtTokenizer *tok, const char *text, size_t len)
{
    int32_t *ids;
    size_t n, blen;
    char err[256], *back;
    for (int special = 0; special < 2; special++) {
        if (tfrt_tok_encode_special(tok, text, len, special, &ids, &n, err, sizeof err) != TFRT_OK) {
            if (!err[0])
                abort();                  /* every failure explains itself */
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= tfrt_tok_vocab_size(tok) ||
                !tfrt_tok_decode_token(tok, ids[i], &blen))
                abort();
        if (tfrt_tok_decode(tok, ids, n, &back, &blen, err, sizeof err) != TFRT_OK)
            abort();
        free(back);
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char text[] = "Hello, world! caf\xc3\xa9 \xe2\x96\x81x  <s>[CLS]\xe4\xb8\xad\n\x01";
    char path[256], err[512];
    TfrtTokenizer *tok;

    fuzz_file("tok", data, size, path, sizeof path);
    err[0] = '\0';
    if (tfrt_tok_load(&tok, path, err, sizeof err) != TFRT_OK) {
        if (!err[0])
            abort();
        return 0;
    }
    use(tok, text, sizeof text - 1);
    use(tok, (const char *)data, size < 4096 ? size : 4096);
    tfrt_tok_free(tok);
    return 0;
}
