/*
 * emit_c.c - the graph as a standalone C99 library.
 *
 * Requires: a verified, planned graph.  Writes a header (the API and the
 * model's sizes as constants) and a source file whose forward function
 * calls one runtime kernel per node, in schedule order, with every size a
 * constant and every intermediate at a planned offset in one arena.  Each
 * group of calls is headed by the model-file line it came from, so a
 * reader can follow the forward pass next to the model description.
 */
#include "tfc.h"

#include <ctype.h>
#include <string.h>

typedef struct {
    const Graph *g;
    const EmitOptions *opt;
    FILE *out;
    const char *P;           /* prefix, lower case: gpt2_open */
    const char *U;           /* prefix, upper case: GPT2_CTX */
    int from, to;            /* the nodes emit_body runs: [from, to) */
    KPackedPart *packed;     /* kprog_packed_parts: the parts a model packs */
    int npacked;
    KPackedPart *q8;         /* kprog_q8_parts: the parts open quantizes */
    int nq8;
} Emitter;

static void emit_side_signature(const Emitter *e, int enc);
static void emit_body(const Emitter *e, int flags, const char *tokens);

static const char *upper(const char *s)
{
    char *u = tfc_strdup(s);
    for (char *p = u; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return u;
}

static const char *var(const Emitter *e, int id) { return emit_var(e->g, id); }

static int64_t cols(const Emitter *e, int id)
{
    const Node *n = &e->g->nodes[id];
    return n->shape.d[n->shape.ndim - 1].n;
}

static int64_t weight_params(const Graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < g->count; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_WEIGHT)
            n += ir_max_elems(g, g->nodes[i].shape);
    return n;
}

/* ---- header ------------------------------------------------------------ */

/* One valid length per padded symbol: ", int seq_valid". */
static void emit_valid_params(const Graph *g, FILE *out)
{
    for (int s = 1; s < g->nsyms; s++)
        if (g->padded >> s & 1u)
            fprintf(out, ", int %s_valid", g->syms[s].name);
}

static void emit_signature(const Emitter *e, FILE *out)
{
    const Graph *g = e->g;
    fprintf(out, "int %s_forward(%s_model *m", e->P, e->P);
    for (int i = 0; i < g->ninputs; i++)
        fprintf(out, ", const int32_t *%s", var(e, g->inputs[i]));
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past)
            fprintf(out, ", int %s", g->syms[s].name);
    emit_valid_params(g, out);
    fprintf(out, ", float *%s)", g->output_name);
}

/* One arena buffer in the header's memory formula: it ends at offset +
 * align(bytes + per_token * length of symbol sym). */
typedef struct {
    int64_t offset, bytes, per_token;
    int sym;
} BufferEnd;

static BufferEnd buffer_end(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    BufferEnd b = {n->offset, g->plan->bytes[id], 0, 0};
    Dim r = n->shape.d[0];
    int other_sym = 0;
    for (int d = 1; d < n->shape.ndim; d++)
        other_sym |= n->shape.d[d].sym;
    if (r.sym && !g->syms[r.sym].past && !other_sym) {
        b.sym = r.sym;
        b.per_token = dtype_bytes(n->dtype, ir_max_elems(g, n->shape) / g->syms[r.sym].max);
        b.bytes = 0;
    }
    return b;
}

/* Whether buffer y never ends above x, whatever the lengths. */
static int ends_below(BufferEnd x, BufferEnd y)
{
    return (y.sym == x.sym || !y.sym) && x.offset + x.bytes >= y.offset + y.bytes
           && x.per_token >= y.per_token;
}

/* The buffers that can end highest: the rest never decide the arena. */
static void emit_arena_table(const Emitter *e, FILE *out)
{
    const Graph *g = e->g;
    int rows = 0;
    for (int j = 0; j < g->count; j++) {
        if (!g->plan->bytes[j])
            continue;
        BufferEnd y = buffer_end(g, j);
        int hidden = 0;
        for (int i = 0; i < g->count && !hidden; i++) {
            if (i == j || !g->plan->bytes[i])
                continue;
            BufferEnd x = buffer_end(g, i);
            hidden = ends_below(x, y) && (!ends_below(y, x) || i < j);
        }
        if (!hidden)
            fprintf(out, "        {%lldLL, %lldLL, %lldLL, %d},   /* %s */\n", (long long)y.offset,
                    (long long)y.bytes, (long long)y.per_token, y.sym, g->nodes[j].name);
        rows += !hidden;
    }
    if (g->scratch_bytes) {   /* the int8 layers' scratch, above every buffer */
        fprintf(out, "        {%lldLL, %lldLL, 0LL, 0},   /* scratch of the int8 linear layers */\n",
                (long long)g->scratch_offset, (long long)g->scratch_bytes);
        rows++;
    }
    if (!rows)
        fprintf(out, "        {0, 0, 0, 0},\n");
}

/* The memory formula: weights, arena at given lengths, KV cache at a
 * given context (docs/memory-planning.md). */
