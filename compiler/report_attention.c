/*
 * report_attention.c - the attention probabilities of one forward pass,
 * recorded by the run itself, for the report's attention section.
 *
 * The model is compiled and loaded as --run does it (run_load: the LLVM
 * JIT, or --jit cc's shared object), and runs once over the given tokens
 * with libtfrt's attention recorder set (tfrt_attention_set_recorder): the
 * kernel that computes the attention writes its own probabilities, no
 * second implementation recomputes them.  Calls are matched to the graph's
 * ATTENTION nodes by the order of the kernel programs the forward entry
 * point runs (the encoder's program, then the decoder's; emit_c.c and
 * jit_host.c choose the same ones), and every call's heads and row counts
 * are checked against its node.
 */
#include "report.h"
#include "tfrt.h"
#include "tfrt_text.h"

#include <stdlib.h>
#include <string.h>

/* Recorded probabilities beyond this are refused (a long prompt through
 * many heads): heads * n_q * n_kv floats a call, over all calls. */
#define RECORD_MAX_BYTES ((int64_t)1 << 31)

typedef struct {
    ReportAttention *ra;
    int next;                    /* the next call's index */
    int64_t bytes;
    int overflow;
} Recorder;

/* The model input whose tokens are the rows of symbol s (a cache's
 * pos+seq symbol: its base's), or -1. */
static int input_of_sym(const Graph *g, int s)
{
    if (s && g->syms[s].past)
        s = g->syms[s].past;
    for (int i = 0; s && i < g->ninputs; i++)
        if (g->nodes[g->inputs[i]].shape.d[0].sym == s)
            return i;
    return -1;
}

/* The attention nodes in the order the forward entry point calls them:
 * the programs of [0, enc_end) and [enc_end, count), or of [0, count). */
static void list_calls(const Graph *g, ReportAttention *ra)
{
    int cuts[3] = {0, g->enc_end, g->count}, nprog = g->enc_end ? 2 : 1;
    if (!g->enc_end)
        cuts[1] = g->count;
    ra->calls = tfc_alloc((size_t)(g->count + 1) * sizeof *ra->calls);
    for (int p = 0; p < nprog; p++) {
        KProgram *kp = kprog_build(g, cuts[p], cuts[p + 1], 0);
        for (int k = 0; k < kp->count; k++) {
            const KInstr *in = &kp->instrs[k];
            if (in->kind != KI_CALL || in->fn != &kfunc_attention)
                continue;
            const Node *n = &g->nodes[in->node];
            ReportAttnCall *c = &ra->calls[ra->ncalls++];
            c->node = in->node;
            c->cross = g->enc_end && in->node >= g->enc_end && n->in[1] < g->enc_end;
            c->q_input = input_of_sym(g, g->nodes[n->in[0]].shape.d[0].sym);
            c->k_input = input_of_sym(g, g->nodes[n->in[1]].shape.d[0].sym);
            c->heads = n->attr.attn.heads;
        }
    }
}

/* tfrt_attention's recorder: the next call's buffer. */
static float *on_attention(void *arg, const TfrtAttention *a)
{
    Recorder *r = arg;
    ReportAttention *ra = r->ra;
    if (r->next >= ra->ncalls)
        tfc_bug("the run made more attention calls than its programs hold (%d)", ra->ncalls);
    ReportAttnCall *c = &ra->calls[r->next++];
    if (a->heads != c->heads)
        tfc_bug("attention call %d has %d heads, its node %s %d", r->next - 1, a->heads,
                ra->g->nodes[c->node].name, c->heads);
    c->n_q = a->n_q, c->n_kv = a->n_kv, c->kv_len = a->kv_len < a->n_kv ? a->kv_len : a->n_kv;
    c->causal = a->causal, c->q_pos0 = a->q_pos0;
    int64_t bytes = (int64_t)a->heads * a->n_q * a->n_kv * (int64_t)sizeof(float);
    if (r->overflow || r->bytes + bytes > RECORD_MAX_BYTES) {
        r->overflow = 1;
        return NULL;
    }
    r->bytes += bytes;
    c->p = malloc((size_t)bytes + 1);
    if (!c->p)
        error_plain("--report: out of memory for the attention probabilities (%lld bytes)",
                    (long long)bytes);
    return c->p;
}

/* The forward's output, which the page does not show: a buffer for it. */
static float *output_buffer(const Graph *g, const RunOptions *ro)
{
    const Node *o = &g->nodes[g->output];
    size_t n = 1;
    for (int d = 0; d < o->shape.ndim; d++)
        n *= (size_t)(o->shape.d[d].sym ? ro->lengths[o->shape.d[d].sym - 1] : o->shape.d[d].n);
    float *out = malloc(n * sizeof *out + 1);
    if (!out)
        error_plain("--report: out of memory for the output (%zu values)", n);
    return out;
}

