/*
 * main.c - the tfc command line.
 *
 * Results go to stdout, everything else (progress, timings, errors) to
 * stderr.  Exit status: 0 success, 1 bad input (model file, weights,
 * tokens), 2 a usage error, 3 an I/O error.  Output files are written
 * under temporary names and renamed at the end, so an error never leaves
 * a partial file behind.
 */
#include "tfc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TFC_VERSION "0.1.0"

static const char usage[] =
    "usage: tfc MODEL.model [options]\n"
    "\n"
    "Compile a transformer described in MODEL.model to C, or run it.\n"
    "\n"
    "Compiling:\n"
    "  -o FILE.c             write FILE.c and FILE.h (- writes one combined file to stdout)\n"
    "  --prefix NAME         prefix of every exported symbol (default: the model's name)\n"
    "  -D NAME=VALUE         override a configuration value of the model file (repeatable)\n"
    "  --dump-ir             print the graph, one node a line, and stop\n"
    "  -fno-dce              keep nodes the output does not need\n"
    "  -fno-kv-cache         no KV cache: every call runs the whole sequence\n"
    "  --seq N               plan (and compile) for sequences of at most N tokens\n"
    "  --plan                print parameters, FLOPs and the memory plan, and stop\n"
    "  --plan=json           the same as JSON (docs/memory-planning.md)\n"
    "  --plan=svg FILE       draw the memory plan into FILE (SVG)\n"
    "\n"
    "Running (compiles with the system C compiler, $CC or cc, and runs in-process):\n"
    "  --run                 run the model\n"
    "  --weights PATH        the weights: a safetensors file, a Hugging Face model folder\n"
    "                        (model.safetensors or shards with model.safetensors.index.json;\n"
    "                        its config.json sets the config values the model file reads\n"
    "                        `from` it, -D still overrides) or a llama2.c checkpoint\n"
    "  --tokens 1,2,3        token ids of the model's input `tokens` (a decoder's tokens)\n"
    "  --src 1,2,3           token ids of the input `src` (an encoder's tokens)\n"
    "  --types 0,0,1         token type ids of the input `types` (BERT segments)\n"
    "  --length L            valid tokens of a padded input (default: all); later\n"
    "                        positions are masked as keys in attention\n"
    "  --logits FILE         write the output as little-endian float32 (- for stdout)\n"
    "  -t, --threads N       threads for matrix products (default: all cores)\n"
    "  --keep                keep the build folder of --run (its path goes to stderr)\n"
    "  --prefill K           run the first K tokens in one call and the rest one step at\n"
    "                        a time through the KV cache (the logits must not change)\n"
    "\n"
    "Generating text (with --run):\n"
    "  --tokenizer PATH      tokenizer.json, tokenizer.bin (llama2.c), vocab.txt (BERT), a\n"
    "                        folder with one of them or vocab.json + merges.txt, or a\n"
    "                        character vocabulary (.chars.json); default: the weights\n"
    "                        folder's tokenizer.json\n"
    "  -p, --prompt TEXT     the text to continue (generated text goes to stdout); for an\n"
    "                        encoder-decoder the source text (the target is generated); for\n"
    "                        a classifier the text to label (label probabilities, or one tag\n"
    "                        a word, go to stdout)\n"
    "  -n, --n-predict N     tokens to generate (default 128); stops early at end-of-text.\n"
    "                        With --tokens and no --logits, generates from those ids and\n"
    "                        prints the new ids (an encoder-decoder: --src is encoded once\n"
    "                        and --tokens starts the decoder).  When the context is full,\n"
    "                        its newer half is kept and generation goes on over it\n"
    "                        (beam search stops there)\n"
    "  --temp T              temperature (default 0.8); 0 is greedy\n"
    "  --top-k K             keep the K most likely tokens (default 0: off)\n"
    "  --top-p P             keep the most likely tokens up to mass P (default 1: off)\n"
    "  -s, --seed N          seed of the sampler (default: the time; always reported)\n"
    "  --beams K             beam search with K beams instead of sampling\n"
    "\n"
    "Tokenizer alone (no model file):\n"
    "  --tokenizer T --encode FILE    print the token ids of FILE's bytes, comma separated\n"
    "  --tokenizer T --decode 1,2,3   print the text of the ids\n"
    "  --add-special         with --encode: the special tokens the tokenizer's post-processor\n"
    "                        adds ([CLS] ... [SEP], <s>, </s>)\n"
    "\n"
    "  -h, --help            this text\n"
    "  --version             the version\n"
    "\n"
    "Environment (--run):\n"
    "  CC                    the C compiler (default cc)\n"
    "  TFC_CFLAGS            extra flags for it\n"
    "  TFC_POISON=1          debug build of the model: the arena is filled with NaN before\n"
    "                        each pass and every buffer once its last reader has run, so a\n"
    "                        wrong reuse of memory gives wrong numbers (generated code:\n"
    "                        compile with -DTFC_POISON)\n"
    "\n"
    "Exit status: 0 success, 1 bad input, 2 usage error, 3 I/O error.\n";

