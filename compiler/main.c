/*
 * main.c - the tfc command line.
 *
 * Results go to stdout, everything else (progress, timings, errors) to
 * stderr.  Exit status: 0 success, 1 bad input (model file, weights,
 * tokens), 2 a usage error, 3 an I/O error.  Output files are written
 * under temporary names and renamed at the end, so an error never leaves
 * a partial file behind.
 */
#include "cli_parse.h"
#include "output_files.h"
#include "report.h"
#include "tfc.h"
#include "tfrt.h"
#include "tfrt_text.h"
#ifdef TFC_LLVM
#include "jit.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define TFC_VERSION "0.1.0"

static const char usage[] =
    "usage: tfc MODEL.model [options]\n"
    "\n"
    "Compile a transformer described in MODEL.model to C, or run it.\n"
    "\n"
    "Compiling:\n"
    "  -o FILE.c             write FILE.c and FILE.h (- writes one combined file to stdout)\n"
    "  --prefix NAME         prefix of every exported symbol (default: the model's name)\n"
    "  --trace               generated code reports each kernel call's result to a callback\n"
    "                        (PREFIX_set_trace)\n"
    "  -D NAME=VALUE         override a configuration value of the model file (repeatable)\n"
    "  --dump-ir             print the graph after the last pass, one node a line, and stop\n"
    "  --dump-ir=PASS        the same after PASS (lower, dce, partition, kv-cache, fuse,\n"
    "                        quantize, plan)\n"
    "  -fno-dce              keep nodes the output does not need\n"
    "  -fno-kv-cache         no KV cache: every call runs the whole sequence\n"
    "  -fno-fuse             no operator fusion; -fno-fuse-RULE switches off one rule:\n"
    "                        glu, qkv, views, rope, cache, act, residual, chains\n"
    "  --quantize int8       linear layers' weights to int8 (blocks of 32 along the input,\n"
    "                        a float scale each), made from the weights file at open, or\n"
    "                        read as --save-weights saved them (docs/quantization.md)\n"
    "  -fno-quantize-head    with --quantize: keep the head (the output's layer) fp32\n"
    "  --save-weights FILE   with --quantize int8 and --weights: quantize once and write\n"
    "                        the model's weights to FILE (safetensors: the int8 layers'\n"
    "                        in the kernels' layout, the rest as stored); --weights FILE\n"
    "                        then maps them with no conversion (same model and options)\n"
    "  --quant-report TEXT   with --quantize int8 and --weights: run the model fp32 and int8\n"
    "                        over TEXT's tokens (--tokenizer) and print, per int8 layer, the\n"
    "                        weights' and the output's error, and end to end the top-1\n"
    "                        agreement, mean KL and loss change (docs/quantization.md)\n"
    "  --quant-report=json TEXT   the same as JSON\n"
    "  --seq N               plan (and compile) for sequences of at most N tokens\n"
    "  --plan                print parameters, FLOPs and the memory plan, and stop\n"
    "  --plan=json           the same as JSON (docs/memory-planning.md)\n"
    "  --plan=svg FILE       draw the memory plan into FILE (SVG)\n"
    "  --report FILE.html    one self-contained page: the architecture, parameters by\n"
    "                        component, FLOPs and memory, scaling formulas, the memory\n"
    "                        plan (docs/report.md); - writes it to stdout.  With --weights\n"
    "                        and --prompt, -f or --tokens: the attention of one run as\n"
    "                        heatmaps; with --quantize int8, the error per layer\n"
    "  --attention-json FILE with --report: the attention probabilities the run\n"
    "                        recorded, as JSON\n"
    "  --tp N                tensor parallelism: the model split over N ranks (MPI);\n"
    "                        run as mpirun -np N tfc ... --tp N --run; with --plan, one\n"
    "                        rank's memory and the bytes its all-reduces move\n"
    "\n"
    "Running (compiles in memory with LLVM, or with the system C compiler, and runs\n"
    "in-process):\n"
    "  --run                 run the model\n"
    "  --jit llvm|cc         how --run compiles: llvm in memory (no files, no C compiler;\n"
    "                        the default when tfc was built with LLVM) or cc, the system\n"
    "                        C compiler into a shared object (the default otherwise)\n"
    "  -v, --verbose         with --run: report the JIT's time\n"
    "  --dump-llvm           print the kernel programs as LLVM IR before and after -O2\n"
    "                        (to stdout and stop; with --run, to stderr and run)\n"
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
    "  --keep                keep the build folder of --run (its path goes to stderr);\n"
    "                        takes --jit cc\n"
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
    "  -n, --n-predict N     tokens to generate (default 128); stops early at end-of-text\n"
    "                        or a --stop string.\n"
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
    "  --repeat-penalty X    divide the positive logits of tokens already in the context by\n"
    "                        X, multiply the negative ones (default 1: off; X > 0)\n"
    "  --stop STR            stop when the generated text contains STR, which is not printed\n"
    "                        (repeatable, at most 64, each 1 to 256 bytes)\n"
    "  -c, --ctx-size N      tokens the model holds (its KV cache at open, and the window\n"
    "                        that slides), 1 to what it was compiled for (the default)\n"
    "  -f, --file FILE       read the prompt from FILE (its bytes as they are, at most\n"
    "                        16 MiB), instead of --prompt\n"
    "  --echo                print the prompt to stdout before the generated text\n"
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
    "  TFC_JIT               llvm or cc: the default of --jit\n"
    "  CC                    the C compiler of --jit cc (default cc)\n"
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
    int trace;                   /* --trace: PREFIX_set_trace works */
    Define defs[64];
    int ndefs;
    int dump_ir;
    const char *dump_after;      /* --dump-ir=NAME: a pass, or "lower" */
    PassOptions passes;          /* -fno-NAME */
    long seq;                /* --seq N, 0: the longest the model allows */
    int plan;                /* 1 + PlanFormat, 0: no --plan */
    const char *plan_svg;
    const char *report;          /* --report FILE.html */
    int run;
    const char *weights;
    const char *tokens;
    const char *src, *types;     /* the inputs named src and types */
    long length;                 /* --length: valid tokens, 0 when absent */
    const char *logits;
    int threads;
    int keep;
    int prefill;
    const char *jit;             /* --jit NAME, or NULL */
    int verbose;
    int dump_llvm;
    GenOptions gen;
    int n_given;           /* -n: generate, also from --tokens */
    const char *encode;
    const char *decode;
    const char *run_only;  /* the first option given that only --run reads */
    int add_special;
    const char *stops[64];       /* --stop, into gen.stop */
    const char *quant_report;    /* --quant-report TEXT */
    const char *save_weights;    /* --save-weights FILE */
    const char *run_only_other;  /* the first run-only option but --weights */
    const char *attention_json;  /* --attention-json FILE, with --report */
    const char *not_report;      /* the first option given that --report does not take */
    int quant_json;              /* --quant-report=json TEXT */
} Options;

