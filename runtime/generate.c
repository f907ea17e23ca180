/*
 * generate.c - the generation loop over a TfrtLm (tfrt_generate.h):
 * prefill, sample, stream, step; the window slides when the context fills.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfrt_generate.h"

TfrtGenOptions tfrt_gen_defaults(const TfrtTokenizer *tok)
{
    TfrtGenOptions o;
    memset(&o, 0, sizeof o);
    o.max_tokens = 128;
    o.temperature = 0.8f;
    o.top_p = 1.0f;
    o.repeat_penalty = 1.0f;
    o.tok = tok;
    o.eos = tok ? tfrt_tok_eos(tok) : -1;
    return o;
}

/* One run's state: the window of tokens the model holds, its last row of
 * logits, the sampler and the text stream. */
typedef struct {
    const TfrtLm *lm;
    const TfrtGenOptions *o;
    TfrtGenResult *r;
    int32_t *window;          /* lm->ctx + 1 tokens: a full prompt plus one */
    int n;
    float *row;               /* lm->vocab */
    unsigned char *seen;      /* lm->vocab, the repeat penalty's scratch */
    TfrtSampler sampler;
    TfrtStream stream;
    int local;                /* lm->split: the head's logits set LOCAL */
    TfrtLogitsTo logits_to;   /* ... and the setting to restore */
    char *err;
    size_t errlen;
} Gen;

static int fail(Gen *g, int status, const char *fmt, ...)
{
    va_list ap;
    if (g->err && g->errlen) {
        va_start(ap, fmt);
        vsnprintf(g->err, g->errlen, fmt, ap);
        va_end(ap);
    }
    g->r->stop = TFRT_GEN_ERROR;
    return status;
}

static int check_args(Gen *g, const TfrtLm *lm, const int32_t *prompt, int n,
                      const TfrtGenOptions *o)
{
    if (!lm || !o || !lm->prefill_last || (!prompt && n > 0))
        return fail(g, TFRT_ERR_ARG, "generate: NULL argument");
    if (lm->vocab < 1 || lm->ctx < 1)
        return fail(g, TFRT_ERR_ARG, "generate: vocab %d and ctx %d must be at least 1",
                    lm->vocab, lm->ctx);
    if (o->max_tokens < 0 || !(o->repeat_penalty > 0.0f) || isinf(o->repeat_penalty))
        return fail(g, TFRT_ERR_ARG, "generate: max_tokens %d must be >= 0 and repeat_penalty "
                    "%g > 0 and finite", o->max_tokens, (double)o->repeat_penalty);
    if (o->nstop > 0 && !o->tok)
        return fail(g, TFRT_ERR_ARG, "generate: stop strings need a tokenizer (text)");
    if (n < 1 || n > lm->ctx)
        return fail(g, TFRT_ERR_LENGTH, "the prompt has %d tokens; the model holds 1 to %d",
                    n, lm->ctx);
    return TFRT_OK;
}

static int set_up(Gen *g, const int32_t *prompt, int n)
{
    const TfrtLm *lm = g->lm;
    const TfrtGenOptions *o = g->o;
    if (tfrt_stream_init(&g->stream, o->stop, o->nstop, o->on_text, o->user) != TFRT_OK)
        return fail(g, TFRT_ERR_ARG, "generate: a stop string is NULL or empty");
    g->window = malloc(((size_t)lm->ctx + 1) * sizeof *g->window);
    g->row = malloc((size_t)lm->vocab * sizeof *g->row);
    g->seen = calloc((size_t)lm->vocab, 1);
    if (!g->window || !g->row || !g->seen ||
        tfrt_sampler_init(&g->sampler, lm->vocab, o->temperature, o->top_k, o->top_p, o->seed))
        return fail(g, TFRT_ERR_NOMEM, "generate: out of memory");
    memcpy(g->window, prompt, (size_t)n * sizeof *prompt);
    g->n = n;
    if ((g->local = lm->split != NULL))
        g->logits_to = lm->split->logits_to(TFRT_LOGITS_LOCAL);
    return TFRT_OK;
}

static void tear_down(Gen *g)
{
    if (g->local)
        g->lm->split->logits_to(g->logits_to);
    free(g->window);
    free(g->row);
    free(g->seen);
    tfrt_sampler_free(&g->sampler);
    tfrt_stream_free(&g->stream);
}

/* The model's status from a callback, with the step it came at. */
static int model_failed(Gen *g, int rc, int step)
{
    return fail(g, rc, "generating token %d: %s", step + 1, tfrt_strerror(rc));
}

static int unusable(Gen *g, int step, int32_t bad, float logit)
{
    return fail(g, TFRT_ERR_NAN, "generating token %d: the model's logit for token %d is %s "
                "(are the weights finite?); no token can be chosen",
                step + 1, (int)bad, isnan(logit) ? "NaN" : "+inf");
}

