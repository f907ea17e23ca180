/*
 * tokenize.c - `tfc --tokenizer T --encode FILE | --decode IDS`: the
 * tokenizer on its own, so it can be checked against other
 * implementations and used in scripts.
 */
#include "cli_parse.h"
#include "tfc.h"
#include "tfrt.h"
#include "tfrt_text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int encode_file(const TfrtTokenizer *tok, const char *path, int add_special)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        error_status(EXIT_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    for (size_t got; text && (got = fread(text + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap)
            text = realloc(text, cap *= 2);
    }
    if (!text)
        error_plain("out of memory");
    if (f != stdin)
        fclose(f);
    int32_t *ids;
    size_t n;
    char err[256];
    int rc = tfrt_tok_encode_special(tok, text, len, add_special, &ids, &n, err, sizeof err);
    free(text);
    if (rc != TFRT_OK) {
        fprintf(stderr, "tfc: error: %s: %s\n", path, err);
        return EXIT_INPUT;
    }
    for (size_t i = 0; i < n; i++)
        printf(i ? ",%d" : "%d", ids[i]);
    printf("\n");
    free(ids);
    return 0;
}

static int decode_ids(const TfrtTokenizer *tok, const char *list)
{
    int32_t *ids;
    int n;
    const char *bad = cli_list(list, 0, INT32_MAX, &ids, &n);
    if (bad) {
        fprintf(stderr, "tfc: error: --decode '%s' is not a comma-separated list of token ids: %s\n",
                list, bad);
        return EXIT_USAGE;
    }
    char *text, err[256];
    size_t len;
    int rc = tfrt_tok_decode(tok, ids, (size_t)n, &text, &len, err, sizeof err);
    if (rc != TFRT_OK) {
        fprintf(stderr, "tfc: error: --decode: %s\n", err);
        return EXIT_INPUT;
    }
    fwrite(text, 1, len, stdout);
    free(text);
    return fflush(stdout) ? EXIT_IO : 0;
}

int tokenizer_main(const char *path, const char *encode, const char *decode, int add_special)
{
    TfrtTokenizer *tok;
    char err[512];
    if (tfrt_tok_load(&tok, path, err, sizeof err) != TFRT_OK) {
        fprintf(stderr, "tfc: error: %s\n", err);
        return EXIT_INPUT;
    }
    int status = encode ? encode_file(tok, encode, add_special) : decode_ids(tok, decode);
    tfrt_tok_free(tok);
    return status;
}
