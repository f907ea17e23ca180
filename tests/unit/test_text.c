/*
 * test_text.c - samplers and tokenizers of tfrt_text.h.
 *
 * Sampler tests compare with what the definition says (argmax, the
 * nucleus, the softmax distribution) on hand-made logits; the one
 * statistical test uses a fixed seed and a chi-square bound that a wrong
 * distribution would exceed by far.  Tokenizer tests load small files
 * written into a fresh temporary directory: a 260-token byte-level BPE
 * whose merges are chosen to show rank order, and a character vocabulary.
 * The full GPT-2 tokenizer is checked against an independent
 * implementation by tests/tokenizer/run.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "tests.h"
#include "tfrt_text.h"


/* ---- sampler ------------------------------------------------------------- */

static void test_greedy(void)
{
    float logits[] = {1.0f, 3.0f, 2.0f, -1.0f};
    TfrtSampler s;

    CU_ASSERT_EQUAL_FATAL(tfrt_sampler_init(&s, 4, 0.0f, 0, 1.0f, 1), TFRT_OK);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(tfrt_sample(&s, logits, 4), 1);
    tfrt_sampler_free(&s);
}

static void test_greedy_ties(void)
{
    float logits[] = {5.0f, 1.0f, 5.0f, 5.0f};
    TfrtSampler s;

    CU_ASSERT_EQUAL(tfrt_argmax(logits, 4), 0);
    tfrt_sampler_init(&s, 4, 0.0f, 0, 1.0f, 1);
    CU_ASSERT_EQUAL(tfrt_sample(&s, logits, 4), 0);
    logits[0] = 4.0f;
    CU_ASSERT_EQUAL(tfrt_sample(&s, logits, 4), 2);
    tfrt_sampler_free(&s);
}

/* Logits with a few exact ties near the top, from a fixed LCG. */
static void fill_logits(float *x, int n, uint32_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 20) / 256.0f;   /* 4096 levels: ties happen */
    }
}

static void test_top_k1_is_greedy(void)
{
    enum { V = 1000 };
    float x[V];
    TfrtSampler s;

    tfrt_sampler_init(&s, V, 1.0f, 1, 1.0f, 7);
    for (uint32_t seed = 1; seed <= 20; seed++) {
        fill_logits(x, V, seed);
        CU_ASSERT_EQUAL(tfrt_sample(&s, x, V), tfrt_argmax(x, V));
    }
    tfrt_sampler_free(&s);
}

static void test_tiny_top_p_is_greedy(void)
{
    enum { V = 1000 };
    float x[V];
    TfrtSampler s;

    tfrt_sampler_init(&s, V, 1.0f, 0, 1e-6f, 7);
    for (uint32_t seed = 1; seed <= 20; seed++) {
        fill_logits(x, V, seed);
        x[V - 1] = x[tfrt_argmax(x, V)];   /* a tie with a higher id */
        CU_ASSERT_EQUAL(tfrt_sample(&s, x, V), tfrt_argmax(x, V));
    }
    /* a tie at the top, with top_p below the first token's mass */
    float two[] = {0.0f, 0.0f};
    s.top_p = 0.3f;
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(tfrt_sample(&s, two, 2), 0);
    tfrt_sampler_free(&s);
}

static void test_reproducible(void)
{
    enum { V = 50, N = 500 };
    float x[V];
    int32_t first[N];
    TfrtSampler a, b;
    int differ = 0;

    fill_logits(x, V, 3);
    for (int i = 0; i < V; i++)
        x[i] /= 16.0f;     /* a flat distribution: many tokens drawn */
    tfrt_sampler_init(&a, V, 0.9f, 20, 0.95f, 42);
    tfrt_sampler_init(&b, V, 0.9f, 20, 0.95f, 42);
    for (int i = 0; i < N; i++) {
        first[i] = tfrt_sample(&a, x, V);
        CU_ASSERT_EQUAL(first[i], tfrt_sample(&b, x, V));
    }
    tfrt_sampler_seed(&a, 42);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(tfrt_sample(&a, x, V), first[i]);
    tfrt_sampler_seed(&a, 43);
    for (int i = 0; i < N; i++)
        differ += tfrt_sample(&a, x, V) != first[i];
    CU_ASSERT(differ > N / 4);
    tfrt_sampler_free(&a);
    tfrt_sampler_free(&b);
}

