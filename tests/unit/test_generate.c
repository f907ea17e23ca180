/*
 * test_generate.c - the generation loop of tfrt_generate.h and its parts:
 * the repeat penalty, the text stream (UTF-8 and stop strings), and
 * tfrt_generate over a scripted model.
 *
 * Every expected value is worked out by hand in the comment beside it:
 * the penalized logits, the pieces a stream must emit after each put, and
 * the calls and tokens of a model whose next token is always the one
 * after its last (greedy), whose window of 4 tokens must slide.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "tests.h"
#include "tfrt_generate.h"

/* ---- the repeat penalty ------------------------------------------------------ */

static void test_repeat_penalty(void)
{
    float x[] = {2.0f, -1.0f, 0.5f, -3.0f, 4.0f, 0.0f};
    /* 1 twice (penalized once), 5 at 0 (stays 0), 9 and -1 outside the vocab */
    const int32_t tokens[] = {0, 1, 1, 3, 5, 9, -1};
    /* positive / 2, negative * 2; tokens 2 and 4 not in the window */
    const float want[] = {1.0f, -2.0f, 0.5f, -6.0f, 4.0f, 0.0f};
    unsigned char seen[6] = {0};

    tfrt_repeat_penalty(x, 6, tokens, 7, 2.0f, seen);
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(x[i], want[i]);
        CU_ASSERT_EQUAL(seen[i], 0);
    }
    float y[] = {3.0f, -1.5f};
    tfrt_repeat_penalty(y, 2, (const int32_t[]){0, 1}, 2, 0.5f, seen);   /* < 1 favours them */
    CU_ASSERT_EQUAL(y[0], 6.0f);
    CU_ASSERT_EQUAL(y[1], -0.75f);
}

/* ---- the text stream ---------------------------------------------------------- */

typedef struct {
    char text[256];
    size_t len;
    int pieces;
    int refuse_after;   /* > 0: emit returns 1 from that piece on */
} Sink;

static int collect(void *user, const char *text, size_t len)
{
    Sink *k = user;
    CU_ASSERT_FATAL(k->len + len < sizeof k->text);
    CU_ASSERT(len > 0);
    memcpy(k->text + k->len, text, len);
    k->len += len;
    k->text[k->len] = '\0';
    k->pieces++;
    return k->refuse_after && k->pieces >= k->refuse_after;
}

/* Puts piece, expects the return want and all text emitted so far to be
 * so_far. */
static void put(TfrtStream *s, Sink *k, const char *piece, int want, const char *so_far)
{
    CU_ASSERT_EQUAL(tfrt_stream_put(s, piece, strlen(piece)), want);
    CU_ASSERT_STRING_EQUAL(k->text, so_far);
}

static void test_stream_utf8(void)
{
    TfrtStream s;
    Sink k = {.len = 0};
    CU_ASSERT_EQUAL_FATAL(tfrt_stream_init(&s, NULL, 0, collect, &k), TFRT_OK);
    put(&s, &k, "a", 0, "a");
    put(&s, &k, "\xC3", 0, "a");                       /* é = C3 A9: half held */
    put(&s, &k, "\xA9" "b", 0, "a\xC3\xA9" "b");
    put(&s, &k, "\xF0\x9F", 0, "a\xC3\xA9" "b");       /* U+1F600 = F0 9F 98 80 */
    put(&s, &k, "\x98", 0, "a\xC3\xA9" "b");
    put(&s, &k, "\x80" "c\xE2\x82", 0, "a\xC3\xA9" "b\xF0\x9F\x98\x80" "c");   /* € = E2 82 AC */
    CU_ASSERT_EQUAL(k.pieces, 3);
    CU_ASSERT_EQUAL(tfrt_stream_finish(&s), 0);         /* the end: the half € goes as it is */
    CU_ASSERT_STRING_EQUAL(k.text, "a\xC3\xA9" "b\xF0\x9F\x98\x80" "c\xE2\x82");
    tfrt_stream_free(&s);
}