static void emit_memory(const Emitter *e, FILE *out)
{
    const Graph *g = e->g;
    const char *P = e->P, *U = e->U, *params = "", *args = "";
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past) {
            params = tfc_format("%s%sint %s", params, *params ? ", " : "", g->syms[s].name);
            args = tfc_format("%s, %s", args, g->syms[s].name);
        }
    if (!*params)
        params = "void";
    int64_t kv = 0;
    for (int i = 0; i < g->count; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_CACHE)
            kv += dtype_bytes(g->nodes[i].dtype, g->nodes[i].shape.d[1].n);
    fprintf(out, "\n/* Memory, known before a model is opened (`tfc --plan` shows the plan):\n"
                 " *   weights   %s_WEIGHT_BYTES, each weight's bytes by its dtype: float32\n"
                 " *             ones mapped read-only from the file, never copied; int8\n"
                 " *             ones (--quantize int8) made at open into %s_Q8_BYTES of\n"
                 " *             the kernels' layout, the file's pages released as they go;\n"
                 " *   arena     %s_arena_bytes(lengths): what this build's buffers need for\n"
                 " *             inputs of those lengths.  open allocates, or open_with_arena\n"
                 " *             takes, %s_ARENA_BYTES: enough for the longest inputs (compile\n"
                 " *             with `tfc --seq N` for a build planned for N tokens);\n"
                 " *   KV cache  %s_kv_cache_bytes(ctx) for a context of ctx tokens (0: this\n"
                 " *             build has no cache).\n"
                 " * The caller's inputs and output buffers come on top.  On a CPU where\n"
                 " * packing pays (tfrt_linear_pack_pays), open also copies the linear\n"
                 " * layers' weights into %s_PACKED_BYTES of panels and releases the\n"
                 " * file's pages of those weights, so that one copy stays resident. */\n",
            U, U, P, U, P, U);
    fprintf(out, "#define %s_PACKED_BYTES %lldLL\n", U, (long long)kprog_packed_bytes(g));
    fprintf(out, "#define %s_Q8_BYTES %lldLL\n", U, (long long)kprog_q8_bytes(g));
    fprintf(out, "#define %s_KV_BYTES_PER_TOKEN %lldLL\n", U, (long long)kv);
    fprintf(out, "static inline size_t %s_kv_cache_bytes(int ctx)\n{\n"
                 "    return ctx > 0 ? (size_t)ctx * %s_KV_BYTES_PER_TOKEN : 0;\n}\n", P, U);
    fprintf(out, "static inline size_t %s_arena_bytes(%s)\n{\n", P, params);
    fprintf(out, "    /* the buffers that can end highest: offset, bytes, bytes per token of\n"
                 "     * length len[sym] (64-byte aligned) */\n");
    fprintf(out, "    static const long long top[][4] = {\n");
    emit_arena_table(e, out);
    fprintf(out, "    };\n    const long long len[] = {0%s};\n    size_t need = 0;\n", args);
    fprintf(out, "    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {\n"
                 "        long long bytes = top[i][1] + top[i][2] * len[top[i][3]];\n"
                 "        size_t end = (size_t)(top[i][0] + (bytes + 63) / 64 * 64);\n"
                 "        if (end > need)\n            need = end;\n    }\n    return need;\n}\n");
    fprintf(out, "static inline size_t %s_memory_bytes(%s%sint ctx)\n{\n"
                 "    return (size_t)%s_WEIGHT_BYTES + %s_arena_bytes(%s) + %s_kv_cache_bytes(ctx);\n}\n",
            P, strcmp(params, "void") ? params : "", strcmp(params, "void") ? ", " : "", U, P,
            *args ? args + 2 : "", P);
}

/* The options of open_ex: the caller's memory, the context, threads. */
static void emit_options_decl(const Emitter *e, FILE *out)
{
    const char *seq = e->g->cache_sym ? upper(e->g->syms[e->g->cache_sym].name) : NULL;
    fprintf(out, "/* How to open a model; zero (or NULL options) takes every default. */\n"
                 "typedef struct {\n"
                 "    void *arena;           /* the caller's arena (as open_with_arena), NULL: allocated */\n"
                 "    size_t arena_bytes;\n");
    if (seq)
        fprintf(out, "    void *cache;           /* the caller's KV cache, at least %s_kv_cache_bytes(ctx)\n"
                     "                              bytes, aligned for float; NULL: allocated */\n"
                     "    size_t cache_bytes;\n"
                     "    int ctx;               /* tokens the KV cache holds, 1..%s_MAX_%s; 0: the most */\n",
                e->P, e->U, seq);
    else
        fprintf(out, "    void *cache;           /* no KV cache in this model: NULL, 0, 0 */\n"
                     "    size_t cache_bytes;\n    int ctx;\n");
    fprintf(out, "    int threads;           /* kernel threads, 0: the default (set_threads) */\n"
                 "} %s_options;\n\n", e->P);
    fprintf(out, "int %s_open_ex(%s_model **model, const char *weights_path, const %s_options *options,\n"
                 "                char *err, size_t errlen);\n\n", e->P, e->P, e->P);
}

