/*
 * tfrt_generate.h - text generation over any model tfc compiled: the loop
 * that `tfc M --run --prompt` runs, for programs that embed a model.
 *
 * A generated decoder (`tfc models/gpt2.model -o gpt2.c`) has a KV cache:
 * gpt2_prefill_last runs a prompt from the start and writes the last
 * token's logits, gpt2_step runs one more token.  Plug those two in
 * through a TfrtLm, say how to sample and where text goes, and call
 * tfrt_generate:
 *
 *   static int prefill(void *m, const int32_t *ids, int n, float *logits)
 *   { return gpt2_prefill_last(m, ids, n, logits); }
 *   static int step(void *m, int32_t id, float *logits)
 *   { return gpt2_step(m, id, logits); }
 *   static int print(void *user, const char *text, size_t len)
 *   { (void)user; fwrite(text, 1, len, stdout); return fflush(stdout); }
 *
 *   gpt2_model *m;                              // gpt2_open(&m, ...)
 *   TfrtTokenizer *tok;                         // tfrt_tok_load(&tok, ...)
 *   int32_t *ids; size_t n;                     // tfrt_tok_encode_special(...)
 *   TfrtLm lm = {m, GPT2_OUTPUT_COLS, gpt2_context(m), prefill, step, NULL};
 *   TfrtGenOptions o = tfrt_gen_defaults(tok); // sampling, end of text
 *   o.max_tokens = 200;
 *   o.seed = 1;
 *   o.on_text = print;
 *   TfrtGenResult r;
 *   char err[256];
 *   if (tfrt_generate(&lm, ids, (int)n, &o, &r, err, sizeof err) != TFRT_OK)
 *       fprintf(stderr, "%s\n", err);
 *
 * examples/generate.c is that program in full.  What the loop does:
 *
 *   1. prefill_last over the prompt: the logits of the next token.
 *   2. Check the row: a NaN or +inf logit means the model's arithmetic
 *      failed; generation stops with TFRT_ERR_NAN, naming the step and
 *      the token (tfrt_bad_logit).
 *   3. The repeat penalty over the tokens in the window, then the sampler
 *      (tfrt_repeat_penalty, tfrt_sample: tfrt_text.h states both).
 *   4. End of text (options.eos) stops without printing; any other token
 *      goes to on_token, and its text through a TfrtStream to on_text:
 *      only whole UTF-8 characters, never the start of a stop string
 *      until it is known not to be one.  A stop string found in the text
 *      stops generation; the text before it is printed, it is not.
 *   5. The token joins the window; step runs it (without step, or when
 *      the window is full, see below) and the loop goes to 2, until
 *      max_tokens tokens are generated.
 *
 * The window.  A model holds ctx tokens (lm.ctx: gpt2_context, which
 * open_ex can make shorter than GPT2_MAX_SEQ).  When the window reaches
 * ctx tokens, its newer half is kept and run again through prefill_last,
 * so generation goes on over the recent text; positions restart at the
 * window's first token and older tokens are forgotten.  A model without a
 * KV cache gives step = NULL: each token then reruns the whole window
 * through prefill_last (the same tokens, more work).
 *
 * Everything is deterministic: the same model, prompt, options and seed
 * give the same tokens.  tfrt_generate allocates its window, one logits
 * row and the sampler's scratch, and frees them before it returns; it
 * keeps no state between calls.
 */
#ifndef TFRT_GENERATE_H
#define TFRT_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "tfrt.h"
#include "tfrt_text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the model ------------------------------------------------------------ */

/* What the loop needs of a tensor-parallel job (a model compiled with
 * --tp N, its head split by vocabulary over the ranks): libtfrt's
 * tfrt_split_ops, the collectives' functions.  Reached through pointers,
 * so that a program that generates in one process does not link MPI. */
typedef struct {
    int (*rank)(void);                               /* tfrt_comm_rank */
    int (*size)(void);                               /* tfrt_comm_size */
    TfrtLogitsTo (*logits_to)(TfrtLogitsTo where);   /* tfrt_comm_logits_to */
    int32_t (*sample)(TfrtSampler *s, const float *x, int cols, int vocab,
                      int32_t *bad_id, float *bad_logit);   /* tfrt_sample_split */
} TfrtSplitOps;
extern const TfrtSplitOps tfrt_split_ops;

/* A language model as the loop sees it.  Both callbacks return a
 * TfrtStatus (what generated functions return): anything but TFRT_OK ends
 * generation with that status. */
typedef struct {
    void *model;     /* given to both callbacks */
    int vocab;       /* logits a row: GPT2_OUTPUT_COLS */
    int ctx;         /* tokens the model holds at once (>= 1): gpt2_context */
    /* Runs tokens[0..n) from position 0 (the cache emptied first) and
     * writes the last token's logits, vocab floats. */
    int (*prefill_last)(void *model, const int32_t *tokens, int n, float *logits);
    /* Runs one more token after those cached and writes its logits; NULL
     * for a model without a KV cache. */
    int (*step)(void *model, int32_t token, float *logits);
    /* NULL: one process, or whole rows on every rank.  &tfrt_split_ops:
     * the model's head is split by vocabulary over the ranks of this job
     * (compiled with --tp N, run by N ranks).  The loop then has the head
     * leave each rank its own logits (TFRT_LOGITS_LOCAL, restored before
     * it returns) and chooses each token with tfrt_sample_split: greedy
     * moves 8 bytes between the ranks instead of the row.  Every rank
     * calls tfrt_generate alike and gets the same tokens (on_token and
     * on_text run on every rank). */
    const TfrtSplitOps *split;
} TfrtLm;