typedef struct {
    const char *model;
    const char *output;
    const char *prefix;
    Define defs[64];
    int ndefs;
    int dump_ir;
    int no_dce;
    int no_kv_cache;
    long seq;                /* --seq N, 0: the longest the model allows */
    int plan;                /* 1 + PlanFormat, 0: no --plan */
    const char *plan_svg;
    int run;
    const char *weights;
    const char *tokens;
    const char *src, *types;     /* the inputs named src and types */
    long length;                 /* --length: valid tokens, 0 when absent */
    const char *logits;
    int threads;
    int keep;
    int prefill;
    GenOptions gen;
    int n_given;           /* -n: generate, also from --tokens */
    const char *encode;
    const char *decode;
    int add_special;
} Options;

static _Noreturn void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tfc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\ntry 'tfc --help'\n");
    exit(EXIT_USAGE);
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        usage_error(tfc_format("%s: '%%s' is not a number in [%ld, %ld]", what, lo, hi), s);
    return v;
}

static double parse_double(const char *s, const char *what, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi))
        usage_error(tfc_format("%s: '%%s' is not a number in [%g, %g]", what, lo, hi), s);
    return v;
}

static void add_define(Options *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        usage_error("-D expects NAME=VALUE, got '%s'", arg);
    if (o->ndefs == (int)(sizeof o->defs / sizeof o->defs[0]))
        usage_error("too many -D options (at most 64) at '%s'", arg);
    o->defs[o->ndefs++] = (Define){tfc_strndup(arg, (size_t)(eq - arg)), eq + 1, NULL};
}