/* Draws n tokens and returns the chi-square statistic against p. */
static double chi_square(TfrtSampler *s, const float *logits, int v,
                         const double *p, int n)
{
    int count[8] = {0};
    double chi = 0.0;

    for (int i = 0; i < n; i++) {
        int32_t id = tfrt_sample(s, logits, v);
        CU_ASSERT_FATAL(id >= 0 && id < v);
        count[id]++;
    }
    for (int i = 0; i < v; i++) {
        if (p[i] == 0.0) {
            CU_ASSERT_EQUAL(count[i], 0);
            continue;
        }
        chi += (count[i] - n * p[i]) * (count[i] - n * p[i]) / (n * p[i]);
    }
    return chi;
}

/* softmax(log p) = p.  With 2 degrees of freedom, chi-square exceeds 13.8
 * with probability 0.001; a sampler off by 2% in one probability would
 * give about 25 at n = 30000. */
static void test_distribution(void)
{
    float logits[3] = {logf(0.2f), logf(0.3f), logf(0.5f)};
    const double p[3] = {0.2, 0.3, 0.5};
    TfrtSampler s;

    tfrt_sampler_init(&s, 3, 1.0f, 0, 1.0f, 2024);
    CU_ASSERT(chi_square(&s, logits, 3, p, 30000) < 13.8);
    tfrt_sampler_free(&s);
}

/* Temperature 2 flattens: p ~ sqrt(p0).  Top-k 2 and top-p 0.6 cut the
 * tail (0.5 + 0.3 is the smallest prefix reaching 0.6). */
static void test_temperature_top_k_top_p(void)
{
    float logits[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    double z = sqrt(0.5) + sqrt(0.3) + sqrt(0.2);
    const double hot[3] = {sqrt(0.5) / z, sqrt(0.3) / z, sqrt(0.2) / z};
    const double cut[3] = {0.625, 0.375, 0.0};
    TfrtSampler s;

    tfrt_sampler_init(&s, 3, 2.0f, 0, 1.0f, 99);
    CU_ASSERT(chi_square(&s, logits, 3, hot, 30000) < 13.8);
    s.temperature = 1.0f;
    s.top_k = 2;
    CU_ASSERT(chi_square(&s, logits, 3, cut, 30000) < 10.8);   /* 1 dof */
    s.top_k = 0;
    s.top_p = 0.6f;
    CU_ASSERT(chi_square(&s, logits, 3, cut, 30000) < 10.8);
    tfrt_sampler_free(&s);
}

/* One rank (no MPI job): tfrt_sample_split takes each of its ways to
 * choose (greedy, the merge of the top-k candidates, the gathered row)
 * and must draw what tfrt_sample draws from the same rows at the same
 * seed: rows with exact ties, masked tokens (sometimes fewer tokens of
 * weight > 0 than top_k), then a NaN and a +inf logit. */
static void test_split_one_rank(void)
{
    enum { V = 50 };
    static const struct { float temp; int top_k; float top_p; } modes[] = {
        {0.0f, 0, 1.0f}, {1.0f, 1, 1.0f}, {1.3f, 5, 1.0f}, {0.7f, 3, 0.8f},
        {1.0f, 0, 0.9f}, {2.0f, 0, 1.0f}, {1.0f, 12, 1.0f},
    };
    float x[V], logit = 0.0f;
    int32_t bad = 0;
    uint32_t r = 12345;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        TfrtSampler a, b;
        tfrt_sampler_init(&a, V, modes[m].temp, modes[m].top_k, modes[m].top_p, 77);
        tfrt_sampler_init(&b, V, modes[m].temp, modes[m].top_k, modes[m].top_p, 77);
        for (int t = 0; t < 300; t++) {
            for (int i = 0; i < V; i++) {
                r = r * 1664525u + 1013904223u;
                x[i] = (float)(r >> 20) / 512.0f - 4.0f;   /* multiples of 1/512: exact */
                if (i % 7 == 3)
                    x[i] = x[i / 2];                        /* a tie */
                if ((r >> 8) % 4 == 0 && t % 2)
                    x[i] = -INFINITY;                       /* masked */
            }
            int32_t want = tfrt_sample(&a, x, V), got = tfrt_sample_split(&b, x, V, V, &bad, &logit);
            CU_ASSERT_EQUAL(got, want);
            CU_ASSERT_EQUAL(bad, -1);
        }
        x[30] = INFINITY;
        x[17] = NAN;
        CU_ASSERT_EQUAL(tfrt_sample_split(&b, x, V, V, &bad, &logit), -1);
        CU_ASSERT_EQUAL(bad, 17);
        CU_ASSERT(isnan(logit));
        x[17] = 0.0f;
        CU_ASSERT_EQUAL(tfrt_sample_split(&b, x, V, V, &bad, &logit), -1);
        CU_ASSERT_EQUAL(bad, 30);
        CU_ASSERT(logit == INFINITY);
        tfrt_sampler_free(&a);
        tfrt_sampler_free(&b);
    }
}