/* Through error_status, so that a harness (tests/fuzz/fuzz_cli.c) can
 * catch it with diag_try. */
static _Noreturn void usage_error(const char *fmt, const char *arg)
{
    error_status(EXIT_USAGE, "%s\ntry 'tfc --help'", tfc_format(fmt, arg));
}

/* Numbers and lists: cli_parse.c, one strict reading for every option. */
static long parse_long(const char *s, const char *what, long lo, long hi)
{
    int64_t v;
    const char *bad = cli_integer(s, lo, hi, &v);
    if (bad)
        usage_error("%s", tfc_format("%s: %s", what, bad));
    return (long)v;
}

static double parse_double(const char *s, const char *what, double lo, double hi)
{
    double v;
    const char *bad = cli_number(s, lo, hi, &v, NULL);
    if (bad)
        usage_error("%s", tfc_format("%s: %s", what, bad));
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

/* --stop STR: bounded in number and length, as the text held back while
 * it might be the start of one is searched for each (tfrt_generate.h). */
static void add_stop(Options *o, const char *stop)
{
    size_t len = strlen(stop);
    if (len == 0)
        usage_error("%s", "--stop: the string is empty");
    if (len > 256)
        usage_error("--stop '%s': longer than 256 bytes", tfc_format("%.40s...", stop));
    if (o->gen.nstop == (int)(sizeof o->stops / sizeof o->stops[0]))
        usage_error("too many --stop options (at most 64) at '%s'", stop);
    o->stops[o->gen.nstop++] = stop;
    o->gen.stop = o->stops;
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

/* -fno-NAME: an optional pass, or -fno-fuse-RULE: one fusion rule. */
static void switch_off(PassOptions *po, const char *arg)
{
    const char *name = arg + 5;
    if (strcmp(name, "quantize-head") == 0) {
        po->keep_head_fp32 = 1;
        return;
    }
    int p = pipeline_find(name);
    if (p >= 0 && passes[p].optional) {
        po->off |= 1u << p;
        return;
    }
    for (int r = 0; strncmp(name, "fuse-", 5) == 0 && r < fuse_nrules; r++)
        if (strcmp(name + 5, fuse_rules[r].name) == 0) {
            po->fuse_off |= 1u << r;
            return;
        }
    usage_error("unknown option '%s' (tfc --help lists the passes and fusion rules)", arg);
}

/* Whether arg is an option that only --run (or the tokenizer alone, for
 * --tokenizer) reads. */
static int run_only(const char *arg)
{
    static const char *const opts[] = {
        "--weights", "--tokens", "--src", "--types", "--length", "--logits", "-t", "--threads",
        "--keep", "--prefill", "--jit", "-v", "--verbose", "--tokenizer", "-p", "--prompt", "-n",
        "--n-predict", "--temp", "--top-k", "--top-p", "-s", "--seed", "--beams", "--repeat-penalty",
        "--stop", "-c", "--ctx-size", "--file", "--echo",
    };
    if (strcmp(arg, "-f") == 0)      /* not is_opt: -fno-NAME starts the same */
        return 1;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (is_opt(arg, opts[i]))
            return 1;
    return 0;
}

/* The options of --run that --report reads too: what its one recorded
 * forward pass runs on. */
static int report_takes(const char *arg)
{
    static const char *const opts[] = {
        "--weights", "--tokens", "--src", "--types", "--length", "-t", "--threads", "--jit",
        "--tokenizer", "-p", "--prompt", "--file",
    };
    if (strcmp(arg, "-f") == 0)
        return 1;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (is_opt(arg, opts[i]))
            return 1;
    return 0;
}

/* The options of generation, where nothing would read them: text
 * options without a text prompt, sampling options with beam search (which
 * does not sample) or without generation (--tokens with --logits, or
 * without -n, runs the model once). */
static void check_generation(const Options *o, const char *text)
{
    const GenOptions *gen = &o->gen;
    int generating = text || (o->tokens && o->n_given && !o->logits);
    if (!text && gen->nstop)
        usage_error("%s", "--stop goes with --prompt or -f (text generation)");
    if (!text && gen->echo)
        usage_error("%s", "--echo goes with --prompt or -f (text generation)");
    const char *sampling = gen->penalty_given ? "--repeat-penalty" : gen->ctx ? "-c" : NULL;
    if (sampling && !generating)
        usage_error("%s goes with generation: --prompt, -f, or --tokens with -n (and no --logits)",
                    sampling);
    if (gen->beams > 1 && (gen->nstop || gen->penalty_given))
        usage_error("--beams does not go with %s: beam search does not sample",
                    gen->nstop ? "--stop" : "--repeat-penalty");
}

/* --save-weights writes the int8 weights and stops (besides -o): it needs
 * the int8 model and its weights, and runs nothing. */
static void check_save(const Options *o)
{
    if (o->passes.quantize != QUANT_INT8)
        usage_error("%s", "--save-weights writes int8 weights: give --quantize int8");
    if (!o->weights)
        usage_error("%s", "--save-weights needs --weights (the weights to quantize)");
    if (strcmp(o->save_weights, "-") == 0)
        usage_error("%s", "--save-weights -: give a file name (the weights are mapped when read "
                          "back, so they do not go to stdout)");
    const char *other = o->run ? "--run" : o->plan ? "--plan" : o->dump_ir ? "--dump-ir"
                        : o->report ? "--report" : o->quant_report ? "--quant-report"
                        : o->dump_llvm ? "--dump-llvm" : o->gen.tokenizer ? "--tokenizer"
                        : o->run_only_other;
    if (other)
        usage_error("--save-weights does not go with %s: it writes the weights and stops "
                    "(run the model on them afterwards)", other);
}

/* A mode's options given with another mode are refused, not ignored: a
 * command never silently drops what it was asked. */
static void check_modes(const Options *o)
{
    if ((o->encode || o->decode) && o->model)
        usage_error("--encode and --decode take no model file ('%s')", o->model);
    if (o->encode && o->decode)
        usage_error("%s", "--encode and --decode go one at a time");
    if (o->add_special && !o->encode)
        usage_error("%s", "--add-special goes with --encode");
    if (o->encode || o->decode)
        return;
    if (o->passes.keep_head_fp32 && o->passes.quantize != QUANT_INT8)
        usage_error("%s", "-fno-quantize-head goes with --quantize int8");
    if (o->quant_report && (o->run || o->tokens || o->src || o->types || o->gen.prompt
                            || o->gen.prompt_file || o->logits || o->n_given))
        usage_error("%s", "--quant-report runs the model on its text: it does not go with --run, "
                          "--tokens, --prompt, -f, --logits or -n");
    if (o->quant_report && o->passes.quantize != QUANT_INT8)
        usage_error("%s", "--quant-report measures --quantize int8: give both");
    if (o->save_weights)
        check_save(o);
    if (o->report && o->not_report)
        usage_error("%s does not go with --report (which takes --weights, --prompt, -f, --tokens, "
                    "--src, --types, --length, --tokenizer, --jit and --threads)", o->not_report);
    if (o->attention_json && !o->report)
        usage_error("%s", "--attention-json goes with --report");
    if (!o->run && !o->quant_report && !o->save_weights && !o->report && o->run_only)
        usage_error("%s goes with --run", o->run_only);
    if (!o->run && !o->quant_report && !o->report && o->gen.tokenizer)
        usage_error("%s", "--tokenizer goes with --run, --encode or --decode");
    const GenOptions *gen = &o->gen;
    if (gen->prompt && gen->prompt_file)
        usage_error("%s", "-f reads the prompt from a file: it does not go with --prompt");
    const char *text = gen->prompt ? "--prompt" : gen->prompt_file ? "-f" : NULL;
    if (text && (o->tokens || o->src || o->types))
        usage_error("%s gives the model its tokens: it does not go with --tokens, --src or --types",
                    text);
    check_generation(o, text);
}

static void parse_args(Options *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!o->run_only && run_only(a) && !is_opt(a, "--tokenizer"))
            o->run_only = tfc_strndup(a, strcspn(a, "="));
        if (!o->run_only_other && run_only(a) && !is_opt(a, "--tokenizer") && !is_opt(a, "--weights"))
            o->run_only_other = tfc_strndup(a, strcspn(a, "="));
        if (!o->not_report && run_only(a) && !report_takes(a))
            o->not_report = tfc_strndup(a, strcspn(a, "="));
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
        } else if (strcmp(a, "--trace") == 0) {
            o->trace = 1;
        } else if (is_opt(a, "--prefix")) {
            o->prefix = value(argc, argv, &i, "--prefix");
        } else if (strcmp(a, "--dump-ir") == 0) {
            o->dump_ir = 1;
            o->dump_after = "plan";
        } else if (strncmp(a, "--dump-ir=", 10) == 0) {
            o->dump_ir = 1;
            o->dump_after = a + 10;
            if (strcmp(o->dump_after, "lower") != 0 && pipeline_find(o->dump_after) < 0)
                usage_error("--dump-ir=%s: no such pass (see --help)", o->dump_after);
        } else if (strncmp(a, "-fno-", 5) == 0) {
            switch_off(&o->passes, a);
        } else if (is_opt(a, "--quantize")) {
            const char *q = value(argc, argv, &i, "--quantize");
            if (strcmp(q, "int8") != 0)
                usage_error("%s", tfc_format("--quantize '%s': the one scheme is int8", q));
            o->passes.quantize = QUANT_INT8;
        } else if (strcmp(a, "--quant-report") == 0 || strcmp(a, "--quant-report=json") == 0
                   || strcmp(a, "--quant-report=text") == 0) {
            o->quant_json = strcmp(a, "--quant-report=json") == 0;
            if (i + 1 >= argc)
                usage_error("%s", tfc_format("%s needs a TEXT file to measure on", a));
            o->quant_report = argv[++i];
        } else if (is_opt(a, "--tp")) {
            o->passes.tp = (int)parse_long(value(argc, argv, &i, "--tp"), "--tp", 1, 4096);
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
        } else if (is_opt(a, "--report")) {
            o->report = value(argc, argv, &i, "--report");
        } else if (is_opt(a, "--attention-json")) {
            o->attention_json = value(argc, argv, &i, "--attention-json");
        } else if (strcmp(a, "--run") == 0) {
            o->run = 1;
        } else if (is_opt(a, "--save-weights")) {
            o->save_weights = value(argc, argv, &i, "--save-weights");
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
        } else if (is_opt(a, "--jit")) {
            o->jit = value(argc, argv, &i, "--jit");
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
        } else if (strcmp(a, "--dump-llvm") == 0) {
            o->dump_llvm = 1;
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
        } else if (is_opt(a, "--repeat-penalty")) {
            o->gen.repeat_penalty = (float)parse_double(value(argc, argv, &i, "--repeat-penalty"),
                                                        "--repeat-penalty", 0, 100);
            if (o->gen.repeat_penalty == 0)
                usage_error("%s", "--repeat-penalty: '0' must be more than 0 (1 is off)");
            o->gen.penalty_given = 1;
        } else if (is_opt(a, "--stop")) {
            add_stop(o, value(argc, argv, &i, "--stop"));
        } else if (is_opt(a, "-c") || is_opt(a, "--ctx-size")) {
            o->gen.ctx = (int)parse_long(value(argc, argv, &i, a[1] == '-' ? "--ctx-size" : "-c"),
                                         "--ctx-size", 1, INT32_MAX);
        } else if (strcmp(a, "-f") == 0 || is_opt(a, "--file")) {
            if (o->gen.prompt_file)
                usage_error("%s", "-f goes once: one prompt file");
            o->gen.prompt_file = value(argc, argv, &i, a[1] == '-' ? "--file" : "-f");
        } else if (strcmp(a, "--echo") == 0) {
            o->gen.echo = 1;
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
    check_modes(o);
    if (o->encode || o->decode)
        return;
    if (!o->model)
        usage_error("%s", "no model file given");
    if (o->run && !o->weights)
        usage_error("%s", "--run needs --weights FILE");
    if (o->quant_report && !o->weights)
        usage_error("%s", "--quant-report needs --weights FILE");
    if (o->quant_report && !o->gen.tokenizer)
        o->gen.tokenizer = ckpt_default_tokenizer(o->weights);
    int text = o->gen.prompt || o->gen.prompt_file;
    if (o->report && !o->weights && (text || o->tokens || o->src || o->types))
        usage_error("%s", "--report runs the model over a prompt or --tokens to record its attention: "
                          "give --weights too");
    if (o->attention_json && !(o->weights && (text || o->tokens || o->src)))
        usage_error("%s", "--attention-json writes what a run records: give --weights and --prompt, "
                          "-f or --tokens");
    if (o->report && text && o->length)
        usage_error("%s", "--length is the valid length of --tokens; the prompt's tokens are all valid");
    if (o->report && o->weights && o->passes.tp > 1)
        usage_error("%s", "--report with --weights runs one process: it does not go with --tp");
    if (o->run && !o->tokens && !text)
        usage_error("%s", "--run needs --tokens (token ids), --prompt or -f (text, with --tokenizer)");
    if (text && !o->gen.tokenizer)
        o->gen.tokenizer = ckpt_default_tokenizer(o->weights);
    if (text && !o->gen.tokenizer)
        usage_error("%s needs --tokenizer PATH (or --weights FOLDER with a tokenizer.json)",
                    o->gen.prompt ? "--prompt" : "-f");
    if (o->dump_llvm && (o->dump_ir || o->plan))
        usage_error("%s", "--dump-llvm does not go with --dump-ir or --plan");
    if (o->dump_llvm && !run_have_llvm())
        usage_error("%s", "--dump-llvm: this tfc was built without LLVM (make LLVM=0)");
    if (o->report && (o->dump_ir || o->plan || o->run || o->output))
        usage_error("--report does not go with %s: it writes its page and stops",
                    o->dump_ir ? "--dump-ir" : o->plan ? "--plan" : o->run ? "--run" : "-o");
    if (o->run && (o->dump_ir || o->plan))
        usage_error("%s", "--run does not go with --dump-ir or --plan, which stop before running");
    if (o->prefix) {
        if (!*o->prefix)
            usage_error("%s", "--prefix is empty: give a C identifier");
        for (const char *p = o->prefix; *p; p++)
            if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (p != o->prefix && *p >= '0' && *p <= '9')))
                usage_error("--prefix '%s' is not a C identifier", o->prefix);
    }
}

