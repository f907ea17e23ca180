/*
 * report_heatmap.c - the report's attention section: for every attention
 * node and head, the probabilities a run recorded (report_attention.c) as
 * a heatmap over the tokens, and each head's entropy.
 *
 * A heatmap is one <svg> a node, its heads side by side: a query a row,
 * a key a column, labelled with the token texts.  The cells are drawn as
 * one <path> per shade (runs of equal cells merged), which keeps GPT-2
 * small's 144 heads over a short prompt in a few hundred kilobytes.  When
 * the heads of all nodes would need more cells than the page should hold,
 * tokens are put in bins of consecutive tokens: a cell is then the mean
 * over the bin's queries of the probability summed over the bin's keys
 * (each row still sums to 1), and the page says so.  Entropies come from
 * the recorded probabilities themselves, not the bins.
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    LEVELS = 16,                 /* shades of probability, 0 = white */
    SIDE_MAX = 64,               /* at most this many rows or columns a head */
    WIDTH = 1360                 /* a node's heads wrap at this width (px) */
};
/* Cells of all heatmaps together, at most (about 10 bytes of SVG each). */
#define CELL_BUDGET 120000.0

static const char pad_colour[] = "#f0a04b", hidden_colour[] = "#ececec";

/* Level of probability p: sqrt spreads the small ones, which a long
 * prompt has many of, over more shades. */
static int level_of(double p)
{
    int k = (int)floor(sqrt(p < 0 ? 0 : p > 1 ? 1 : p) * (LEVELS - 1) + 0.5);
    return k;
}

/* White to dark blue. */
static const char *shade(int k)
{
    double t = (double)k / (LEVELS - 1);
    int r = (int)(255 + t * (8 - 255)), g = (int)(255 + t * (48 - 255)), b = (int)(255 + t * (107 - 255));
    return tfc_format("#%02x%02x%02x", r, g, b);
}

/* Keys query i of call c may see: [0, limit). */
static int key_limit(const ReportAttnCall *c, int i)
{
    int limit = c->kv_len;
    if (c->causal && c->q_pos0 + i + 1 < limit)
        limit = c->q_pos0 + i + 1;
    return limit > 0 ? limit : 0;
}

/* ---- entropy ---------------------------------------------------------------------- */

/* Rows that count: queries at valid positions that see a key. */
static int row_counts(const ReportAttention *ra, const ReportAttnCall *c, int i)
{
    int valid = c->q_input >= 0 ? ra->valid[c->q_input] : c->n_q;
    return i < valid && key_limit(c, i) > 0;
}

/* Head h's entropy in bits, the mean over its rows; *uniform: the mean of
 * log2(keys seen), what a head that spreads evenly would have. */
static double head_entropy(const ReportAttention *ra, const ReportAttnCall *c, int h, double *uniform)
{
    double sum = 0, usum = 0;
    int rows = 0;
    for (int i = 0; i < c->n_q; i++) {
        if (!row_counts(ra, c, i))
            continue;
        const float *p = c->p + ((size_t)h * (size_t)c->n_q + (size_t)i) * (size_t)c->n_kv;
        double e = 0;
        for (int j = 0; j < c->n_kv; j++)
            if (p[j] > 0)
                e -= p[j] * log2(p[j]);
        sum += e, usum += log2(key_limit(c, i)), rows++;
    }
    *uniform = rows ? usum / rows : 0;
    return rows ? sum / rows : 0;
}

/* ---- bins ------------------------------------------------------------------------------ */

typedef struct {
    int n, bins;                 /* tokens, bins (bins == n: one token a bin) */
} Axis;

static int bin_first(const Axis *a, int b) { return (int)((int64_t)b * a->n / a->bins); }

/* One head as bins x bins values, NaN for a cell no query in it may see
 * any key of. */
static void bin_head(const ReportAttnCall *c, int h, const Axis *q, const Axis *k, double *cells)
{
    for (int bi = 0; bi < q->bins; bi++) {
        int i0 = bin_first(q, bi), i1 = bin_first(q, bi + 1);
        for (int bk = 0; bk < k->bins; bk++) {
            int j0 = bin_first(k, bk), j1 = bin_first(k, bk + 1);
            double s = 0;
            for (int i = i0; i < i1; i++) {
                const float *p = c->p + ((size_t)h * (size_t)c->n_q + (size_t)i) * (size_t)c->n_kv;
                for (int j = j0; j < j1; j++)
                    s += p[j];
            }
            cells[bi * k->bins + bk] = j0 < key_limit(c, i1 - 1) ? s / (i1 - i0) : NAN;
        }
    }
}

/* ---- drawing ------------------------------------------------------------------------- */

