/*
 * run.c - `tfc M --run`: compile the generated C with the system compiler
 * into a shared object, load it and run it, in one step.
 *
 * The shared object leaves tfrt_* undefined: they resolve against this
 * process, which carries the runtime and exports it (-rdynamic).  A small
 * glue file gives the model a fixed-signature entry point, whatever inputs
 * the model declares, so this file needs no knowledge of the model's API.
 */
#include "output_files.h"
#include "tfc.h"
#ifdef TFC_LLVM
#include "jit.h"
#endif
#include "tfrt.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void write_file(const char *path, void (*fn)(const Graph *, const EmitOptions *, FILE *),
                       const Graph *g, const EmitOptions *opt, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        error_status(EXIT_IO, "cannot write '%s': %s", path, strerror(errno));
    if (fn)
        fn(g, opt, f);
    else
        fputs(text, f);
    if (fclose(f) != 0)
        error_status(EXIT_IO, "cannot write '%s': %s", path, strerror(errno));
}

static const char *glue_source(const Graph *g, const char *P)
{
    char args[256] = "";
    size_t len = 0;
    for (int i = 0; i < g->ninputs; i++)
        len += (size_t)snprintf(args + len, sizeof args - len, ", inputs[%d]", i);
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past)
            len += (size_t)snprintf(args + len, sizeof args - len, ", lengths[%d]", s - 1);
    for (int s = 1; s < g->nsyms; s++)   /* valid lengths, as in emit_signature */
        if (g->padded >> s & 1u)
            len += (size_t)snprintf(args + len, sizeof args - len, ", lengths[%d]", MAX_INPUTS + s - 1);
    /* open goes through open_ex for -c (the KV cache's context); a model
     * without a cache is always opened with ctx 0 */
    const char *common = tfc_format(
        "#include \"model.h\"\n"
        "int tfc_glue_open(void **m, const char *path, int ctx, char *err, size_t errlen);\n"
        "int tfc_glue_forward(void *m, const int32_t *const *inputs, const int *lengths, float *out);\n"
        "void tfc_glue_close(void *m);\n"
        "const char *tfc_glue_strerror(int status);\n"
        "int tfc_glue_open(void **m, const char *path, int ctx, char *err, size_t errlen)\n"
        "{ %s_options o = {.ctx = ctx}; return %s_open_ex((%s_model **)m, path, &o, err, errlen); }\n"
        "int tfc_glue_forward(void *m, const int32_t *const *inputs, const int *lengths, float *out)\n"
        "{ return %s_forward(m%s, out); }\n"
        "void tfc_glue_close(void *m) { %s_close(m); }\n"
        "const char *tfc_glue_strerror(int status) { return %s_strerror(status); }\n"
        "int tfc_glue_set_trace(void *m, %s_trace_fn fn, void *arg);\n"
        "int tfc_glue_set_trace(void *m, %s_trace_fn fn, void *arg) { return %s_set_trace(m, fn, arg); }\n",
        P, P, P, P, args, P, P, P, P, P);
    const char *cached = !g->cache_sym ? "" : tfc_format(
        "int tfc_glue_step(void *m, int32_t token, float *out);\n"
        "int tfc_glue_copy_state(void *dst, const void *src);\n"
        "int tfc_glue_step(void *m, int32_t token, float *out) { return %s_step(m, token, out); }\n"
        "int tfc_glue_copy_state(void *dst, const void *src) { return %s_copy_state(dst, src); }\n",
        P, P);
    /* an encoder-decoder's prefill needs its encode first: it keeps forward */
    const char *last = !g->cache_sym || g->enc_end || !kprog_has_last_row(g) ? "" : tfc_format(
        "int tfc_glue_prefill_last(void *m, const int32_t *tokens, int n, float *out);\n"
        "int tfc_glue_prefill_last(void *m, const int32_t *tokens, int n, float *out)\n"
        "{ return %s_prefill_last(m, tokens, n, out); }\n", P);
    return tfc_format("%s%s%s", common, cached, last);
}

/* TFC_POISON set and not "0": build the poison mode of the generated code
 * (freed arena buffers filled with NaN), so that tests catch a wrong reuse
 * of memory without a second build of tfc. */
static int poison_requested(void)
{
    const char *v = getenv("TFC_POISON");
    return v && *v && strcmp(v, "0") != 0;
}

