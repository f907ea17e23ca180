/*
 * checkpoint.c - what tfc reads from a checkpoint before it compiles:
 * the configuration the checkpoint states (a Hugging Face folder's
 * config.json, a llama2.c header), the tokenizer beside it, and, before a
 * run, whether the tensors have the shapes the configuration gives, so
 * that a mismatch names the -D or config.json key to change.
 */
#include "tfc.h"
#include "tfrt.h"
#include "json.h"
#include "q8_file.h"
#include "safetensors_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *in_dir(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    return tfc_format("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

struct JsonValue *ckpt_config_json(const char *weights, const char **path)
{
    char err[512];
    JsonValue *root;

    *path = NULL;
    if (!weights)
        return NULL;
    if (ckpt_config_load(weights, &root, err, sizeof err) != TFRT_OK)
        error_status(EXIT_INPUT, "%s", err);
    if (root)
        *path = in_dir(weights, "config.json");
    return root;
}

static void add(Define **defs, int *n, const char *key, const char *value, const char *from)
{
    Define *d = tfc_alloc((size_t)(*n + 1) * sizeof *d);
    if (*n)
        memcpy(d, *defs, (size_t)*n * sizeof *d);
    d[(*n)++] = (Define){key, value, from};
    *defs = d;
}

/* A llama2.c checkpoint's header, or 0. */
static int llama2c_of(const char *path, Llama2cHeader *h)
{
    TfrtSafetensors *st = st_new();
    const unsigned char *map;
    size_t size;
    char err[256];
    int yes = st && st_map_raw(st, path, 28, &map, &size, err, sizeof err) == TFRT_OK &&
              llama2c_header(map, size, h);
    tfrt_st_close(st);
    return yes;
}

void ckpt_defines(const char *weights, const Define *defs, int ndefs, Define **out, int *nout)
{
    const char *path;
    JsonValue *cfg = ckpt_config_json(weights, &path);
    Llama2cHeader h;

    *out = tfc_alloc((size_t)(ndefs ? ndefs : 1) * sizeof **out);
    memcpy(*out, defs, (size_t)ndefs * sizeof *defs);
    *nout = ndefs;
    for (size_t i = 0; cfg && i < cfg->u.object.count; i++) {
        const JsonMember *m = &cfg->u.object.members[i];
        char v[64];
        if (ckpt_config_text(&m->value, v, sizeof v))
            add(out, nout, tfc_strdup(m->key), tfc_strdup(v), path);
    }
    json_free(cfg);
    if (weights && !is_dir(weights) && is_regular(weights) && llama2c_of(weights, &h)) {
        int32_t vals[LLAMA2C_KEYS];
        llama2c_values(&h, vals);
        for (int k = 0; k < LLAMA2C_KEYS; k++)
            add(out, nout, llama2c_keys[k], tfc_format("%d", vals[k]),
                tfc_format("%s (llama2.c header)", weights));
    }
}

const char *ckpt_default_tokenizer(const char *weights)
{
    static const char *const names[] = {"tokenizer.json", "tokenizer.bin", "vocab.txt"};
    if (!weights || !is_dir(weights))
        return NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (is_regular(in_dir(weights, names[i])))
            return in_dir(weights, names[i]);
    return NULL;
}

/* ---- shapes before a run ------------------------------------------------------ */

/* Where config c got its value: "-D NAME", "config.json's \"key\"", or the
 * model file. */
static const char *origin(const Program *prog, const Define *defs, int ndefs, const char *c)
{
    const char *key = NULL;
    for (int i = 0; i < ndefs; i++)
        if (!defs[i].from && strcmp(defs[i].name, c) == 0)
            return tfc_format("-D %s", c);
    for (int i = 0; i < prog->stmts.count; i++) {
        const Ast *s = prog->stmts.items[i];
        if (s->kind == AST_CONFIG && strcmp(s->name, c) == 0)
            key = s->at;
    }
    for (int i = 0; key && i < ndefs; i++)
        if (defs[i].from && strcmp(defs[i].name, key) == 0)
            return tfc_format("%s's \"%s\"", defs[i].from, key);
    return tfc_format("the model file's default (config %s)", c);
}

/* What to change when a dimension the model expects (want) differs from
 * the stored one (have): the config values that make want. */
static const char *hint(const Graph *g, const Program *prog, const Define *defs, int ndefs,
                        int64_t want, int64_t have)
{
    const char *text = "";
    for (int m = 1; m <= 8 && !*text; m++)
        for (int c = 0; c < g->nconfig; c++) {
            double v = g->config_values[c];
            if (!g->config_is_int[c] || v * m != (double)want || have % m != 0)
                continue;
            text = tfc_format("%s%s%s = %lld comes from %s; the file fits %s = %lld", text,
                              *text ? "; " : "", g->config_names[c], (long long)v,
                              origin(prog, defs, ndefs, g->config_names[c]),
                              g->config_names[c], (long long)(have / m));
        }
    return text;
}

static const char *shape_text(int ndim, const int64_t *d)
{
    const char *s = "[";
    for (int i = 0; i < ndim; i++)
        s = tfc_format("%s%s%lld", s, i ? ", " : "", (long long)d[i]);
    return tfc_format("%s]", s);
}

static const TfrtTensor *find(const Graph *g, const TfrtSafetensors *st, const char *name)
{
    const TfrtTensor *t = tfrt_st_find(st, name);
    for (int i = 0; !t && i < g->nprefixes; i++)
        t = tfrt_st_find(st, tfc_format("%s%s", g->prefixes[i], name));
    return t;
}

void ckpt_check_shapes(const Graph *g, const Program *prog, const Define *defs, int ndefs,
                       const char *weights)
{
    TfrtSafetensors *st;
    char err[512];

    if (tfrt_st_open(&st, weights, err, sizeof err) != TFRT_OK)
        return;               /* the model's open reports it, with its status */
    for (int i = 0; i < g->count; i++) {
        const Node *n = &g->nodes[i];
        Shape stored = shard_stored_shape(n);
        const Shape *want = &stored;
        const TfrtTensor *t;
        int64_t wd[MAX_DIMS];
        if (n->op != OP_WEIGHT || !(t = find(g, st, n->attr.weight.ckpt)))
            continue;
        /* saved int8: the float shape it was saved from (a bad entry: open says) */
        TfrtQ8Saved q;
        TfrtTensor as_float;
        int saved;
        if (tfrt_q8_saved(st, t, &q, &saved, err, sizeof err) != TFRT_OK)
            continue;
        if (saved) {
            as_float = *t;
            as_float.ndim = 2, as_float.shape[0] = q.shape[0], as_float.shape[1] = q.shape[1];
            t = &as_float;
        }
        int same = t->ndim == want->ndim;
        for (int k = 0; k < want->ndim; k++)
            wd[k] = want->d[k].n;
        for (int k = 0; same && k < want->ndim; k++)
            same = t->shape[k] == wd[k];
        if (same)
            continue;
        const char *why = "";
        for (int k = 0; t->ndim == want->ndim && k < want->ndim && !*why; k++)
            if (t->shape[k] != wd[k])
                why = hint(g, prog, defs, ndefs, wd[k], t->shape[k]);
        error_status(EXIT_INPUT, "tensor '%s' has shape %s, the model expects %s%s%s", t->name,
                     shape_text(t->ndim, t->shape), shape_text(want->ndim, wd), *why ? ": " : "",
                     why);
    }
    tfrt_st_close(st);
}