typedef struct {
    const ReportAttention *ra;
    const ReportAttnCall *c;
    Axis q, k;
    int cs;                      /* cell size, px */
    int label_w, top_h;          /* room for row labels, for titles and column labels */
    int every;                   /* a label every this many rows/columns */
    int per_row, hm_w, hm_h;     /* heads a line; one heatmap's size */
    const double *entropy;       /* the call's, a head each */
    FILE *out;
} Map;

/* The label of bin b of an axis of input `in`: the token's text, or the
 * range of tokens of a bin. */
static const char *axis_label(const Map *m, const Axis *a, int in, int b)
{
    int t0 = bin_first(a, b), t1 = bin_first(a, b + 1);
    if (a->bins != a->n)
        return tfc_format("%d\xe2\x80\x93%d", t0, t1 - 1);
    const char *s = in >= 0 ? m->ra->labels[in][t0] : tfc_format("%d", t0);
    int chars = 0;
    size_t cut = 0;
    for (const char *p = s; *p; p++)   /* the first 12 characters, whole */
        if ((*p & 0xc0) != 0x80 && ++chars == 13)
            cut = (size_t)(p - s);
    if (chars > 14)
        s = tfc_format("%.*s\xe2\x80\xa6", (int)cut, s);
    return report_escape(s);
}

/* Key bin bk is padding: all its keys at or past kv_len. */
static int key_padded(const Map *m, int bk) { return bin_first(&m->k, bk) >= m->c->kv_len; }

static void labels(const Map *m, int x0, int y0)
{
    FILE *out = m->out;
    const ReportAttnCall *c = m->c;
    int fs = m->cs < 11 ? (m->cs * m->every < 11 ? m->cs * m->every : 11) : 11;
    fprintf(out, "<g font-size='%d'>", fs);
    for (int b = 0; b < m->q.bins; b += m->every) {
        int padded = c->q_input >= 0 && bin_first(&m->q, b) >= m->ra->valid[c->q_input];
        fprintf(out, "<text x='%d' y='%d' text-anchor='end'%s>%s</text>", x0 - 3,
                y0 + b * m->cs + m->cs / 2 + fs / 3, padded ? " fill='#999'" : "",
                axis_label(m, &m->q, c->q_input, b));
    }
    for (int b = 0; b < m->k.bins; b += m->every) {
        int x = x0 + b * m->cs + m->cs / 2 + fs / 3;
        fprintf(out, "<text transform='translate(%d %d) rotate(-90)'%s>%s</text>", x, y0 - 3,
                key_padded(m, b) ? tfc_format(" fill='%s'", pad_colour) : "",
                axis_label(m, &m->k, c->k_input, b));
    }
    fprintf(out, "</g>");
}

/* One head's binned values v as cells at (x0, y0): the hidden and padded
 * ones, then a path per shade, in cell units. */
static void cells(const Map *m, int x0, int y0, const double *v)
{
    FILE *out = m->out;
    int nq = m->q.bins, nk = m->k.bins;
    fprintf(out, "<g transform='translate(%d %d) scale(%d)' shape-rendering='crispEdges'>"
                 "<rect width='%d' height='%d' fill='#fff' stroke='#999' stroke-width='%g'/>",
            x0, y0, m->cs, nk, nq, 1.0 / m->cs);
    const char *hidden = "", *padded = "";
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            if (key_padded(m, j)) {
                padded = tfc_format("%sM%d %dh%dv1h-%dz", padded, j, i, nk - j, nk - j);
                break;
            }
            if (isnan(v[i * nk + j])) {
                int e = j;
                while (e < nk && !key_padded(m, e))
                    e++;
                hidden = tfc_format("%sM%d %dh%dv1h-%dz", hidden, j, i, e - j, e - j);
                j = e - 1;
            }
        }
    if (*hidden)
        fprintf(out, "<path fill='%s' d='%s'/>", hidden_colour, hidden);
    if (*padded)
        fprintf(out, "<path fill='%s' d='%s'/>", pad_colour, padded);
    for (int k = 1; k < LEVELS; k++) {
        int any = 0;
        for (int i = 0; i < nq; i++)
            for (int j = 0; j < nk; j++) {
                double p = v[i * nk + j];
                if (isnan(p) || level_of(p) != k || key_padded(m, j))
                    continue;
                int e = j + 1;
                while (e < nk && !isnan(v[i * nk + e]) && level_of(v[i * nk + e]) == k && !key_padded(m, e))
                    e++;
                fprintf(out, "%sM%d %dh%dv1h-%dz", any++ ? "" : tfc_format("<path fill='%s' d='", shade(k)),
                        j, i, e - j, e - j);
                j = e - 1;
            }
        if (any)
            fprintf(out, "'/>");
    }
    fprintf(out, "</g>");
}

