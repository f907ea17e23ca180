/*
 * api_test.c - the generated library under misuse and hostile files
 * (tests/api/run.sh builds it against `tfc tests/api/lm.model --prefix api`).
 *
 *   api_test CLEAN.safetensors NAN.safetensors SCRATCH_DIR
 *
 * CLEAN holds random weights; NAN the same with row 3 of the position
 * table NaN, so that the logits of positions 3 and later are NaN and
 * those of positions 0-2 are the clean file's, bit for bit (causal
 * attention: rows 0-2 never see position 3).  Checks:
 *   - every size the API takes from its caller is checked: NULL pointers,
 *     lengths 0, negative, past the maximum; token ids outside the
 *     vocabulary; a full context for step and prefill;
 *   - NaN logits pass through the library as computed (it does not judge
 *     them) and the sampler then chooses no token, in every mode;
 *   - a weights file that changes after open: replaced by rename, the
 *     model keeps working on the old file; truncated in place, the change
 *     is detected by tfrt_st_check_file; what a forward pass then does is
 *     reported (the generated forward does not check yet: docs/limits.md).
 * Prints one line per check and exits 1 if any failed.
 */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "tfrt_text.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

static api_model *open_model(const char *path)
{
    char err[256] = "";
    api_model *m = NULL;
    int rc = api_open(&m, path, err, sizeof err);
    if (rc != TFRT_OK) {
        fprintf(stderr, "api_test: cannot open %s: %s\n", path, err);
        exit(2);
    }
    return m;
}

enum { V = API_OUTPUT_COLS, N = API_MAX_SEQ };

static int32_t tokens[N + 1] = {1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1};
static float logits[(N + 1) * V];

/* Sizes, pointers and ids from the caller. */
static void test_arguments(api_model *m)
{
    int32_t bad_low[2] = {1, -1}, bad_high[2] = {1, V};
    check(api_forward(NULL, tokens, 2, logits) == TFRT_ERR_ARG, "forward: NULL model");
    check(api_forward(m, NULL, 2, logits) == TFRT_ERR_ARG, "forward: NULL tokens");
    check(api_forward(m, tokens, 2, NULL) == TFRT_ERR_ARG, "forward: NULL logits");
    check(api_forward(m, tokens, 0, logits) == TFRT_ERR_LENGTH, "forward: 0 tokens");
    check(api_forward(m, tokens, -5, logits) == TFRT_ERR_LENGTH, "forward: -5 tokens");
    check(api_forward(m, tokens, N + 1, logits) == TFRT_ERR_LENGTH, "forward: API_MAX_SEQ + 1 tokens");
    check(api_forward(m, tokens, 0x7fffffff, logits) == TFRT_ERR_LENGTH, "forward: INT_MAX tokens");
    check(api_forward(m, bad_low, 2, logits) == TFRT_ERR_TOKEN, "forward: token id -1");
    check(api_forward(m, bad_high, 2, logits) == TFRT_ERR_TOKEN, "forward: token id = vocab");
    check(api_step(NULL, 1, logits) == TFRT_ERR_ARG, "step: NULL model");
    check(api_step(m, 1, NULL) == TFRT_ERR_ARG, "step: NULL logits");
    check(api_forward(m, tokens, 2, logits) == TFRT_OK && api_step(m, -1, logits) == TFRT_ERR_TOKEN
              && api_step(m, V, logits) == TFRT_ERR_TOKEN && api_position(m) == 2,
          "step: ids outside the vocabulary refused, position unchanged");
    char err[64];
    api_model *other = NULL;
    check(api_open(NULL, "x", err, sizeof err) == TFRT_ERR_ARG && api_open(&other, NULL, err, sizeof err)
              == TFRT_ERR_ARG, "open: NULL arguments");
    static float small[4];
    check(api_open_with_arena(&other, "x", small, sizeof small, err, sizeof err) == TFRT_ERR_ARG,
          "open_with_arena: an arena smaller than API_ARENA_BYTES");
    check(api_copy_state(NULL, m) == TFRT_ERR_ARG && api_copy_state(m, NULL) == TFRT_ERR_ARG,
          "copy_state: NULL arguments");
    check(api_strerror(-1) != NULL && api_strerror(1000) != NULL, "strerror: any status has a text");
}

/* A full context: neither step nor prefill writes past it. */
static void test_full_context(api_model *m)
{
    check(api_prefill(m, tokens, N, logits) == TFRT_OK && api_position(m) == N, "prefill: a full context");
    check(api_step(m, 1, logits) == TFRT_ERR_LENGTH && api_position(m) == N,
          "step on a full context: TFRT_ERR_LENGTH, position unchanged");
    check(api_prefill(m, tokens, N - 1, logits) == TFRT_OK && api_step(m, 2, logits) == TFRT_OK
              && api_step(m, 3, logits) == TFRT_ERR_LENGTH && api_position(m) == N,
          "N - 1 tokens, one step to fill the context, the next refused");
    int grows = 1;
    for (int n = 1; n <= N; n++)
        grows &= api_arena_bytes(n) >= api_arena_bytes(n - 1 > 0 ? n - 1 : 1)
                 && api_arena_bytes(n) <= (size_t)API_ARENA_BYTES;
    check(grows, "arena_bytes(1..API_MAX_SEQ) grows and stays within API_ARENA_BYTES");
    check(api_kv_cache_bytes(N) == (size_t)API_CACHE_BYTES && api_kv_cache_bytes(0) == 0,
          "kv_cache_bytes(API_MAX_SEQ) is API_CACHE_BYTES");
}