/* The value of an option: the rest of "-Dx=1" or the next argument. */
static const char *value(int argc, char **argv, int *i, const char *opt)
{
    size_t len = strlen(opt);
    if (strncmp(argv[*i], opt, len) == 0 && argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (opt[1] != '-' && argv[*i][len])
        return argv[*i] + len;
    if (*i + 1 >= argc)
        usage_error("option '%s' needs a value", opt);
    return argv[++*i];
}

static int is_opt(const char *arg, const char *opt)
{
    size_t len = strlen(opt);
    if (strncmp(arg, opt, len) != 0)
        return 0;
    return arg[len] == '\0' || arg[len] == '=' || (opt[1] != '-' && opt[2] == '\0');
}

static void parse_args(Options *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("tfc %s\n", TFC_VERSION);
            exit(0);
        } else if (is_opt(a, "-o")) {
            o->output = value(argc, argv, &i, "-o");
        } else if (is_opt(a, "-D")) {
            add_define(o, value(argc, argv, &i, "-D"));
        } else if (is_opt(a, "--prefix")) {
            o->prefix = value(argc, argv, &i, "--prefix");
        } else if (strcmp(a, "--dump-ir") == 0) {
            o->dump_ir = 1;
        } else if (strcmp(a, "-fno-dce") == 0) {
            o->no_dce = 1;
        } else if (strcmp(a, "-fno-kv-cache") == 0) {
            o->no_kv_cache = 1;
        } else if (is_opt(a, "--seq")) {
            o->seq = parse_long(value(argc, argv, &i, "--seq"), "--seq", 1, INT32_MAX);
        } else if (strcmp(a, "--plan") == 0 || strcmp(a, "--plan=text") == 0) {
            o->plan = 1 + PLAN_TEXT;
        } else if (strcmp(a, "--plan=json") == 0) {
            o->plan = 1 + PLAN_JSON;
        } else if (strcmp(a, "--plan=svg") == 0) {
            o->plan = 1 + PLAN_SVG;
            if (i + 1 >= argc)
                usage_error("%s", "--plan=svg needs a FILE to write");
            o->plan_svg = argv[++i];
        } else if (strcmp(a, "--run") == 0) {
            o->run = 1;
        } else if (is_opt(a, "--weights")) {
            o->weights = value(argc, argv, &i, "--weights");
        } else if (is_opt(a, "--tokens")) {
            o->tokens = value(argc, argv, &i, "--tokens");
        } else if (is_opt(a, "--src")) {
            o->src = value(argc, argv, &i, "--src");
        } else if (is_opt(a, "--types")) {
            o->types = value(argc, argv, &i, "--types");
        } else if (is_opt(a, "--length")) {
            o->length = parse_long(value(argc, argv, &i, "--length"), "--length", 1, INT_MAX);
        } else if (is_opt(a, "--logits")) {
            o->logits = value(argc, argv, &i, "--logits");
        } else if (is_opt(a, "-t") || is_opt(a, "--threads")) {
            o->threads = (int)parse_long(value(argc, argv, &i, a[1] == '-' ? "--threads" : "-t"),
                                         "--threads", 1, 1024);
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
        } else if (is_opt(a, "--prefill")) {
            o->prefill = (int)parse_long(value(argc, argv, &i, "--prefill"), "--prefill", 1, INT32_MAX);
        } else if (is_opt(a, "--tokenizer")) {
            o->gen.tokenizer = value(argc, argv, &i, "--tokenizer");
        } else if (is_opt(a, "-p") || is_opt(a, "--prompt")) {
            o->gen.prompt = value(argc, argv, &i, a[1] == '-' ? "--prompt" : "-p");
        } else if (is_opt(a, "-n") || is_opt(a, "--n-predict")) {
            o->gen.n_predict = (int)parse_long(value(argc, argv, &i, a[1] == '-' ? "--n-predict" : "-n"),
                                               "--n-predict", 0, INT32_MAX);
            o->n_given = 1;
        } else if (is_opt(a, "--temp")) {
            o->gen.temperature = (float)parse_double(value(argc, argv, &i, "--temp"), "--temp", 0, 100);
        } else if (is_opt(a, "--top-k")) {
            o->gen.top_k = (int)parse_long(value(argc, argv, &i, "--top-k"), "--top-k", 0, INT32_MAX);
        } else if (is_opt(a, "--top-p")) {
            o->gen.top_p = (float)parse_double(value(argc, argv, &i, "--top-p"), "--top-p", 0, 1);
        } else if (is_opt(a, "-s") || is_opt(a, "--seed")) {
            o->gen.seed = (uint64_t)parse_long(value(argc, argv, &i, a[1] == '-' ? "--seed" : "-s"),
                                               "--seed", 0, LONG_MAX);
            o->gen.seed_given = 1;
        } else if (is_opt(a, "--beams")) {
            o->gen.beams = (int)parse_long(value(argc, argv, &i, "--beams"), "--beams", 1, 64);
        } else if (is_opt(a, "--encode")) {
            o->encode = value(argc, argv, &i, "--encode");
        } else if (is_opt(a, "--decode")) {
            o->decode = value(argc, argv, &i, "--decode");
        } else if (strcmp(a, "--add-special") == 0) {
            o->add_special = 1;
        } else if (a[0] == '-' && a[1]) {
            usage_error("unknown option '%s'", a);
        } else if (o->model) {
            usage_error("one model file at a time ('%s' is a second)", a);
        } else {
            o->model = a;
        }
    }
    if ((o->encode || o->decode) && !o->gen.tokenizer)
        usage_error("%s", "--encode and --decode need --tokenizer PATH");
    if (o->encode || o->decode)
        return;
    if (!o->model)
        usage_error("%s", "no model file given");
    if (o->run && !o->weights)
        usage_error("%s", "--run needs --weights FILE");
    if (o->run && !o->tokens && !o->gen.prompt)
        usage_error("%s", "--run needs --tokens (token ids) or --prompt (text, with --tokenizer)");
    if (o->gen.prompt && !o->gen.tokenizer)
        o->gen.tokenizer = ckpt_default_tokenizer(o->weights);
    if (o->gen.prompt && !o->gen.tokenizer)
        usage_error("%s", "--prompt needs --tokenizer PATH (or --weights FOLDER with a tokenizer.json)");
    if (o->gen.prompt && !o->run)
        usage_error("%s", "--prompt goes with --run");
    if (o->prefix) {
        for (const char *p = o->prefix; *p; p++)
            if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (p != o->prefix && *p >= '0' && *p <= '9')))
                usage_error("--prefix '%s' is not a C identifier", o->prefix);
    }
}

/* "464,2068,7586" -> token ids. */
static int32_t *parse_ids(const char *s, const char *opt, int *count)
{
    int cap = 16, n = 0;
    int32_t *ids = tfc_alloc((size_t)cap * sizeof *ids);
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ','))
            usage_error(tfc_format("%s: '%%s' is not a comma-separated list of ids", opt), s);
        if (n == cap) {
            int32_t *grown = tfc_alloc((size_t)cap * 2 * sizeof *grown);
            memcpy(grown, ids, (size_t)n * sizeof *ids);
            ids = grown;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0)
        usage_error(tfc_format("%s '%%s' holds no id", opt), s);
    *count = n;
    return ids;
}