/* An argument vector under construction: no shell ever sees it, so no
 * character in a path or a variable means anything but itself. */
typedef struct {
    const char *v[256];
    int n;
} Argv;

static void arg(Argv *a, const char *s)
{
    if (a->n == (int)(sizeof a->v / sizeof a->v[0]) - 1)
        error_plain("too many words in $CC and $TFC_CFLAGS");
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

/* The words of s, split at blanks, as make splits $(CC): no quoting. */
static void words(Argv *a, const char *s)
{
    while (s && *s) {
        size_t blank = strspn(s, " \t\n"), len;
        s += blank;
        if ((len = strcspn(s, " \t\n")) > 0)
            arg(a, tfc_strndup(s, len));
        s += len;
    }
}

/* Runs a->v with stdout and stderr into log; returns the exit status, or
 * -1 when it could not run or was killed. */
static int run_logged(const Argv *a, const char *log)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = -1;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawnp(&pid, a->v[0], &fa, NULL, (char *const *)a->v, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        FILE *f = fopen(log, "a");
        if (f) {
            fprintf(f, "cannot run '%s': %s\n", a->v[0], strerror(rc));
            fclose(f);
        }
        return -1;
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Compiles dir/model.c and dir/glue.c into dir/model.so with $CC (cc). */
static void compile(const char *dir)
{
    Argv a = {.n = 0};
    words(&a, getenv("CC"));
    if (a.n == 0)
        arg(&a, "cc");
    const char *fixed[] = {"-std=c99", "-O2", "-fPIC", "-shared", "-w"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        arg(&a, fixed[i]);
    if (poison_requested())
        arg(&a, "-DTFC_POISON");
    words(&a, getenv("TFC_CFLAGS"));
    arg(&a, "-I");
    arg(&a, dir);
    arg(&a, "-o");
    arg(&a, tfc_format("%s/model.so", dir));
    arg(&a, tfc_format("%s/model.c", dir));
    arg(&a, tfc_format("%s/glue.c", dir));
    const char *log = tfc_format("%s/cc.log", dir);
    if (run_logged(&a, log) != 0) {
        fprintf(stderr, "tfc: error: the C compiler failed:");
        for (int i = 0; i < a.n; i++)
            fprintf(stderr, " %s", a.v[i]);
        fprintf(stderr, "\n");
        FILE *f = fopen(log, "r");
        char line[512];
        for (int i = 0; f && i < 20 && fgets(line, sizeof line, f); i++)
            fputs(line, stderr);
        if (f)
            fclose(f);
        error_plain("cannot build the model (is a C compiler installed? set CC to choose one)");
    }
}

static void remove_dir(const char *dir)
{
    static const char *const files[] = {"model.c", "model.h", "tfrt.h", "glue.c", "model.so", "cc.log"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(tfc_format("%s/%s", dir, files[i]));
    rmdir(dir);
}

/* The build folder until it is removed or kept: whatever way tfc leaves
 * before that (an error exits), it goes. */
static const char *build_dir;

static void remove_build_dir(void)
{
    if (build_dir)
        remove_dir(build_dir);
    build_dir = NULL;
}

/* The logits to path ("-": stdout), whole or not at all. */
static int write_logits(const char *path, const float *out, size_t count)
{
    /* little-endian float32: the in-memory layout on the hosts we support */
    if (strcmp(path, "-") == 0) {
        if (fwrite(out, sizeof *out, count, stdout) != count || fflush(stdout) != 0) {
            fprintf(stderr, "tfc: error: cannot write to stdout: %s\n", strerror(errno));
            return EXIT_IO;
        }
        return 0;
    }
    Outputs files = {0};
    fwrite(out, sizeof *out, count, outputs_open(&files, path));
    outputs_commit(&files);      /* a short write shows as an error here */
    return 0;
}

int run_have_llvm(void)
{
#ifdef TFC_LLVM
    return 1;
#else
    return 0;
#endif
}

/* Compiles the model with $CC into a shared object and loads it. */
static void load_with_cc(const Graph *g, const RunOptions *opt, Loaded *L)
{
    memset(L, 0, sizeof *L);
    L->ctx = g->cache_sym ? opt->ctx : 0;
    const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *dir = tfc_format("%s/tfc-run-XXXXXX", base);
    if (!mkdtemp(dir))
        error_status(EXIT_IO, "cannot make a build folder in %s: %s", base, strerror(errno));
    static int registered;
    if (!registered++)
        atexit(remove_build_dir);
    build_dir = opt->keep ? NULL : dir;
    if (opt->keep)
        fprintf(stderr, "tfc: build folder kept: %s\n", dir);
    EmitOptions eo = {"model", "model.h", opt->trace};
    double t0 = run_now();
    write_file(tfc_format("%s/model.h", dir), emit_header, g, &eo, NULL);
    write_file(tfc_format("%s/model.c", dir), emit_source, g, &eo, NULL);
    write_file(tfc_format("%s/tfrt.h", dir), NULL, g, &eo, tfc_runtime_header);
    write_file(tfc_format("%s/glue.c", dir), NULL, g, &eo, glue_source(g, "model"));
    compile(dir);
    L->so = dlopen(tfc_format("%s/model.so", dir), RTLD_NOW | RTLD_LOCAL);
    remove_build_dir();
    if (!L->so)
        error_plain("cannot load the compiled model: %s", dlerror());
    L->open = (OpenFn)dlsym(L->so, "tfc_glue_open");
    L->forward = (ForwardFn)dlsym(L->so, "tfc_glue_forward");
    L->close = (CloseFn)dlsym(L->so, "tfc_glue_close");
    L->strerror = (StrerrorFn)dlsym(L->so, "tfc_glue_strerror");
    L->step = (StepFn)dlsym(L->so, "tfc_glue_step");            /* cached models only */
    L->copy_state = (CopyFn)dlsym(L->so, "tfc_glue_copy_state");
    L->prefill_last = (PrefillFn)dlsym(L->so, "tfc_glue_prefill_last");   /* decoders only */
    L->set_trace = (SetTraceFn)dlsym(L->so, "tfc_glue_set_trace");
    if (!L->open || !L->forward || !L->close || !L->strerror)
        error_plain("the compiled model lacks its entry points");
    fprintf(stderr, "tfc: compiled %s in %.2f s%s\n", g->model, run_now() - t0,
            poison_requested() ? " (TFC_POISON: freed arena buffers are NaN)" : "");
}

/* Compiles the model (in memory, or with $CC), loads it and opens its
 * weights.  Returns 0, or an exit status after printing why. */
int run_load(const Graph *g, const RunOptions *opt, Loaded *L)
{
    memset(L, 0, sizeof *L);
#ifdef TFC_LLVM
    if (opt->jit == RUN_JIT_LLVM)
        jit_load(g, opt, L);
    else
        load_with_cc(g, opt, L);
#else
    load_with_cc(g, opt, L);
#endif
    if (opt->threads > 0)
        tfrt_set_threads(opt->threads);
    return run_open(L, opt->weights, &L->model);
}

/* A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), or -1. */
static int64_t status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int64_t kb = -1;
    size_t len = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, len) == 0 && line[len] == ':')
            kb = strtoll(line + len + 1, NULL, 10);
    if (f)
        fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* Resident bytes before the model opened; the peak is reset to it. */
static int64_t rss_before_open = -1;

static void memory_baseline(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");   /* "5": reset VmHWM */
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    rss_before_open = status_bytes("VmRSS");
}

/* The header's memory formula for this run, next to what the process
 * used: its peak resident size since just before open, less the resident
 * size then.  Mapped weights count as the file pages the pass touched. */
static void report_memory(const Graph *g, const RunOptions *opt, size_t out_bytes)
{
    int64_t len[MAX_INPUTS + 1] = {0};
    for (int s = 1; s < g->nsyms; s++)
        if (!g->syms[s].past)
            len[s] = opt->lengths[s - 1];
    int64_t ctx = g->cache_sym ? len[g->cache_sym] : 0;
    int64_t weights = plan_weight_bytes(g), arena = plan_arena_need(g, len);
    int64_t kv = plan_kv_bytes_per_token(g) * ctx;
    int64_t total = weights + arena + kv + (int64_t)out_bytes;
    fprintf(stderr, "tfc: memory: weights %lld + arena %lld (of %lld planned) + kv cache %lld "
                    "(%lld tokens) + output %lld = %lld bytes\n",
            (long long)weights, (long long)arena, (long long)g->arena_bytes, (long long)kv,
            (long long)ctx, (long long)out_bytes, (long long)total);
    int64_t peak = status_bytes("VmHWM");
    if (peak < 0 || rss_before_open < 0)
        return;
    int64_t used = peak - rss_before_open;
    fprintf(stderr, "tfc: memory measured: peak RSS %lld - RSS before open %lld = %lld bytes "
                    "(%+.1f%% against the formula)\n", (long long)peak, (long long)rss_before_open,
            (long long)used, total ? 100.0 * (double)(used - total) / (double)total : 0.0);
}

int run_open(Loaded *L, const char *weights, void **model)
{
    char err[512] = "";
    memory_baseline();
    double t0 = run_now();
    int rc = L->open(model, weights, L->ctx, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "tfc: error: %s\n", *err ? err : L->strerror(rc));
        return rc == TFRT_ERR_IO ? EXIT_IO : EXIT_INPUT;
    }
    fprintf(stderr, "tfc: loaded weights in %.2f s\n", run_now() - t0);
    return 0;
}

void run_unload(Loaded *L)
{
    if (L->model)
        L->close(L->model);
    if (L->so)
        dlclose(L->so);
    if (L->release)
        L->release();
    memset(L, 0, sizeof *L);
}

/* Rows [0, prefill) of the cached input in one call (with the other
 * inputs, an encoder's, whole), then one step call per token: the same
 * logits as one call over all tokens, when the KV cache is right. */
static int forward_in_steps(const Graph *g, Loaded *L, const RunOptions *opt, float *out, int64_t cols)
{
    int s = g->cache_sym;
    const int32_t *ids = opt->tokens[kv_cache_input(g)];
    int n = opt->lengths[s - 1], k = opt->prefill < n ? opt->prefill : n;
    int lengths[2 * MAX_INPUTS];
    memcpy(lengths, opt->lengths, sizeof lengths);
    lengths[s - 1] = k;
    double t0 = run_now();
    int rc = L->forward(L->model, opt->tokens, lengths, out);
    double t1 = run_now();
    for (int i = k; rc == 0 && i < n; i++)
        rc = L->step(L->model, ids[i], out + (size_t)i * (size_t)cols);
    double t2 = run_now();
    if (rc == 0 && n > k)
        fprintf(stderr, "tfc: prefill %d tokens in %.4f s, then %d steps in %.4f s (%.3f ms a token)\n",
                k, t1 - t0, n - k, t2 - t1, 1e3 * (t2 - t1) / (n - k));
    return rc;
}

int run_model(const Graph *g, const RunOptions *opt)
{
    Loaded L;
    int status = run_load(g, opt, &L);
    if (status) {
        run_unload(&L);
        return status;
    }
    const Node *o = &g->nodes[g->output];
    int64_t out_rows = o->shape.d[0].sym ? opt->lengths[o->shape.d[0].sym - 1] : o->shape.d[0].n;
    int64_t out_cols = o->shape.ndim == 2 ? o->shape.d[1].n : 1;
    size_t count = (size_t)(out_rows * out_cols);
    float *out = malloc(count * sizeof *out);
    if (!out)
        error_plain("out of memory for %zu outputs", count);
    if (opt->prefill > 0 && !L.step)
        fprintf(stderr, "tfc: note: the model has no KV cache; --prefill is ignored\n");
    if (shard_split_head(g))   /* --tp: only rank 0 writes the logits: gathered there */
        tfrt_comm_logits_to(TFRT_LOGITS_RANK0);
    double t0 = run_now();
    int rc = opt->prefill > 0 && L.step ? forward_in_steps(g, &L, opt, out, out_cols)
                                        : L.forward(L.model, opt->tokens, opt->lengths, out);
    double t1 = run_now();
    if (rc != 0) {
        fprintf(stderr, "tfc: error: %s\n", L.strerror(rc));
        status = EXIT_INPUT;
    } else {
        fprintf(stderr, "tfc: forward pass in %.3f s\n", t1 - t0);
        report_memory(g, opt, count * sizeof *out);
        if (opt->logits_path)
            status = write_logits(opt->logits_path, out, count);
    }
    free(out);
    run_unload(&L);
    return status;
}