/* Every sampling mode refuses a row holding NaN. */
static int no_token_from(const float *row)
{
    static const struct { float temp; int top_k; float top_p; } modes[] = {
        {0.0f, 0, 1.0f}, {0.8f, 0, 1.0f}, {0.8f, 3, 1.0f}, {0.8f, 0, 0.5f}, {1.0f, 1, 1.0f},
    };
    int all = 1;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        TfrtSampler s;
        if (tfrt_sampler_init(&s, V, modes[i].temp, modes[i].top_k, modes[i].top_p, 42) != TFRT_OK)
            return 0;
        all &= tfrt_sample(&s, row, V) == -1;
        tfrt_sampler_free(&s);
    }
    return all && tfrt_bad_logit(row, V) >= 0;
}

static void test_nan(const char *clean_path, const char *nan_path)
{
    static float clean[N * V], bad[N * V];
    api_model *a = open_model(clean_path), *b = open_model(nan_path);
    check(api_forward(a, tokens, 8, clean) == TFRT_OK && api_forward(b, tokens, 8, bad) == TFRT_OK,
          "NaN weights: forward succeeds (the library computes, the caller judges)");
    check(memcmp(clean, bad, 3 * V * sizeof(float)) == 0, "NaN weights: rows 0-2 equal the clean file's");
    int nan_rows = 1, clean_rows = 1;
    for (int r = 3; r < 8; r++)
        nan_rows &= no_token_from(bad + r * V);
    for (int r = 0; r < 8; r++)
        clean_rows &= tfrt_bad_logit(clean + r * V, V) < 0 && tfrt_argmax(clean + r * V, V) >= 0;
    check(nan_rows, "NaN logits (rows 3-7): no token in any sampling mode, tfrt_bad_logit names one");
    check(clean_rows, "clean logits: every row can be sampled");
    api_close(a);
    api_close(b);
}

static int copy_file(const char *from, const char *to)
{
    char buf[4096];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok;
}

/* Forward pass in a child: its status (100: success, but logits other
 * than `want`), or -SIGNAL when it died of one. */
static int forward_in_child(api_model *m, const float *want)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = api_forward(m, tokens, 8, logits);
        _exit(rc ? rc : memcmp(logits, want, 8 * V * sizeof(float)) ? 100 : 0);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1000;
    return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

static void test_changing_file(const char *clean_path, const char *dir)
{
    static float before[8 * V], after[8 * V];
    char path[512], repl[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    snprintf(repl, sizeof repl, "%s/new.safetensors", dir);

    /* replaced by rename: the mapping holds the old file */
    if (!copy_file(clean_path, path) || !copy_file(clean_path, repl))
        exit(2);
    api_model *m = open_model(path);
    check(api_forward(m, tokens, 8, before) == TFRT_OK, "forward before the file is replaced");
    FILE *f = fopen(repl, "r+b");
    if (!f || fseek(f, -4, SEEK_END) != 0 || fwrite("\x7f\x7f\x7f\x7f", 1, 4, f) != 4 || fclose(f))
        exit(2);
    rename(repl, path);
    check(api_forward(m, tokens, 8, after) == TFRT_OK && memcmp(before, after, sizeof before) == 0,
          "weights file replaced by rename after open: the same logits (the old file stays mapped)");
    api_close(m);

    /* truncated in place: detected by the runtime.  What a forward pass
     * then does is reported, not checked: the generated forward does not
     * call tfrt_st_check_file yet, and the mapping reads zeros up to the
     * end of the page holding the new end, SIGBUS beyond (docs/limits.md). */
    if (!copy_file(clean_path, path))
        exit(2);
    char err[256];
    TfrtSafetensors *st;
    m = open_model(path);
    check(tfrt_st_open(&st, path, err, sizeof err) == TFRT_OK && tfrt_st_check_file(st) == TFRT_OK,
          "tfrt_st_check_file: an unchanged file passes");
    if (truncate(path, 16) != 0)
        exit(2);
    check(tfrt_st_check_file(st) == TFRT_ERR_IO, "tfrt_st_check_file: a file truncated after open is refused");
    tfrt_st_close(st);
    int rc = forward_in_child(m, before);
    printf("note a forward pass over the truncated file %s\n",
           rc == -SIGBUS ? "dies of SIGBUS" : rc == 100 ? "returns other logits (zeros read)"
           : rc == 0 ? "returns the same logits" : rc > 0 ? "fails with a status" : "dies of a signal");
    api_close(m);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: api_test CLEAN.safetensors NAN.safetensors SCRATCH_DIR\n");
        return 2;
    }
    api_model *m = open_model(argv[1]);
    test_arguments(m);
    test_full_context(m);
    api_close(m);
    test_nan(argv[1], argv[2]);
    test_changing_file(argv[1], argv[3]);
    printf("%s\n", failures ? "api_test: FAILED" : "api_test: all passed");
    return failures != 0;
}
