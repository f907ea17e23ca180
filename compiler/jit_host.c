/*
 * jit_host.c - the entry points of a model run through the LLVM JIT.
 *
 * What the generated C does around its kernel programs (emit_c.c: open,
 * close, the argument checks of forward, encode/decode, prefill and step,
 * copy_state), done here in tfc's own C over the same tables: the weight
 * specs, the packed parts of kprog_packed_parts, the cache's slots.  The
 * bodies, the kernel programs, are the compiled functions; they find the
 * model's memory in a JitCtx.  The functions follow the fixed signatures of
 * Loaded (run.c), which carry no model description, so the compiled model
 * is one per process: `host` below.
 */
#include "jit.h"

#include <stdlib.h>
#include <string.h>

enum { B_FORWARD, B_ENCODE, B_DECODE, B_TOKENS, B_STEP, B_COUNT };
static const char *const body_names[B_COUNT] = {"tfc_forward", "tfc_encode", "tfc_decode",
                                                "tfc_tokens", "tfc_step"};

static struct {
    const Graph *g;
    Jit *jit;
    int flags;                   /* JIT_DUMP, JIT_POISON */
    int verbose;
    JitEntry entry[B_COUNT];     /* the programs; kp NULL: not this model's */
    JitBody body[B_COUNT];       /* compiled on first use, else NULL */
    TfrtWeightSpec *specs;
    TfrtWeightSplit *splits;     /* by spec: --tp's cuts */
    int nspecs;
    TfrtPackedPart *parts;
    int nparts;
    TfrtPackedPart *q8parts;     /* kprog_q8_parts */
    int nq8;
    int64_t *cache_cols;         /* per slot */
    int nslots;
    int64_t kv_per_token;        /* bytes */
} host;

typedef struct {
    TfrtSafetensors *file;
    TfrtBindings *bindings;
    const float **weights;       /* by node id */
    const float **packed;        /* host.parts packed, or NULL */
    TfrtPacking packing;         /* when they are packed */
    const void **q8;             /* host.q8parts in int8 */
    void *q8_data;
    TfrtPool *pool;
    unsigned char *arena;
    float *cache;
    float **slot;
    int ctx, pos;
    int encoded;
    int len[MAX_INPUTS + 1], valid[MAX_INPUTS + 1];
} JitModel;

/* ---- the programs ------------------------------------------------------------ */

/* The bodies the model's entry points run, as emit_c.c chooses them. */
static int entries(const Graph *g, JitEntry *e, int *which)
{
    int n = 0, dec = g->enc_end;
    if (!g->enc_end && !g->cache_sym)
        e[n] = (JitEntry){body_names[B_FORWARD], kprog_build(g, 0, g->count, 0)}, which[n++] = B_FORWARD;
    if (g->enc_end)
        e[n] = (JitEntry){body_names[B_ENCODE], kprog_build(g, 0, g->enc_end, 0)}, which[n++] = B_ENCODE;
    if (g->enc_end && !g->cache_sym)
        e[n] = (JitEntry){body_names[B_DECODE], kprog_build(g, dec, g->count, 0)}, which[n++] = B_DECODE;
    if (g->cache_sym) {
        e[n] = (JitEntry){body_names[B_TOKENS], kprog_build(g, dec, g->count, 0)}, which[n++] = B_TOKENS;
        e[n] = (JitEntry){body_names[B_STEP], kprog_build(g, dec, g->count, KP_STEP)}, which[n++] = B_STEP;
    }
    return n;
}

void jit_dump_model(const Graph *g, FILE *out)
{
    JitEntry e[B_COUNT];
    int which[B_COUNT];
    jit_llvm_dump(e, entries(g, e, which), out);
}

static TfrtPackedPart *part_table(const KPackedPart *parts, int n)
{
    TfrtPackedPart *t = tfc_alloc((size_t)(n + 1) * sizeof *t);
    for (int i = 0; i < n; i++)
        t[i] = (TfrtPackedPart){(size_t)parts[i].weight * sizeof(const float *), (size_t)parts[i].first,
                                (int)parts[i].in, (int)parts[i].rows, (int)parts[i].ldw, parts[i].layout};
    return t;
}

/* The weight specs and packed parts of emit_c.c, with a weight's pointer
 * at weights[node id] instead of a field of a Weights struct. */