static void test_stream_stop_across_pieces(void)
{
    const char *stops[] = {"END", "\n\n"};
    TfrtStream s;
    Sink k = {.len = 0};
    CU_ASSERT_EQUAL_FATAL(tfrt_stream_init(&s, stops, 2, collect, &k), TFRT_OK);
    put(&s, &k, "xx", 0, "xx");
    put(&s, &k, "E", 0, "xx");              /* could start END */
    put(&s, &k, "N", 0, "xx");
    put(&s, &k, "q", 0, "xxENq");           /* it did not */
    put(&s, &k, "a\n", 0, "xxENqa");        /* could start \n\n */
    put(&s, &k, "E", 0, "xxENqa\n");        /* \nE cannot; E can */
    put(&s, &k, "ND tail", 1, "xxENqa\n");  /* END: it and what follows go */
    CU_ASSERT_EQUAL(s.found, 1);            /* stops[0] */
    put(&s, &k, "more", 1, "xxENqa\n");     /* after the stop nothing goes out */
    CU_ASSERT_EQUAL(tfrt_stream_finish(&s), 0);
    CU_ASSERT_STRING_EQUAL(k.text, "xxENqa\n");
    tfrt_stream_free(&s);
}

static void test_stream_stop_cases(void)
{
    const char *one[] = {"\n\n"}, *aab[] = {"aab"}, *two[] = {"cd", "bcd"}, *abc[] = {"abc"};
    TfrtStream s;
    Sink k = {.len = 0};

    tfrt_stream_init(&s, one, 1, collect, &k);     /* inside one piece */
    put(&s, &k, "hello\n\nworld", 1, "hello");
    tfrt_stream_free(&s);

    memset(&k, 0, sizeof k);                       /* overlapping prefixes */
    tfrt_stream_init(&s, aab, 1, collect, &k);
    put(&s, &k, "a", 0, "");
    put(&s, &k, "a", 0, "");
    put(&s, &k, "a", 0, "a");                      /* "aa" may still start aab */
    put(&s, &k, "b", 1, "a");
    tfrt_stream_free(&s);

    memset(&k, 0, sizeof k);                       /* the earliest start wins */
    tfrt_stream_init(&s, two, 2, collect, &k);
    put(&s, &k, "xbcdy", 1, "x");
    CU_ASSERT_EQUAL(s.found, 2);                   /* bcd starts before cd */
    tfrt_stream_free(&s);

    memset(&k, 0, sizeof k);                       /* held text goes at the end */
    tfrt_stream_init(&s, abc, 1, collect, &k);
    put(&s, &k, "xab", 0, "x");
    CU_ASSERT_EQUAL(tfrt_stream_finish(&s), 0);
    CU_ASSERT_STRING_EQUAL(k.text, "xab");
    tfrt_stream_free(&s);

    memset(&k, 0, sizeof k);                       /* a multi-byte stop string, split */
    const char *euro[] = {"\xE2\x82\xAC!"};
    tfrt_stream_init(&s, euro, 1, collect, &k);
    put(&s, &k, "5\xE2", 0, "5");
    put(&s, &k, "\x82\xAC", 0, "5");
    put(&s, &k, "!", 1, "5");
    tfrt_stream_free(&s);

    const char *empty[] = {""}, *null[] = {NULL};
    CU_ASSERT_EQUAL(tfrt_stream_init(&s, empty, 1, collect, &k), TFRT_ERR_ARG);
    CU_ASSERT_EQUAL(tfrt_stream_init(&s, null, 1, collect, &k), TFRT_ERR_ARG);
}

static void test_stream_emit_refuses(void)
{
    TfrtStream s;
    Sink k = {.refuse_after = 2};
    tfrt_stream_init(&s, NULL, 0, collect, &k);
    CU_ASSERT_EQUAL(tfrt_stream_put(&s, "a", 1), 0);
    CU_ASSERT_EQUAL(tfrt_stream_put(&s, "b", 1), 2);
    CU_ASSERT_EQUAL(s.status, 1);
    CU_ASSERT_EQUAL(tfrt_stream_put(&s, "c", 1), 2);   /* emit is not asked again */
    CU_ASSERT_EQUAL(tfrt_stream_finish(&s), 2);
    CU_ASSERT_EQUAL(k.pieces, 2);
    CU_ASSERT_STRING_EQUAL(k.text, "ab");
    tfrt_stream_free(&s);
}

/* ---- tfrt_generate over a scripted model --------------------------------------- */

enum { V = 5 };

/* The next token is always last + 1 (mod V), greedy: logit 5 there, 0
 * elsewhere, or logits from `fixed`.  Each call is logged as "P0,1" (a
 * prefill of tokens 0 and 1) or "S2" (a step over token 2). */