/* Logit rows of the output follow this input's tokens (the decoder's). */
static int output_input(const Graph *g)
{
    const Node *o = &g->nodes[g->output];
    return o->shape.ndim == 2 && o->shape.d[0].sym ? input_of_sym(g, o->shape.d[0].sym) : -1;
}

/* Appends to the decoder's input up to `more` tokens, each the most
 * likely one after the tokens before (a forward pass each, not recorded),
 * stopping after eos.  Returns the tokens appended, or -1 after an error. */
static int extend_greedily(const Graph *g, Loaded *L, RunOptions *ro, int more, int32_t eos)
{
    int in = output_input(g);
    if (in < 0 || more <= 0)
        return 0;
    int s = g->nodes[g->inputs[in]].shape.d[0].sym, n = ro->lengths[s - 1], added = 0;
    int max = (int)g->syms[s].max, vocab = (int)g->nodes[g->output].shape.d[1].n;
    int32_t *ids = tfc_alloc((size_t)max * sizeof *ids);
    memcpy(ids, ro->tokens[in], (size_t)n * sizeof *ids);
    ro->tokens[in] = ids;
    while (added < more && n < max) {
        float *out = output_buffer(g, ro);
        int rc = L->forward(L->model, ro->tokens, ro->lengths, out);
        const float *row = out + (size_t)(n - 1) * (size_t)vocab;
        int best = 0;
        for (int v = 1; !rc && v < vocab; v++)
            best = row[v] > row[best] ? v : best;
        free(out);
        if (rc) {
            fprintf(stderr, "tfc: error: %s\n", L->strerror(rc));
            return -1;
        }
        ids[n++] = best, added++;
        ro->lengths[s - 1] = n;
        if (g->padded >> s & 1u)
            ro->lengths[MAX_INPUTS + s - 1] = n;
        if (best == eos)
            break;
    }
    return added;
}

int report_attention_record(const Graph *g, RunOptions *ro, int greedy, int32_t eos, ReportAttention *ra)
{
    ra->g = g;
    list_calls(g, ra);
    if (!ra->ncalls) {
        ra->why_not = "the model has no attention";
        return 0;
    }
    Loaded L;
    int status = run_load(g, ro, &L);
    if (status) {
        run_unload(&L);
        return status;
    }
    ra->generated = extend_greedily(g, &L, ro, greedy, eos);
    if (ra->generated < 0) {
        run_unload(&L);
        return EXIT_INPUT;
    }
    float *out = output_buffer(g, ro);
    Recorder r = {ra, 0, 0, 0};
    tfrt_attention_set_recorder(on_attention, &r);
    int rc = L.forward(L.model, ro->tokens, ro->lengths, out);
    tfrt_attention_set_recorder(NULL, NULL);
    free(out);
    if (rc != 0) {
        fprintf(stderr, "tfc: error: %s\n", L.strerror(rc));
        run_unload(&L);
        return EXIT_INPUT;
    }
    run_unload(&L);
    if (r.overflow)
        error_status(EXIT_INPUT, "--report: the attention probabilities of these inputs take more "
                                 "than %lld bytes; give a shorter prompt", (long long)RECORD_MAX_BYTES);
    if (r.next != ra->ncalls)
        tfc_bug("the run made %d attention calls, its programs hold %d", r.next, ra->ncalls);
    return 0;
}

/* ---- token labels ------------------------------------------------------------------- */

/* Bytes of the UTF-8 character at s[0..n), or 0 when it is not one (a
 * byte-level BPE token may hold part of a character). */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xc2))
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* A token's text for a label: its bytes with a space shown as U+2423
 * (open box), control characters and bytes that are no UTF-8 character
 * as escapes (a newline as \n, else \xNN); its id without a tokenizer. */
static const char *token_text(const TfrtTokenizer *tok, int32_t id)
{
    size_t len = 0;
    const unsigned char *s = tok ? (const unsigned char *)tfrt_tok_decode_token(tok, id, &len) : NULL;
    if (!s)
        return tfc_format("%d", id);
    char *t = tfc_alloc(4 * len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char(s + i, len - i);
        if (s[i] == ' ')
            memcpy(t + o, "\xe2\x90\xa3", 3), o += 3;
        else if (s[i] == '\n')
            t[o++] = '\\', t[o++] = 'n';
        else if (n == 0 || s[i] < 0x20 || s[i] == 0x7f)
            o += (size_t)snprintf(t + o, 5, "\\x%02x", s[i]);
        else
            memcpy(t + o, s + i, n), o += n;
        i += n ? n : 1;
    }
    t[o] = '\0';
    return t;
}

void report_attention_labels(const Graph *g, const RunOptions *ro, const TfrtTokenizer *tok,
                             ReportAttention *ra)
{
    for (int i = 0; i < g->ninputs; i++) {
        int s = g->nodes[g->inputs[i]].shape.d[0].sym, n = s ? ro->lengths[s - 1] : 0;
        ra->length[i] = n;
        ra->valid[i] = s && (g->padded >> s & 1u) ? ro->lengths[MAX_INPUTS + s - 1] : n;
        ra->ids[i] = ro->tokens[i];
        ra->labels[i] = tfc_alloc((size_t)(n + 1) * sizeof *ra->labels[i]);
        for (int t = 0; t < n; t++)
            ra->labels[i][t] = token_text(tok, ro->tokens[i][t]);
    }
}