void emit_header(const Graph *g, const EmitOptions *opt, FILE *out)
{
    Emitter e = {g, opt, out, opt->prefix, upper(opt->prefix), 0, g->count, NULL, 0, NULL, 0};
    const Node *o = &g->nodes[g->output];
    fprintf(out, "/*\n * %s.h - the %s model, compiled by tfc from %s.  Do not edit.\n *\n",
            e.P, g->model, g->source);
    fprintf(out, " *   %s_model *m;\n *   char err[256];\n", e.P);
    fprintf(out, " *   if (%s_open(&m, \"weights.safetensors\", err, sizeof err) != 0) ...\n", e.P);
    fprintf(out, " *   %s_forward(m, ...);   // 0 on success, else a status code\n", e.P);
    fprintf(out, " *   %s_close(m);\n *\n", e.P);
    fprintf(out, " * Functions return 0 or a status code (%s_strerror says what it means);\n"
                 " * they never print or exit.  No state is global: one model per context.\n */\n",
            e.P);
    fprintf(out, "#ifndef %s_H\n#define %s_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n", e.U, e.U);
    fprintf(out, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n/* Configuration */\n");
    for (int i = 0; i < g->nconfig; i++) {
        if (g->config_is_int[i])
            fprintf(out, "#define %s_%s %lld\n", e.U, upper(g->config_names[i]),
                    (long long)g->config_values[i]);
        else
            fprintf(out, "#define %s_%s %.9g\n", e.U, upper(g->config_names[i]), g->config_values[i]);
    }
    fprintf(out, "\n/* Sizes */\n");
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past)
            fprintf(out, "#define %s_MAX_%s %lld   /* longest %s */\n", e.U, upper(g->syms[s].name),
                    (long long)g->syms[s].max, g->syms[s].name);
    fprintf(out, "#define %s_OUTPUT_COLS %lld   /* %s: %s */\n", e.U, (long long)cols(&e, g->output),
            g->output_name, ir_shape_str(g, o->shape));
    if (g->tp > 1)   /* --tp: the figures below are one rank's */
        fprintf(out, "#define %s_TP %d   /* ranks the model is split over (--tp); the sizes below are one\n"
                     "                        rank's; %s_rank() is this process's */\n", e.U, g->tp, e.P);
    fprintf(out, "#define %s_PARAMS %lldLL\n", e.U, (long long)weight_params(g));
    fprintf(out, "#define %s_WEIGHT_BYTES %lldLL   /* %s */\n", e.U,
            (long long)plan_weight_bytes(g),
            kprog_q8_count(g) ? "float32 mapped from the file, int8 blocks made at open"
                              : "float32, mapped from the file");
    fprintf(out, "#define %s_ARENA_BYTES %lldLL   /* working memory, longest inputs */\n", e.U,
            (long long)g->arena_bytes);
    if (g->cache_sym) {
        fprintf(out, "#define %s_STEP_ARENA_BYTES %lldLL   /* of it, what one step uses */\n", e.U,
                (long long)g->step_arena_bytes);
        fprintf(out, "#define %s_CACHE_BYTES %lldLL   /* KV cache: layers x 2 x ctx x kv width x 4 */\n",
                e.U, (long long)g->cache_bytes);
    }
    if (g->plan)
        emit_memory(&e, out);
    fprintf(out, "\n");
    fprintf(out, "typedef struct %s_model %s_model;\n\n", e.P, e.P);
    fprintf(out, "/* Maps a safetensors file and checks every tensor the model needs (name,\n"
                 " * dtype, shape); on failure writes the first problem into err. */\n");
    fprintf(out, "int %s_open(%s_model **model, const char *weights_path, char *err, size_t errlen);\n\n",
            e.P, e.P);
    fprintf(out, "/* The same with the caller's arena (static memory, say): at least\n"
                 " * %s_ARENA_BYTES, aligned for float; it stays the caller's and must\n"
                 " * outlive the model.  NULL: the model allocates its own. */\n", e.U);
    fprintf(out, "int %s_open_with_arena(%s_model **model, const char *weights_path, void *arena,\n"
                 "                       size_t arena_bytes, char *err, size_t errlen);\n\n", e.P, e.P);
    emit_options_decl(&e, out);
    fprintf(out, "/* Runs the model over the inputs, writing %s %s. */\n", g->output_name,
            ir_shape_str(g, o->shape));
    emit_signature(&e, out);
    fprintf(out, ";\n\n");
    if (g->enc_end) {
        fprintf(out, "/* The same in two steps: encode runs the encoder once and keeps what the\n"
                     " * decoder reads of it (cross-attention keys and values included) in the\n"
                     " * model; decode then runs the decoder over it, as often as needed. */\n");
        emit_side_signature(&e, 1);
        fprintf(out, ";\n");
        emit_side_signature(&e, 0);
        fprintf(out, ";\n\n");
    }
    if (g->cache_sym) {
        const char *in = var(&e, g->inputs[kv_cache_input(g)]), *seq = g->syms[g->cache_sym].name;
        if (g->enc_end)
            fprintf(out, "/* The decoder's KV cache, over the encoding of the last encode (which\n"
                         " * empties the cache): prefill runs a prompt from the start (decode is\n"
                         " * the same), step runs one more token, writing its %s row.  A call\n"
                         " * that would pass the context (%s_context: %s_MAX_%s unless open_ex\n"
                         " * set a shorter one) fails with a length error. */\n",
                    g->output_name, e.P, e.U, upper(seq));
        else
            fprintf(out, "/* The KV cache: prefill runs a prompt from the start (forward is the same),\n"
                         " * step runs one more token, writing its %s row.  A call that would pass\n"
                         " * the context (%s_context: %s_MAX_%s unless open_ex set a shorter one)\n"
                         " * fails with a length error. */\n",
                    g->output_name, e.P, e.U, upper(seq));
        fprintf(out, "int %s_prefill(%s_model *m, const int32_t *%s, int %s, float *%s);\n", e.P, e.P,
                in, seq, g->output_name);
        if (kprog_has_last_row(g))
            fprintf(out, "/* prefill writing only the last token's %s row: %s_OUTPUT_COLS floats. */\n"
                         "int %s_prefill_last(%s_model *m, const int32_t *%s, int %s, float *%s);\n",
                    g->output_name, e.U, e.P, e.P, in, seq, g->output_name);
        fprintf(out, "int %s_step(%s_model *m, int32_t token, float *%s);\n", e.P, e.P, g->output_name);
        fprintf(out, "int %s_position(const %s_model *m);   /* tokens in the cache */\n", e.P, e.P);
        fprintf(out, "int %s_context(const %s_model *m);    /* tokens it can hold (open's ctx) */\n",
                e.P, e.P);
        fprintf(out, "/* Copies the cache of src into dst (beam search)%s. */\n",
                g->enc_end ? ", with the encoding it was computed over" : "");
        fprintf(out, "int %s_copy_state(%s_model *dst, const %s_model *src);\n\n", e.P, e.P, e.P);
    }
    fprintf(out, "/* The threads the model's kernels run on: threads <= 0 takes the default\n"
                 " * (tfrt_set_threads, else every online CPU), which open also uses. */\n");
    fprintf(out, "int %s_set_threads(%s_model *model, int threads);\n\n", e.P, e.P);
    fprintf(out, "/* In a build made with `tfc --trace`, each kernel call passes its result\n"
                 " * to fn: the node's name, rows x cols floats, rows `stride` floats apart,\n"
                 " * valid until the next call.  Other builds refuse (TFRT_ERR_ARG). */\n");
    fprintf(out, "typedef void (*%s_trace_fn)(void *arg, const char *name, const float *data,\n"
                 "                              int rows, int cols, int stride);\n", e.P);
    fprintf(out, "int %s_set_trace(%s_model *model, %s_trace_fn fn, void *arg);\n", e.P, e.P, e.P);
    fprintf(out, "void %s_close(%s_model *model);\n", e.P, e.P);
    fprintf(out, "const char *%s_strerror(int status);\n\n", e.P);
    if (g->tp > 1)
        fprintf(out, "/* --tp: this process's rank, 0 .. %s_TP - 1 (MPI_COMM_WORLD, after MPI_Init or\n"
                     " * tfrt_comm_init); open binds this rank's slices of the weights. */\n"
                     "int %s_rank(void);\n\n", e.U, e.P);
    fprintf(out, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

/* ---- source: weights and open/close ----------------------------------- */

/* A table of linear layers' weight parts: {weight, first element, in,
 * rows, ldw, layout}. */
static void emit_part_table(const Emitter *e, const char *name, const KPackedPart *parts, int n)
{
    const Graph *g = e->g;
    FILE *out = e->out;
    fprintf(out, "static const TfrtPackedPart %s[] = {\n", name);
    for (int i = 0; i < n; i++)
        fprintf(out, "    {offsetof(Weights, %s), %lld, %lld, %lld, %lld, %s},   /* %d */\n",
                g->nodes[parts[i].weight].name, (long long)parts[i].first, (long long)parts[i].in,
                (long long)parts[i].rows, (long long)parts[i].ldw,
                parts[i].layout ? "TFRT_W_IN_OUT" : "TFRT_W_OUT_IN", i);
    fprintf(out, "};\n\n");
}

static void emit_packed_parts(const Emitter *e)
{
    FILE *out = e->out;
    if (e->npacked) {
        fprintf(out, "/* The weight parts of the fp32 linear layers: {weight, first element, in,\n"
                     " * rows, ldw, layout}.  They are packed into the panels the kernels read\n"
                     " * fastest when that pays on this CPU, before the first pass that reads\n"
                     " * them more than once (tfrt_pack_when_due), and each call passes its\n"
                     " * parts' copies as .packed (NULL: the kernels read the weight). */\n");
        emit_part_table(e, "packed_parts", e->packed, e->npacked);
    }
    if (e->nq8) {
        fprintf(out, "/* The weight parts of the int8 linear layers (--quantize int8), as above:\n"
                     " * open quantizes them from the file (tfrt_quantize_weights) and each call\n"
                     " * passes its parts' int8 copies as .q8. */\n");
        emit_part_table(e, "q8_parts", e->q8, e->nq8);
    }
}

/* --tp: how each weight of weight_specs is cut (passes/shard.c). */
static void emit_weight_splits(const Emitter *e)
{
    const Graph *g = e->g;
    fprintf(e->out, "/* --tp %d: each weight's cut, in the order of weight_specs (axis + 1, ranks,\n"
                    " * fused parts, packed copy; 0: whole) */\nstatic const TfrtWeightSplit weight_splits[] = {\n", g->tp);
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_WEIGHT)
            continue;
        fprintf(e->out, "    {%d, %d, {%lld, %lld, %lld}, %d},   /* %s */\n", n->attr.weight.split_axis, g->tp,
                (long long)n->attr.weight.split_parts[0], (long long)n->attr.weight.split_parts[1],
                (long long)n->attr.weight.split_parts[2], n->attr.weight.split_packed, n->name);
    }
    fprintf(e->out, "};\n\n");
}

