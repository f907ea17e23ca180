/*
 * report_diagram.c - the architecture, drawn from the planned graph.
 *
 * A column per stack: the encoder's nodes [0, enc_end) and the decoder's
 * (one column for a model without an encoder).  In a column, the ops
 * before the first block, the ops of block 0 in a frame marked "x L"
 * (blocks are the nodes a `repeat` made, named l<i>_...; L is the number
 * of them), then the ops after the last block.  Weights, stacked weights,
 * views and cache copies are not drawn as ops: an attention that reads a
 * KV cache gets a cache box beside it, an attention whose keys come from
 * the encoder is cross-attention, with a line from the encoder's output.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#define COL_W 440
#define BOX_W 250
#define BOX_H 24
#define ROW 32
#define TOP 40

/* The block index of a node made by `repeat` (l<i>_...), or -1. */
static int block_of(const Node *n)
{
    const char *s = n->name;
    if (s[0] != 'l' || s[1] < '0' || s[1] > '9')
        return -1;
    char *end;
    long i = strtol(s + 1, &end, 10);
    return *end == '_' ? (int)i : -1;
}

static int drawn(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    if (n->dead)
        return 0;
    switch (n->op) {
    case OP_WEIGHT: case OP_CONCAT: case OP_CACHE: case OP_POSITIONS: return 0;
    case OP_SLICE: return !plan_is_view(g, i);
    default: return 1;
    }
}

static int64_t width(const Graph *g, int id)
{
    const Shape *s = &g->nodes[id].shape;
    return s->d[s->ndim - 1].n;
}

/* What a box says besides the op: shapes and attributes that teach. */
static const char *detail(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    switch (n->op) {
    case OP_MATMUL:
        return tfc_format("%lld \xe2\x86\x92 %lld%s%s%s", (long long)width(g, n->in[0]),
                          (long long)width(g, i), n->attr.matmul.act ? " " : "",
                          n->attr.matmul.act ? act_names[n->attr.matmul.act] : "",
                          n->attr.matmul.glu ? " (gated)" : "");
    case OP_ATTENTION:
        return tfc_format("%s%d heads%s%s",
                          g->enc_end && i >= g->enc_end && n->in[1] < g->enc_end ? "cross, " : "",
                          n->attr.attn.heads,
                          n->attr.attn.kv_heads != n->attr.attn.heads
                              ? tfc_format(", %d kv heads", n->attr.attn.kv_heads) : "",
                          n->attr.attn.causal ? ", causal" : "");
    case OP_EMBED:
        return tfc_format("table %lld \xc3\x97 %lld", (long long)g->nodes[n->in[0]].shape.d[0].n,
                          (long long)width(g, i));
    default:
        return ir_shape_str(g, n->shape);
    }
}

static const char *fill(const Node *n)
{
    switch (n->op) {
    case OP_MATMUL: return "#cfe0f3";
    case OP_ATTENTION: return "#f6d5b3";
    case OP_LAYERNORM: case OP_RMSNORM: return "#d7ead0";
    case OP_EMBED: case OP_INPUT: return "#e8dcf0";
    default: return "#eeeeee";
    }
}

typedef struct {
    int from, to;                /* node range of the stack */
    const char *title;
    int x, y;                    /* next box's position */
    int last_y;                  /* centre of the last box drawn */
} Column;

/* The small squares of an attention box: one per head, the KV heads'
 * groups shaded alike (grouped-query attention shares one K,V per group). */
static void heads(FILE *out, const Node *n, int x, int y)
{
    int h = n->attr.attn.heads, kv = n->attr.attn.kv_heads > 0 ? n->attr.attn.kv_heads : h;
    int shown = h > 32 ? 32 : h;
    for (int k = 0; k < shown; k++)
        fprintf(out, "<rect x='%d' y='%d' width='6' height='6' fill='%s'/>", x + k * 7, y,
                (k / (h / kv)) % 2 ? "#b5651d" : "#e39a4f");
    if (shown < h)
        fprintf(out, "<text x='%d' y='%d' class='ax'>+%d</text>", x + shown * 7 + 2, y + 6, h - shown);
}

