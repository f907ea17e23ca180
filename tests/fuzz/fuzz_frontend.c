/*
 * fuzz_frontend.c - libFuzzer target for the model-file front end: the
 * scanner, the parser and lowering (sema), from a buffer, with -D values.
 *
 * The input is a model file.  Lines that begin with "#D " (comments to
 * the model language) give -D values, "#D NAME=VALUE", at most eight, so
 * that one input carries both and the seeds are plain model files.
 *
 * Every input must either lower or be refused with a located message;
 * what lowers must pass the graph verifier (the front end promises a
 * valid graph) and, when small enough for the quadratic parts of the
 * planner, the passes, the plan checker and the emitter.  A crash, a
 * sanitizer report, an internal error (abort) or a refusal without a
 * message is a finding.
 *
 * The work limits are lowered (model_limits.h) so that no input takes
 * long: a harness that spends seconds on one input finds little else.
 *
 *   make fuzz FUZZ=frontend
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_limits.h"
#include "tfc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_DEFS 8
#define PASSES_UP_TO 400     /* nodes: beyond, lowering only */

typedef struct {
    const char *text;
    size_t len;
    Define defs[MAX_DEFS];
    int ndefs;
    Graph *g;
} Job;

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tfc_limits.nodes = 20000;
    tfc_limits.statements = 100000;
    tfc_limits.file_bytes = 1 << 20;
    sink = fopen("/dev/null", "w");
    if (!sink)
        abort();
    diag_set_quiet(1);
    return 0;
}

/* "#D NAME=VALUE" lines, wherever they are in the file. */
static void find_defines(Job *j)
{
    for (size_t i = 0; i + 3 <= j->len && j->ndefs < MAX_DEFS; i++) {
        if ((i > 0 && j->text[i - 1] != '\n') || memcmp(j->text + i, "#D ", 3) != 0)
            continue;
        const char *line = j->text + i + 3;
        const char *end = memchr(line, '\n', j->len - (size_t)(line - j->text));
        size_t n = end ? (size_t)(end - line) : j->len - (size_t)(line - j->text);
        const char *eq = memchr(line, '=', n);
        if (!eq || eq == line)
            continue;
        j->defs[j->ndefs].name = tfc_strndup(line, (size_t)(eq - line));
        j->defs[j->ndefs].value = tfc_strndup(eq + 1, n - (size_t)(eq - line) - 1);
        j->ndefs++;
    }
}

static void check(const Graph *g, const char *after)
{
    char err[512];
    if (ir_verify(g, err, sizeof err)) {
        fprintf(stderr, "the graph is invalid after %s: %s\n", after, err);
        abort();
    }
}

static void lower_job(void *arg)
{
    Job *j = arg;
    Program *prog = parse_buffer("fuzz.model", j->text, j->len);
    j->g = lower_program(prog, j->defs, j->ndefs);
}

/* The pipeline of main.c's compile(), with the verifier between passes. */
static void passes_job(void *arg)
{
    Graph *g = arg;
    pass_dce(g);
    check(g, "dce");
    pass_partition(g);
    check(g, "partition");
    pass_kv_cache(g);
    check(g, "kv-cache");
    pass_plan(g);
    pass_plan_step(g);
    check(g, "planning");
    EmitOptions eo = {"fuzz", NULL};
    emit_header(g, &eo, sink);
    emit_source(g, &eo, sink);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Job j = {(const char *)data, size, {{0}}, 0, NULL};
    find_defines(&j);
    if (diag_try(lower_job, &j)) {
        if (!*diag_last_message())
            abort();                      /* every refusal explains itself */
    } else {
        check(j.g, "lowering");
        if (j.g->count <= PASSES_UP_TO && diag_try(passes_job, j.g))
            abort();                      /* the passes refuse nothing the front end took */
    }
    tfc_free_all();
    return 0;
}