static void heads(const Map *m)
{
    const ReportAttnCall *c = m->c;
    int lines = (c->heads + m->per_row - 1) / m->per_row;
    int line_h = m->top_h + m->hm_h + 10;
    int width = m->label_w + m->per_row * (m->hm_w + 12);
    double *v = tfc_alloc((size_t)m->q.bins * (size_t)m->k.bins * sizeof *v);
    fprintf(m->out, "<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d'>",
            width, lines * line_h);
    for (int h = 0; h < c->heads; h++) {
        int line = h / m->per_row, col = h % m->per_row;
        int x0 = m->label_w + col * (m->hm_w + 12), y0 = line * line_h + m->top_h;
        fprintf(m->out, "<text x='%d' y='%d' font-size='11'>head %d \xc2\xb7 %.2f bits</text>",
                x0, line * line_h + 11, h, m->entropy[h]);
        if (col == 0)
            labels(m, x0, y0);
        bin_head(c, h, &m->q, &m->k, v);
        cells(m, x0, y0, v);
    }
    fprintf(m->out, "</svg>\n");
}

/* The width of an axis's longest label (about 0.6 em a character). */
static int label_px(const Map *m, const Axis *a, int in)
{
    int most = 1;
    for (int b = 0; b < a->bins; b += m->every) {
        int n = 0;
        for (const unsigned char *s = (const unsigned char *)axis_label(m, a, in, b); *s; s++)
            n += (*s & 0xc0) != 0x80 && *s != '&';   /* characters, an entity as one */
        most = n > most ? n : most;
    }
    int px = (int)(most * 11 * 0.62) + 4;
    return px > 100 ? 100 : px;
}

/* Sizes for a call whose axes have at most `side` bins. */
static void layout(Map *m, const ReportAttnCall *c, int side)
{
    m->c = c;
    m->q = (Axis){c->n_q, c->n_q < side ? c->n_q : side};
    m->k = (Axis){c->n_kv, c->n_kv < side ? c->n_kv : side};
    int big = m->q.bins > m->k.bins ? m->q.bins : m->k.bins;
    m->cs = 300 / (big ? big : 1);
    m->cs = m->cs < 4 ? 4 : m->cs > 22 ? 22 : m->cs;
    m->every = m->cs >= 8 ? 1 : (8 + m->cs - 1) / m->cs;
    m->label_w = 8 + label_px(m, &m->q, c->q_input);
    m->top_h = 22 + label_px(m, &m->k, c->k_input);
    m->hm_w = m->k.bins * m->cs, m->hm_h = m->q.bins * m->cs;
    m->per_row = (WIDTH - m->label_w) / (m->hm_w + 12);
    m->per_row = m->per_row < 1 ? 1 : m->per_row > c->heads ? c->heads : m->per_row;
}

/* The most bins an axis may have so that all heatmaps fit the budget. */
static int side_for(const ReportAttention *ra)
{
    double heads = 0;
    for (int k = 0; k < ra->ncalls; k++)
        heads += ra->calls[k].heads;
    int side = (int)sqrt(CELL_BUDGET / (heads > 0 ? heads : 1));
    return side < 8 ? 8 : side > SIDE_MAX ? SIDE_MAX : side;
}

/* ---- the section ------------------------------------------------------------------------ */

static const char *call_kind(const ReportAttention *ra, const ReportAttnCall *c)
{
    const Graph *g = ra->g;
    if (c->cross)
        return "cross-attention: each decoder token (row) over the encoder's tokens (columns)";
    const char *stack = !g->enc_end ? "" : c->node < g->enc_end ? "encoder " : "decoder ";
    return tfc_format("%s%sself-attention", stack, c->causal ? "causal " : "");
}

/* Every head's entropy, [call][head], and the even spread's, [call]. */
static double **entropies(const ReportAttention *ra, double *even)
{
    double **e = tfc_alloc((size_t)(ra->ncalls + 1) * sizeof *e);
    for (int k = 0; k < ra->ncalls; k++) {
        const ReportAttnCall *c = &ra->calls[k];
        e[k] = tfc_alloc((size_t)c->heads * sizeof **e);
        for (int h = 0; h < c->heads; h++)
            e[k][h] = head_entropy(ra, c, h, &even[k]);
    }
    return e;
}