/* The same over this rank's share of a split vocabulary (lm->split). */
static int choose_split(Gen *g, int step, int32_t *next)
{
    const TfrtSplitOps *split = g->lm->split;
    int ranks = split->size(), vocab = g->lm->vocab, cols = (vocab + ranks - 1) / ranks;
    int64_t first = (int64_t)split->rank() * cols;
    int count = first >= vocab ? 0 : vocab - first < cols ? (int)(vocab - first) : cols;
    int32_t bad;
    float logit;
    if (g->o->repeat_penalty != 1.0f)
        tfrt_repeat_penalty_slice(g->row, (int)first, count, g->window, g->n, g->o->repeat_penalty, g->seen);
    *next = split->sample(&g->sampler, g->row, cols, vocab, &bad, &logit);
    return *next < 0 ? unusable(g, step, bad, logit) : TFRT_OK;
}

/* The next token from g->row into *next; an unusable row (NaN, +inf)
 * fails, naming the step. */
static int choose(Gen *g, int step, int32_t *next)
{
    if (g->lm->split)
        return choose_split(g, step, next);
    int32_t bad = tfrt_bad_logit(g->row, g->lm->vocab);
    if (bad >= 0)
        return unusable(g, step, bad, g->row[bad]);
    if (g->o->repeat_penalty != 1.0f)
        tfrt_repeat_penalty(g->row, g->lm->vocab, g->window, g->n, g->o->repeat_penalty, g->seen);
    *next = tfrt_sample(&g->sampler, g->row, g->lm->vocab);
    if (*next < 0)   /* the row was checked: only scratch can have failed */
        return fail(g, TFRT_ERR_NOMEM, "generating token %d: out of memory", step + 1);
    return TFRT_OK;
}

/* The token's text into the stream.  Returns 0 to go on, else stops with
 * g->r->stop set (or an error status in *status). */
static int put_text(Gen *g, int32_t id, int step, int *status)
{
    size_t len = 0;
    const char *bytes = g->o->tok ? tfrt_tok_decode_token(g->o->tok, id, &len) : NULL;
    if (!bytes)      /* no tokenizer, or an id beyond its vocabulary: no text */
        return 0;
    if (step == 0 && g->o->strip_first_space && len > 0 && bytes[0] == ' ')
        bytes++, len--;
    int rc = tfrt_stream_put(&g->stream, bytes, len);
    if (rc == 1) {
        g->r->stop = TFRT_GEN_STOP_STRING;
        g->r->stop_index = g->stream.found - 1;
    } else if (rc == 2) {
        g->r->stop = TFRT_GEN_CALLER;
    } else if (rc < 0) {
        *status = fail(g, TFRT_ERR_NOMEM, "generating token %d: out of memory", step + 1);
    }
    return rc != 0;
}

/* The window after a new token: full, it keeps its newer half and runs it
 * again from position 0; else the model steps over the new token (or, with
 * no cache, reruns the window). */
static int advance(Gen *g, int step)
{
    const TfrtLm *lm = g->lm;
    int rc, slid = g->n >= lm->ctx;
    if (slid) {
        int keep = lm->ctx / 2 > 0 ? lm->ctx / 2 : 1;
        memmove(g->window, g->window + g->n - keep, (size_t)keep * sizeof *g->window);
        g->n = keep;
        g->r->slides++;
    }
    if (lm->step && !slid)
        rc = lm->step(lm->model, g->window[g->n - 1], g->row);
    else
        rc = lm->prefill_last(lm->model, g->window, g->n, g->row);
    return rc == TFRT_OK ? TFRT_OK : model_failed(g, rc, step);
}

static int loop(Gen *g)
{
    const TfrtGenOptions *o = g->o;
    int status = g->lm->prefill_last(g->lm->model, g->window, g->n, g->row);
    if (status != TFRT_OK)
        return model_failed(g, status, 0);
    for (int step = 0; step < o->max_tokens; step++) {
        int32_t next = -1;
        if ((status = choose(g, step, &next)) != TFRT_OK)
            return status;
        if (next == o->eos) {
            g->r->stop = TFRT_GEN_EOS;
            return TFRT_OK;
        }
        g->r->generated++;
        g->window[g->n++] = next;
        if (o->on_token && o->on_token(o->user, next)) {
            g->r->stop = TFRT_GEN_CALLER;
            return TFRT_OK;
        }
        if (put_text(g, next, step, &status))
            return status;
        if (step + 1 < o->max_tokens && (status = advance(g, step + 1)) != TFRT_OK)
            return status;
    }
    return TFRT_OK;
}

int tfrt_generate(const TfrtLm *lm, const int32_t *prompt, int n,
                  const TfrtGenOptions *options, TfrtGenResult *result,
                  char *err, size_t errlen)
{
    TfrtGenResult dummy;
    Gen g;
    memset(&g, 0, sizeof g);
    g.r = result ? result : &dummy;
    memset(g.r, 0, sizeof *g.r);
    g.r->stop = TFRT_GEN_MAX_TOKENS;
    g.r->prompt_tokens = n;
    g.lm = lm;
    g.o = options;
    g.err = err;
    g.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    int status = check_args(&g, lm, prompt, n, options);
    if (status == TFRT_OK)
        status = set_up(&g, prompt, n);
    if (status == TFRT_OK)
        status = loop(&g);
    /* what is held goes out, also after an error: it was generated */
    if (tfrt_stream_finish(&g.stream) == 2 && g.r->stop != TFRT_GEN_ERROR)
        g.r->stop = TFRT_GEN_CALLER;
    tear_down(&g);
    return status;
}