static void emit_weights(const Emitter *e)
{
    const Graph *g = e->g;
    FILE *out = e->out;
    fprintf(out, "/* Weights, pointing into the mapped file. */\ntypedef struct {\n");
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (!n->dead && n->op == OP_WEIGHT)
            fprintf(out, "    const float *%s;   /* %s%s */\n", n->name, ir_shape_str(g, n->shape),
                    n->dtype == DT_Q8 ? ", as stored: quantized at open" : "");
    }
    fprintf(out, "} Weights;\n\nstruct %s_model {\n", e->P);
    fprintf(out, "    TfrtSafetensors *file;\n    TfrtBindings *bindings;\n    Weights w;\n");
    fprintf(out, "    TfrtPool *pool;         /* the threads kernels run on */\n");
    fprintf(out, "    %s_trace_fn trace_fn;   /* PREFIX_set_trace */\n    void *trace_arg;\n", e->P);
    if (e->npacked)
        fprintf(out, "    const float *packed[%d];   /* packed_parts[i] packed, or NULL */\n"
                     "    TfrtPacking packing;    /* when and where they are packed */\n", e->npacked);
    if (e->nq8)
        fprintf(out, "    const void *q8[%d];   /* q8_parts[i] in int8 */\n"
                     "    void *q8_data;        /* their memory (tfrt_quantize_weights) */\n", e->nq8);
    fprintf(out, "    unsigned char *arena;   /* %s_ARENA_BYTES */\n", e->U);
    fprintf(out, "    int own_arena;          /* allocated by open, freed by close */\n");
    if (g->enc_end)
        fprintf(out, "    int encoded;            /* encode has run: decode may */\n"
                     "    int enc_len[%d], enc_valid[%d];   /* by length symbol */\n",
                g->nsyms, g->nsyms);
    if (g->cache_sym)
        fprintf(out, "    float *cache;           /* %s_kv_cache_bytes(ctx) */\n"
                     "    int own_cache;          /* allocated by open, freed by close */\n"
                     "    int ctx;                /* tokens the cache holds */\n"
                     "    int pos;                /* tokens in the cache */\n"
                     "    float *slot[%d];         /* each layer's keys and values: ctx rows */\n",
                e->P, kprog_cache_slots(g));
    fprintf(out, "};\n\n");
    if (g->cache_sym) {
        fprintf(out, "/* The width of each slot of the cache (keys or values of a layer): a\n"
                     " * slot holds ctx rows of it, one after another. */\n");
        fprintf(out, "static const int cache_cols[] = {\n");
        for (int i = 0; i < g->count; i++) {
            const Node *n = &g->nodes[i];
            if (!n->dead && n->op == OP_CACHE)
                fprintf(out, "    %lld,   /* %s */\n", (long long)n->shape.d[1].n, n->name);
        }
        fprintf(out, "};\n\n");
    }

    fprintf(out, "static const TfrtWeightSpec weight_specs[] = {\n");
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_WEIGHT)
            continue;
        Shape stored = shard_stored_shape(n);
        fprintf(out, "    {\"%s\", %d, {", n->attr.weight.ckpt, stored.ndim);
        for (int d = 0; d < stored.ndim; d++)
            fprintf(out, "%s%lld", d ? ", " : "", (long long)stored.d[d].n);
        fprintf(out, "}, offsetof(Weights, %s), %lld, %d},\n", n->name,
                (long long)n->attr.weight.first, kprog_spec_quantized(g, i));   /* first: > 0 in a view */
    }
    fprintf(out, "};\n\n");
    if (g->tp > 1)
        emit_weight_splits(e);
    emit_packed_parts(e);
    fprintf(out, "static const char *const name_prefixes[] = {\"\"");
    for (int i = 0; i < g->nprefixes; i++)
        fprintf(out, ", \"%s\"", g->prefixes[i]);
    fprintf(out, "};\nstatic const char *const ignored_names[] = {\"\"");
    for (int i = 0; i < g->nignores; i++)
        fprintf(out, ", \"%s\"", g->ignores[i]);
    fprintf(out, "};\n\n");
}

/* An argument error of open, with its reason in err. */
static void emit_refuse(FILE *out, const char *cond, const char *why)
{
    fprintf(out, "    if (%s) {\n        if (err && errlen)\n            snprintf(err, errlen, %s);\n"
                 "        return TFRT_ERR_ARG;\n    }\n", cond, why);
}

