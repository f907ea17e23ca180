/*
 * model_limits.h - how much a model file may ask of the compiler, and the
 * checked arithmetic that holds it to that (docs/limits.md).
 *
 * The front end enforces every limit with a located error, so that what
 * comes after it may compute in int64_t without checking: each dimension
 * is at most 2^30, each tensor at most 2^40 bytes, and the totals (weights,
 * the sum of every intermediate buffer, which bounds any arena plan, and
 * the KV cache) at most 2^44 bytes each, FLOPs of a forward pass at most
 * 2^60, and the graph at most 10^6 nodes (< 2^20).  Any sum of those,
 * any offset in a plan and any product of a tensor's bytes by a node count
 * (a buffer's size times its lifetime) fits in int64_t.
 *
 * The limits that only bound work (file size, expression depth, names,
 * graph size, unrolled statements) live in one struct, so that a fuzz
 * harness can lower them to keep every input fast; tfc uses the defaults.
 */
#ifndef TFC_MODEL_LIMITS_H
#define TFC_MODEL_LIMITS_H

#include <stdint.h>

/* Sizes: fixed, since the passes and the emitter rely on them. */
#define LIMIT_DIM           ((int64_t)1 << 30)   /* one dimension, one input length */
#define LIMIT_TENSOR_BYTES  ((int64_t)1 << 40)   /* one tensor at its longest */
#define LIMIT_WEIGHT_BYTES  ((int64_t)1 << 44)   /* every weight, float32 */
#define LIMIT_BUFFER_BYTES  ((int64_t)1 << 44)   /* every intermediate, no reuse */
#define LIMIT_CACHE_BYTES   ((int64_t)1 << 44)   /* keys and values of every causal attention */
#define LIMIT_FLOPS         ((int64_t)1 << 60)   /* one forward pass at the longest inputs */

/* Work: defaults below; a harness may lower them. */
typedef struct {
    int64_t file_bytes;      /* a model file */
    int expr_depth;          /* operators and calls nested in one expression */
    int name_bytes;          /* an identifier */
    int string_bytes;        /* a string (a checkpoint name, before {i} is filled in) */
    int64_t repeat_count;    /* iterations of one repeat */
    int64_t nodes;           /* graph nodes after unrolling */
    int64_t statements;      /* statements run, repeat iterations included */
} Limits;

extern Limits tfc_limits;

/* a * b and a + b for a, b >= 0; -1 when the result would exceed limit
 * (never overflows, whatever the operands). */
int64_t limit_mul(int64_t a, int64_t b, int64_t limit);
int64_t limit_add(int64_t a, int64_t b, int64_t limit);

#endif
