/*
 * sample_split.c - choosing a token when the vocabulary is split over the
 * ranks of a tensor-parallel job (tfc --tp N): tfrt_sample_split
 * (tfrt_text.h), and tfrt_split_ops for tfrt_generate (tfrt_generate.h).
 *
 * Each rank holds its logits of tokens [rank*cols, rank*cols + cols).
 * One MPI_MAXLOC all-reduce of (logit, id) gives every rank the row's
 * argmax (greedy needs nothing else) and its maximum, with which every
 * rank weighs its own tokens exactly as the whole row would; top-k then
 * merges the ranks' best candidates, and only top-p alone gathers the
 * row (docs/parallelism.md, "Choosing a token").
 *
 * A file of its own because it calls the collectives: a program that
 * samples in one process links sample.c alone, without MPI.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample_internal.h"
#include "tfrt_generate.h"

/* This rank's best logit as (value, token id) for the MAXLOC all-reduce:
 * the largest, the lowest id on ties; a NaN or +inf logit as (+inf, its
 * id), which wins, the lowest id first; no columns, (-inf, INT32_MAX),
 * which loses to every rank that has some. */
static void local_best(const float *x, int count, int64_t first, float *v, int *id)
{
    int32_t bad = tfrt_bad_logit(x, count), a = bad < 0 ? tfrt_argmax(x, count) : -1;
    *v = -INFINITY;
    *id = INT32_MAX;
    if (bad >= 0)
        *v = INFINITY, *id = (int)(first + bad);
    else if (a >= 0)
        *v = x[a], *id = (int)(first + a);
}

/* Grows the scratch on every rank or ends the job: the other ranks are
 * already on their way into the next collective. */
static void reserve_or_abort(TfrtSampler *s, int64_t n)
{
    if (n > INT32_MAX / 2 || tfrt_sampler_reserve(s, (int)n))
        tfrt_comm_abort("out of memory for the sampler's candidates");
}

/* Top-k: each rank's top_k + 1 best candidates (padded with id -1) are
 * all-gathered; the merge holds more than top_k exactly when the whole
 * row has more than top_k tokens of weight > 0, and then the top_k best
 * of all; else every such token, in id order (ranks in order, each
 * rank's in id order, since none had more than top_k). */
static int32_t sample_top_k_split(TfrtSampler *s, const float *x, int count, int64_t first, float max,
                                  int32_t best)
{
    int k1 = s->top_k + 1, ranks = tfrt_comm_size();
    reserve_or_abort(s, count > (int64_t)ranks * k1 ? count : (int64_t)ranks * k1);
    int n = tfrt_sampler_weigh(s, 0, x, count, first, max);
    if (n > k1) {
        tfrt_sampler_keep_top_k(s->cand, n, k1);
        n = k1;
    }
    struct TfrtCandidate *mine = s->cand + (size_t)tfrt_comm_rank() * (size_t)k1;
    memmove(mine, s->cand, (size_t)n * sizeof *mine);
    for (int i = n; i < k1; i++)
        mine[i] = (struct TfrtCandidate){0.0f, -1};
    tfrt_comm_allgather(s->cand, k1 * (int)sizeof *mine);
    n = 0;
    for (int i = 0; i < ranks * k1; i++)
        if (s->cand[i].id >= 0)
            s->cand[n++] = s->cand[i];
    return tfrt_sampler_choose(s, n, best);
}

/* Top-p alone or temperature alone needs the whole row: all-gathered. */
static int32_t sample_gathered(TfrtSampler *s, const float *x, int cols, int vocab)
{
    size_t need = (size_t)tfrt_comm_size() * (size_t)cols;
    if (need > s->row_cap) {
        float *row = realloc(s->row, need * sizeof *row);
        if (!row)
            tfrt_comm_abort("out of memory for the gathered logits");
        s->row = row;
        s->row_cap = need;
    }
    memcpy(s->row + (size_t)tfrt_comm_rank() * (size_t)cols, x, (size_t)cols * sizeof *x);
    tfrt_comm_allgather(s->row, cols * (int)sizeof *x);
    return tfrt_sample(s, s->row, vocab);
}

int32_t tfrt_sample_split(TfrtSampler *s, const float *x, int cols, int vocab, int32_t *bad_id,
                          float *bad_logit)
{
    int64_t first = (int64_t)tfrt_comm_rank() * cols;
    int count = first >= vocab ? 0 : vocab - first < cols ? (int)(vocab - first) : cols;
    float v;
    int best;
    local_best(x, count, first, &v, &best);
    tfrt_comm_argmax(&v, &best);
    *bad_id = -1;
    if (v == INFINITY) {   /* the lowest bad id: its rank says what it is */
        float b = best >= first && best < first + count ? x[best - first] : 0.0f;
        tfrt_comm_broadcast(&b, (int)sizeof b, (int)(best / cols));
        *bad_id = best;
        *bad_logit = b;
        return -1;
    }
    if (s->temperature <= 0.0f || s->top_k == 1 || v == -INFINITY)
        return best;
    /* candidates, 8 bytes each, while they are fewer bytes than the row */
    if (s->top_k > 0 && (int64_t)(s->top_k + 1) * 2 < cols)
        return sample_top_k_split(s, x, count, first, v, best);
    return sample_gathered(s, x, cols, vocab);
}

const TfrtSplitOps tfrt_split_ops = {tfrt_comm_rank, tfrt_comm_size, tfrt_comm_logits_to, tfrt_sample_split};
