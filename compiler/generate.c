/*
 * generate.c - `tfc M --run --prompt TEXT`: autoregressive generation.
 *
 * The loop itself is the runtime's (tfrt_generate, runtime/tfrt_generate.h),
 * the one an embedding program uses: this file encodes the prompt, plugs
 * the compiled model in as a TfrtLm, maps the options and reports.  The
 * model's prefill_last runs the prompt; each new token is sampled from its
 * logits and run through the one-token step, which reads earlier tokens
 * from the KV cache.  A model without a cache, or an encoder-decoder,
 * reruns the whole window through forward for each token (same tokens,
 * more work).
 *
 * Only generated text goes to stdout (after the prompt, with --echo),
 * flushed token by token but never in the middle of a UTF-8 character or
 * of a possible --stop string; the prompt, the seed, speeds and memory go
 * to stderr.  Without a tokenizer, the prompt is token ids (--tokens) and
 * the generated ids are printed, comma separated.  An encoder-decoder
 * generates in this mode: its source (--src) is encoded with the prompt,
 * and the prompt is the decoder's start.
 *
 * With a tokenizer the prompt gets the special tokens its post-processor
 * adds (Llama's <s>).  An encoder-decoder (T5, the Transformer) takes the
 * prompt as its source text (with T5's </s>) and generates the target from
 * the decoder start token: config.json's decoder_start_token_id when the
 * weights are a folder, else the tokenizer's <pad> (T5), <s> or end of
 * text.  A classifier (BERT) goes to classify.c.  Beam search (--beams)
 * is a loop of its own at the end of this file.
 */
#include "tfc.h"
#include "tfrt.h"
#include "tfrt_generate.h"
#include "tfrt_text.h"
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- text out -------------------------------------------------------------- */

/* Set for an encoder-decoder's target text: its first word's space, the
 * one a ▁ tokenizer writes in front of every word, is not printed. */
static int strip_first;

static int write_text(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;   /* a closed stdout is not a reason to stop computing */
}

/* Without a tokenizer: the ids, comma separated; *user counts them. */
static int write_id(void *user, int32_t id)
{
    int *count = user;
    printf((*count)++ ? ",%d" : "%d", id);
    fflush(stdout);
    return 0;
}

/* ids[0..n) to stdout as text, or as ids without a tokenizer (beam
 * search's result), ending as generation's output ends. */
static void print_tokens(const TfrtTokenizer *tok, const int32_t *ids, int n)
{
    int count = 0;
    if (!tok) {
        for (int i = 0; i < n; i++)
            write_id(&count, ids[i]);
        printf("\n");
        return;
    }
    TfrtStream out;
    tfrt_stream_init(&out, NULL, 0, write_text, NULL);
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const char *bytes = tfrt_tok_decode_token(tok, ids[i], &len);
        if (bytes && i == 0 && strip_first && len > 0 && bytes[0] == ' ')
            bytes++, len--;
        if (bytes && tfrt_stream_put(&out, bytes, len) < 0)
            error_plain("out of memory");
    }
    tfrt_stream_finish(&out);
    tfrt_stream_free(&out);
}

static long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

/* ---- the model side ------------------------------------------------------ */

typedef struct {
    const Graph *graph;
    Loaded L;
    int64_t vocab;          /* logits per row */
    int64_t max_len;        /* tokens the model holds: compiled, or -c */
    int32_t *tokens;        /* prompt and generated tokens */
    int n;
    float *logits;          /* max_len rows, without a compiled prefill_last */
    double t_prompt;        /* when the prompt's logits were ready, 0 before */
    int calls;              /* to the model, since t_prompt was reset */
    double t_next;          /* --tp: at the second call (the first token chosen) */
    double comm_next;       /* ... the seconds in collectives then */
    long long bytes_next;   /* ... and the bytes they had moved */
    int input, sym;         /* the generated input, and its length symbol */
    int src;                /* an encoder-decoder's source input, or -1 */
    const int32_t *inputs[MAX_INPUTS];   /* the other inputs (an encoder's) */
    int lengths[2 * MAX_INPUTS];         /* ... and their lengths, as RunOptions */
} Session;

/* --tp: the collectives' totals at the second call to the model, once the
 * first token is chosen; from there each generated token is one call and
 * one choice, and what the collectives cost a token is exact. */
