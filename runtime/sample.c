/*
 * sample.c - choosing the next token from logits: greedy, temperature,
 * top-k, top-p, with a seeded xorshift64* generator.
 *
 * The order of the steps and their edge cases are stated in tfrt_text.h.
 * One call works in the sampler's candidate buffer (vocab entries) and
 * allocates nothing.  Weights are exp((logit - max) / temperature), so the
 * largest is exactly 1 and none overflows however small the temperature.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample_internal.h"

typedef struct TfrtCandidate Candidate;

/* ---- the generator ------------------------------------------------------ */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t xorshift64star(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void tfrt_sampler_seed(TfrtSampler *s, uint64_t seed)
{
    s->rng = splitmix64(seed);
    if (s->rng == 0)        /* xorshift would stay at 0 forever */
        s->rng = 0x9E3779B97F4A7C15ull;
}

float tfrt_sampler_uniform(TfrtSampler *s)
{
    return (float)(xorshift64star(&s->rng) >> 40) * (1.0f / 16777216.0f);
}

/* 53 random bits in [0, 1), for the draw itself. */
static double uniform53(TfrtSampler *s)
{
    return (double)(xorshift64star(&s->rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- set-up ------------------------------------------------------------- */

int tfrt_sampler_reserve(TfrtSampler *s, int vocab)
{
    Candidate *c;

    if (vocab <= s->cap)
        return TFRT_OK;
    if (!(c = realloc(s->cand, (size_t)vocab * sizeof *c)))
        return TFRT_ERR_NOMEM;
    s->cand = c;
    s->cap = vocab;
    return TFRT_OK;
}

int tfrt_sampler_init(TfrtSampler *s, int vocab, float temperature,
                      int top_k, float top_p, uint64_t seed)
{
    if (!s)
        return TFRT_ERR_ARG;
    memset(s, 0, sizeof *s);
    s->temperature = temperature;
    s->top_k = top_k;
    s->top_p = top_p;
    tfrt_sampler_seed(s, seed);
    if (vocab < 1)
        return TFRT_ERR_ARG;
    return tfrt_sampler_reserve(s, vocab);
}

void tfrt_sampler_free(TfrtSampler *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->row);
    s->cand = NULL;
    s->row = NULL;
    s->cap = 0;
    s->row_cap = 0;
}

/* ---- the steps ---------------------------------------------------------- */

int32_t tfrt_bad_logit(const float *x, int n)
{
    for (int i = 0; i < n; i++)
        if (isnan(x[i]) || x[i] == INFINITY)
            return i;
    return -1;
}

int32_t tfrt_argmax(const float *x, int n)
{
    int32_t best = n > 0 ? 0 : -1;

    if (tfrt_bad_logit(x, n) >= 0)
        return -1;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* a ranks before b: more probable, or as probable with a lower id. */
static int before(const Candidate *a, const Candidate *b)
{
    return a->w > b->w || (a->w == b->w && a->id < b->id);
}

static int cmp_rank(const void *pa, const void *pb)
{
    const Candidate *a = pa, *b = pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Restores the heap below c[i], whose root is the worst candidate kept. */
static void sift_down(Candidate *c, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, worst = i;
        if (l < n && before(&c[worst], &c[l]))
            worst = l;
        if (l + 1 < n && before(&c[worst], &c[l + 1]))
            worst = l + 1;
        if (worst == i)
            return;
        Candidate tmp = c[i];
        c[i] = c[worst];
        c[worst] = tmp;
        i = worst;
    }
}

void tfrt_sampler_keep_top_k(Candidate *c, int n, int k)
{
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(c, k, i);
    for (int i = k; i < n; i++) {
        if (before(&c[i], &c[0])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
}

/* Keeps the smallest best-first prefix of c[0..n) whose weight reaches
 * top_p of total; sorts c.  Returns the new count, 0 when only the argmax
 * can be kept.  Tokens under (1 - top_p) / (n - 1) of the total can never
 * be in the nucleus (together they weigh less than 1 - top_p), so they are
 * dropped before sorting. */
static int keep_top_p(Candidate *c, int n, float top_p, double *total)
{
    double cutoff = n > 1 ? (1.0 - top_p) / (n - 1) * *total : 0.0;
    double cum = 0.0;
    int m = 0;

    for (int i = 0; i < n; i++)
        if (c[i].w >= cutoff)
            c[m++] = c[i];
    qsort(c, (size_t)m, sizeof *c, cmp_rank);
    for (int i = 0; i < m; i++) {
        cum += c[i].w;
        if (cum >= top_p * *total) {
            *total = cum;
            return i + 1;
        }
    }
    *total = cum;
    return m;
}

/* n >= 1: the best token always has weight 1. */
static int32_t draw(TfrtSampler *s, const Candidate *c, int n, double total)
{
    double u = uniform53(s) * total, cum = 0.0;

    for (int i = 0; i < n; i++) {
        cum += c[i].w;
        if (u < cum)
            return c[i].id;
    }
    return c[n - 1].id;   /* u landed in rounding slack past the sum */
}

int tfrt_sampler_weigh(TfrtSampler *s, int n, const float *x, int count, int64_t first, float max)
{
    for (int i = 0; i < count; i++) {
        /* divide, not multiply by 1/T: 1/T may overflow to inf, and
         * 0 * inf would turn the best token's weight into NaN */
        float w = expf((x[i] - max) / s->temperature);
        if (w > 0.0f) {
            s->cand[n].w = w;
            s->cand[n++].id = (int32_t)(first + i);
        }
    }
    return n;
}

/* The top_k kept are sorted best first, so that their order, and so the
 * draw, does not depend on the order they came in: a vocabulary split
 * over ranks merges its candidates to the same (tfrt_sample_split). */
int32_t tfrt_sampler_choose(TfrtSampler *s, int n, int32_t best)
{
    double total = 0.0;
    if (s->top_k > 0 && s->top_k < n) {
        tfrt_sampler_keep_top_k(s->cand, n, s->top_k);
        n = s->top_k;
        qsort(s->cand, (size_t)n, sizeof *s->cand, cmp_rank);
    }
    for (int i = 0; i < n; i++)
        total += s->cand[i].w;
    if (s->top_p < 1.0f && (n = keep_top_p(s->cand, n, s->top_p, &total)) == 0)
        return best;
    return draw(s, s->cand, n, total);
}

int32_t tfrt_sample(TfrtSampler *s, const float *logits, int vocab)
{
    int32_t best = tfrt_argmax(logits, vocab);

    /* best < 0: vocab < 1, or a logit is NaN or +inf (tfrt_argmax) */
    if (best < 0 || s->temperature <= 0.0f || s->top_k == 1)
        return best;
    if (logits[best] == -INFINITY)
        return best;       /* every token masked: as greedy */
    if (tfrt_sampler_reserve(s, vocab))
        return -1;
    return tfrt_sampler_choose(s, tfrt_sampler_weigh(s, 0, logits, vocab, 0, logits[best]), best);
}

/* ---- the repeat penalty ------------------------------------------------- */

void tfrt_repeat_penalty_slice(float *x, int first, int count, const int32_t *tokens, int n,
                               float penalty, unsigned char *seen)
{
    for (int i = 0; i < n; i++) {
        int64_t t = (int64_t)tokens[i] - first;
        if (t < 0 || t >= count || seen[t])
            continue;
        seen[t] = 1;
        x[t] = x[t] > 0.0f ? x[t] / penalty : x[t] * penalty;
    }
    for (int i = 0; i < n; i++) {   /* back to all 0, in time linear in n */
        int64_t t = (int64_t)tokens[i] - first;
        if (t >= 0 && t < count)
            seen[t] = 0;
    }
}

void tfrt_repeat_penalty(float *logits, int vocab, const int32_t *tokens, int n,
                         float penalty, unsigned char *seen)
{
    tfrt_repeat_penalty_slice(logits, 0, vocab, tokens, n, penalty, seen);
}