/* The KV cache at open: the caller's memory or an allocation of ctx
 * tokens, cut into one slot per layer's keys and values. */
static void emit_open_cache(const Emitter *e)
{
    FILE *out = e->out;
    fprintf(out, "    m->ctx = o.ctx ? o.ctx : %s_MAX_%s;\n", e->U, upper(e->g->syms[e->g->cache_sym].name));
    fprintf(out, "    m->cache = o.cache;\n    m->own_cache = !o.cache;\n");
    fprintf(out, "    if (rc == TFRT_OK && !o.cache && !(m->cache = calloc(1, %s_kv_cache_bytes(m->ctx))))\n"
                 "        rc = TFRT_ERR_NOMEM;\n", e->P);
    fprintf(out, "    for (size_t i = 0, at = 0; m->cache && i < sizeof cache_cols / sizeof *cache_cols; i++) {\n"
                 "        m->slot[i] = m->cache + at;\n        at += (size_t)m->ctx * (size_t)cache_cols[i];\n    }\n");
}

static void emit_open_ex(const Emitter *e)
{
    FILE *out = e->out;
    const char *P = e->P, *U = e->U;
    fprintf(out, "int %s_open_ex(%s_model **model, const char *weights_path, const %s_options *options,\n"
                 "                char *err, size_t errlen)\n{\n", P, P, P);
    fprintf(out, "    %s_options o = {NULL, 0, NULL, 0, 0, 0};\n    if (options)\n        o = *options;\n", P);
    fprintf(out, "    if (!model || !weights_path)\n        return TFRT_ERR_ARG;\n    *model = NULL;\n");
    emit_refuse(out, tfc_format("o.arena && (o.arena_bytes < (size_t)%s_ARENA_BYTES "
                                "|| (uintptr_t)o.arena %% sizeof(float))", U),
                tfc_format("\"the arena must hold %%lld bytes, aligned for float\", (long long)%s_ARENA_BYTES", U));
    if (e->g->cache_sym) {
        const char *max = tfc_format("%s_MAX_%s", U, upper(e->g->syms[e->g->cache_sym].name));
        const char *bytes = tfc_format("%s_kv_cache_bytes(o.ctx ? o.ctx : %s)", P, max);
        emit_refuse(out, tfc_format("o.ctx < 0 || o.ctx > %s", max),
                    tfc_format("\"ctx %%d is outside 0..%%d\", o.ctx, %s", max));
        emit_refuse(out, tfc_format("o.cache && (o.cache_bytes < %s || (uintptr_t)o.cache %% sizeof(float))", bytes),
                    tfc_format("\"the KV cache must hold %%zu bytes, aligned for float\", %s", bytes));
    } else {
        emit_refuse(out, "o.cache || o.cache_bytes || o.ctx", "\"this model has no KV cache\"");
    }
    emit_refuse(out, "o.threads < 0", "\"threads %d is negative\", o.threads");
    fprintf(out, "    %s_model *m = calloc(1, sizeof *m);\n", P);
    fprintf(out, "    if (!m)\n        return TFRT_ERR_NOMEM;\n");
    fprintf(out, "    /* the empty entries stand first so that neither list is empty */\n");
    fprintf(out, "    TfrtNameMap names = {name_prefixes + 1, (int)(sizeof name_prefixes / sizeof *name_prefixes) - 1,\n"
                 "                         ignored_names + 1, (int)(sizeof ignored_names / sizeof *ignored_names) - 1};\n");
    fprintf(out, "    int rc = tfrt_pool_create(&m->pool, o.threads);\n");
    fprintf(out, "    if (rc == TFRT_OK)\n        rc = tfrt_st_open(&m->file, weights_path, err, errlen);\n");
    if (e->g->tp > 1) {   /* --tp: this process's rank binds its slices */
        fprintf(out, "    if (rc == TFRT_OK && tfrt_comm_size() != %s_TP) {\n"
                     "        if (err && errlen)\n"
                     "            snprintf(err, errlen, \"compiled for %%d ranks (--tp), running as %%d\", %s_TP, tfrt_comm_size());\n"
                     "        rc = TFRT_ERR_ARG;\n    }\n", U, U);
        fprintf(out, "    if (rc == TFRT_OK)\n        rc = tfrt_bind_weights_rank(&m->bindings, m->file, weight_specs, weight_splits,\n"
                     "                               (int)(sizeof weight_specs / sizeof *weight_specs),\n"
                     "                               &names, &m->w, tfrt_comm_rank(), err, errlen);\n");
    } else {
        fprintf(out, "    if (rc == TFRT_OK)\n        rc = tfrt_bind_weights(&m->bindings, m->file, weight_specs,\n"
                     "                               (int)(sizeof weight_specs / sizeof *weight_specs),\n"
                     "                               &names, &m->w, err, errlen);\n");
    }
    if (e->nq8)
        fprintf(out, "    if (rc == TFRT_OK)\n        rc = tfrt_quantize_weights(m->file, m->bindings, &m->w, q8_parts, %d,\n"
                     "                                   m->q8, &m->q8_data);\n", e->nq8);
    fprintf(out, "    m->arena = o.arena;\n    m->own_arena = !o.arena;\n");
    fprintf(out, "    if (rc == TFRT_OK && !o.arena && !(m->arena = malloc(%s_ARENA_BYTES > 0 ? %s_ARENA_BYTES : 1)))\n",
            U, U);
    fprintf(out, "        rc = TFRT_ERR_NOMEM;\n");
    if (e->g->cache_sym)
        emit_open_cache(e);
    fprintf(out, "    if (rc != TFRT_OK) {\n        %s_close(m);\n        return rc;\n    }\n", P);
    fprintf(out, "    *model = m;\n    return TFRT_OK;\n}\n\n");
}

