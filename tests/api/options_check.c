/*
 * options_check.c - open_ex (a shorter context, the caller's KV cache and
 * arena) and prefill_last, on generated GPT-2 code.
 *
 *   options_check WEIGHTS      (linked with gpt2.c from `tfc -o gpt2.c`)
 *
 * The reference is the same model opened with the defaults: a model whose
 * cache holds ctx = 16 tokens, in memory the caller allocated with exactly
 * gpt2_kv_cache_bytes(16) and GPT2_ARENA_BYTES (so AddressSanitizer catches
 * a byte beyond either), must give the same logits for 16 tokens and refuse
 * the 17th with TFRT_ERR_LENGTH; prefill_last must give the last row of
 * prefill's output; open_ex must refuse bad options with a message.
 * Prints "ok" lines; exits 1 at the first failure.
 */
#include "gpt2.h"
#include "tfrt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CTX = 16, PROMPT = 10, V = GPT2_OUTPUT_COLS };

static int fail(const char *what, const char *err)
{
    printf("FAIL %s%s%s\n", what, err && *err ? ": " : "", err ? err : "");
    return 1;
}

/* Largest |a - b| over n values. */
static double diff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* Prefill PROMPT tokens, then steps to CTX tokens: every row of logits. */
static int run(gpt2_model *m, const int32_t *tokens, float *out)
{
    int rc = gpt2_prefill(m, tokens, PROMPT, out);
    for (int i = PROMPT; rc == TFRT_OK && i < CTX; i++)
        rc = gpt2_step(m, tokens[i], out + (size_t)i * V);
    return rc;
}

int main(int argc, char **argv)
{
    char err[256] = "";
    int32_t tokens[CTX];
    for (int i = 0; i < CTX; i++)
        tokens[i] = (i * 37 + 11) % GPT2_VOCAB;
    static float want[CTX * V], got[CTX * V], last[V];
    gpt2_model *ref, *m;
    if (argc != 2 || gpt2_open(&ref, argv[1], err, sizeof err) != TFRT_OK)
        return fail("open", err);
    void *arena = malloc(GPT2_ARENA_BYTES), *cache = malloc(gpt2_kv_cache_bytes(CTX));
    gpt2_options o = {arena, GPT2_ARENA_BYTES, cache, gpt2_kv_cache_bytes(CTX), CTX, 1};
    if (gpt2_open_ex(&m, argv[1], &o, err, sizeof err) != TFRT_OK)
        return fail("open_ex with ctx 16 and the caller's memory", err);
    if (gpt2_context(m) != CTX || gpt2_context(ref) != GPT2_MAX_SEQ)
        return fail("context() reports open's ctx", NULL);
    if (run(ref, tokens, want) != TFRT_OK || run(m, tokens, got) != TFRT_OK)
        return fail("16 tokens through prefill and step", NULL);
    double d = diff(want, got, CTX * V);
    if (d > 1e-5)
        return fail("a 16-token cache in the caller's memory gives the default model's logits", NULL);
    printf("ok   ctx 16 in the caller's cache and arena: the default model's logits (max diff %.1e)\n", d);
    if (gpt2_step(m, tokens[0], got) != TFRT_ERR_LENGTH || gpt2_position(m) != CTX)
        return fail("the 17th token of a 16-token context is a length error", NULL);
    printf("ok   the 17th token of a 16-token context: TFRT_ERR_LENGTH\n");

    if (gpt2_prefill(ref, tokens, PROMPT, want) != TFRT_OK
        || gpt2_prefill_last(m, tokens, PROMPT, last) != TFRT_OK || gpt2_position(m) != PROMPT)
        return fail("prefill_last", NULL);
    d = diff(want + (size_t)(PROMPT - 1) * V, last, V);
    if (d > 1e-5)
        return fail("prefill_last writes prefill's last row", NULL);
    printf("ok   prefill_last: prefill's last row (max diff %.1e)\n", d);
    gpt2_close(m);

    const struct {
        gpt2_options o;
        const char *why;
    } bad[] = {
        {{NULL, 0, NULL, 0, GPT2_MAX_SEQ + 1, 0}, "ctx beyond the maximum"},
        {{NULL, 0, NULL, 0, -1, 0}, "a negative ctx"},
        {{NULL, 0, cache, gpt2_kv_cache_bytes(CTX) - 4, CTX, 0}, "a cache too small for ctx"},
        {{NULL, 0, cache, gpt2_kv_cache_bytes(CTX), 0, 0}, "a cache too small for the default ctx"},
        {{arena, GPT2_ARENA_BYTES - 64, NULL, 0, 0, 0}, "an arena too small"},
        {{NULL, 0, NULL, 0, 0, -2}, "negative threads"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (gpt2_open_ex(&m, argv[1], &bad[i].o, err, sizeof err) != TFRT_ERR_ARG || !err[0] || m)
            return fail("open_ex refuses", bad[i].why);
    }
    printf("ok   open_ex refuses %zu kinds of bad options, each with a message\n", sizeof bad / sizeof bad[0]);
    gpt2_close(ref);
    free(arena);
    free(cache);
    return 0;
}