static void entropy_table(const ReportAttention *ra, double *const *ent, const double *even, FILE *out)
{
    int most = 0;
    for (int k = 0; k < ra->ncalls; k++)
        most = ra->calls[k].heads > most ? ra->calls[k].heads : most;
    fprintf(out, "<h3>Entropy of each head</h3><p class='note'>In bits: \xe2\x88\x92\xce\xa3 p "
                 "log\xe2\x82\x82 p over a query's keys, the mean over the query rows (rows at "
                 "padded positions left out). Low: the head looks at few tokens; the last column "
                 "is what a head spreading evenly over the keys it may see would have.</p>\n"
                 "<div class='scroll'><table><tr><th>node</th>");
    for (int h = 0; h < most; h++)
        fprintf(out, "<th>%d</th>", h);
    fprintf(out, "<th>even</th></tr>\n");
    for (int k = 0; k < ra->ncalls; k++) {
        const ReportAttnCall *c = &ra->calls[k];
        fprintf(out, "<tr><td>%s%s</td>", report_escape(ra->g->nodes[c->node].name), c->cross ? " (cross)" : "");
        for (int h = 0; h < most; h++) {
            if (h >= c->heads) {
                fprintf(out, "<td></td>");
                continue;
            }
            double t = even[k] > 0 ? 1 - ent[k][h] / even[k] : 0;
            fprintf(out, "<td class='n' style='background:%s'>%.2f</td>", shade(level_of(t * t) / 2),
                    ent[k][h]);
        }
        fprintf(out, "<td class='n'>%.2f</td></tr>\n", even[k]);
    }
    fprintf(out, "</table></div>\n");
}

static void legend(FILE *out, int padded, int hidden)
{
    static const double marks[] = {0, 0.01, 0.05, 0.1, 0.25, 0.5, 1};
    fprintf(out, "<p class='note'>Shade: the probability p a query gives a key (the darker, "
                 "the more), in %d steps of \xe2\x88\x9ap so that small probabilities show:", LEVELS);
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
        fprintf(out, " <span style='background:%s;color:%s;padding:0 4px;border:1px solid #ccc'>%g</span>",
                shade(level_of(marks[i])), level_of(marks[i]) > LEVELS / 2 ? "#fff" : "#222", marks[i]);
    if (hidden)
        fprintf(out, "; <span style='background:%s;padding:0 4px'>grey</span>: keys the query may "
                     "not see (causal: later tokens)", hidden_colour);
    if (padded)
        fprintf(out, "; <span style='background:%s;padding:0 4px'>orange</span>: padding, keys "
                     "masked for every query (past the valid length, --length), their labels orange; "
                     "grey row labels: queries at padded positions", pad_colour);
    fprintf(out, ".</p>\n");
}

void report_attention_section(const ReportAttention *ra, FILE *out)
{
    fprintf(out, "<h2 id='attention'>Attention</h2>\n");
    if (!ra || ra->why_not) {
        fprintf(out, "<p>No attention section: %s.</p>\n",
                ra ? ra->why_not : "the page was made without weights and a prompt, and the attention "
                                   "probabilities are recorded by running the model (give "
                                   "<code>--weights</code> and <code>--prompt</code> or "
                                   "<code>--tokens</code>)");
        return;
    }
    int padded = 0, hidden = 0, side = side_for(ra), binned = 0;
    for (int k = 0; k < ra->ncalls; k++) {
        const ReportAttnCall *c = &ra->calls[k];
        padded |= c->kv_len < c->n_kv;
        hidden |= c->causal;
        binned |= c->n_q > side || c->n_kv > side;
    }
    fprintf(out, "<p>The attention probabilities of one forward pass over %s, as the model's own "
                 "attention kernel computed them (<code>tfrt_attention</code> records its softmax "
                 "while it runs). A row is a query token, a column a key token; each row sums to 1.</p>\n",
            ra->source ? ra->source : "the given tokens");
    legend(out, padded, hidden);
    if (binned)
        fprintf(out, "<p class='note'>Downsampled: an axis of more than %d tokens is shown in %d bins "
                     "of consecutive tokens (labelled by their positions); a cell is the mean over its "
                     "queries of the probability summed over its keys. The entropies are of the full "
                     "probabilities.</p>\n", side, side);
    double *even = tfc_alloc((size_t)(ra->ncalls + 1) * sizeof *even);
    double **ent = entropies(ra, even);
    entropy_table(ra, ent, even, out);
    Map m = {.ra = ra, .out = out};
    for (int k = 0; k < ra->ncalls; k++) {
        const ReportAttnCall *c = &ra->calls[k];
        m.entropy = ent[k];
        fprintf(out, "<h3>%s</h3><p class='note'>%s, %d heads, %d queries \xc3\x97 %d keys</p>"
                     "<div class='scroll'>", report_escape(ra->g->nodes[c->node].name),
                call_kind(ra, c), c->heads, c->n_q, c->n_kv);
        layout(&m, c, side);
        heads(&m);
        fprintf(out, "</div>\n");
    }
}