static void emit_open_close(const Emitter *e)
{
    FILE *out = e->out;
    const char *P = e->P;
    fprintf(out, "const char *%s_strerror(int status)\n{\n    return tfrt_strerror(status);\n}\n\n", P);
    if (e->g->tp > 1)
        fprintf(out, "int %s_rank(void)\n{\n    return tfrt_comm_rank();\n}\n\n", P);
    fprintf(out, "void %s_close(%s_model *m)\n{\n    if (!m)\n        return;\n", P, P);
    fprintf(out, "    tfrt_pool_destroy(m->pool);\n");
    fprintf(out, "%s%s    tfrt_bindings_free(m->bindings);\n    tfrt_st_close(m->file);\n",
            e->npacked ? "    free(m->packing.data);\n" : "", e->nq8 ? "    free(m->q8_data);\n" : "");
    fprintf(out, "    if (m->own_arena)\n        free(m->arena);\n%s    free(m);\n}\n\n",
            e->g->cache_sym ? "    if (m->own_cache)\n        free(m->cache);\n" : "");
    fprintf(out, "int %s_open(%s_model **model, const char *weights_path, char *err, size_t errlen)\n{\n"
                 "    return %s_open_ex(model, weights_path, NULL, err, errlen);\n}\n\n", P, P, P);
    fprintf(out, "int %s_open_with_arena(%s_model **model, const char *weights_path, void *arena,\n"
                 "                       size_t arena_bytes, char *err, size_t errlen)\n{\n", P, P);
    fprintf(out, "    %s_options o = {arena, arena_bytes, NULL, 0, 0, 0};\n", P);
    fprintf(out, "    return %s_open_ex(model, weights_path, &o, err, errlen);\n}\n\n", P);
    emit_open_ex(e);
    fprintf(out, "int %s_set_trace(%s_model *m, %s_trace_fn fn, void *arg)\n{\n", P, P, P);
    fprintf(out, "    if (!m)\n        return TFRT_ERR_ARG;\n");
    if (e->opt->trace)
        fprintf(out, "    m->trace_fn = fn;\n    m->trace_arg = arg;\n    return TFRT_OK;\n}\n\n");
    else
        fprintf(out, "    (void)fn;\n    (void)arg;\n    return TFRT_ERR_ARG;   /* built without tracing */\n}\n\n");
    fprintf(out, "int %s_set_threads(%s_model *m, int threads)\n{\n", P, P);
    fprintf(out, "    TfrtPool *pool;\n    if (!m)\n        return TFRT_ERR_ARG;\n");
    fprintf(out, "    int rc = tfrt_pool_create(&pool, threads);\n    if (rc != TFRT_OK)\n        return rc;\n");
    fprintf(out, "    tfrt_pool_destroy(m->pool);\n    m->pool = pool;\n    return TFRT_OK;\n}\n\n");
}

/* ---- source: the forward pass ----------------------------------------- */

static void emit_checks(const Emitter *e)
{
    const Graph *g = e->g;
    FILE *out = e->out;
    fprintf(out, "    if (!m");
    for (int i = 0; i < g->ninputs; i++)
        fprintf(out, " || !%s", var(e, g->inputs[i]));
    fprintf(out, " || !%s)\n        return TFRT_ERR_ARG;\n", g->output_name);
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past)
            fprintf(out, "    if (%s < 1 || %s > %s_MAX_%s)\n        return TFRT_ERR_LENGTH;\n",
                    g->syms[s].name, g->syms[s].name, e->U, upper(g->syms[s].name));
    for (int s = 1; s < g->nsyms; s++)
        if (g->padded >> s & 1u)
            fprintf(out, "    if (%s_valid < 1 || %s_valid > %s)\n        return TFRT_ERR_LENGTH;\n",
                    g->syms[s].name, g->syms[s].name, g->syms[s].name);
}

/* ---- encoder-decoders (partition.c) ------------------------------------- */

/* A length symbol of the encoder's inputs (nodes before g->enc_end). */
static int is_encoder_sym(const Graph *g, int s)
{
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i] < g->enc_end && g->nodes[g->inputs[i]].shape.d[0].sym == s)
            return 1;
    return 0;
}

/* A length the caller passes to encode (enc = 1) or to decode (enc = 0);
 * not the cache's running length, which the model keeps. */
static int side_sym(const Graph *g, int s, int enc)
{
    return !g->syms[s].past && is_encoder_sym(g, s) == enc;
}

/* In decode: the encoder's lengths, kept by encode (the encoder values the
 * decoder reads are where encode left them in the arena). */
static void emit_encoder_state(const Emitter *e)
{
    const Graph *g = e->g;
    if (e->from == 0)
        return;
    for (int s = 1; s < g->nsyms; s++) {
        if (!is_encoder_sym(g, s))
            continue;
        fprintf(e->out, "    const int %s = m->enc_len[%d];\n    (void)%s;\n", g->syms[s].name, s,
                g->syms[s].name);
        if (g->padded >> s & 1u)
            fprintf(e->out, "    const int %s_valid = m->enc_valid[%d];\n    (void)%s_valid;\n",
                    g->syms[s].name, s, g->syms[s].name);
    }
}

/* The parameters of encode (enc = 1) or decode (enc = 0): that side's
 * inputs, lengths and valid lengths; declared (decl = 1) or, for
 * forward's calls, passed on by name (decl = 0). */
static void emit_side_list(const Emitter *e, int enc, int decl)
{
    const Graph *g = e->g;
    const char *ids = decl ? "const int32_t *" : "", *len = decl ? "int " : "";
    for (int i = 0; i < g->ninputs; i++)
        if ((g->inputs[i] < g->enc_end) == enc)
            fprintf(e->out, ", %s%s", ids, var(e, g->inputs[i]));
    for (int s = 1; s < g->nsyms; s++)
        if (side_sym(g, s, enc))
            fprintf(e->out, ", %s%s", len, g->syms[s].name);
    for (int s = 1; s < g->nsyms; s++)
        if (side_sym(g, s, enc) && (g->padded >> s & 1u))
            fprintf(e->out, ", %s%s_valid", len, g->syms[s].name);
}

static void emit_side_signature(const Emitter *e, int enc)
{
    fprintf(e->out, "int %s_%s(%s_model *m", e->P, enc ? "encode" : "decode", e->P);
    emit_side_list(e, enc, 1);
    fprintf(e->out, enc ? ")" : ", float *%s)", e->g->output_name);
}

/* Argument checks of one side: pointers, then lengths. */
static void emit_side_checks(const Emitter *e, int enc)
{
    const Graph *g = e->g;
    FILE *out = e->out;
    fprintf(out, "    if (!m");
    for (int i = 0; i < g->ninputs; i++)
        if ((g->inputs[i] < g->enc_end) == enc)
            fprintf(out, " || !%s", var(e, g->inputs[i]));
    fprintf(out, "%s%s)\n        return TFRT_ERR_ARG;\n", enc ? "" : " || !", enc ? "" : g->output_name);
    for (int s = 1; s < g->nsyms; s++) {
        if (!side_sym(g, s, enc))
            continue;
        const char *n = g->syms[s].name;
        fprintf(out, "    if (%s < 1 || %s > %s_MAX_%s)\n        return TFRT_ERR_LENGTH;\n",
                n, n, e->U, upper(n));
        if (g->padded >> s & 1u)
            fprintf(out, "    if (%s_valid < 1 || %s_valid > %s)\n        return TFRT_ERR_LENGTH;\n",
                    n, n, n);
    }
}

