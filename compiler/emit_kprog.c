/*
 * emit_kprog.c - a kernel program as C statements: the body of one entry
 * point of the generated library.
 *
 * Requires: a program from kprog_build.  Writes, in order, each
 * instruction as a call into libtfrt or a loop, headed by the model-file
 * lines it covers (a fused call names every line whose work it does), with
 * a pointer declared for each node's data before its first use and a shape
 * comment on it.  Nothing is decided here that changes a number: that is
 * kprog.c's job.
 */
#include "tfc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ----------------------------------------------------------------- */

/* Identifiers the generated function uses for itself, or that C reserves. */
static int reserved(const Graph *g, const char *s)
{
    static const char *const words[] = {
        "m", "w", "arena", "rc", "pos", "token", "auto", "break", "case", "char", "const",
        "continue", "default", "do", "double", "else", "enum", "extern", "float", "for", "goto",
        "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
        "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
        "volatile", "while", "NULL", "size_t", "int32_t", "r", "c", "y", "a", "b", "d",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(s, words[i]) == 0)
            return 1;
    for (int i = 1; i < g->nsyms; i++)
        if (strcmp(s, g->syms[i].name) == 0)
            return 1;
    return 0;
}

const char *emit_var(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    if (n->op == OP_WEIGHT)
        return tfc_format("w->%s", n->name);
    if (id == g->output)
        return g->output_name;
    return reserved(g, n->name) ? tfc_format("%s_", n->name) : n->name;
}

const char *emit_float(double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    if (!strpbrk(buf, ".eEn"))
        strcat(buf, ".0");
    strcat(buf, "f");
    return tfc_strdup(buf);
}

/* ---- integers and pointers ---------------------------------------------------- */

typedef struct {
    const KProgram *kp;
    FILE *out;
    char *declared;          /* per node: its pointer is declared */
    int line;                /* the model-file line of the last heading */
    int node;                /* the node of the last heading */
} Printer;

static const char *term(const char *acc, int64_t k, const char *what)
{
    if (!k)
        return acc;
    const char *t = k == 1 ? what : tfc_format("%s * %lld", what, (long long)k);
    return *acc ? tfc_format("%s + %s", acc, t) : t;
}

/* c + k_len * len + k_pos * pos + k_valid * valid, as C; `size` casts the
 * run-time terms to size_t (pointer arithmetic on large buffers). */
static const char *kint(const Graph *g, KInt v, int size)
{
    const char *cast = size ? "(size_t)" : "", *acc = "";
    const char *len = v.k_len ? tfc_format("%s%s", cast, g->syms[v.sym].name) : "";
    acc = term(acc, v.k_pos, tfc_format("%spos", cast));
    acc = term(acc, v.k_len, len);
    acc = term(acc, v.k_valid, tfc_format("%s%s_valid", cast, g->syms[v.sym].name));
    if (v.c || !*acc)
        acc = *acc ? tfc_format("%s + %lld", acc, (long long)v.c) : tfc_format("%lld", (long long)v.c);
    return acc;
}

static int kint_is_const(KInt v) { return !v.k_len && !v.k_pos && !v.k_valid; }

static const char *pointer(const Graph *g, KRef r)
{
    if (r.node == KREF_SCRATCH)
        return tfc_format("(float *)(arena + %lld)", (long long)g->scratch_offset);
    if (r.node < 0)
        return "NULL";
    const char *v = emit_var(g, r.node);
    if (kint_is_const(r.elem) && !r.elem.c)
        return v;
    const char *e = kint(g, r.elem, 1);
    return tfc_format("%s + %s", v, strchr(e, '+') ? tfc_format("(%s)", e) : e);
}

/* ---- declarations ---------------------------------------------------------------- */