static void tables(const Graph *g)
{
    host.specs = tfc_alloc((size_t)(g->count + 1) * sizeof *host.specs);
    host.splits = tfc_alloc((size_t)(g->count + 1) * sizeof *host.splits);
    host.nspecs = 0;
    host.cache_cols = tfc_alloc((size_t)(g->count + 1) * sizeof *host.cache_cols);
    host.nslots = 0;
    host.kv_per_token = 0;
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (!n->dead && n->op == OP_CACHE) {
            host.cache_cols[host.nslots++] = n->shape.d[1].n;
            host.kv_per_token += dtype_bytes(n->dtype, n->shape.d[1].n);
        }
        if (n->dead || n->op != OP_WEIGHT)
            continue;
        Shape stored = shard_stored_shape(n);
        TfrtWeightSpec *s = &host.specs[host.nspecs++];
        s->name = n->attr.weight.ckpt;
        s->ndim = stored.ndim;
        for (int d = 0; d < stored.ndim; d++)
            s->shape[d] = stored.d[d].n;
        s->offset = (size_t)i * sizeof(const float *);
        s->first = (size_t)n->attr.weight.first;
        s->quantized = kprog_spec_quantized(g, i);
        TfrtWeightSplit *sp = &host.splits[host.nspecs - 1];   /* --tp: this rank's slice */
        sp->axis = n->attr.weight.split_axis;
        sp->ways = g->tp;
        sp->packed = n->attr.weight.split_packed;
        for (int p = 0; p < MAX_PARTS; p++)
            sp->parts[p] = n->attr.weight.split_parts[p];
    }
    KPackedPart *packed = kprog_packed_parts(g, &host.nparts);
    KPackedPart *q8 = kprog_q8_parts(g, &host.nq8);
    host.parts = part_table(packed, host.nparts);
    host.q8parts = part_table(q8, host.nq8);
}

/* ---- open and close --------------------------------------------------------------- */

static void jit_close(void *mv)
{
    JitModel *m = mv;
    if (!m)
        return;
    tfrt_pool_destroy(m->pool);
    free(m->packing.data);
    free(m->q8_data);
    tfrt_bindings_free(m->bindings);
    tfrt_st_close(m->file);
    free(m->arena);
    free(m->cache);
    free(m->slot);
    free(m->packed);
    free(m->q8);
    free(m->weights);
    free(m);
}

/* The KV cache of ctx tokens (0: the longest context), one slot a layer's
 * keys or values. */
static int open_cache(JitModel *m, int ctx)
{
    const Graph *g = host.g;
    int max = (int)g->syms[g->cache_sym].max;
    if (ctx < 0 || ctx > max)
        return TFRT_ERR_ARG;
    m->ctx = ctx ? ctx : max;
    m->cache = calloc(1, (size_t)m->ctx * (size_t)host.kv_per_token);
    m->slot = calloc((size_t)host.nslots + 1, sizeof *m->slot);
    if (!m->cache || !m->slot)
        return TFRT_ERR_NOMEM;
    for (size_t i = 0, at = 0; i < (size_t)host.nslots; i++) {
        m->slot[i] = m->cache + at;
        at += (size_t)m->ctx * (size_t)host.cache_cols[i];
    }
    return TFRT_OK;
}

static int jit_open(void **out, const char *path, int ctx, char *err, size_t errlen)
{
    const Graph *g = host.g;
    static const char *const none[] = {""};
    *out = NULL;
    JitModel *m = calloc(1, sizeof *m);
    if (!m)
        return TFRT_ERR_NOMEM;
    TfrtNameMap names = {g->nprefixes ? g->prefixes : none, g->nprefixes,
                         g->nignores ? g->ignores : none, g->nignores};
    int rc = tfrt_pool_create(&m->pool, 0);
    m->weights = calloc((size_t)g->count + 1, sizeof *m->weights);
    m->packed = calloc((size_t)host.nparts + 1, sizeof *m->packed);
    m->q8 = calloc((size_t)host.nq8 + 1, sizeof *m->q8);
    if (rc == TFRT_OK && (!m->weights || !m->packed || !m->q8))
        rc = TFRT_ERR_NOMEM;
    if (rc == TFRT_OK)
        rc = tfrt_st_open(&m->file, path, err, errlen);
    if (rc == TFRT_OK)
        rc = tfrt_bind_weights_rank(&m->bindings, m->file, host.specs, g->tp > 1 ? host.splits : NULL,
                                    host.nspecs, &names, m->weights, tfrt_comm_rank(), err, errlen);
    if (rc == TFRT_OK && host.nq8)
        rc = tfrt_quantize_weights(m->file, m->bindings, m->weights, host.q8parts, host.nq8, m->q8,
                                   &m->q8_data);
    if (rc == TFRT_OK && !(m->arena = malloc(g->arena_bytes > 0 ? (size_t)g->arena_bytes : 1)))
        rc = TFRT_ERR_NOMEM;
    if (rc == TFRT_OK && g->cache_sym)
        rc = open_cache(m, ctx);
    if (rc != TFRT_OK) {
        jit_close(m);
        return rc;
    }
    *out = m;
    return TFRT_OK;
}

