/*
 * pipeline.c - the passes, in one table, and the loop that runs them.
 *
 * The order is fixed (DESIGN.md): dce, partition, kv-cache, fuse, quantize,
 * shard, plan.
 * After every pass the verifier checks the graph; a failure is a compiler
 * bug.  `-fno-NAME` switches an optional pass off, `--dump-ir=NAME` prints
 * the graph after pass NAME (or after `lower`, before any pass).
 */
#include "tfc.h"

#include <string.h>

static void run_dce(Graph *g, const PassOptions *o) { (void)o; pass_dce(g); }
static void run_partition(Graph *g, const PassOptions *o) { (void)o; pass_partition(g); }
static void run_kv_cache(Graph *g, const PassOptions *o) { (void)o; pass_kv_cache(g); }

/* The arena a plan of the graph as it stands would need, full and per
 * step: what --plan compares the fused plan with. */
static void measure_unfused(Graph *g)
{
    Graph copy = *g;
    copy.nodes = tfc_alloc((size_t)g->count * sizeof *g->nodes);
    memcpy(copy.nodes, g->nodes, (size_t)g->count * sizeof *g->nodes);
    pass_plan(&copy);
    pass_plan_step(&copy);
    g->unfused_arena_bytes = copy.arena_bytes;
    g->unfused_step_arena_bytes = copy.step_arena_bytes;
    g->unfused_calls = kprog_build(&copy, 0, copy.count, 0)->count;
}

static void run_fuse(Graph *g, const PassOptions *o)
{
    if (o->measure_unfused)
        measure_unfused(g);
    pass_fuse(g, o);
}

static void run_shard(Graph *g, const PassOptions *o) { pass_shard(g, o->tp); }

static void run_plan(Graph *g, const PassOptions *o)
{
    (void)o;
    pass_plan(g);
    pass_plan_step(g);
    pass_plan_scratch(g);
}

const PassInfo passes[] = {
    {"dce", run_dce, "drop nodes the output does not need", 1},
    {"partition", run_partition, "encoder-decoders: encode once, decode over the encoding", 0},
    {"kv-cache", run_kv_cache, "a decoder's keys and values cached across calls", 1},
    {"fuse", run_fuse, "operator fusion (rules: -fno-fuse-NAME)", 1},
    {"quantize", pass_quantize, "--quantize int8: linear layers' weights to int8 blocks", 1},
    {"shard", run_shard, "--tp N: this rank's share of a model split over N ranks", 0},
    {"plan", run_plan, "static memory plan: one arena, offsets for every buffer", 0},
};
const int npasses = (int)(sizeof passes / sizeof passes[0]);

int pipeline_find(const char *name)
{
    for (int i = 0; i < npasses; i++)
        if (strcmp(passes[i].name, name) == 0)
            return i;
    return -1;
}

static void verify(const Graph *g, const char *after)
{
    char err[512];
    if (ir_verify(g, err, sizeof err))
        tfc_bug("the graph is invalid after %s: %s", after, err);
}

Graph *pipeline_run(Graph *g, const PassOptions *o, const char *dump_after, FILE *dump)
{
    verify(g, "lowering");
    if (dump_after && strcmp(dump_after, "lower") == 0) {
        ir_dump(g, dump);
        return g;
    }
    for (int i = 0; i < npasses; i++) {
        if (passes[i].optional && (o->off >> i & 1u))
            continue;
        passes[i].run(g, o);
        verify(g, passes[i].name);
        if (dump_after && strcmp(dump_after, passes[i].name) == 0) {
            ir_dump(g, dump);
            return g;
        }
    }
    return g;
}