/* encode runs nodes [0, enc_end) and keeps its lengths; decode runs the
 * rest over them; forward is the two in turn. */
static void emit_encoder_decoder(const Emitter *e)
{
    const Graph *g = e->g;
    FILE *out = e->out;
    Emitter enc = *e, dec = *e;
    enc.to = g->enc_end;
    dec.from = g->enc_end;
    emit_side_signature(e, 1);
    fprintf(out, "\n{\n");
    emit_side_checks(e, 1);
    fprintf(out, "    m->encoded = 0;\n");
    emit_body(&enc, 0, "0");
    for (int s = 1; s < g->nsyms; s++)
        if (is_encoder_sym(g, s))
            fprintf(out, "    m->enc_len[%d] = %s;\n    m->enc_valid[%d] = %s%s;\n", s, g->syms[s].name, s,
                    g->syms[s].name, g->padded >> s & 1u ? "_valid" : "");
    if (g->cache_sym)   /* the cache was computed over the old encoding */
        fprintf(out, "    m->pos = 0;\n");
    fprintf(out, "    m->encoded = 1;\n    return TFRT_OK;\n}\n\n");
    emit_side_signature(e, 0);
    fprintf(out, "\n{\n");
    if (g->cache_sym) {   /* the decoder's inputs are prefill's: the cached one */
        fprintf(out, "    return %s_prefill(m", e->P);
        emit_side_list(e, 0, 0);
        fprintf(out, ", %s);\n}\n\n", g->output_name);
    } else {
        emit_side_checks(e, 0);
        fprintf(out, "    if (!m->encoded)\n        return TFRT_ERR_ARG;   /* encode comes first */\n");
        emit_body(&dec, 0, "0");
        fprintf(out, "    return TFRT_OK;\n}\n\n");
    }
    emit_signature(e, out);
    fprintf(out, "\n{\n    int rc = %s_encode(m", e->P);
    emit_side_list(e, 1, 0);
    fprintf(out, ");\n    return rc != TFRT_OK ? rc : %s_decode(m", e->P);
    emit_side_list(e, 0, 0);
    fprintf(out, ", %s);\n}\n", g->output_name);
}

/* The kernel calls of one pass over the graph, with the offsets of the
 * full plan or of the one-token step plan; `tokens`: an expression of the
 * tokens the pass runs, or 0 where it is not counted in tokens (when
 * packing is due depends on it). */
static void emit_body(const Emitter *e, int flags, const char *tokens)
{
    FILE *out = e->out;
    KProgram *kp = kprog_build(e->g, e->from, e->to, flags);
    if (e->npacked)
        fprintf(out, "    tfrt_pack_when_due(&m->packing, m->pool, m->file, &m->w, packed_parts, %d, m->packed, %s);\n",
                e->npacked, tokens);
    fprintf(out, "    const Weights *w = &m->w;\n    unsigned char *arena = m->arena;\n"
                 "    (void)w;\n    (void)arena;\n");
    if (e->from == 0)   /* decode keeps what encode left in the arena */
        fprintf(out, "    TFC_POISON_ARENA(arena, %s_ARENA_BYTES);\n", e->U);
    emit_encoder_state(e);
    if (emit_kprog_uses_status(kp))
        fprintf(out, "    int rc;\n");
    emit_kprog(kp, e->opt->trace, out);
}

static void emit_forward(const Emitter *e)
{
    emit_signature(e, e->out);
    fprintf(e->out, "\n{\n");
    emit_checks(e);
    emit_body(e, 0, "0");
    fprintf(e->out, "    return TFRT_OK;\n}\n");
}

/* Elements of encoder value id at the lengths `model` was encoded with. */
static const char *encoded_count(const Emitter *e, int id, const char *model)
{
    const Shape *sh = &e->g->nodes[id].shape;
    const char *c = "(size_t)1";
    for (int d = 0; d < sh->ndim; d++) {
        const char *f = sh->d[d].sym ? tfc_format("(size_t)%s->enc_len[%d]", model, sh->d[d].sym)
                                     : tfc_format("%lld", (long long)sh->d[d].n);
        c = d ? tfc_format("%s * %s", c, f) : sh->d[d].sym ? f : tfc_format("(size_t)%s", f);
    }
    return c;
}

/* copy_state: the cache's rows so far and, for an encoder-decoder, the
 * encoding they were computed over (lengths and the encoder values that
 * decode reads from the arena). */
static void emit_copy_state(const Emitter *e)
{
    const Graph *g = e->g;
    FILE *out = e->out;
    const char *P = e->P;
    fprintf(out, "int %s_copy_state(%s_model *dst, const %s_model *src)\n{\n", P, P, P);
    fprintf(out, "    if (!dst || !src)\n        return TFRT_ERR_ARG;\n");
    fprintf(out, "    if (dst == src)\n        return TFRT_OK;\n");
    fprintf(out, "    if (src->pos > dst->ctx)\n        return TFRT_ERR_LENGTH;   /* dst's cache is shorter */\n");
    fprintf(out, "    for (size_t i = 0; i < sizeof cache_cols / sizeof *cache_cols; i++)\n");
    fprintf(out, "        memcpy(dst->slot[i], src->slot[i], (size_t)src->pos * (size_t)cache_cols[i] * sizeof(float));\n");
    fprintf(out, "    dst->pos = src->pos;\n");
    if (g->enc_end) {
        fprintf(out, "    memcpy(dst->enc_len, src->enc_len, sizeof dst->enc_len);\n"
                     "    memcpy(dst->enc_valid, src->enc_valid, sizeof dst->enc_valid);\n"
                     "    dst->encoded = src->encoded;\n");
        for (int i = 0; i < g->enc_end; i++)   /* views are in the memory they view */
            if (g->nodes[i].persist && !g->nodes[i].dead && g->plan->bytes[i])
                fprintf(out, "    memcpy(dst->arena + %lld, src->arena + %lld, %s * sizeof(float));   /* %s */\n",
                        (long long)g->nodes[i].offset, (long long)g->nodes[i].offset,
                        encoded_count(e, i, "src"), g->nodes[i].name);
    }
    fprintf(out, "    return TFRT_OK;\n}\n");
}