static void count_call(Session *s)
{
    if (s->calls++ != 1)
        return;
    s->t_next = run_now();
    s->comm_next = tfrt_comm_seconds();
    s->bytes_next = tfrt_comm_bytes();
}

/* TfrtLm's prefill_last: the compiled prefill_last, or forward over the
 * window (every row, the other inputs as they are) and its last row. */
static int lm_prefill_last(void *user, const int32_t *tokens, int n, float *row)
{
    Session *s = user;
    int rc;
    count_call(s);
    if (s->L.prefill_last) {
        rc = s->L.prefill_last(s->L.model, tokens, n, row);
    } else {
        s->inputs[s->input] = tokens;
        s->lengths[s->sym - 1] = n;
        s->lengths[MAX_INPUTS + s->sym - 1] = n;   /* all valid, when padded */
        rc = s->L.forward(s->L.model, s->inputs, s->lengths, s->logits);
        if (rc == 0)
            memcpy(row, s->logits + (size_t)(n - 1) * (size_t)s->vocab, (size_t)s->vocab * sizeof *row);
    }
    if (s->t_prompt == 0)
        s->t_prompt = run_now();   /* the first call runs the prompt */
    return rc;
}

static int lm_step(void *user, int32_t token, float *row)
{
    Session *s = user;
    count_call(s);
    return s->L.step(s->L.model, token, row);
}

/* The decoder's first token (see the top of the file). */
int32_t gen_decoder_start(const TfrtTokenizer *tok, const char *weights)
{
    const char *path;
    struct JsonValue *cfg = ckpt_config_json(weights, &path);
    const JsonValue *v = json_get(cfg, "decoder_start_token_id");
    int32_t id = v && v->type == JSON_NUMBER && v->u.number.is_integer &&
                 v->u.number.integer >= 0 && v->u.number.integer < INT32_MAX
                     ? (int32_t)v->u.number.integer : -1;
    json_free(cfg);
    if (id < 0)
        id = tfrt_tok_pad(tok) >= 0 ? tfrt_tok_pad(tok) : tfrt_tok_bos(tok);
    return id >= 0 ? id : tfrt_tok_eos(tok);
}

/* An encoder-decoder's prompt: the source text, then the decoder start. */
static int encode_source(const TfrtTokenizer *tok, const GenOptions *gen, const char *weights,
                         Session *s)
{
    const Node *in = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    if (tfrt_tok_encode_special(tok, gen->prompt, gen->prompt_len, 1, &ids, &n, err,
                                sizeof err) != TFRT_OK) {
        fprintf(stderr, "tfc: error: --prompt: %s\n", err);
        return EXIT_INPUT;
    }
    in = &s->graph->nodes[s->graph->inputs[s->src]];
    if (n == 0 || (int64_t)n > ir_dim_max(s->graph, in->shape.d[0])) {
        fprintf(stderr, "tfc: error: the source text has %zu tokens; the model takes 1 to %lld\n",
                n, (long long)ir_dim_max(s->graph, in->shape.d[0]));
        free(ids);
        return EXIT_INPUT;
    }
    int32_t *kept = tfc_alloc(n * sizeof *kept);
    memcpy(kept, ids, n * sizeof *ids);
    free(ids);
    s->inputs[s->src] = kept;
    s->lengths[in->shape.d[0].sym - 1] = (int)n;
    s->tokens[0] = gen_decoder_start(tok, weights);
    s->n = 1;
    strip_first = tfrt_tok_strips_first_space(tok);
    if (s->tokens[0] < 0) {
        fprintf(stderr, "tfc: error: the tokenizer has no token to start the decoder with\n");
        return EXIT_INPUT;
    }
    return 0;
}

static int encode_prompt(const TfrtTokenizer *tok, const GenOptions *gen, Session *s)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    if (tfrt_tok_encode_special(tok, gen->prompt, gen->prompt_len, 1, &ids, &n, err,
                                sizeof err) != TFRT_OK) {
        fprintf(stderr, "tfc: error: --prompt: %s\n", err);
        return EXIT_INPUT;
    }
    if (n == 0 && tfrt_tok_eos(tok) >= 0) {
        /* an empty prompt starts from the end-of-text token, as GPT-2 does */
        free(ids);
        ids = malloc(sizeof *ids);
        if (!ids)
            error_plain("out of memory");
        ids[n++] = tfrt_tok_eos(tok);
    }
    if (n == 0) {
        fprintf(stderr, "tfc: error: --prompt is empty and the tokenizer has no end-of-text token to start from\n");
        return EXIT_INPUT;
    }
    if ((int64_t)n > s->max_len) {
        fprintf(stderr, "tfc: error: the prompt has %zu tokens; the model holds at most %lld%s\n", n,
                (long long)s->max_len, gen->ctx ? " (-c)" : "");
        free(ids);
        return EXIT_INPUT;
    }
    memcpy(s->tokens, ids, n * sizeof *ids);
    s->n = (int)n;
    free(ids);
    return 0;
}

