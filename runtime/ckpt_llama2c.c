/*
 * ckpt_llama2c.c - llama2.c's checkpoints, read as named tensors.
 *
 * llama2.c (Karpathy's Llama 2 in one C file) writes a model as a header
 * and float arrays back to back, in one of three layouts:
 *
 *   legacy     7 int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *              vocab_size (negative: the classifier is not the embedding
 *              table), seq_len; then fp32 arrays, stacked over layers:
 *              embeddings, attention norms, wq, wk, wv, wo, ffn norms, w1,
 *              w2, w3, final norm, rope's cos and sin tables (skipped),
 *              the classifier when not shared.
 *   version 1  "ak42", int32 1, the 7 ints, uint8 shared, zeros to byte
 *              256; fp32: attention norms, ffn norms, final norm,
 *              embeddings, wq, wk, wv, wo, w1, w2, w3, [classifier].
 *   version 2  the same header with int32 group_size after the flag; fp32
 *              norms as in version 1, then each matrix of version 1's
 *              list as Q8_0: int8 values, then one fp32 scale per group.
 *              We widen these to fp32 at open (4 bytes a weight).
 *
 * Matrices are stored as PyTorch's Linear weights, (out, in), and the
 * tensors get the names of Meta's Llama code (layers.N.attention.wq.weight,
 * ...), so models/llama2c.model binds them.  The header is checked (every
 * size positive and bounded, heads dividing dim) and the file must be
 * exactly as long as the header says, before any array is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_internal.h"

const char *const llama2c_keys[LLAMA2C_KEYS] = {
    "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"
};

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

void llama2c_values(const Llama2cHeader *h, int32_t out[LLAMA2C_KEYS])
{
    out[0] = h->dim;
    out[1] = h->hidden_dim;
    out[2] = h->n_layers;
    out[3] = h->n_heads;
    out[4] = h->n_kv_heads;
    out[5] = h->vocab_size;
    out[6] = h->seq_len;
}

/* Sizes in floats (int8 values for Q8_0), from a checked header. */
typedef struct {
    uint64_t emb, norm, wq, wkv, w13, w2, rope;
} Sizes;

static Sizes sizes(const Llama2cHeader *h)
{
    uint64_t d = (uint64_t)h->dim, hd = (uint64_t)h->hidden_dim;
    uint64_t kv = d * (uint64_t)h->n_kv_heads / (uint64_t)h->n_heads;
    return (Sizes){(uint64_t)h->vocab_size * d, d, d * d, kv * d, hd * d, d * hd,
                   (uint64_t)h->seq_len * (d / (uint64_t)h->n_heads)};
}

/* Bytes of one matrix of n weights in the file's format. */
static uint64_t matrix_bytes(const Llama2cHeader *h, uint64_t n)
{
    return h->version == 2 ? n + 4 * (n / (uint64_t)h->group_size) : 4 * n;
}

static uint64_t expected_size(const Llama2cHeader *h)
{
    Sizes s = sizes(h);
    uint64_t L = (uint64_t)h->n_layers;
    uint64_t norms = 4 * (2 * L * s.norm + s.norm);
    uint64_t mats = matrix_bytes(h, s.emb) +
                    L * (2 * matrix_bytes(h, s.wq) + 2 * matrix_bytes(h, s.wkv) +
                         2 * matrix_bytes(h, s.w13) + matrix_bytes(h, s.w2));
    if (!h->shared)
        mats += matrix_bytes(h, s.emb);
    if (h->version == 0)
        return 28 + norms + mats + 4 * s.rope;
    return 256 + norms + mats;
}

static int bounded(const Llama2cHeader *h)
{
    if (h->dim < 1 || h->dim > (1 << 16) || h->hidden_dim < 1 || h->hidden_dim > (1 << 20) ||
        h->n_layers < 1 || h->n_layers > 4096 || h->n_heads < 1 || h->dim % h->n_heads ||
        h->n_kv_heads < 1 || h->n_kv_heads > h->n_heads || h->n_heads % h->n_kv_heads ||
        (h->dim / h->n_heads) % 2 || h->vocab_size < 1 || h->vocab_size > (1 << 24) ||
        h->seq_len < 1 || h->seq_len > (1 << 24))
        return 0;
    if (h->version == 2) {
        Sizes s = sizes(h);
        uint64_t g = (uint64_t)h->group_size;
        if (h->group_size < 1 || s.emb % g || s.wq % g || s.wkv % g || s.w13 % g || s.w2 % g)
            return 0;
    }
    return 1;
}

int llama2c_header(const unsigned char *map, size_t size, Llama2cHeader *h)
{
    const unsigned char *p = map;
    memset(h, 0, sizeof *h);
    if (size >= 256 && memcmp(map, "\x32\x34\x6b\x61", 4) == 0) {   /* 0x616b3432 */
        h->version = rd_i32(map + 4);
        if (h->version != 1 && h->version != 2)
            return 0;
        p = map + 8;
        h->shared = map[36] != 0;
        if (h->version == 2)
            h->group_size = rd_i32(map + 37);
    } else if (size < 28) {
        return 0;
    }
    h->dim = rd_i32(p);
    h->hidden_dim = rd_i32(p + 4);
    h->n_layers = rd_i32(p + 8);
    h->n_heads = rd_i32(p + 12);
    h->n_kv_heads = rd_i32(p + 16);
    h->vocab_size = rd_i32(p + 20);
    h->seq_len = rd_i32(p + 24);
    if (h->version == 0) {
        h->shared = h->vocab_size > 0;
        if (h->vocab_size < 0 && h->vocab_size != INT32_MIN)
            h->vocab_size = -h->vocab_size;
    }
    return bounded(h) && expected_size(h) == (uint64_t)size;
}