/* The ids for the model input `name` from its option: --tokens, --src or
 * --types (inputs named types or token_type_ids).  A model input without
 * a value is a usage error, except token types: NULL, all 0 as in Hugging
 * Face's BERT. */
static int32_t *input_ids(const Options *o, const char *name, const char **opt, int *n)
{
    static const char *const names[] = {"tokens", "src", "types", "token_type_ids"};
    static const char *const opts[] = {"--tokens", "--src", "--types", "--types"};
    const char *values[] = {o->tokens, o->src, o->types, o->types};
    for (int k = 0; k < 4; k++) {
        if (strcmp(name, names[k]) != 0)
            continue;
        *opt = opts[k];
        if (!values[k] && k >= 2)
            return NULL;
        if (!values[k])
            usage_error(tfc_format("the model's input '%%s' needs a value: give %s LIST", *opt), name);
        return parse_ids(values[k], *opt, n);
    }
    usage_error("the model's input '%s' has no command-line option (inputs are named tokens, "
                "src, types or token_type_ids)", name);
}

/* Inputs matched to options by name, their lengths, and --length as the
 * valid length of each padded symbol (lengths[MAX_INPUTS + s - 1]). */
static void bind_inputs(const Graph *g, const Options *o, RunOptions *ro)
{
    const char *set_by[MAX_INPUTS + 1] = {0};
    for (int i = 0; i < g->ninputs; i++) {
        const Node *in = &g->nodes[g->inputs[i]];
        int n, s = in->shape.d[0].sym;
        const char *opt;
        if (!(ro->tokens[i] = input_ids(o, in->name, &opt, &n)))
            continue;
        if (n > g->syms[s].max)
            error_status(EXIT_INPUT, "%s holds %d ids, but the model takes at most %lld (%s)",
                         opt, n, (long long)g->syms[s].max, g->syms[s].name);
        if (set_by[s] && ro->lengths[s - 1] != n)
            error_status(EXIT_INPUT, "%s holds %d ids and %s %d: inputs of length '%s' must agree",
                         set_by[s], ro->lengths[s - 1], opt, n, g->syms[s].name);
        set_by[s] = opt;
        ro->lengths[s - 1] = n;
    }
    for (int i = 0; i < g->ninputs; i++) {   /* token types not given: zeros */
        int s = g->nodes[g->inputs[i]].shape.d[0].sym;
        if (!ro->tokens[i] && !set_by[s])
            usage_error("the model's input '%s' needs the tokens it types: give --tokens",
                        g->nodes[g->inputs[i]].name);
        if (!ro->tokens[i])
            ro->tokens[i] = tfc_alloc((size_t)ro->lengths[s - 1] * sizeof(int32_t));
    }
    if (o->length && !g->padded)
        usage_error("--length %s: the model has no padded input", tfc_format("%ld", o->length));
    for (int s = 1; s < g->nsyms; s++) {
        if (!(g->padded >> s & 1u))
            continue;
        int n = ro->lengths[s - 1];
        if (o->length > n)
            error_status(EXIT_INPUT, "--length %ld is more than the %d tokens given", o->length, n);
        ro->lengths[MAX_INPUTS + s - 1] = o->length ? (int)o->length : n;
    }
}

/* A C identifier for the prefix: the model's name, sanitized. */
static const char *default_prefix(const Graph *g)
{
    char *p = tfc_strdup(g->model);
    for (char *c = p; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            *c = '_';
    return p;
}

typedef struct {
    const char *path;
    const char *tmp;
} Pending;

static void discard(Pending *p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i].tmp)
            unlink(p[i].tmp);
}