static void test_sampler_edges(void)
{
    float one[1] = {-3.0f};
    float masked[5] = {-INFINITY, -INFINITY, 2.0f, -INFINITY, -INFINITY};
    float all_masked[3] = {-INFINITY, -INFINITY, -INFINITY};
    float x[4] = {1.0f, 1.001f, 0.5f, 1.0f};
    TfrtSampler s;

    tfrt_sampler_init(&s, 1, 1.0f, 0, 0.9f, 5);
    for (int i = 0; i < 10; i++) {
        CU_ASSERT_EQUAL(tfrt_sample(&s, one, 1), 0);
        CU_ASSERT_EQUAL(tfrt_sample(&s, masked, 5), 2);   /* grows scratch */
    }
    CU_ASSERT_EQUAL(tfrt_sample(&s, all_masked, 3), 0);
    CU_ASSERT_EQUAL(tfrt_sample(&s, one, 0), -1);
    s.temperature = 1e-30f;       /* 1/T overflows; must act as greedy */
    s.top_p = 1.0f;
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(tfrt_sample(&s, x, 4), 1);
    for (int i = 0; i < 1000; i++) {
        float u = tfrt_sampler_uniform(&s);
        CU_ASSERT(u >= 0.0f && u < 1.0f);
    }
    tfrt_sampler_free(&s);
    CU_ASSERT_EQUAL(tfrt_sampler_init(&s, 0, 1.0f, 0, 1.0f, 0), TFRT_ERR_ARG);
    tfrt_sampler_free(&s);
}

/* ---- tokenizer files ------------------------------------------------------- */

static char tmpdir[256];

static int make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tfrt_text_XXXXXX",
             base && strlen(base) < 200 ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void)
{
    return rmdir(tmpdir);
}

/* Writes text to tmpdir/name; the path is in a static buffer. */
static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

/* GPT-2's spelling of byte b, as a JSON string body (written out here
 * independently of the runtime's table). */
static void spell_byte(int b, char *out)
{
    static int code[256];
    static int ready;

    if (!ready) {
        int k = 0;
        for (int c = 0; c < 256; c++) {
            int shown = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
            code[c] = shown ? c : 256 + k++;
        }
        ready = 1;
    }
    int cp = code[b];
    if (cp == '"' || cp == '\\')
        sprintf(out, "\\%c", cp);
    else if (cp < 0x80)
        sprintf(out, "%c", cp);
    else
        sprintf(out, "%c%c", 0xC0 | (cp >> 6), 0x80 | (cp & 0x3F));
}

/* A tokenizer.json: ids 0..255 are the bytes, then "ab" 256, "Ġa" 257,
 * "abc" 258, "aa" 259; merges (by rank) "a b", "Ġ a", "ab c", "a a".
 * model_type, pre and merges are spliced in to make broken variants. */