/* "464,2068,7586" -> token ids. */
static int32_t *parse_ids(const char *s, const char *opt, int *count)
{
    int32_t *ids;
    const char *bad = cli_list(s, 0, INT32_MAX, &ids, count);
    if (bad)
        usage_error(tfc_format("%s '%%s' is not a comma-separated list of ids: %s", opt, bad), s);
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

/* --tokens, --src or --types given for a model with no input they fill
 * would be ignored: refused instead. */
static void check_inputs_taken(const Graph *g, const Options *o)
{
    const char *given[] = {o->tokens, o->src, o->types};
    const char *opts[] = {"--tokens", "--src", "--types"};
    const char *names = "";
    for (int i = 0; i < g->ninputs; i++)
        names = tfc_format("%s%s%s", names, i ? ", " : "", g->nodes[g->inputs[i]].name);
    for (int k = 0; k < 3; k++) {
        int taken = 0;
        for (int i = 0; i < g->ninputs && given[k]; i++) {
            const char *opt = NULL;
            int n;
            input_ids(o, g->nodes[g->inputs[i]].name, &opt, &n);
            taken |= strcmp(opt, opts[k]) == 0;
        }
        if (given[k] && !taken)
            usage_error(tfc_format("%%s: the model has no input it fills (its inputs: %s)", names),
                        opts[k]);
    }
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
    check_inputs_taken(g, o);
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

/* FILE.c -> FILE.h; NULL for "-" (one stream to stdout). */
static const char *header_path(const char *output)
{
    size_t len = strlen(output);
    if (strcmp(output, "-") == 0)
        return NULL;
    if (len < 3 || strcmp(output + len - 2, ".c") != 0)
        usage_error("-o expects a file name ending in .c (or -), got '%s'", output);
    return tfc_format("%.*s.h", (int)(len - 2), output);
}

/* Every file tfc would write against every file it reads, before any
 * work: an output that is an input or a folder is refused. */
static void check_output_paths(const Options *o)
{
    const char *outputs[] = {o->output, o->output ? header_path(o->output) : NULL, o->plan_svg,
                             o->logits, o->report, o->save_weights, o->attention_json};
    const char *inputs[] = {o->model, o->weights, o->gen.tokenizer, o->encode, o->gen.prompt_file};
    outputs_check(outputs, (int)(sizeof outputs / sizeof *outputs), inputs, 5);
}

/* Writes FILE.c and FILE.h, both or neither (or one stream to stdout for
 * "-o -"). */
static void write_outputs(const Graph *g, const Options *o)
{
    EmitOptions eo = {o->prefix ? o->prefix : default_prefix(g), NULL, o->trace};
    const char *header = header_path(o->output);
    if (!header) {
        emit_source(g, &eo, stdout);
        if (fflush(stdout) != 0)
            error_status(EXIT_IO, "cannot write to stdout: %s", strerror(errno));
        return;
    }
    const char *slash = strrchr(header, '/');
    eo.header_name = slash ? slash + 1 : header;
    Outputs out = {0};
    emit_header(g, &eo, outputs_open(&out, header));
    emit_source(g, &eo, outputs_open(&out, o->output));
    outputs_commit(&out);
}

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
    Outputs out = {0};
    plan_report(g, PLAN_SVG, outputs_open(&out, o->plan_svg));
    outputs_commit(&out);
    return 0;
}

/* --jit, else $TFC_JIT, else llvm when this tfc has it; --keep keeps the
 * C back end's build folder, so it takes cc. */
static int jit_choice(const Options *o)
{
    const char *name = o->jit, *env = getenv("TFC_JIT");
    const char *from = "--jit";
    if (!name && env && *env)
        name = env, from = "TFC_JIT";
    if (!name)
        return run_have_llvm() && !o->keep ? RUN_JIT_LLVM : RUN_JIT_CC;
    if (strcmp(name, "cc") == 0)
        return RUN_JIT_CC;
    if (strcmp(name, "llvm") != 0)
        usage_error("%s: say llvm or cc", tfc_format("%s %s", from, name));
    if (!run_have_llvm())
        usage_error("%s llvm: this tfc was built without LLVM (make LLVM=0); use --jit cc", from);
    if (o->keep && o->jit)
        usage_error("%s", "--keep keeps the C build folder of --jit cc; --jit llvm writes no files");
    return o->keep ? RUN_JIT_CC : RUN_JIT_LLVM;
}

/* The model compiled fp32 and int8, each without the residual epilogue
 * (a traced layer output is then the layer's own): what --quant-report
 * measures. */
static void compile_quant_pair(const Options *o, const Program *prog, const Define *defs, int ndefs,
                               Graph *g[2])
{
    for (int q = 0; q < 2; q++) {
        PassOptions po = o->passes;
        for (int r = 0; r < fuse_nrules; r++)
            if (strcmp(fuse_rules[r].name, "residual") == 0)
                po.fuse_off |= 1u << r;
        po.quantize = q ? QUANT_INT8 : QUANT_NONE;
        g[q] = lower_program(prog, defs, ndefs);
        if (o->seq)
            limit_length(g[q], o->seq);
        g[q] = pipeline_run(g[q], &po, NULL, NULL);
    }
    ckpt_check_shapes(g[1], prog, defs, ndefs, o->weights);
}

/* --quant-report TEXT. */
static int run_quant_report(const Options *o, const Program *prog, const Define *defs, int ndefs)
{
    Graph *g[2];
    compile_quant_pair(o, prog, defs, ndefs, g);
    RunOptions ro = {.weights = o->weights, .threads = o->threads};
    QuantReportOptions qo = {o->quant_report, o->quant_json, o->gen.tokenizer, 1 << 15};
    return quant_report(g[0], g[1], &ro, &qo);
}

/* ---- --report with --weights: the runs behind the attention and
 * quantization sections ---- */

static TfrtTokenizer *load_tokenizer(const char *path)
{
    TfrtTokenizer *tok;
    char err[512];
    if (tfrt_tok_load(&tok, path, err, sizeof err) != TFRT_OK)
        error_status(EXIT_INPUT, "%s", err);
    return tok;
}

/* The attention of one forward pass over the prompt or the given ids. */
static int record_attention(const Graph *g, const Options *o, TfrtTokenizer *tok, ReportAttention *ra)
{
    if (!o->gen.prompt && !o->tokens && !o->src) {
        ra->why_not = "the page was made with weights but without a prompt to run the model on "
                      "(give <code>--prompt TEXT</code>, <code>-f FILE</code> or <code>--tokens IDS</code>)";
        return 0;
    }
    RunOptions ro = {.weights = o->weights, .threads = o->threads, .jit = jit_choice(o)};
    int total = 0, kept = 0;
    if (o->gen.prompt)
        total = report_prompt_inputs(g, o->gen.prompt, o->gen.prompt_len, tok, o->weights, &ro, &kept);
    else
        bind_inputs(g, o, &ro);
    /* an encoder-decoder's prompt is its source: the decoder's rows are
     * its start token and what it then chooses greedily */
    int greedy = o->gen.prompt && g->enc_end ? REPORT_DECODER_TOKENS : 0;
    int rc = report_attention_record(g, &ro, greedy, tok ? tfrt_tok_eos(tok) : -1, ra);
    if (rc)
        return rc;
    report_attention_labels(g, &ro, tok, ra);
    size_t shown = o->gen.prompt_len < 200 ? o->gen.prompt_len : 200;
    while (shown < o->gen.prompt_len && shown > 0 && (o->gen.prompt[shown] & 0xc0) == 0x80)
        shown--;   /* not inside a UTF-8 character */
    const char *cut = kept < total ? tfc_format(", its first %d of %d tokens (what the model's input "
                                                "takes)", kept, total) : "";
    const char *what = o->gen.prompt ? tfc_format("the prompt \xe2\x80\x9c%s\xe2\x80\x9d%s (tokenizer <code>%s</code>)",
                                                  report_escape(tfc_format("%.*s%s", (int)shown, o->gen.prompt,
                                                                           shown < o->gen.prompt_len ? "\xe2\x80\xa6" : "")),
                                                  cut, report_escape(o->gen.tokenizer))
                                     : "the given token ids (<code>--tokens</code>; labels are ids)";
    if (greedy)
        what = tfc_format("%s as the encoder's source, the decoder's tokens its start token and the "
                          "%d the model then chose greedily (up to %d, or the end of text)", what,
                          ra->generated, REPORT_DECODER_TOKENS);
    ra->source = tfc_format("%s, run by %s", what, ro.jit == RUN_JIT_LLVM ? "the LLVM JIT" : "<code>--jit cc</code>");
    return 0;
}

/* --quantize int8: --quant-report's numbers, over the prompt's tokens
 * when there is one. */
static int measure_quant(const Options *o, const Program *prog, const Define *defs, int ndefs,
                         TfrtTokenizer *tok, QuantMeasure *m)
{
    Graph *g[2];
    compile_quant_pair(o, prog, defs, ndefs, g);
    int32_t *ids = NULL;
    int n = 0;
    size_t count = 0;
    char err[256];
    if (o->gen.prompt && tfrt_tok_encode(tok, o->gen.prompt, o->gen.prompt_len, &ids, &count, err,
                                         sizeof err) != TFRT_OK)
        error_status(EXIT_INPUT, "--prompt: %s", err);
    if (!o->gen.prompt && o->tokens && !o->src)
        ids = parse_ids(o->tokens, "--tokens", &n), count = (size_t)n;
    RunOptions ro = {.weights = o->weights, .threads = o->threads};
    int rc = quant_measure(g[0], g[1], &ro, ids, count, m);
    if (o->gen.prompt)
        free(ids);
    return rc;
}

/* --report FILE.html: the page (and --attention-json), all or nothing
 * (- : the page to stdout). */
static int write_report(const Graph *g, const Options *o, const Program *prog, const Define *defs,
                        int ndefs)
{
    ReportSource src = {prog, defs, ndefs, o->passes};
    ReportAttention ra = {0};
    QuantMeasure qm;
    ReportRun run = {0};
    TfrtTokenizer *tok = o->gen.prompt ? load_tokenizer(o->gen.tokenizer) : NULL;
    int rc = 0;
    if (o->weights) {
        ckpt_check_shapes(g, prog, defs, ndefs, o->weights);
        rc = record_attention(g, o, tok, &ra);
        run.attention = &ra;
        if (!rc && o->passes.quantize == QUANT_INT8 && !(rc = measure_quant(o, prog, defs, ndefs, tok, &qm)))
            run.quant = &qm;
    }
    if (rc)
        return rc;
    Outputs out = {0};
    if (o->attention_json)
        report_attention_json(&ra, outputs_open(&out, o->attention_json));
    if (strcmp(o->report, "-") == 0) {
        report_write(g, &src, &run, stdout);
        if (fflush(stdout) != 0)
            error_status(EXIT_IO, "cannot write to stdout: %s", strerror(errno));
    } else {
        report_write(g, &src, &run, outputs_open(&out, o->report));
    }
    outputs_commit(&out);
    report_attention_free(&ra);
    if (tok)
        tfrt_tok_free(tok);
    return 0;
}

static int dump_llvm(const Graph *g)
{
#ifdef TFC_LLVM
    jit_dump_model(g, stdout);
    return fflush(stdout) == 0 ? 0 : EXIT_IO;
#else
    (void)g;
    return EXIT_USAGE;
#endif
}

static Graph *compile(const Options *o, const Program *prog, const Define *defs, int ndefs)
{
    Graph *g = lower_program(prog, defs, ndefs);
    if (o->seq)
        limit_length(g, o->seq);
    PassOptions po = o->passes;
    po.measure_unfused = o->plan != 0;
    return pipeline_run(g, &po, o->dump_ir ? o->dump_after : NULL, stdout);
}

/* --tp N with --run: this process is one of N MPI ranks.  Only rank 0
 * writes output; an exit other than main's return ends every rank
 * (tfrt_comm_init), so that no rank waits for one that failed. */
static void start_ranks(Options *o)
{
    if (o->passes.tp <= 1)
        return;
    if (o->passes.quantize)
        usage_error("--tp %s with --quantize int8: int8 weights are not split over ranks yet; "
                    "use one or the other", tfc_format("%d", o->passes.tp));
    if (!tfrt_comm_available())
        usage_error("--tp %s: this tfc was built without MPI (tools/deps.sh installs libopenmpi-dev; "
                    "then rebuild)", tfc_format("%d", o->passes.tp));
    if (!o->run)
        return;
    tfrt_comm_init(NULL, NULL);
    if (tfrt_comm_size() != o->passes.tp)
        error_status(EXIT_USAGE, "--tp %d needs %d ranks: run it as mpirun -np %d tfc ... (this job has %d)",
                     o->passes.tp, o->passes.tp, o->passes.tp, tfrt_comm_size());
    if (tfrt_comm_rank() != 0) {
        if (!freopen("/dev/null", "w", stdout))
            error_status(EXIT_IO, "rank %d: cannot silence stdout", tfrt_comm_rank());
        if (o->logits && strcmp(o->logits, "-") != 0)
            o->logits = "/dev/null";
        o->verbose = 0;
    }
}

static int tfc_main(Options *o);

int main(int argc, char **argv)
{
    Options o = {0};
    o.gen = (GenOptions){.n_predict = 128, .temperature = 0.8f, .top_p = 1.0f, .beams = 1,
                         .repeat_penalty = 1.0f};
    parse_args(&o, argc, argv);
    start_ranks(&o);
    int rc = tfc_main(&o);
    if (rc == 0 && o.run && o.passes.tp > 1) {
        fflush(stdout);
        tfrt_comm_finalize();   /* else the exit aborts the other ranks */
    }
    return rc;
}

/* Everything after the command line: compile, then plan, write or run. */
static int tfc_main(Options *op)
{
    Options o = *op;
    check_output_paths(&o);
    if (o.gen.prompt_file)
        o.gen.prompt = prompt_read_file(o.gen.prompt_file, &o.gen.prompt_len);
    else if (o.gen.prompt)
        o.gen.prompt_len = strlen(o.gen.prompt);
    if (o.encode || o.decode)
        return tokenizer_main(o.gen.tokenizer, o.encode, o.decode, o.add_special);
    Define *defs;
    int ndefs;
    ckpt_defines(o.weights, o.defs, o.ndefs, &defs, &ndefs);
    Program *prog = parse_file(o.model);
    if (o.quant_report)
        return run_quant_report(&o, prog, defs, ndefs);
    Graph *g = compile(&o, prog, defs, ndefs);
    if (o.dump_ir)
        return 0;
    if (o.plan)
        return write_plan(g, &o);
    if (o.report)
        return write_report(g, &o, prog, defs, ndefs);
    if (o.output)
        write_outputs(g, &o);
    if (o.save_weights) {
        ckpt_check_shapes(g, prog, defs, ndefs, o.weights);
        return save_weights(g, o.weights, o.save_weights);
    }
    if (o.dump_llvm && !o.run)
        return dump_llvm(g);
    if (!o.run)
        return 0;
    ckpt_check_shapes(g, prog, defs, ndefs, o.weights);
    RunOptions ro = {.weights = o.weights, .threads = o.threads, .logits_path = o.logits,
                     .keep = o.keep, .prefill = o.prefill, .jit = jit_choice(&o),
                     .verbose = o.verbose, .dump_llvm = o.dump_llvm};
    if (o.gen.prompt)
        return generate_text(g, &ro, &o.gen);
    bind_inputs(g, &o, &ro);
    if (o.n_given && !o.logits)
        return generate_text(g, &ro, &o.gen);
    return run_model(g, &ro);
}