/* Writes FILE.c and FILE.h (or one stream to stdout for "-o -"). */
static void write_outputs(const Graph *g, const Options *o)
{
    EmitOptions eo = {o->prefix ? o->prefix : default_prefix(g), NULL};
    if (strcmp(o->output, "-") == 0) {
        emit_source(g, &eo, stdout);
        if (fflush(stdout) != 0)
            error_status(EXIT_IO, "cannot write to stdout: %s", strerror(errno));
        return;
    }
    size_t len = strlen(o->output);
    if (len < 3 || strcmp(o->output + len - 2, ".c") != 0)
        usage_error("-o expects a file name ending in .c (or -), got '%s'", o->output);
    const char *header = tfc_format("%.*s.h", (int)(len - 2), o->output);
    const char *slash = strrchr(header, '/');
    eo.header_name = slash ? slash + 1 : header;
    Pending files[2] = {{header, NULL}, {o->output, NULL}};
    for (int i = 0; i < 2; i++) {
        files[i].tmp = tfc_format("%s.tmp%ld", files[i].path, (long)getpid());
        FILE *f = fopen(files[i].tmp, "w");
        if (!f) {
            files[i].tmp = NULL;
            discard(files, 2);
            error_status(EXIT_IO, "cannot write '%s': %s", files[i].path, strerror(errno));
        }
        if (i == 0)
            emit_header(g, &eo, f);
        else
            emit_source(g, &eo, f);
        if (ferror(f) | fclose(f)) {
            discard(files, 2);
            error_status(EXIT_IO, "cannot write '%s': %s", files[i].path, strerror(errno));
        }
    }
    for (int i = 0; i < 2; i++)
        if (rename(files[i].tmp, files[i].path) != 0) {
            discard(files, 2);
            error_status(EXIT_IO, "cannot write '%s': %s", files[i].path, strerror(errno));
        }
}

static void check_graph(const Graph *g, const char *after)
{
    char err[512];
    if (ir_verify(g, err, sizeof err))
        tfc_bug("the graph is invalid after %s: %s", after, err);
}

/* The pipeline: one list, the verifier between passes. */
/* --seq N: every sequence at most N tokens, so the plan (and the code)
 * is for N; more than any input allows is a usage error. */
static void limit_length(Graph *g, long n)
{
    int64_t longest = 0;
    for (int s = 1; s < g->nsyms; s++)
        if (g->syms[s].max > longest)
            longest = g->syms[s].max;
    if (n > longest)
        usage_error(tfc_format("--seq %%s: the model takes at most %lld tokens", (long long)longest),
                    tfc_format("%ld", n));
    plan_limit_length(g, n);
}

/* --plan: the report to stdout, or the picture to a file. */
static int write_plan(const Graph *g, const Options *o)
{
    if (o->plan - 1 != PLAN_SVG) {
        plan_report(g, (PlanFormat)(o->plan - 1), stdout);
        if (fflush(stdout) != 0)
            error_status(EXIT_IO, "cannot write to stdout: %s", strerror(errno));
        return 0;
    }
    const char *tmp = tfc_format("%s.tmp%ld", o->plan_svg, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        error_status(EXIT_IO, "cannot write '%s': %s", o->plan_svg, strerror(errno));
    plan_report(g, PLAN_SVG, f);
    if ((ferror(f) | fclose(f)) || rename(tmp, o->plan_svg) != 0) {
        unlink(tmp);
        error_status(EXIT_IO, "cannot write '%s': %s", o->plan_svg, strerror(errno));
    }
    return 0;
}

static Graph *compile(const Options *o, const Program *prog, const Define *defs, int ndefs)
{
    Graph *g = lower_program(prog, defs, ndefs);
    check_graph(g, "lowering");
    if (o->seq)
        limit_length(g, o->seq);
    if (!o->no_dce) {
        pass_dce(g);
        check_graph(g, "dce");
    }
    pass_partition(g);
    check_graph(g, "partition");
    if (!o->no_kv_cache) {   /* after the partition: an encoder needs no cache */
        pass_kv_cache(g);
        check_graph(g, "kv-cache");
    }
    pass_plan(g);
    pass_plan_step(g);
    check_graph(g, "planning");
    return g;
}

int main(int argc, char **argv)
{
    Options o = {0};
    o.gen = (GenOptions){.n_predict = 128, .temperature = 0.8f, .top_p = 1.0f, .beams = 1};
    parse_args(&o, argc, argv);
    if (o.encode || o.decode)
        return tokenizer_main(o.gen.tokenizer, o.encode, o.decode, o.add_special);
    Define *defs;
    int ndefs;
    ckpt_defines(o.weights, o.defs, o.ndefs, &defs, &ndefs);
    Program *prog = parse_file(o.model);
    Graph *g = compile(&o, prog, defs, ndefs);
    if (o.dump_ir) {
        ir_dump(g, stdout);
        return 0;
    }
    if (o.plan)
        return write_plan(g, &o);
    if (o.output)
        write_outputs(g, &o);
    if (!o.run)
        return 0;
    ckpt_check_shapes(g, prog, defs, ndefs, o.weights);
    RunOptions ro = {.weights = o.weights, .threads = o.threads, .logits_path = o.logits,
                     .keep = o.keep, .prefill = o.prefill};
    if (o.gen.prompt)
        return generate_text(g, &ro, &o.gen);
    bind_inputs(g, &o, &ro);
    if (o.n_given && !o.logits)
        return generate_text(g, &ro, &o.gen);
    return run_model(g, &ro);
}