static void box(const Graph *g, FILE *out, Column *c, int i, int *cross_y, int *cross_x)
{
    const Node *n = &g->nodes[i];
    const char *name = block_of(n) >= 0 ? strchr(n->name, '_') + 1 : n->name;
    int tall = n->op == OP_ATTENTION ? 10 : 0;
    fprintf(out, "<g><title>%%%d %s %s</title><rect x='%d' y='%d' width='%d' height='%d' rx='4' "
                 "fill='%s' stroke='#555'/>", i, op_names[n->op], report_escape(n->name), c->x, c->y,
            BOX_W, BOX_H + tall, fill(n));
    fprintf(out, "<text x='%d' y='%d'><tspan font-weight='bold'>%s</tspan> %s</text>", c->x + 6,
            c->y + 16, report_escape(name), report_escape(detail(g, i)));
    if (n->op == OP_ATTENTION)
        heads(out, n, c->x + 6, c->y + 23);
    fprintf(out, "</g>\n");
    if (n->op == OP_ATTENTION && g->nodes[n->in[1]].op == OP_CACHE) {
        const Node *k = &g->nodes[n->in[1]];
        fprintf(out, "<rect x='%d' y='%d' width='%d' height='%d' rx='4' fill='#fff3c4' "
                     "stroke='#a08000'/><text x='%d' y='%d' class='ax'>KV cache: K, V "
                     "%s \xc3\x97 %lld</text>", c->x + BOX_W + 12, c->y, COL_W - BOX_W - 24, BOX_H,
                c->x + BOX_W + 16, c->y + 16, report_escape(ir_dim_str(g, k->shape.d[0])),
                (long long)k->shape.d[1].n);
        fprintf(out, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#a08000'/>\n", c->x + BOX_W,
                c->y + BOX_H / 2, c->x + BOX_W + 12, c->y + BOX_H / 2);
    }
    if (n->op == OP_ATTENTION && g->enc_end && i >= g->enc_end && n->in[1] < g->enc_end && !*cross_y) {
        *cross_y = c->y + BOX_H / 2;
        *cross_x = c->x;
    }
    if (c->last_y)
        fprintf(out, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#555' marker-end='url(#arr)'/>\n",
                c->x + BOX_W / 2, c->last_y, c->x + BOX_W / 2, c->y);
    c->last_y = c->y + BOX_H + tall;
    c->y += ROW + tall;
}

/* The ops of one stack: before, one block framed, after. */
static void column(const Graph *g, FILE *out, Column *c, int *cross_y, int *cross_x)
{
    int blocks = 0, frame_top = -1;
    fprintf(out, "<text x='%d' y='%d' class='ct'>%s</text>\n", c->x, TOP - 14, c->title);
    for (int i = c->from; i < c->to; i++)
        if (!g->nodes[i].dead && block_of(&g->nodes[i]) + 1 > blocks)
            blocks = block_of(&g->nodes[i]) + 1;
    int in_block = 0;
    for (int i = c->from; i < c->to; i++) {
        if (!drawn(g, i))
            continue;
        int b = block_of(&g->nodes[i]);
        if (b > 0)
            continue;
        if (b == 0 && !in_block) {
            frame_top = c->y - 6;
            c->y += 14;
            in_block = 1;
        } else if (b < 0 && in_block) {
            fprintf(out, "<rect x='%d' y='%d' width='%d' height='%d' rx='8' fill='none' stroke='#333' "
                         "stroke-dasharray='5 3'/><text x='%d' y='%d' font-weight='bold'>block "
                         "\xc3\x97 %d</text>\n", c->x - 10, frame_top, BOX_W + 20, c->y - frame_top - 4,
                    c->x - 4, frame_top + 14, blocks);
            c->y += 8;
            in_block = 0;
        }
        box(g, out, c, i, cross_y, cross_x);
    }
    if (in_block)
        fprintf(out, "<rect x='%d' y='%d' width='%d' height='%d' rx='8' fill='none' stroke='#333' "
                     "stroke-dasharray='5 3'/><text x='%d' y='%d' font-weight='bold'>block \xc3\x97 %d"
                     "</text>\n", c->x - 10, frame_top, BOX_W + 20, c->y - frame_top - 4, c->x - 4,
                frame_top + 14, blocks);
}

void report_diagram(const Graph *g, FILE *out)
{
    int cols = g->enc_end ? 2 : 1;
    Column c[2] = {{0, g->enc_end ? g->enc_end : g->count, g->enc_end ? "encoder" : "model", 20, TOP, 0},
                   {g->enc_end, g->count, "decoder", 20 + COL_W, TOP, 0}};
    /* drawn first into memory: the height is known once the columns are */
    char *body;
    size_t size;
    FILE *mem = open_memstream(&body, &size);
    if (!mem)
        tfc_bug("open_memstream failed");
    int cross_y = 0, cross_x = 0;
    for (int k = 0; k < cols; k++)
        column(g, mem, &c[k], &cross_y, &cross_x);
    if (cols == 2 && cross_y)
        fprintf(mem, "<path d='M%d,%d C%d,%d %d,%d %d,%d' fill='none' stroke='#b5651d' stroke-width='2' "
                     "marker-end='url(#arr)'/><text x='%d' y='%d' class='ax' fill='#b5651d'>"
                     "cross-attention: K, V from the encoder</text>\n",
                c[0].x + BOX_W, c[0].last_y, c[0].x + BOX_W + 80, c[0].last_y, cross_x - 60, cross_y,
                cross_x, cross_y, c[0].x + BOX_W + 6, c[0].last_y + 16);
    fclose(mem);
    int h = (c[0].y > c[cols - 1].y ? c[0].y : c[cols - 1].y) + 10;
    fprintf(out, "<svg class='chart' width='%d' height='%d' viewBox='0 0 %d %d' role='img'>"
                 "<title>architecture of %s</title>\n", 20 + cols * COL_W, h, 20 + cols * COL_W, h,
            report_escape(g->model));
    fprintf(out, "<defs><marker id='arr' viewBox='0 0 8 8' refX='8' refY='4' markerWidth='6' "
                 "markerHeight='6' orient='auto'><path d='M0,0 L8,4 L0,8 z' fill='#555'/></marker></defs>\n");
    fwrite(body, 1, size, out);
    free(body);
    fprintf(out, "</svg>\n");
}