/* static int NAME(m, tokens, seq, output): a pass over seq tokens after
 * those cached, with the program of `flags`. */
static void emit_run_tokens(const Emitter *e, const char *name, int flags)
{
    const Graph *g = e->g;
    FILE *out = e->out;
    const char *in = var(e, g->inputs[kv_cache_input(g)]), *seq = g->syms[g->cache_sym].name;
    fprintf(out, "static int %s(%s_model *m, const int32_t *%s, int %s, float *%s)\n{\n", name, e->P,
            in, seq, g->output_name);
    fprintf(out, "    const int pos = m->pos;\n    if (%s > m->ctx - pos)\n"
                 "        return TFRT_ERR_LENGTH;   /* the context is full */\n", seq);
    emit_body(e, flags, seq);
    fprintf(out, "    m->pos = pos + %s;\n    return TFRT_OK;\n}\n\n", seq);
}

/* A cached decoder: prefill and step share the cache; both run the tokens
 * that follow the m->pos already cached.  With an encoder, they run the
 * decoder's nodes (e->from on) over what encode left in the arena. */
static void emit_cached(const Emitter *e)
{
    const Graph *g = e->g;
    FILE *out = e->out;
    const char *P = e->P, *U = e->U, *in = var(e, g->inputs[kv_cache_input(g)]), *o = g->output_name;
    const char *seq = g->syms[g->cache_sym].name;
    fprintf(out, "/* Runs %s tokens after the m->pos already cached, planned for up to\n"
                 " * %s_MAX_%s tokens. */\n", seq, U, upper(seq));
    emit_run_tokens(e, "run_tokens", 0);
    if (kprog_has_last_row(g)) {
        fprintf(out, "/* The same, with the output of the last token only. */\n");
        emit_run_tokens(e, "run_tokens_last", KP_LAST_ROW);
    }
    fprintf(out, "/* The same for one token, planned for one row. */\n");
    fprintf(out, "static int run_step(%s_model *m, const int32_t *%s, float *%s)\n{\n", P, in, o);
    fprintf(out, "    const int %s = 1;\n    const int pos = m->pos;\n    if (pos >= m->ctx)\n"
                 "        return TFRT_ERR_LENGTH;   /* the context is full */\n", seq);
    emit_body(e, KP_STEP, "1");
    fprintf(out, "    m->pos = pos + 1;\n    return TFRT_OK;\n}\n\n");

    const char *encoded = g->enc_end ? "    if (!m->encoded)\n        return TFRT_ERR_ARG;   /* encode comes first */\n"
                                     : "";
    fprintf(out, "int %s_prefill(%s_model *m, const int32_t *%s, int %s, float *%s)\n{\n", P, P, in, seq, o);
    if (g->enc_end)
        emit_side_checks(e, 0);
    else
        emit_checks(e);
    fprintf(out, "%s    m->pos = 0;\n    return run_tokens(m, %s, %s, %s);\n}\n\n", encoded, in, seq, o);
    if (kprog_has_last_row(g)) {
        fprintf(out, "int %s_prefill_last(%s_model *m, const int32_t *%s, int %s, float *%s)\n{\n", P, P,
                in, seq, o);
        if (g->enc_end)
            emit_side_checks(e, 0);
        else
            emit_checks(e);
        fprintf(out, "%s    m->pos = 0;\n    return run_tokens_last(m, %s, %s, %s);\n}\n\n", encoded, in,
                seq, o);
    }
    fprintf(out, "int %s_context(const %s_model *m)\n{\n    return m ? m->ctx : 0;\n}\n\n", P, P);
    fprintf(out, "int %s_step(%s_model *m, int32_t token, float *%s)\n{\n", P, P, o);
    fprintf(out, "    if (!m || !%s)\n        return TFRT_ERR_ARG;\n%s", o, encoded);
    fprintf(out, "    return run_step(m, &token, %s);\n}\n\n", o);
    if (!g->enc_end) {   /* an encoder-decoder's forward is encode, then decode */
        emit_signature(e, out);
        fprintf(out, "\n{\n    return %s_prefill(m, %s, %s, %s);\n}\n\n", P, in, seq, o);
    }
    fprintf(out, "int %s_position(const %s_model *m)\n{\n    return m ? m->pos : 0;\n}\n\n", P, P);
    emit_copy_state(e);
}

void emit_source(const Graph *g, const EmitOptions *opt, FILE *out)
{
    Emitter e = {g, opt, out, opt->prefix, upper(opt->prefix), 0, g->count, NULL, 0, NULL, 0};
    e.packed = kprog_packed_parts(g, &e.npacked);
    e.q8 = kprog_q8_parts(g, &e.nq8);
    fprintf(out, "/*\n * %s.c - the %s model, compiled by tfc from %s.  Do not edit.\n",
            opt->prefix, g->model, g->source);
    fprintf(out, " * Build: cc -std=c99 -O2 -c %s.c $(pkg-config --cflags tfrt)\n */\n", opt->prefix);
    if (opt->header_name)
        fprintf(out, "#include \"%s\"\n", opt->header_name);
    else
        emit_header(g, opt, out);
    fprintf(out, "#include \"tfrt.h\"\n\n#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n");
    fprintf(out, "/* Built with -DTFC_POISON, the arena is filled with NaN bytes when a\n"
                 " * pass starts and each buffer once its last reader has run, so that a\n"
                 " * wrong reuse of memory shows up as wrong numbers. */\n"
                 "#ifdef TFC_POISON\n"
                 "#define TFC_POISON_ARENA(p, bytes) memset((p), 0xff, (size_t)(bytes))\n"
                 "#define TFC_DEAD(p, count) memset((p), 0xff, (count) * 4)\n"
                 "#else\n#define TFC_POISON_ARENA(p, bytes) ((void)0)\n"
                 "#define TFC_DEAD(p, count) ((void)0)\n#endif\n\n");
    emit_weights(&e);
    emit_open_close(&e);
    if (g->enc_end)
        emit_encoder_decoder(&e);
    if (g->cache_sym) {
        Emitter dec = e;
        dec.from = g->enc_end;
        emit_cached(&dec);
    } else if (!g->enc_end) {
        emit_forward(&e);
    }
}