/* ---- running ------------------------------------------------------------------------ */

/* Body b, compiled now if it was not: the one-token step compiles on its
 * first call, so a prompt's first token waits for the prefill alone. */
static JitBody body(int b)
{
    if (host.body[b])
        return host.body[b];
    if (!host.entry[b].kp)
        tfc_bug("the model has no %s", body_names[b]);
    JitTimes t;
    double t0 = run_now();
    host.body[b] = jit_llvm_add(host.jit, &host.entry[b], host.flags, &t);
    if (host.verbose)
        fprintf(stderr, "tfc: jit: %s compiled in memory by LLVM in %.3f s (IR %.3f s, -O2 %.3f s, "
                        "code %.3f s)\n", body_names[b], run_now() - t0, t.build, t.optimize, t.codegen);
    return host.body[b];
}

static int run_body(JitModel *m, int b, const int32_t *const *inputs, float *out)
{
    JitBody fn = body(b);
    /* the tokens emit_c.c's bodies count: the cached input's in prefill, one in a step */
    int tokens = b == B_STEP ? 1 : b == B_TOKENS ? m->len[host.g->cache_sym] : 0;
    if (host.nparts)
        tfrt_pack_when_due(&m->packing, m->pool, m->file, m->weights, host.parts, host.nparts, m->packed,
                           tokens);
    JitCtx c = {m->arena, m->weights, m->slot, m->packed, m->q8, m->pool, inputs, out, m->len, m->valid,
                m->pos};
    return fn(&c);
}

/* The lengths of forward's call, checked as emit_c.c's checks do: into
 * len and valid, or a status. */
static int take_lengths(const int *lengths, int *len, int *valid)
{
    const Graph *g = host.g;
    for (int s = 1; s < g->nsyms; s++) {
        if (g->syms[s].past)
            continue;
        len[s] = lengths[s - 1];
        if (len[s] < 1 || len[s] > g->syms[s].max)
            return TFRT_ERR_LENGTH;
    }
    for (int s = 1; s < g->nsyms; s++) {
        if (!(g->padded >> s & 1u))
            continue;
        valid[s] = lengths[MAX_INPUTS + s - 1];
        if (valid[s] < 1 || valid[s] > len[s])
            return TFRT_ERR_LENGTH;
    }
    return TFRT_OK;
}

/* run_tokens of emit_c.c: tokens after the m->pos cached. */
static int run_tokens(JitModel *m, const int32_t *const *inputs, float *out)
{
    int seq = m->len[host.g->cache_sym];
    if (seq > m->ctx - m->pos)
        return TFRT_ERR_LENGTH;   /* the context is full */
    int rc = run_body(m, B_TOKENS, inputs, out);
    if (rc == TFRT_OK)
        m->pos += seq;
    return rc;
}

static int jit_forward(void *mv, const int32_t *const *inputs, const int *lengths, float *out)
{
    const Graph *g = host.g;
    JitModel *m = mv;
    if (!m || !out)
        return TFRT_ERR_ARG;
    for (int i = 0; i < g->ninputs; i++)
        if (!inputs[i])
            return TFRT_ERR_ARG;
    int len[MAX_INPUTS + 1], valid[MAX_INPUTS + 1];
    memcpy(len, m->len, sizeof len);
    memcpy(valid, m->valid, sizeof valid);
    int rc = take_lengths(lengths, len, valid);
    if (rc != TFRT_OK)
        return rc;
    memcpy(m->len, len, sizeof len);
    memcpy(m->valid, valid, sizeof valid);
    if (g->enc_end) {   /* encode; decode (or prefill) reads what it kept */
        m->encoded = 0;
        if ((rc = run_body(m, B_ENCODE, inputs, out)) != TFRT_OK)
            return rc;
        m->pos = 0;
        m->encoded = 1;
    }
    if (g->cache_sym) {
        m->pos = 0;
        return run_tokens(m, inputs, out);
    }
    return run_body(m, g->enc_end ? B_DECODE : B_FORWARD, inputs, out);
}

