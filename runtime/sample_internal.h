/*
 * sample_internal.h - the sampler's steps that sample.c (one row) and
 * sample_split.c (a vocabulary split over ranks) share (internal).
 *
 * Both build candidates, (weight, id) pairs of weight > 0, in the
 * sampler's scratch, and hand them to the same top-k / top-p / draw, so
 * that a split row chooses what the whole row would.
 */
#ifndef TFRT_SAMPLE_INTERNAL_H
#define TFRT_SAMPLE_INTERNAL_H

#include <stdint.h>

#include "tfrt_text.h"

struct TfrtCandidate {
    float w;        /* unnormalized probability, exp((logit - max) / T) */
    int32_t id;
};

/* Scratch for vocab candidates.  TFRT_OK or TFRT_ERR_NOMEM. */
int tfrt_sampler_reserve(TfrtSampler *s, int vocab);

/* Candidates of weight > 0 from logits x[0..count), token ids first..,
 * appended at s->cand[n..) (reserved); returns the new count.  max is the
 * whole row's largest logit: the weights are then the ones the whole row
 * gives, whichever rank computes them. */
int tfrt_sampler_weigh(TfrtSampler *s, int n, const float *x, int count, int64_t first, float max);

/* Moves the k best of c[0..n) (weight, then the lower id) into c[0..k), in
 * heap order, in O(n log k).  1 <= k <= n. */
void tfrt_sampler_keep_top_k(struct TfrtCandidate *c, int n, int k);

/* Top-k, top-p and the draw over s->cand[0..n), which holds every token
 * of weight > 0 in id order, or (n > top_k) at least the top_k best in
 * any order; best is the row's argmax (returned when top-p keeps only
 * it).  The token drawn. */
int32_t tfrt_sampler_choose(TfrtSampler *s, int n, int32_t best);

#endif