/* The input that generation extends: the one input over the output's
 * rows (a text prompt: the only input, or an encoder-decoder's decoder
 * input beside its source), or -1. */
static int generated_input(const Graph *g, const GenOptions *gen)
{
    const Node *o = &g->nodes[g->output];
    if (o->shape.ndim != 2 || !o->shape.d[0].sym || (gen->prompt && g->ninputs > 2))
        return -1;
    int found = -1;
    for (int i = 0; i < g->ninputs; i++)
        if (g->nodes[g->inputs[i]].shape.d[0].sym == o->shape.d[0].sym) {
            if (found >= 0)
                return -1;
            found = i;
        }
    return found;
}

static int check_model(const Graph *g, const TfrtTokenizer *tok, const GenOptions *gen, Session *s)
{
    const Node *o = &g->nodes[g->output];
    s->input = generated_input(g, gen);
    if (s->input < 0) {
        fprintf(stderr, "tfc: error: --prompt needs a language model: one input of token ids and "
                        "one row of logits per token (this model's output is %s)\n",
                ir_shape_str(g, o->shape));
        return EXIT_USAGE;
    }
    s->sym = o->shape.d[0].sym;
    s->vocab = o->shape.d[1].n;
    s->src = -1;
    for (int i = 0; i < g->ninputs && g->ninputs == 2; i++)
        if (i != s->input)
            s->src = i;
    if (gen->prompt && s->src >= 0 &&
        g->nodes[g->inputs[s->src]].shape.d[0].sym == s->sym) {
        fprintf(stderr, "tfc: error: --prompt: the model has two inputs over one length "
                        "and is not an encoder-decoder\n");
        return EXIT_USAGE;
    }
    s->max_len = ir_dim_max(g, o->shape.d[0]);
    if (tok && tfrt_tok_vocab_size(tok) > s->vocab) {
        fprintf(stderr, "tfc: error: the tokenizer has %d tokens but the model only %lld logits\n",
                tfrt_tok_vocab_size(tok), (long long)s->vocab);
        return EXIT_INPUT;
    }
    return 0;
}

static int generate_beams(Session *s, const TfrtTokenizer *tok, const RunOptions *opt,
                          const GenOptions *gen);

/* A row of logits holding NaN or +inf cannot be sampled (tfrt_text.h): the
 * model's arithmetic failed, as it does with NaN or overflowing weights.
 * Generation stops there, naming the step and the token. */
static int unusable(const float *row, int64_t vocab, int step)
{
    int32_t bad = tfrt_bad_logit(row, (int)vocab);
    if (bad < 0)
        return 0;
    fprintf(stderr, "\ntfc: error: generating token %d: the model's logit for token %d is %s "
                    "(are the weights finite?); no token can be chosen\n",
            step + 1, bad, isnan(row[bad]) ? "NaN" : "+inf");
    return 1;
}

/* The runtime's loop over the session: sampling, the window, stop
 * strings and UTF-8-safe streaming are all tfrt_generate's. */