static void declare(Printer *pr, int id)
{
    const Graph *g = pr->kp->g;
    const KTensor *t = &pr->kp->tensors[id];
    if (id < 0 || pr->declared[id])
        return;
    pr->declared[id] = 1;
    const Node *n = &g->nodes[id];
    const char *type = n->dtype == DT_I32 ? "int32_t" : "float";
    const char *shape = ir_shape_str(g, n->shape);
    if (t->base == KB_ARENA && plan_is_view(g, id))
        fprintf(pr->out, "    %s *%s = (%s *)(arena + %lld);   /* %s: columns [%d, %d) of %s */\n",
                type, emit_var(g, id), type, (long long)t->offset, shape, n->attr.slice.first,
                n->attr.slice.first + n->attr.slice.cols, emit_var(g, n->in[0]));
    else if (t->base == KB_ARENA)
        fprintf(pr->out, "    %s *%s = (%s *)(arena + %lld);   /* %s%s */\n", type, emit_var(g, id),
                type, (long long)t->offset, shape,
                pr->kp->from && id < pr->kp->from ? ", from encode" : "");
    else if (t->base == KB_CACHE)
        fprintf(pr->out, "    float *%s = m->slot[%d];   /* %s */\n", emit_var(g, id), t->index, shape);
}

static void declare_ref(Printer *pr, KRef r) { declare(pr, r.node); }

static void declare_args(Printer *pr, const KInstr *in)
{
    declare(pr, in->node);
    if (in->kind == KI_LOOP) {
        declare_ref(pr, in->loop->out);
        for (int i = 0; i < in->loop->nin; i++)
            declare_ref(pr, in->loop->in[i]);
        return;
    }
    for (int a = 0; a < in->fn->nparams; a++) {
        if (in->fn->params[a].type == KT_PTR)
            declare_ref(pr, in->args[a].p);
        if (in->fn->params[a].type != KT_STRUCT)
            continue;
        const KStruct *st = in->fn->params[a].st;
        for (int f = 0, e = 0; f < st->nfields; e += st->fields[f++].count)
            for (int k = 0; st->fields[f].type == KT_PTR && k < st->fields[f].count; k++)
                declare_ref(pr, in->args[a].fields[e + k].p);
    }
}

/* ---- headings: the model-file lines an instruction covers ------------------------- */

static const char *source_line(const Graph *g, int line)
{
    const char *p = g->source_text;
    if (!p || line <= 0)
        return NULL;
    for (int l = 1; l < line && *p; p++)
        if (*p == '\n')
            l++;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strcspn(p, "\n#");
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\r'))
        len--;
    char *text = tfc_strndup(p, len);
    for (char *c = text; *c; c++)
        if (*c == '*' && c[1] == '/')
            c[1] = '\\';     /* keep the comment closed only where we close it */
    return text;
}

/* "l3_..." names a node of block 3. */
static int block_of(const char *name)
{
    const char *us = strchr(name, '_');
    return name[0] == 'l' && us && isdigit((unsigned char)name[1]) ? atoi(name + 1) : -1;
}