/* ---- options and results ---------------------------------------------------- */

typedef struct {
    int max_tokens;            /* tokens to generate at most (>= 0) */
    float temperature;         /* the sampler (tfrt_sampler_init): <= 0 greedy */
    int top_k;                 /* <= 0: off */
    float top_p;               /* >= 1: off */
    uint64_t seed;
    float repeat_penalty;      /* > 0; 1: off (tfrt_repeat_penalty) */
    int32_t eos;               /* end of text: stops, not printed; -1: none */
    const TfrtTokenizer *tok;  /* tokens to text; NULL: no text, on_text is
                                  never called and nstop must be 0 */
    int strip_first_space;     /* drop the first generated token's leading
                                  space (an encoder-decoder's target) */
    const char *const *stop;   /* nstop stop strings, NUL-terminated, not empty */
    int nstop;
    /* Each chosen token, before its text; NULL: not called.  A non-zero
     * return stops generation (TFRT_GEN_CALLER). */
    int (*on_token)(void *user, int32_t token);
    /* Text as it is made, in pieces of whole UTF-8 characters (the last
     * piece may end with the bytes of an incomplete one, if that is what
     * the tokens spell); NULL: not called.  A non-zero return stops. */
    int (*on_text)(void *user, const char *text, size_t len);
    void *user;
} TfrtGenOptions;

/* Sampling as `tfc --run` does by default (temperature 0.8, top-k and
 * top-p off, no repeat penalty, seed 0), 128 tokens, tok and its end of
 * text (tfrt_tok_eos; -1 without tok), no stop strings, no callbacks. */
TfrtGenOptions tfrt_gen_defaults(const TfrtTokenizer *tok);

typedef enum {
    TFRT_GEN_MAX_TOKENS,       /* max_tokens tokens were generated */
    TFRT_GEN_EOS,              /* the model chose end of text */
    TFRT_GEN_STOP_STRING,      /* the text reached a stop string */
    TFRT_GEN_CALLER,           /* a callback returned non-zero */
    TFRT_GEN_ERROR             /* tfrt_generate did not return TFRT_OK */
} TfrtGenStop;

typedef struct {
    int prompt_tokens;         /* the prompt's length */
    int generated;             /* tokens chosen (end of text not counted) */
    int slides;                /* times the window was full and slid */
    TfrtGenStop stop;          /* why generation ended */
    int stop_index;            /* TFRT_GEN_STOP_STRING: which stop string */
} TfrtGenResult;

/* Generates after prompt[0..n) (1 <= n <= lm->ctx).  Returns TFRT_OK, or
 * with a message in err:
 *   TFRT_ERR_ARG     a NULL or inconsistent argument (vocab < 1, ctx < 1,
 *                    repeat_penalty <= 0, stop strings without tok, an
 *                    empty stop string);
 *   TFRT_ERR_LENGTH  the prompt is empty or longer than lm->ctx;
 *   TFRT_ERR_NAN     a NaN or +inf logit ("generating token 3: the
 *                    model's logit for token 0 is NaN ...");
 *   TFRT_ERR_NOMEM;
 *   or a callback's status, with the step it failed at.
 * result (may be NULL) says how far it got, also on error. */
int tfrt_generate(const TfrtLm *lm, const int32_t *prompt, int n,
                  const TfrtGenOptions *options, TfrtGenResult *result,
                  char *err, size_t errlen);

/* ---- streaming text ------------------------------------------------------ */

/* Text arrives token by token; a TfrtStream passes it on in pieces that
 * end on UTF-8 character boundaries and hold back any tail that could be
 * the start of a stop string.  When the text reaches a stop string, the
 * text before it goes out and the rest is dropped.  tfrt_generate uses
 * one; beam search and other loops can too.
 *
 *   TfrtStream s;
 *   tfrt_stream_init(&s, stops, nstops, print, NULL);
 *   tfrt_stream_put(&s, "ab", 2);    // emits "ab"
 *   tfrt_stream_put(&s, "\xC3", 1);  // half of "é": held
 *   tfrt_stream_put(&s, "\xA9", 1);  // emits "é"
 *   tfrt_stream_finish(&s);          // emits what is held
 *   tfrt_stream_free(&s);
 */
typedef struct {
    const char *const *stop;   /* the caller's, outliving the stream */
    int nstop;
    size_t max_stop;           /* the longest stop string's length */
    int (*emit)(void *user, const char *text, size_t len);
    void *user;
    char *held;                /* text not emitted yet */
    size_t len, cap;
    int found;                 /* 1 + the stop string reached, 0: none */
    int status;                /* emit's first non-zero return */
} TfrtStream;

/* emit may be NULL (the text is only watched for stop strings).
 * TFRT_ERR_ARG for a NULL or empty stop string. */
int tfrt_stream_init(TfrtStream *s, const char *const *stop, int nstop,
                     int (*emit)(void *user, const char *text, size_t len), void *user);

/* Adds text[0..len) and emits what can be.  Returns 0 to go on; 1 when a
 * stop string was reached (s->found - 1 says which); 2 when emit returned
 * non-zero (in s->status); -1 out of memory.  After 1 or 2, puts and
 * finish do nothing (emit is not called again) and return the same. */
int tfrt_stream_put(TfrtStream *s, const char *text, size_t len);

/* The end of the text: emits whatever is held (unless a stop string was
 * reached: 0).  Returns 0, or 2 when emit returned non-zero, now or
 * before. */
int tfrt_stream_finish(TfrtStream *s);
void tfrt_stream_free(TfrtStream *s);

#ifdef __cplusplus
}
#endif
#endif