static int sample_loop(Session *s, const TfrtTokenizer *tok, const GenOptions *gen, uint64_t seed)
{
    /* --tp: each rank keeps its share of the head's logits, and the ranks
     * exchange what the choice needs (tfrt_sample_split) */
    TfrtLm lm = {s, (int)s->vocab, (int)s->max_len, lm_prefill_last, s->L.step ? lm_step : NULL,
                 shard_split_head(s->graph) ? &tfrt_split_ops : NULL};
    TfrtGenOptions go = tfrt_gen_defaults(tok);
    int ids = 0;
    go.max_tokens = gen->n_predict;
    go.temperature = gen->temperature;
    go.top_k = gen->top_k;
    go.top_p = gen->top_p;
    go.seed = seed;
    go.repeat_penalty = gen->repeat_penalty;
    go.stop = gen->stop;
    go.nstop = gen->nstop;
    go.strip_first_space = strip_first;
    go.on_text = tok ? write_text : NULL;
    go.on_token = tok ? NULL : write_id;
    go.user = &ids;
    TfrtGenResult r;
    char err[512];
    double t0 = run_now();
    s->t_prompt = 0;
    s->calls = 0;
    int rc = tfrt_generate(&lm, s->tokens, s->n, &go, &r, err, sizeof err);
    if (!tok)
        printf("\n");
    fflush(stdout);
    double t2 = run_now(), t1 = s->t_prompt ? s->t_prompt : t2;
    if (rc != TFRT_OK) {
        fprintf(stderr, "\ntfc: error: %s\n", err);
        return EXIT_INPUT;
    }
    int made = r.generated;
    fprintf(stderr, "\ntfc: prompt %d tokens in %.3f s (%.1f tokens/s), generated %d tokens in %.3f s "
                    "(%.1f tokens/s)%s%s, peak memory %.1f MiB\n",
            r.prompt_tokens, t1 - t0, r.prompt_tokens / (t1 - t0 > 0 ? t1 - t0 : 1e-9), made, t2 - t1,
            made / (t2 - t1 > 0 ? t2 - t1 : 1e-9), s->L.step ? "" : " without a KV cache",
            r.stop == TFRT_GEN_STOP_STRING ? tfc_format(", stopped at --stop '%s'", gen->stop[r.stop_index])
                                           : "",
            peak_rss_kib() / 1024.0);
    if (s->graph->tp > 1 && made > 1 && s->calls > 1)   /* --tp: what the collectives cost a token */
        fprintf(stderr, "tfc: rank %d of %d: collectives %.1f us and %.1f bytes a generated token "
                        "(%.1f%% of its time; tokens 2 to %d)\n",
                tfrt_comm_rank(), s->graph->tp, 1e6 * (tfrt_comm_seconds() - s->comm_next) / (made - 1),
                (double)(tfrt_comm_bytes() - s->bytes_next) / (made - 1),
                100.0 * (tfrt_comm_seconds() - s->comm_next) / (t2 - s->t_next > 0 ? t2 - s->t_next : 1e-9),
                made);
    return 0;
}

/* The prompt as ids given with --tokens; the other inputs as given. */
static int ids_prompt(const RunOptions *opt, const GenOptions *gen, Session *s)
{
    int n = opt->lengths[s->sym - 1];
    if (n > s->max_len) {
        fprintf(stderr, "tfc: error: the prompt has %d tokens; the model holds at most %lld%s\n",
                n, (long long)s->max_len, gen->ctx ? " (-c)" : "");
        return EXIT_INPUT;
    }
    memcpy(s->tokens, opt->tokens[s->input], (size_t)n * sizeof *s->tokens);
    s->n = n;
    memcpy(s->inputs, opt->tokens, sizeof s->inputs);
    memcpy(s->lengths, opt->lengths, sizeof s->lengths);
    return 0;
}

/* The generation options given for a classifier, which would ignore them. */
static void refuse_for_classifier(const GenOptions *gen)
{
    const char *opt = gen->nstop ? "--stop" : gen->penalty_given ? "--repeat-penalty"
                    : gen->ctx ? "-c" : gen->echo ? "--echo" : NULL;
    if (opt)
        error_status(EXIT_USAGE, "%s goes with text generation; this model is a classifier "
                     "(its output is not a row of logits per token)", opt);
}

/* -c N: the window the model holds, at most what it was compiled for. */
static int apply_ctx(const GenOptions *gen, Session *s)
{
    if (!gen->ctx)
        return 0;
    if (gen->ctx > s->max_len) {
        fprintf(stderr, "tfc: error: -c %d: the model holds at most %lld tokens (as compiled: "
                        "its configuration, or --seq)\n", gen->ctx, (long long)s->max_len);
        return EXIT_USAGE;
    }
    s->max_len = gen->ctx;
    return 0;
}