static int jit_step(void *mv, int32_t token, float *out)
{
    const Graph *g = host.g;
    JitModel *m = mv;
    if (!m || !out)
        return TFRT_ERR_ARG;
    if (g->enc_end && !m->encoded)
        return TFRT_ERR_ARG;   /* encode comes first */
    if (m->pos >= m->ctx)
        return TFRT_ERR_LENGTH;   /* the context is full */
    const int32_t *inputs[MAX_INPUTS] = {NULL};
    inputs[kv_cache_input(g)] = &token;
    m->len[g->cache_sym] = 1;
    int rc = run_body(m, B_STEP, inputs, out);
    if (rc == TFRT_OK)
        m->pos += 1;
    return rc;
}

/* copy_state of emit_c.c: the cache's rows so far and the encoding. */
static int jit_copy_state(void *dv, const void *sv)
{
    const Graph *g = host.g;
    JitModel *dst = dv;
    const JitModel *src = sv;
    if (!dst || !src)
        return TFRT_ERR_ARG;
    if (dst == src)
        return TFRT_OK;
    if (src->pos > dst->ctx)
        return TFRT_ERR_LENGTH;
    for (int i = 0; i < host.nslots; i++)
        memcpy(dst->slot[i], src->slot[i], (size_t)src->pos * (size_t)host.cache_cols[i] * sizeof(float));
    dst->pos = src->pos;
    memcpy(dst->len, src->len, sizeof dst->len);
    memcpy(dst->valid, src->valid, sizeof dst->valid);
    dst->encoded = src->encoded;
    for (int i = 0; i < g->enc_end; i++) {   /* views are in the memory they view */
        const Node *n = &g->nodes[i];
        if (!n->persist || n->dead || !g->plan->bytes[i])
            continue;
        size_t count = 1;
        for (int d = 0; d < n->shape.ndim; d++)
            count *= (size_t)(n->shape.d[d].sym ? src->len[n->shape.d[d].sym] : n->shape.d[d].n);
        memcpy(dst->arena + n->offset, src->arena + n->offset, count * sizeof(float));
    }
    return TFRT_OK;
}

static const char *jit_strerror(int status) { return tfrt_strerror(status); }

static void jit_release(void)
{
    jit_llvm_free(host.jit);
    host.jit = NULL;
}

/* TFC_POISON set and not "0", as run.c reads it. */
static int poison_requested(void)
{
    const char *v = getenv("TFC_POISON");
    return v && *v && strcmp(v, "0") != 0;
}

int jit_load(const Graph *g, const RunOptions *opt, Loaded *L)
{
    memset(L, 0, sizeof *L);
    if (host.jit)
        tfc_bug("one model a process runs through the JIT");
    double t0 = run_now();
    JitEntry e[B_COUNT];
    int which[B_COUNT];
    int n = entries(g, e, which);
    memset(host.entry, 0, sizeof host.entry);
    memset(host.body, 0, sizeof host.body);
    for (int i = 0; i < n; i++)
        host.entry[which[i]] = e[i];
    host.g = g;
    tables(g);
    host.flags = (opt->dump_llvm ? JIT_DUMP : 0) | (poison_requested() ? JIT_POISON : 0);
    host.verbose = opt->verbose;
    host.jit = jit_llvm_create();
    /* what forward runs, before open: the memory tfc reports for a run
     * (from just before open) then holds no compiler's */
    for (int b = 0; b < B_STEP; b++)
        if (host.entry[b].kp)
            body(b);
    L->open = jit_open;
    L->forward = jit_forward;
    L->close = jit_close;
    L->strerror = jit_strerror;
    L->release = jit_release;
    if (g->cache_sym) {
        L->step = jit_step, L->copy_state = jit_copy_state;
        L->ctx = opt->ctx;   /* prefill_last stays NULL: generation takes forward's last row */
    }
    if (opt->verbose)
        fprintf(stderr, "tfc: jit: %s compiled in memory by LLVM in %.3f s%s%s\n", g->model,
                run_now() - t0, g->cache_sym ? "; the step compiles on its first call" : "",
                host.flags & JIT_POISON ? " (TFC_POISON: freed arena buffers are NaN)" : "");
    return 0;
}
