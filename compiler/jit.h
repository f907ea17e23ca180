/*
 * jit.h - `tfc --run` without a C compiler: the kernel programs compiled
 * in memory by LLVM (jit_llvm.c) and run by a host in tfc (jit_host.c).
 *
 * The split: everything the emitted C does once per model (open, close,
 * binding and packing weights, the KV cache's slots, argument checks,
 * copy_state) stays plain C in jit_host.c; only the bodies of the entry
 * points, the kernel programs, are compiled.  A body reads the model's
 * memory and the call's lengths from one JitCtx, so a compiled program is
 * independent of the weights file and of the model's addresses.
 */
#ifndef TFC_JIT_H
#define TFC_JIT_H

#include "tfc.h"
#include "tfrt.h"

#include <stdio.h>

/* What a body reads (offsets taken with offsetof by jit_llvm.c). */
typedef struct {
    unsigned char *arena;          /* KB_ARENA: arena + offset */
    const float *const *weights;   /* KB_WEIGHT: by weight node id */
    float *const *slot;            /* KB_CACHE: the KV cache's slots */
    const float *const *packed;    /* KT_PACKED c: packed[c - 1] */
    const void *const *q8;         /* KT_Q8 c: q8[c - 1], an int8 part */
    TfrtPool *pool;                /* KT_POOL */
    const int32_t *const *inputs;  /* KB_INPUT: by input number */
    float *output;                 /* KB_OUTPUT */
    const int *len, *valid;        /* by length symbol: KInt's len, valid */
    int pos;                       /* KInt's pos: tokens in the KV cache */
} JitCtx;

/* A compiled body: 0, or the TfrtStatus of the call that failed. */
typedef int (*JitBody)(const JitCtx *ctx);

typedef struct {
    const char *name;              /* the function's symbol: tfc_forward */
    const KProgram *kp;
} JitEntry;

enum {
    JIT_DUMP = 1,                  /* the module before and after -O2, to stderr */
    JIT_POISON = 2                 /* TFC_POISON: freed arena buffers are NaN */
};

typedef struct {
    double build, optimize, codegen;   /* seconds */
} JitTimes;

typedef struct Jit Jit;

/* The JIT for this CPU with the runtime's symbols; every LLVM failure,
 * here and below, exits with an internal error naming what failed (the
 * verifier's message, a missing symbol, the target). */
Jit *jit_llvm_create(void);
/* One program compiled (its module built, verified, optimized, added). */
JitBody jit_llvm_add(Jit *jit, const JitEntry *e, int flags, JitTimes *times);
void jit_llvm_free(Jit *jit);
/* The module of the programs, before and after -O2, to out; no code made. */
void jit_llvm_dump(const JitEntry *entries, int n, FILE *out);

/* jit_host.c: the entry points of Loaded over compiled bodies. */
int jit_load(const Graph *g, const RunOptions *opt, Loaded *L);
/* --dump-llvm without --run: the model's programs as LLVM IR. */
void jit_dump_model(const Graph *g, FILE *out);

#endif