static char *bpe_json(const char *model_type, const char *pre, const char *merges)
{
    size_t cap = 16384;
    char *s = malloc(cap), tok[8];
    size_t n = 0;

    n += (size_t)snprintf(s + n, cap - n, "{\"normalizer\": null, \"pre_tokenizer\": %s,"
                          " \"added_tokens\": [{\"id\": 260, \"content\": "
                          "\"<|endoftext|>\", \"special\": true}],"
                          " \"model\": {\"type\": \"%s\", \"vocab\": {", pre, model_type);
    for (int b = 0; b < 256; b++) {
        spell_byte(b, tok);
        n += (size_t)snprintf(s + n, cap - n, "\"%s\": %d, ", tok, b);
    }
    n += (size_t)snprintf(s + n, cap - n, "\"ab\": 256, \"\\u0120a\": 257, \"abc\": 258,"
                          " \"aa\": 259}, \"merges\": %s}}", merges);
    CU_ASSERT_FATAL(n < cap);
    return s;
}

#define BYTELEVEL "{\"type\": \"ByteLevel\", \"add_prefix_space\": false}"
#define MERGES "[\"a b\", [\"\\u0120\", \"a\"], \"ab c\", \"a a\"]"

/* Loads a tokenizer from text written to a file; returns the status. */
static int load_text(const char *text, TfrtTokenizer **tok, char *err, size_t errlen)
{
    const char *path = write_file("tok.json", text);
    int rc = tfrt_tok_load(tok, path, err, errlen);
    remove(path);
    return rc;
}

/* Encodes a NUL-terminated string and compares with want[0..n). */
static void expect_ids(const TfrtTokenizer *tok, const char *text, size_t len,
                       const int32_t *want, size_t n)
{
    int32_t *ids;
    size_t got;
    char err[256];

    CU_ASSERT_EQUAL_FATAL(tfrt_tok_encode(tok, text, len, &ids, &got, err, sizeof err),
                          TFRT_OK);
    CU_ASSERT_EQUAL(got, n);
    for (size_t i = 0; i < n && i < got; i++)
        CU_ASSERT_EQUAL(ids[i], want[i]);
    free(ids);
}

static void test_bpe_small(void)
{
    char *json = bpe_json("BPE", BYTELEVEL, MERGES), err[256];
    TfrtTokenizer *tok;
    int32_t *ids = (int32_t *)1;
    size_t n = 99, len;

    CU_ASSERT_EQUAL_FATAL(load_text(json, &tok, err, sizeof err), TFRT_OK);
    CU_ASSERT_EQUAL(tfrt_tok_vocab_size(tok), 261);
    CU_ASSERT_EQUAL(tfrt_tok_eos(tok), 260);
    /* empty input: no ids, no allocation */
    CU_ASSERT_EQUAL(tfrt_tok_encode(tok, "", 0, &ids, &n, err, sizeof err), TFRT_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(ids);
    expect_ids(tok, "a", 1, (const int32_t[]){'a'}, 1);
    expect_ids(tok, "\xff", 1, (const int32_t[]){0xff}, 1);
    expect_ids(tok, "abc", 3, (const int32_t[]){258}, 1);
    /* "a b" (rank 0) beats "Ġ a" (rank 1): Ġ|ab, not Ġa|b */
    expect_ids(tok, " ab", 3, (const int32_t[]){' ', 256}, 2);
    expect_ids(tok, " a", 2, (const int32_t[]){257}, 1);
    /* one pass merges left to right without overlap: aa|a, aa|aa */
    expect_ids(tok, "aaa", 3, (const int32_t[]){259, 'a'}, 2);
    expect_ids(tok, "aaaa", 4, (const int32_t[]){259, 259}, 2);
    /* pieces: "ab", " ab", "'s", "!!"; merges never cross them */
    expect_ids(tok, "ab ab's!!", 9,
               (const int32_t[]){256, ' ', 256, '\'', 's', '!', '!'}, 7);
    expect_ids(tok, "a<|endoftext|>a", 15, (const int32_t[]){'a', 260, 'a'}, 3);
    CU_ASSERT_NSTRING_EQUAL(tfrt_tok_decode_token(tok, 258, &len), "abc", 3);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_PTR_NULL(tfrt_tok_decode_token(tok, 261, &len));
    CU_ASSERT_PTR_NULL(tfrt_tok_decode_token(tok, -1, &len));
    CU_ASSERT_EQUAL(tfrt_tok_find(tok, " a", 2), 257);
    tfrt_tok_free(tok);
    free(json);
}

static void test_decode(void)
{
    char *json = bpe_json("BPE", BYTELEVEL, MERGES), err[256], *out;
    const int32_t ids[] = {258, ' ', 0xe2, 0x82, 0xac, 260};
    const int32_t bad[] = {1, 5000};
    TfrtTokenizer *tok;
    size_t len;

    CU_ASSERT_EQUAL_FATAL(load_text(json, &tok, err, sizeof err), TFRT_OK);
    CU_ASSERT_EQUAL(tfrt_tok_decode(tok, ids, 6, &out, &len, err, sizeof err), TFRT_OK);
    CU_ASSERT_EQUAL(len, 20);
    CU_ASSERT_STRING_EQUAL(out, "abc \xe2\x82\xac<|endoftext|>");
    free(out);
    CU_ASSERT_EQUAL(tfrt_tok_decode(tok, bad, 2, &out, &len, err, sizeof err),
                    TFRT_ERR_TOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "position 1"));
    tfrt_tok_free(tok);
    free(json);
}