/* ---- naming the arrays ------------------------------------------------------- */

typedef struct {
    TfrtSafetensors *st;
    const Llama2cHeader *h;
    const unsigned char *at;     /* the next array */
    char *err;
    size_t errlen;
} Reader;

static int add(Reader *r, const char *name, int ndim, int64_t a, int64_t b, const float *data)
{
    int64_t shape[2] = {a, b};
    size_t n = (size_t)a * (size_t)(ndim == 2 ? b : 1);
    if (st_add_tensor(r->st, name, TFRT_DT_F32, ndim, shape, data, 4 * n)) {
        snprintf(r->err, r->errlen, "out of memory");
        return TFRT_ERR_NOMEM;
    }
    return TFRT_OK;
}

/* The next fp32 array of n floats (a view into the mapping). */
static const float *take_f32(Reader *r, uint64_t n)
{
    const float *p = (const float *)(const void *)r->at;
    r->at += 4 * n;
    return p;
}

/* The next matrix: fp32 in place, or Q8_0 widened into memory st owns. */
static const float *take_matrix(Reader *r, uint64_t n)
{
    const unsigned char *q = r->at;
    uint64_t g = (uint64_t)r->h->group_size;
    float *w;
    if (r->h->version != 2)
        return take_f32(r, n);
    r->at += n + 4 * (n / g);
    if (!(w = malloc(n ? 4 * n : 1)) || st_keep(r->st, w))
        return NULL;
    for (uint64_t k = 0; k < n / g; k++) {
        float scale;
        memcpy(&scale, q + n + 4 * k, 4);
        for (uint64_t i = k * g; i < (k + 1) * g; i++)
            w[i] = (float)(signed char)q[i] * scale;
    }
    return w;
}

/* Per-layer slices of a stacked array: layers.N.<what>.weight. */
static int add_layers(Reader *r, const char *what, int ndim, int64_t a, int64_t b, int matrix)
{
    uint64_t n = (uint64_t)a * (uint64_t)(ndim == 2 ? b : 1);
    char name[96];
    for (int i = 0; i < r->h->n_layers; i++) {
        const float *p = matrix ? take_matrix(r, n) : take_f32(r, n);
        int rc;
        snprintf(name, sizeof name, "layers.%d.%s.weight", i, what);
        if (!p || (rc = add(r, name, ndim, a, b, p)))
            return p ? rc : (snprintf(r->err, r->errlen, "out of memory"), TFRT_ERR_NOMEM);
    }
    return TFRT_OK;
}

int llama2c_open(TfrtSafetensors *st, const char *path, const unsigned char *map,
                 size_t size, const Llama2cHeader *h, char *err, size_t errlen)
{
    Reader r = {st, h, map + (h->version ? 256 : 28), err, errlen};
    Sizes s = sizes(h);
    int64_t d = h->dim, hd = h->hidden_dim, v = h->vocab_size;
    int64_t kv = d * h->n_kv_heads / h->n_heads;
    const float *emb, *out, *norm;
    int rc = TFRT_OK;
    (void)size;
    (void)path;

    if (h->version == 0) {
        emb = take_f32(&r, s.emb);
        if ((rc = add(&r, "tok_embeddings.weight", 2, v, d, emb)) ||
            (rc = add_layers(&r, "attention_norm", 1, d, 0, 0)))
            return rc;
    } else {
        if ((rc = add_layers(&r, "attention_norm", 1, d, 0, 0)) ||
            (rc = add_layers(&r, "ffn_norm", 1, d, 0, 0)))
            return rc;
        norm = take_f32(&r, s.norm);
        if ((rc = add(&r, "norm.weight", 1, d, 0, norm)))
            return rc;
        if (!(emb = take_matrix(&r, s.emb)))
            return snprintf(err, errlen, "out of memory"), TFRT_ERR_NOMEM;
        if ((rc = add(&r, "tok_embeddings.weight", 2, v, d, emb)))
            return rc;
    }
    if ((rc = add_layers(&r, "attention.wq", 2, d, d, 1)) ||
        (rc = add_layers(&r, "attention.wk", 2, kv, d, 1)) ||
        (rc = add_layers(&r, "attention.wv", 2, kv, d, 1)) ||
        (rc = add_layers(&r, "attention.wo", 2, d, d, 1)))
        return rc;
    if (h->version == 0 && (rc = add_layers(&r, "ffn_norm", 1, d, 0, 0)))
        return rc;
    if ((rc = add_layers(&r, "feed_forward.w1", 2, hd, d, 1)) ||
        (rc = add_layers(&r, "feed_forward.w2", 2, d, hd, 1)) ||
        (rc = add_layers(&r, "feed_forward.w3", 2, hd, d, 1)))
        return rc;
    if (h->version == 0) {
        norm = take_f32(&r, s.norm);
        if ((rc = add(&r, "norm.weight", 1, d, 0, norm)))
            return rc;
        take_f32(&r, s.rope);          /* rope's cos and sin: computed, not read */
    }
    out = h->shared ? emb : take_matrix(&r, s.emb);
    if (!out)
        return snprintf(err, errlen, "out of memory"), TFRT_ERR_NOMEM;
    return add(&r, "output.weight", 2, v, d, out);
}