int generate_text(const Graph *g, const RunOptions *opt, const GenOptions *gen)
{
    TfrtTokenizer *tok = NULL;
    char err[512];
    if (gen->tokenizer && tfrt_tok_load(&tok, gen->tokenizer, err, sizeof err) != TFRT_OK) {
        fprintf(stderr, "tfc: error: %s\n", err);
        return EXIT_INPUT;
    }
    const Node *o = &g->nodes[g->output];
    if (tok && gen->prompt && (o->shape.ndim == 1 || !o->shape.d[0].sym ||
                               o->shape.d[1].n < tfrt_tok_vocab_size(tok))) {
        refuse_for_classifier(gen);
        int rc = classify_text(g, opt, gen, tok);
        tfrt_tok_free(tok);
        return rc;
    }
    Session s = {.n = 0, .graph = g};
    int status = check_model(g, tok, gen, &s);
    if (!status)
        status = apply_ctx(gen, &s);
    if (!status) {
        /* one more than the window: a prompt that fills it, and a token */
        s.tokens = calloc((size_t)s.max_len + 1, sizeof *s.tokens);
        if (!s.tokens)
            error_plain("out of memory");
        status = !gen->prompt ? ids_prompt(opt, gen, &s)
               : s.src >= 0 ? encode_source(tok, gen, opt->weights, &s)
               : encode_prompt(tok, gen, &s);
    }
    RunOptions ro = *opt;
    ro.ctx = gen->ctx;
    if (!status)
        status = run_load(g, &ro, &s.L);
    if (!status) {
        /* forward writes every row; prefill_last only the last */
        size_t rows = s.L.prefill_last ? 1 : (size_t)s.max_len;
        if (!(s.logits = malloc(rows * (size_t)s.vocab * sizeof *s.logits)))
            error_plain("out of memory");
    }
    uint64_t seed = gen->seed_given ? gen->seed : (uint64_t)time(NULL);
    if (g->tp > 1)   /* --tp: every rank samples the same tokens */
        tfrt_comm_broadcast(&seed, (int)sizeof seed, 0);
    if (!status) {
        fprintf(stderr, "tfc: seed %llu, temperature %g, top-k %d, top-p %g, repeat penalty %g, "
                        "context %lld tokens\n", (unsigned long long)seed, gen->temperature,
                gen->top_k, gen->top_p, gen->repeat_penalty, (long long)s.max_len);
        if (gen->echo) {
            fwrite(gen->prompt, 1, gen->prompt_len, stdout);
            fflush(stdout);
        }
        status = gen->beams > 1 ? generate_beams(&s, tok, &ro, gen) : sample_loop(&s, tok, gen, seed);
    }
    run_unload(&s.L);
    free(s.tokens);
    free(s.logits);
    if (tok)
        tfrt_tok_free(tok);
    return status;
}

/* ---- beam search ------------------------------------------------------- */

/* Beam search keeps the k sequences of highest total log-probability.
 * Each beam owns a model context (its KV cache); after each step the
 * survivors' caches are copied into a second set of contexts and the two
 * sets swap.  A beam that produced end-of-text is finished and competes
 * with its final score.  The best sequence is printed at the end. */
typedef struct {
    int32_t *tokens;        /* generated tokens */
    int len;
    double score;
    int done;
    int parent;             /* during selection: the beam it extends */
    int32_t next;           /* ... with this token (-1: carried over) */
} Beam;

/* x holds no NaN or +inf (unusable); a row of -inf (every token masked)
 * gives -inf throughout. */
static void log_softmax(const float *x, double *out, int n)
{
    double max = x[0], sum = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    if (max == -INFINITY) {
        for (int i = 0; i < n; i++)
            out[i] = -INFINITY;
        return;
    }
    for (int i = 0; i < n; i++)
        sum += exp(x[i] - max);
    double lse = max + log(sum);
    for (int i = 0; i < n; i++)
        out[i] = x[i] - lse;
}

/* Inserts a candidate into best[0..k) kept sorted by score, descending. */
static void offer(Beam *best, int k, int *count, Beam cand)
{
    int at = *count < k ? (*count)++ : k;
    if (at == k && cand.score <= best[k - 1].score)
        return;
    if (at == k)
        at = k - 1;
    while (at > 0 && best[at - 1].score < cand.score) {
        best[at] = best[at - 1];
        at--;
    }
    best[at] = cand;
}