typedef struct {
    char log[512];
    int calls;
    int nan_at;            /* > 0: that call's row has NaN at token 0 */
    const float *fixed;    /* V logits for every row, or NULL */
    int fail_at;           /* > 0: that call returns TFRT_ERR_LENGTH */
} Script;

static int script_row(Script *sc, int32_t last, float *row)
{
    sc->calls++;
    for (int i = 0; i < V; i++)
        row[i] = sc->fixed ? sc->fixed[i] : i == (last + 1) % V ? 5.0f : 0.0f;
    if (sc->nan_at == sc->calls)
        row[0] = NAN;
    return sc->fail_at == sc->calls ? TFRT_ERR_LENGTH : TFRT_OK;
}

static int script_prefill(void *m, const int32_t *ids, int n, float *row)
{
    Script *sc = m;
    size_t len = strlen(sc->log);
    len += (size_t)snprintf(sc->log + len, sizeof sc->log - len, "%sP", len ? " " : "");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(sc->log + len, sizeof sc->log - len, "%s%d", i ? "," : "", ids[i]);
    return script_row(sc, ids[n - 1], row);
}

static int script_step(void *m, int32_t id, float *row)
{
    Script *sc = m;
    size_t len = strlen(sc->log);
    snprintf(sc->log + len, sizeof sc->log - len, " S%d", id);
    return script_row(sc, id, row);
}

typedef struct {
    char ids[256];
} Ids;

static int record(void *user, int32_t id)
{
    Ids *r = user;
    size_t len = strlen(r->ids);
    snprintf(r->ids + len, sizeof r->ids - len, "%s%d", len ? "," : "", id);
    return 0;
}

/* run()'s TfrtLm.split: NULL, or the path for a vocabulary split over
 * ranks, taken here by one rank (test_generate_split_one_rank). */
static const TfrtSplitOps *run_split;

/* Greedy generation over sc with a window of ctx tokens; the ids chosen. */
static int run(Script *sc, int ctx, const int32_t *prompt, int n, TfrtGenOptions *o, Ids *ids,
               TfrtGenResult *r, char *err)
{
    TfrtLm lm = {sc, V, ctx, script_prefill, script_step, run_split};
    o->temperature = 0.0f;
    o->on_token = record;
    o->user = ids;
    return tfrt_generate(&lm, prompt, n, o, r, err, 256);
}

static void test_generate_window(void)
{
    Script sc = {.calls = 0};
    Ids ids = {{0}};
    TfrtGenResult r;
    char err[256];
    TfrtGenOptions o = tfrt_gen_defaults(NULL);
    o.max_tokens = 6;
    CU_ASSERT_EQUAL_FATAL(run(&sc, 4, (const int32_t[]){0}, 1, &o, &ids, &r, err), TFRT_OK);
    /* 1 2 3 4 0 1; the window [0 1 2 3] is full after 3: it keeps [2 3]
     * and prefills it; again after 0: [2 3 4 0] keeps [4 0].  No call
     * after the last token. */
    CU_ASSERT_STRING_EQUAL(ids.ids, "1,2,3,4,0,1");
    CU_ASSERT_STRING_EQUAL(sc.log, "P0 S1 S2 P2,3 S4 P4,0");
    CU_ASSERT_EQUAL(r.generated, 6);
    CU_ASSERT_EQUAL(r.slides, 2);
    CU_ASSERT_EQUAL(r.prompt_tokens, 1);
    CU_ASSERT_EQUAL(r.stop, TFRT_GEN_MAX_TOKENS);

    /* a prompt that fills the window: the first token makes 5, it keeps 2 */
    Script full = {.calls = 0};
    Ids ids2 = {{0}};
    o.max_tokens = 3;
    CU_ASSERT_EQUAL(run(&full, 4, (const int32_t[]){1, 2, 3, 4}, 4, &o, &ids2, &r, err), TFRT_OK);
    CU_ASSERT_STRING_EQUAL(ids2.ids, "0,1,2");
    CU_ASSERT_STRING_EQUAL(full.log, "P1,2,3,4 P4,0 S1");
}

