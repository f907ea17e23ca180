/*
 * tokcheck - drives the runtime's tokenizer for tests/tokenizer/run.sh.
 *
 *   tokcheck encode TOKENIZER FILE        ids of FILE's bytes, comma-separated
 *   tokcheck encode-special TOKENIZER FILE   the same with the post-processor's
 *                                         special tokens
 *   tokcheck decode TOKENIZER IDS OUT     bytes of the ids in file IDS, to OUT
 *   tokcheck roundtrip TOKENIZER FILE     decode(encode(FILE)) == FILE?
 *
 * TOKENIZER is anything tfrt_tok_load accepts.  encode reports the time it
 * took on stderr; all commands exit non-zero on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tfrt_text.h"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, got;

    *len = 0;
    if (!f) {
        perror(path);
        exit(2);
    }
    do {
        if (*len == cap && !(buf = realloc(buf, cap = cap * 2 + 65536))) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        got = fread(buf + *len, 1, cap - *len, f);
        *len += got;
    } while (got > 0);
    fclose(f);
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int add_special;

static int encode_file(TfrtTokenizer *tok, const char *path, int32_t **ids, size_t *n)
{
    char err[512];
    size_t len;
    char *text = read_all(path, &len);
    double t0 = now();
    int rc = tfrt_tok_encode_special(tok, text, len, add_special, ids, n, err, sizeof err);

    if (rc)
        fprintf(stderr, "%s: %s\n", path, err);
    else
        fprintf(stderr, "%s: %zu bytes -> %zu tokens in %.3f s\n", path, len, *n,
                now() - t0);
    free(text);
    return rc;
}

static int cmd_encode(TfrtTokenizer *tok, const char *path)
{
    int32_t *ids;
    size_t n;

    if (encode_file(tok, path, &ids, &n))
        return 1;
    for (size_t i = 0; i < n; i++)
        printf(i ? ",%ld" : "%ld", (long)ids[i]);
    printf("\n");
    free(ids);
    return 0;
}

/* Ids separated by commas and/or whitespace. */
static int32_t *parse_ids(const char *text, size_t *n)
{
    size_t cap = 1024;
    int32_t *ids = malloc(cap * sizeof *ids);
    char *end;

    *n = 0;
    while (ids && *text) {
        if (*text == ',' || *text == ' ' || *text == '\n' || *text == '\r') {
            text++;
            continue;
        }
        long v = strtol(text, &end, 10);
        if (end == text)
            break;
        if (*n == cap)
            ids = realloc(ids, (cap *= 2) * sizeof *ids);
        if (ids)
            ids[(*n)++] = (int32_t)v;
        text = end;
    }
    return ids;
}

static int cmd_decode(TfrtTokenizer *tok, const char *idpath, const char *out)
{
    char err[512], *text, *bytes;
    size_t len, n, blen;
    int32_t *ids;
    FILE *f;

    text = read_all(idpath, &len);
    text = realloc(text, len + 1);
    text[len] = '\0';
    ids = parse_ids(text, &n);
    free(text);
    if (tfrt_tok_decode(tok, ids, n, &bytes, &blen, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        free(ids);
        return 1;
    }
    if (!(f = fopen(out, "wb")) || fwrite(bytes, 1, blen, f) != blen || fclose(f)) {
        perror(out);
        return 1;
    }
    free(bytes);
    free(ids);
    return 0;
}

static int cmd_roundtrip(TfrtTokenizer *tok, const char *path)
{
    char err[512], *bytes, *text;
    size_t len, n, blen;
    int32_t *ids;
    int ok;

    if (encode_file(tok, path, &ids, &n))
        return 1;
    if (tfrt_tok_decode(tok, ids, n, &bytes, &blen, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        free(ids);
        return 1;
    }
    text = read_all(path, &len);
    ok = blen == len && memcmp(bytes, text, len) == 0;
    if (!ok)
        fprintf(stderr, "%s: decode(encode(x)) differs from x (%zu vs %zu bytes)\n",
                path, blen, len);
    free(text);
    free(bytes);
    free(ids);
    return !ok;
}

int main(int argc, char **argv)
{
    TfrtTokenizer *tok;
    char err[512];
    int rc;

    if (argc < 4 || (strcmp(argv[1], "decode") == 0 && argc < 5)) {
        fprintf(stderr, "usage: tokcheck encode|encode-special|roundtrip TOKENIZER FILE\n"
                        "       tokcheck decode TOKENIZER IDS OUT\n");
        return 2;
    }
    if (tfrt_tok_load(&tok, argv[2], err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    add_special = strcmp(argv[1], "encode-special") == 0;
    if (strcmp(argv[1], "encode") == 0 || add_special)
        rc = cmd_encode(tok, argv[3]);
    else if (strcmp(argv[1], "decode") == 0)
        rc = cmd_decode(tok, argv[3], argv[4]);
    else if (strcmp(argv[1], "roundtrip") == 0)
        rc = cmd_roundtrip(tok, argv[3]);
    else {
        fprintf(stderr, "tokcheck: unknown command '%s'\n", argv[1]);
        rc = 2;
    }
    tfrt_tok_free(tok);
    return rc;
}