static void heading(Printer *pr, const KInstr *in, int *block)
{
    const Graph *g = pr->kp->g;
    const Node *n = &g->nodes[in->node];
    int b = block_of(n->name);
    if (b >= 0 && b != *block)
        fprintf(pr->out, "\n    /* ---- block %d ---- */\n", b);
    *block = b >= 0 ? b : *block;
    if (in->node == pr->node || (n->loc.line == pr->line && !n->ncovers))
        return;
    pr->line = n->loc.line;
    pr->node = in->node;
    int lines[MAX_COVERS + 1], count = 0;
    lines[count++] = n->loc.line;
    for (int i = 0; i < n->ncovers; i++)
        lines[count++] = n->covers[i];
    for (int i = 1; i < count; i++)   /* in file order */
        for (int j = i; j > 0 && lines[j] < lines[j - 1]; j--) {
            int t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    fprintf(pr->out, "\n");
    for (int i = 0; i < count; i++) {
        const char *text = source_line(g, lines[i]);
        if (text)
            fprintf(pr->out, "    /* %s%s */\n", count > 1 ? "fused: " : "", text);
    }
}

/* ---- calls ------------------------------------------------------------------------ */

static const char *scalar(const Graph *g, KType type, const KValue *v, const char *const *enums)
{
    switch (type) {
    case KT_INT:
        if (enums && kint_is_const(v->i))
            return enums[v->i.c];
        return kint(g, v->i, 0);
    case KT_FLOAT: return emit_float(v->f);
    case KT_PTR: return pointer(g, v->p);
    case KT_POOL: return "m->pool";
    case KT_PACKED: return v->i.c ? tfc_format("m->packed[%lld]", (long long)v->i.c - 1) : "NULL";
    case KT_Q8: return v->i.c ? tfc_format("m->q8[%lld]", (long long)v->i.c - 1) : "NULL";
    case KT_STRUCT: break;
    }
    return "?";
}

static int is_zero(KType type, const KValue *v)
{
    return (type == KT_INT && kint_is_const(v->i) && !v->i.c) || (type == KT_FLOAT && v->f == 0.0f)
           || (type == KT_PTR && v->p.node == -1) || ((type == KT_PACKED || type == KT_Q8) && !v->i.c);
}

/* &(Type){.field = value, ...}: the fields that are not zero, arrays up
 * to their last non-zero element. */
static void struct_literal(Printer *pr, const KStruct *st, const KValue *fields)
{
    const Graph *g = pr->kp->g;
    FILE *out = pr->out;
    int width = 8;
    fprintf(out, "&(%s){\n       ", st->name);
    for (int f = 0, e = 0; f < st->nfields; e += st->fields[f++].count) {
        const KField *fd = &st->fields[f];
        int used = 0;
        for (int k = 0; k < fd->count; k++)
            if (!is_zero(fd->type, &fields[e + k]))
                used = k + 1;
        if (!used)
            continue;
        const char *text = "";
        for (int k = 0; k < used; k++)
            text = tfc_format("%s%s%s", text, k ? ", " : "",
                              scalar(g, fd->type, &fields[e + k], fd->enum_names));
        text = fd->count > 1 ? tfc_format("%s.%s = {%s}", width > 8 ? ", " : "", fd->name, text)
                             : tfc_format("%s.%s = %s", width > 8 ? ", " : "", fd->name, text);
        if (width > 8 && width + (int)strlen(text) > 92) {
            fprintf(out, ",\n       ");
            width = 8;
            text += 2;   /* the ", " goes before the line break */
        }
        fprintf(out, "%s%s", width > 8 ? "" : " ", text);
        width += (int)strlen(text) + (width > 8 ? 0 : 1);
    }
    fprintf(out, "}");
}

static void print_call(Printer *pr, const KInstr *in)
{
    const Graph *g = pr->kp->g;
    FILE *out = pr->out;
    fprintf(out, in->fn->returns_status ? "    if ((rc = %s(" : "    %s(", in->fn->name);
    for (int a = 0; a < in->fn->nparams; a++) {
        if (in->fn->params[a].type == KT_STRUCT) {
            fprintf(out, a ? ", " : "");
            struct_literal(pr, in->fn->params[a].st, in->args[a].fields);
            fprintf(out, ",\n        ");
            continue;
        }
        if (a && in->fn->params[a - 1].type != KT_STRUCT)
            fprintf(out, ", ");
        fputs(scalar(g, in->fn->params[a].type, &in->args[a], NULL), out);
    }
    fprintf(out, in->fn->returns_status ? ")) != TFRT_OK)\n        return rc;\n" : ");\n");
}

/* ---- loops -------------------------------------------------------------------------- */

/* The expression of code entry k; operands are named a, b, d, e (in[i]),
 * or y when the output overwrites that input. */
static const char *expr(const KLoop *L, int k)
{
    static const char *const names[KLOOP_MAX_IN] = {"a", "b", "d", "e"};
    const KExpr *x = &L->code[k];
    switch (x->op) {
    case KE_LOAD: return tfc_format("%s[c]", x->in == L->alias ? "y" : names[x->in]);
    case KE_CONST: return emit_float(x->c);
    case KE_ADD: return tfc_format("(%s + %s)", expr(L, x->a), expr(L, x->b));
    case KE_MUL: return tfc_format("(%s * %s)", expr(L, x->a), expr(L, x->b));
    case KE_ACT: return tfc_format("%s(%s)", kacts[x->act].inline_name, expr(L, x->a));
    }
    return "?";
}

/* The row r of a pointer with `stride` elements between rows. */
static const char *row(const Graph *g, KRef r, int64_t stride)
{
    const char *p = pointer(g, r);
    return stride ? tfc_format("%s + (size_t)r * %lld", p, (long long)stride) : p;
}

static void print_loop(Printer *pr, const KInstr *in)
{
    const Graph *g = pr->kp->g;
    const KLoop *L = in->loop;
    static const char *const names[KLOOP_MAX_IN] = {"a", "b", "d", "e"};
    FILE *out = pr->out;
    const char *rows = kint(g, L->rows, 0);
    if (L->ncode == 1 && L->code[0].op == KE_LOAD) {   /* a copy */
        fprintf(out, "    for (int r = 0; r < %s; r++)\n", rows);
        fprintf(out, "        memcpy(%s, %s, %lld * sizeof(float));\n", row(g, L->out, L->out_stride),
                row(g, L->in[0], L->in_stride[0]), (long long)L->cols);
        return;
    }
    const char *body = expr(L, L->ncode - 1);
    if (body[0] == '(' && body[strlen(body) - 1] == ')')
        body = tfc_strndup(body + 1, strlen(body) - 2);
    fprintf(out, "    for (int r = 0; r < %s; r++) {\n", rows);
    fprintf(out, "        float *restrict y = %s;\n", row(g, L->out, L->out_stride));
    for (int i = 0; i < L->nin; i++)
        if (i != L->alias)
            fprintf(out, "        const float *restrict %s = %s;%s\n", names[i],
                    row(g, L->in[i], L->in_stride[i]), L->in_stride[i] ? "" : "   /* every row */");
    fprintf(out, "        for (int c = 0; c < %lld; c++)\n            y[c] = %s;\n    }\n",
            (long long)L->cols, body);
}

/* ---- the program ---------------------------------------------------------------------- */

/* Elements of node id's result at the run-time lengths. */
static const char *elements(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    KInt rows = kprog_rows(g, id);
    int64_t c = n->shape.ndim == 2 ? n->shape.d[1].n : 1;
    return tfc_format("(size_t)(%s) * %lld", kint(g, rows, 0), (long long)c);
}

int emit_kprog_uses_status(const KProgram *kp)
{
    for (int i = 0; i < kp->count; i++)
        if (kp->instrs[i].kind == KI_CALL && kp->instrs[i].fn->returns_status)
            return 1;
    return 0;
}

/* The result of instruction `in` to the trace callback: float values
 * only (positions are ids), once per node. */
static void trace(const KProgram *kp, const KInstr *in, FILE *out)
{
    const Graph *g = kp->g;
    const Node *n = &g->nodes[in->node];
    int last = in == &kp->instrs[kp->count - 1] || in[1].node != in->node;
    if (n->dtype != DT_F32 || !last)
        return;
    int one_row = kp->last_row && in->node == g->output;
    fprintf(out, "    if (m->trace_fn)\n        m->trace_fn(m->trace_arg, \"%s\", %s, %s, %lld, %lld);\n",
            n->name, emit_var(g, in->node), one_row ? "1" : kint(g, kprog_rows(g, in->node), 0),
            (long long)(n->shape.ndim == 2 ? n->shape.d[1].n : n->shape.d[0].n),
            (long long)kp->tensors[in->node].stride);
}

void emit_kprog(const KProgram *kp, int trace_calls, FILE *out)
{
    const Graph *g = kp->g;
    Printer pr = {kp, out, tfc_alloc((size_t)g->count), -1, -1};
    int block = -1;
    for (int i = 0; i < kp->count; i++) {
        const KInstr *in = &kp->instrs[i];
        heading(&pr, in, &block);
        declare_args(&pr, in);
        if (in->kind == KI_CALL)
            print_call(&pr, in);
        else
            print_loop(&pr, in);
        if (trace_calls)
            trace(kp, in, out);
        for (int d = 0; d < in->ndead; d++)
            fprintf(out, "    TFC_DEAD(%s, %s);\n", emit_var(g, in->dead[d]), elements(g, in->dead[d]));
    }
}