static void test_generate_no_cache(void)
{
    Script sc = {.calls = 0};
    Ids ids = {{0}};
    TfrtGenResult r;
    char err[256];
    TfrtGenOptions o = tfrt_gen_defaults(NULL);
    TfrtLm lm = {&sc, V, 4, script_prefill, NULL, NULL};
    o.max_tokens = 4;
    o.temperature = 0.0f;
    o.on_token = record;
    o.user = &ids;
    CU_ASSERT_EQUAL_FATAL(tfrt_generate(&lm, (const int32_t[]){0}, 1, &o, &r, err, sizeof err), TFRT_OK);
    /* each token reruns the window; full after 3, it keeps [2 3] */
    CU_ASSERT_STRING_EQUAL(ids.ids, "1,2,3,4");
    CU_ASSERT_STRING_EQUAL(sc.log, "P0 P0,1 P0,1,2 P2,3");
}

static void test_generate_eos_penalty(void)
{
    Script sc = {.calls = 0};
    Ids ids = {{0}};
    TfrtGenResult r;
    char err[256];
    TfrtGenOptions o = tfrt_gen_defaults(NULL);
    o.eos = 3;
    CU_ASSERT_EQUAL(run(&sc, 8, (const int32_t[]){0}, 1, &o, &ids, &r, err), TFRT_OK);
    CU_ASSERT_STRING_EQUAL(ids.ids, "1,2");       /* 3 is the end: not passed on */
    CU_ASSERT_EQUAL(r.stop, TFRT_GEN_EOS);
    CU_ASSERT_EQUAL(r.generated, 2);

    /* logits 3, 2.5, 0, 0, 0 every row; penalty 2 over the window:
     * [0]     -> 1.5 2.5: token 1
     * [0 1]   -> 1.5 1.25: token 0 (0 counted once however often)
     * [0 1 0] -> the same: 0 */
    const float fixed[V] = {3.0f, 2.5f, 0.0f, 0.0f, 0.0f};
    Script pen = {.fixed = fixed};
    Ids ids2 = {{0}}, ids3 = {{0}};
    o = tfrt_gen_defaults(NULL);
    o.max_tokens = 3;
    o.repeat_penalty = 2.0f;
    CU_ASSERT_EQUAL(run(&pen, 8, (const int32_t[]){0}, 1, &o, &ids2, &r, err), TFRT_OK);
    CU_ASSERT_STRING_EQUAL(ids2.ids, "1,0,0");
    o.repeat_penalty = 1.0f;                      /* off: always 0 */
    Script off = {.fixed = fixed};
    CU_ASSERT_EQUAL(run(&off, 8, (const int32_t[]){0}, 1, &o, &ids3, &r, err), TFRT_OK);
    CU_ASSERT_STRING_EQUAL(ids3.ids, "0,0,0");
}

static void test_generate_errors(void);

/* The loop's path for a split vocabulary (tfrt_split_ops, which --tp
 * takes), run by one rank, gives what the whole row gives: the window,
 * end of text, the repeat penalty (on the rank's slice), a NaN logit. */
static void test_generate_split_one_rank(void)
{
    run_split = &tfrt_split_ops;
    test_generate_window();
    test_generate_eos_penalty();
    test_generate_errors();
    run_split = NULL;
}

static void test_generate_errors(void)
{
    Script sc = {.nan_at = 3};
    Ids ids = {{0}};
    TfrtGenResult r;
    char err[256];
    TfrtGenOptions o = tfrt_gen_defaults(NULL);
    CU_ASSERT_EQUAL(run(&sc, 8, (const int32_t[]){0}, 1, &o, &ids, &r, err), TFRT_ERR_NAN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "generating token 3: the model's logit for token 0 is NaN"));
    CU_ASSERT_STRING_EQUAL(ids.ids, "1,2");
    CU_ASSERT_EQUAL(r.stop, TFRT_GEN_ERROR);

    Script fails = {.fail_at = 2};
    Ids ids2 = {{0}};
    CU_ASSERT_EQUAL(run(&fails, 8, (const int32_t[]){0}, 1, &o, &ids2, &r, err), TFRT_ERR_LENGTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "generating token 2"));

    Script none = {.calls = 0};
    Ids ids3 = {{0}};
    CU_ASSERT_EQUAL(run(&none, 2, (const int32_t[]){0, 1, 2}, 3, &o, &ids3, &r, err), TFRT_ERR_LENGTH);
    CU_ASSERT_EQUAL(run(&none, 2, NULL, 0, &o, &ids3, &r, err), TFRT_ERR_LENGTH);
    o.repeat_penalty = 0.0f;
    CU_ASSERT_EQUAL(run(&none, 8, (const int32_t[]){0}, 1, &o, &ids3, &r, err), TFRT_ERR_ARG);
    o.repeat_penalty = 1.0f;
    const char *stop[] = {"x"};
    o.stop = stop;
    o.nstop = 1;                                  /* stop strings need text */
    CU_ASSERT_EQUAL(run(&none, 8, (const int32_t[]){0}, 1, &o, &ids3, &r, err), TFRT_ERR_ARG);
    CU_ASSERT_EQUAL(none.calls, 0);
}