/* ---- a prompt as the model's inputs ----------------------------------------------------- */

/* The prompt's ids with the tokenizer's special tokens around them. */
static int32_t *encode_text(const TfrtTokenizer *tok, const char *text, size_t len, int *n)
{
    int32_t *ids = NULL;
    size_t count = 0;
    char err[256];
    if (tfrt_tok_encode_special(tok, text, len, 1, &ids, &count, err, sizeof err) != TFRT_OK)
        error_status(EXIT_INPUT, "--prompt: %s", err);
    if (count == 0)
        error_status(EXIT_INPUT, "--prompt: the text has no tokens");
    int32_t *kept = tfc_alloc(count * sizeof *kept);
    memcpy(kept, ids, count * sizeof *ids);
    free(ids);
    *n = (int)count;
    return kept;
}

int report_prompt_inputs(const Graph *g, const char *text, size_t len, const TfrtTokenizer *tok,
                         const char *weights, RunOptions *ro, int *kept)
{
    int n, set[MAX_INPUTS + 1] = {0};
    int32_t *ids = encode_text(tok, text, len, &n);
    const char *takes = g->enc_end ? "src" : "tokens";
    for (int i = 0; i < g->ninputs; i++) {
        const Node *in = &g->nodes[g->inputs[i]];
        int s = in->shape.d[0].sym;
        if (strcmp(in->name, takes) == 0) {
            *kept = n < g->syms[s].max ? n : (int)g->syms[s].max;   /* the first ones that fit */
            ro->tokens[i] = ids, ro->lengths[s - 1] = *kept, set[s] = 1;
        } else if (g->enc_end && strcmp(in->name, "tokens") == 0) {   /* the decoder's start */
            int32_t *start = tfc_alloc(sizeof *start);
            *start = gen_decoder_start(tok, weights);
            if (*start < 0)
                error_status(EXIT_INPUT, "the tokenizer has no token to start the decoder with");
            ro->tokens[i] = start, ro->lengths[s - 1] = 1, set[s] = 1;
        }
    }
    for (int i = 0; i < g->ninputs; i++) {   /* token types: zeros, as --run */
        const Node *in = &g->nodes[g->inputs[i]];
        int s = in->shape.d[0].sym;
        if (ro->tokens[i])
            continue;
        if (!set[s])
            error_status(EXIT_USAGE, "--prompt: the model's input '%s' takes no text; give the "
                                     "inputs as ids (--tokens, --src, --types)", in->name);
        ro->tokens[i] = tfc_alloc((size_t)ro->lengths[s - 1] * sizeof(int32_t));
    }
    for (int s = 1; s < g->nsyms; s++)
        if (g->padded >> s & 1u)
            ro->lengths[MAX_INPUTS + s - 1] = ro->lengths[s - 1];
    return n;
}

/* ---- the machine-readable dump ------------------------------------------------------- */

void report_attention_json(const ReportAttention *ra, FILE *out)
{
    const Graph *g = ra->g;
    fprintf(out, "{\n  \"schema\": \"tfc-attention/1\",\n  \"model\": \"%s\",\n  \"inputs\": {",
            g->model);
    for (int i = 0; i < g->ninputs; i++) {
        fprintf(out, "%s\"%s\": [", i ? ", " : "", g->nodes[g->inputs[i]].name);
        for (int t = 0; t < ra->length[i]; t++)
            fprintf(out, "%s%d", t ? "," : "", ra->ids[i][t]);
        fprintf(out, "]");
    }
    fprintf(out, "},\n  \"calls\": [");
    for (int k = 0; k < ra->ncalls; k++) {
        const ReportAttnCall *c = &ra->calls[k];
        fprintf(out, "%s\n    {\"node\": \"%s\", \"cross\": %d, \"heads\": %d, \"n_q\": %d, "
                     "\"n_kv\": %d, \"kv_len\": %d, \"causal\": %d, \"q_pos0\": %d,\n     \"p\": [",
                k ? "," : "", g->nodes[c->node].name, c->cross, c->heads, c->n_q,
                c->n_kv, c->kv_len, c->causal, c->q_pos0);
        size_t n = (size_t)c->heads * (size_t)c->n_q * (size_t)c->n_kv;
        for (size_t e = 0; e < n; e++)
            fprintf(out, "%s%.9g", e ? (e % 16 ? "," : ",\n      ") : "", c->p[e]);
        fprintf(out, "]}");
    }
    fprintf(out, "\n  ]\n}\n");
}

void report_attention_free(ReportAttention *ra)
{
    for (int k = 0; k < ra->ncalls; k++)
        free(ra->calls[k].p);
    ra->ncalls = 0;
}