static int generate_beams(Session *s, const TfrtTokenizer *tok, const RunOptions *opt,
                          const GenOptions *gen)
{
    if (!s->L.step || !s->L.copy_state) {
        fprintf(stderr, "tfc: error: --beams needs a model with a KV cache (a decoder)\n");
        return EXIT_USAGE;
    }
    /* no beam outgrows the context: generation stops there */
    int k = gen->beams, V = (int)s->vocab;
    int n_max = gen->n_predict < s->max_len ? gen->n_predict : (int)s->max_len;
    int32_t eos = tok ? tfrt_tok_eos(tok) : -1;
    void **ctx = calloc((size_t)(2 * k), sizeof *ctx), **spare = ctx + k;
    Beam *beams = calloc((size_t)k, sizeof *beams), *best = calloc((size_t)k, sizeof *best);
    double *lp = malloc((size_t)V * sizeof *lp);
    float *rows = malloc((size_t)k * (size_t)V * sizeof *rows);
    int32_t *store = calloc((size_t)(2 * k) * (size_t)(n_max + 1), sizeof *store);
    if (!ctx || !beams || !best || !lp || !rows || !store)
        error_plain("out of memory");
    ctx[0] = s->L.model;
    int status = 0;
    for (int i = 1; i < 2 * k && !status; i++)
        status = run_open(&s->L, opt->weights, &ctx[i]);
    int rc = status ? 0 : lm_prefill_last(s, s->tokens, s->n, rows);
    if (rc != 0) {
        fprintf(stderr, "tfc: error: %s\n", s->L.strerror(rc));
        status = EXIT_INPUT;
    }
    int live = 1;
    for (int b = 0; b < k; b++)
        beams[b].tokens = store + (size_t)b * (size_t)(n_max + 1);
    double t0 = run_now();
    for (int t = 0; t < n_max && !status; t++) {
        int count = 0;
        for (int b = 0; b < live; b++) {
            if (beams[b].done) {
                offer(best, k, &count, (Beam){.score = beams[b].score, .parent = b, .next = -1, .done = 1});
                continue;
            }
            if (unusable(rows + (size_t)b * (size_t)V, V, t)) {
                status = EXIT_INPUT;
                break;
            }
            log_softmax(rows + (size_t)b * (size_t)V, lp, V);
            for (int v = 0; v < V; v++)
                offer(best, k, &count, (Beam){.score = beams[b].score + lp[v], .parent = b, .next = v,
                                              .done = v == eos});
        }
        if (status)
            break;
        int all_done = 1;
        for (int i = 0; i < count && !status; i++) {
            const Beam *p = &beams[best[i].parent];
            int32_t *dst = store + (size_t)(k + i) * (size_t)(n_max + 1);
            memcpy(dst, p->tokens, (size_t)p->len * sizeof *dst);
            best[i].tokens = dst;
            best[i].len = p->len;
            if (best[i].next >= 0 && !best[i].done)
                dst[best[i].len++] = best[i].next;
            all_done &= best[i].done;
            if (!best[i].done && s->L.copy_state(spare[i], ctx[best[i].parent]) != 0)
                status = EXIT_INPUT;
        }
        /* the survivors become the beams; their contexts and token stores swap in */
        for (int i = 0; i < count; i++) {
            int32_t *old = beams[i].tokens;
            beams[i] = best[i];
            memcpy(old, beams[i].tokens, (size_t)beams[i].len * sizeof *old);
            beams[i].tokens = old;
            void *c = ctx[i];
            ctx[i] = spare[i];
            spare[i] = c;
        }
        live = count;
        if (all_done)
            break;
        for (int b = 0; b < live && !status; b++) {
            if (beams[b].done)
                continue;
            if (s->n + beams[b].len >= s->max_len) {
                beams[b].done = 1;
                continue;
            }
            rc = s->L.step(ctx[b], beams[b].tokens[beams[b].len - 1], rows + (size_t)b * (size_t)V);
            if (rc != 0) {
                fprintf(stderr, "tfc: error: %s\n", s->L.strerror(rc));
                status = EXIT_INPUT;
            }
        }
    }
    if (!status) {
        print_tokens(tok, beams[0].tokens, beams[0].len);
        fprintf(stderr, "\ntfc: beam search, %d beams: %d tokens, log-probability %.4f, %.3f s\n", k,
                beams[0].len, beams[0].score, run_now() - t0);
    }
    s->L.model = NULL;
    for (int i = 0; i < 2 * k; i++)
        if (ctx[i])
            s->L.close(ctx[i]);
    free(ctx);
    free(beams);
    free(best);
    free(lp);
    free(rows);
    free(store);
    return status;
}