/* Text through a character tokenizer: a b c \n space, ids 0..4. */
static void test_generate_stop_text(void)
{
    char dir[] = "/tmp/tfrt_gen_XXXXXX", path[64];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/v.chars.json", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("{\"type\": \"chars\", \"chars\": [\"a\", \"b\", \"c\", \"\\n\", \" \"]}", f);
    fclose(f);
    TfrtTokenizer *tok = NULL;
    char err[256];
    int rc = tfrt_tok_load(&tok, path, err, sizeof err);
    unlink(path);
    rmdir(dir);
    CU_ASSERT_EQUAL_FATAL(rc, TFRT_OK);

    Script sc = {.calls = 0};
    Sink k = {.len = 0};
    const char *stop[] = {"zz", "\n a"};
    TfrtGenOptions o = tfrt_gen_defaults(tok);
    TfrtLm lm = {&sc, V, 16, script_prefill, script_step, NULL};
    TfrtGenResult r;
    o.temperature = 0.0f;
    o.stop = stop;
    o.nstop = 2;
    o.on_text = collect;
    o.user = &k;
    /* after "a": b c \n space a: "\n a" ends at the fifth token */
    CU_ASSERT_EQUAL(tfrt_generate(&lm, (const int32_t[]){0}, 1, &o, &r, err, sizeof err), TFRT_OK);
    CU_ASSERT_STRING_EQUAL(k.text, "bc");
    CU_ASSERT_EQUAL(r.stop, TFRT_GEN_STOP_STRING);
    CU_ASSERT_EQUAL(r.stop_index, 1);
    CU_ASSERT_EQUAL(r.generated, 5);

    Script strip = {.calls = 0};              /* strip_first_space: " a" prints "a" */
    memset(&k, 0, sizeof k);
    lm.model = &strip;
    o.nstop = 0;
    o.max_tokens = 3;
    o.strip_first_space = 1;
    CU_ASSERT_EQUAL(tfrt_generate(&lm, (const int32_t[]){3}, 1, &o, &r, err, sizeof err), TFRT_OK);
    CU_ASSERT_STRING_EQUAL(k.text, "ab");

    Script early = {.calls = 0};              /* on_text asks to stop after "b" */
    memset(&k, 0, sizeof k);
    k.refuse_after = 1;
    lm.model = &early;
    o.strip_first_space = 0;
    CU_ASSERT_EQUAL(tfrt_generate(&lm, (const int32_t[]){0}, 1, &o, &r, err, sizeof err), TFRT_OK);
    CU_ASSERT_STRING_EQUAL(k.text, "b");
    CU_ASSERT_EQUAL(r.stop, TFRT_GEN_CALLER);
    CU_ASSERT_EQUAL(r.generated, 1);
    CU_ASSERT_STRING_EQUAL(early.log, "P0");  /* no step after the stop */
    tfrt_tok_free(tok);
}

void register_generate_tests(void)
{
    static const struct { const char *name; void (*fn)(void); } tests[] = {
        {"repeat penalty on a known row", test_repeat_penalty},
        {"stream: UTF-8 split across tokens", test_stream_utf8},
        {"stream: a stop string across pieces is held back", test_stream_stop_across_pieces},
        {"stream: stop strings in one piece, overlapping, multi-byte", test_stream_stop_cases},
        {"stream: emit's refusal stops", test_stream_emit_refuses},
        {"generate: window slides, prefill and step calls", test_generate_window},
        {"generate: no KV cache reruns the window", test_generate_no_cache},
        {"generate: end of text, repeat penalty", test_generate_eos_penalty},
        {"generate: NaN, model errors, bad arguments", test_generate_errors},
        {"generate: stop string over tokenized text", test_generate_stop_text},
        {"generate: a split vocabulary's path, one rank", test_generate_split_one_rank},
    };
    CU_pSuite s = CU_add_suite("generate", NULL, NULL);
    for (size_t i = 0; s && i < sizeof tests / sizeof *tests; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
}