/* Each broken tokenizer.json must be refused with a message naming why. */
static void expect_refusal(char *json, const char *why)
{
    TfrtTokenizer *tok = (TfrtTokenizer *)1;
    char err[256] = "";

    CU_ASSERT_EQUAL(load_text(json, &tok, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT_PTR_NULL(tok);
    if (!strstr(err, why))
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err, why);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
    free(json);
}

static void test_bpe_refusals(void)
{
    expect_refusal(bpe_json("BPE", "{\"type\": \"Whitespace\"}", MERGES),
                   "unsupported pre_tokenizer \"Whitespace\"");
    expect_refusal(bpe_json("BPE", "{\"type\": \"Sequence\", \"pretokenizers\": ["
                            "{\"type\": \"Split\"}, " BYTELEVEL "]}", MERGES),
                   "unsupported pre_tokenizer");
    expect_refusal(bpe_json("WordPiece", BYTELEVEL, MERGES), "model.unk_token is missing");
    expect_refusal(bpe_json("Wordpiece", BYTELEVEL, MERGES),
                   "unsupported model type \"Wordpiece\"");
    expect_refusal(bpe_json("BPE", BYTELEVEL, "[\"a z\", \"q r\"]"),
                   "merge 1: the merged token is not in the vocabulary");
    expect_refusal(bpe_json("BPE", BYTELEVEL, "[\"ab\"]"), "merge 1: expected");
    expect_refusal(strdup("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},"
                          " \"merges\": [\"a a\"]}, \"normalizer\": {\"type\": \"NFC\"},"
                          " \"pre_tokenizer\": " BYTELEVEL "}"),
                   "unsupported normalizer \"NFC\"");
    expect_refusal(strdup("[1, 2]"), "not a tokenizer");
    expect_refusal(strdup("{\"model\": 1}"), "no \"model\" object");
    expect_refusal(strdup("{\"model\": "), "tok.json");
}

/* Issue 11, defect 7: 20,000 added tokens and 128 KB of text took 12.5 s
 * when each position was compared with every added token; the trie makes
 * it proportional to the text. */
static void test_many_added_tokens(void)
{
    enum { N = 20000 };
    size_t cap = (size_t)N * 80 + 4096, n = 0, len;
    char *json = malloc(cap), *text = malloc(1 << 17), err[256];
    const char *path;
    TfrtTokenizer *tok;
    int32_t *ids;
    size_t count;
    struct timespec t0, t1;

    CU_ASSERT_FATAL(json && text);
    n += (size_t)snprintf(json + n, cap - n, "{\"model\": {\"type\": \"WordPiece\", \"unk_token\":"
                          " \"[UNK]\", \"vocab\": {\"[UNK]\": 0, \"x\": 1, \"y\": 2}},"
                          " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                          " \"added_tokens\": [");
    for (int k = 0; k < N; k++)
        n += (size_t)snprintf(json + n, cap - n, "%s{\"id\": %d, \"content\": \"<t%05d>\"}",
                              k ? ", " : "", 3 + k, k);
    snprintf(json + n, cap - n, "]}");
    path = write_file("many.json", json);
    CU_ASSERT_EQUAL_FATAL(tfrt_tok_load(&tok, path, err, sizeof err), TFRT_OK);
    unlink(path);
    expect_ids(tok, "x<t00007>y", 10, (const int32_t[]){1, 10, 2}, 3);
    expect_ids(tok, "<t1999><t19999>", 15, (const int32_t[]){0, 0, 0, 3 + 19999}, 4);
    for (len = 0; len + 16 < (1 << 17);)
        len += (size_t)sprintf(text + len, "x <t%05d> y ", (int)(len % N));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(tfrt_tok_encode(tok, text, len, &ids, &count, err, sizeof err), TFRT_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CU_ASSERT(count > 20000);
    /* generous for sanitizer builds; it takes milliseconds */
    CU_ASSERT((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9 < 3.0);
    free(ids);
    tfrt_tok_free(tok);
    free(json);
    free(text);
}

/* Issue 11, defect 9: an empty token (in the vocabulary, or added) is
 * defined behaviour: it loads, never matches, and decodes to nothing. */
static void test_empty_tokens(void)
{
    const char *path = write_file("empty.json",
        "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\":"
        " {\"\": 0, \"[UNK]\": 1, \"a\": 2}}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
        " \"added_tokens\": [{\"id\": 0, \"content\": \"\"}]}");
    TfrtTokenizer *tok;
    char err[256], *out;
    size_t len;

    CU_ASSERT_EQUAL_FATAL(tfrt_tok_load(&tok, path, err, sizeof err), TFRT_OK);
    unlink(path);
    expect_ids(tok, "a a", 3, (const int32_t[]){2, 2}, 2);
    CU_ASSERT_EQUAL(tfrt_tok_decode(tok, (const int32_t[]){0, 0, 2}, 3, &out, &len, err,
                                    sizeof err), TFRT_OK);
    CU_ASSERT_EQUAL(len, 3);   /* "" " " " a": WordPiece joins words with a space */
    free(out);
    CU_ASSERT_EQUAL(tfrt_tok_find(tok, "", 0), 0);
    tfrt_tok_free(tok);
}

/* Issue 11, defect 3: a FIFO is refused at once, not waited on. */
static void test_fifo_refused(void)
{
    char path[512], err[256];
    TfrtTokenizer *tok;

    snprintf(path, sizeof path, "%s/fifo.json", tmpdir);
    CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
    CU_ASSERT_EQUAL(tfrt_tok_load(&tok, path, err, sizeof err), TFRT_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
    unlink(path);
}

static void test_load_errors(void)
{
    TfrtTokenizer *tok;
    char err[256], path[300];

    CU_ASSERT_EQUAL(tfrt_tok_load(&tok, "/nonexistent/tokenizer.json", err, sizeof err),
                    TFRT_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/tokenizer.json"));
    snprintf(path, sizeof path, "%s/", tmpdir);
    CU_ASSERT_EQUAL(tfrt_tok_load(&tok, path, err, sizeof err), TFRT_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no tokenizer.json"));
}

/* A directory with vocab.json + merges.txt, "<|endoftext|>" in the vocab. */
static void test_vocab_merges_dir(void)
{
    char vocab[8192], tok[8], err[256];
    size_t n = 0;
    const char *vpath, *mpath;
    TfrtTokenizer *t;

    n += (size_t)snprintf(vocab + n, sizeof vocab - n, "{");
    for (int b = 0; b < 256; b++) {
        spell_byte(b, tok);
        n += (size_t)snprintf(vocab + n, sizeof vocab - n, "\"%s\": %d, ", tok, b);
    }
    snprintf(vocab + n, sizeof vocab - n, "\"ab\": 256, \"<|endoftext|>\": 257}");
    vpath = write_file("vocab.json", vocab);
    CU_ASSERT_FATAL(vpath != NULL);
    char vcopy[512];
    snprintf(vcopy, sizeof vcopy, "%s", vpath);
    mpath = write_file("merges.txt", "#version: 0.2\na b\r\n\n");
    char mcopy[512];
    snprintf(mcopy, sizeof mcopy, "%s", mpath);
    CU_ASSERT_EQUAL_FATAL(tfrt_tok_load(&t, tmpdir, err, sizeof err), TFRT_OK);
    CU_ASSERT_EQUAL(tfrt_tok_eos(t), 257);
    CU_ASSERT_EQUAL(tfrt_tok_vocab_size(t), 258);
    expect_ids(t, "xab<|endoftext|>", 16, (const int32_t[]){'x', 256, 257}, 3);
    tfrt_tok_free(t);
    remove(vcopy);
    remove(mcopy);
}

static void test_chars(void)
{
    TfrtTokenizer *tok;
    char err[256];
    int32_t *ids;
    size_t n;
    const char *json = "{\"type\": \"chars\", \"chars\": [\"\\n\", \" \", \"a\", \"b\","
                       " \"\\u00e9\", \"\xe2\x82\xac\"]}";

    CU_ASSERT_EQUAL_FATAL(load_text(json, &tok, err, sizeof err), TFRT_OK);
    CU_ASSERT_EQUAL(tfrt_tok_vocab_size(tok), 6);
    CU_ASSERT_EQUAL(tfrt_tok_eos(tok), -1);
    expect_ids(tok, "ab \xc3\xa9\xe2\x82\xac\n", 9, (const int32_t[]){2, 3, 1, 4, 5, 0}, 6);
    expect_ids(tok, "", 0, NULL, 0);
    CU_ASSERT_EQUAL(tfrt_tok_encode(tok, "ab c", 4, &ids, &n, err, sizeof err),
                    TFRT_ERR_TOKEN);
    CU_ASSERT_PTR_NULL(ids);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "byte offset 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "U+0063"));
    CU_ASSERT_EQUAL(tfrt_tok_encode(tok, "a\xff", 2, &ids, &n, err, sizeof err),
                    TFRT_ERR_TOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "byte offset 1"));
    tfrt_tok_free(tok);

    CU_ASSERT_EQUAL(load_text("{\"type\": \"chars\", \"chars\": [\"a\", \"bc\"]}",
                              &tok, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chars[1] is not one UTF-8 character"));
    CU_ASSERT_EQUAL(load_text("{\"type\": \"chars\", \"chars\": [\"a\", \"b\", \"a\"]}",
                              &tok, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "appears twice"));
}

/* ---- registration ----------------------------------------------------------- */

void register_text_tests(void)
{
    static const struct { const char *name; void (*fn)(void); } sampler[] = {
        {"greedy is argmax", test_greedy},
        {"greedy ties go to the lowest id", test_greedy_ties},
        {"top_k 1 is greedy", test_top_k1_is_greedy},
        {"tiny top_p is greedy", test_tiny_top_p_is_greedy},
        {"same seed, same draws", test_reproducible},
        {"temperature 1 draws softmax", test_distribution},
        {"temperature, top_k, top_p", test_temperature_top_k_top_p},
        {"vocab 1, masked logits, tiny temperature", test_sampler_edges},
        {"one rank: tfrt_sample_split draws as tfrt_sample", test_split_one_rank},
    }, tokenizer[] = {
        {"small byte-level BPE", test_bpe_small},
        {"decode", test_decode},
        {"refused tokenizer.json files", test_bpe_refusals},
        {"load errors", test_load_errors},
        {"vocab.json + merges.txt", test_vocab_merges_dir},
        {"character vocabulary", test_chars},
        {"20,000 added tokens, in linear time", test_many_added_tokens},
        {"empty tokens", test_empty_tokens},
        {"a FIFO is refused", test_fifo_refused},
    };
    CU_pSuite s = CU_add_suite("sampler", NULL, NULL);

    for (size_t i = 0; s && i < sizeof sampler / sizeof *sampler; i++)
        CU_add_test(s, sampler[i].name, sampler[i].fn);
    s = CU_add_suite("tokenizer", make_tmpdir, remove_tmpdir);
    for (size_t i = 0; s && i < sizeof tokenizer / sizeof *tokenizer; i++)
        CU_add_test(s, tokenizer[i].name, tokenizer[i].fn);
}
