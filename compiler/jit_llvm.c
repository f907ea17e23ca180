/*
 * jit_llvm.c - kernel programs as LLVM IR, compiled in memory by ORC LLJIT.
 *
 * Requires: programs from kprog_build.  Each becomes one function
 * `int NAME(const JitCtx *ctx)` that does what emit_kprog.c prints, in the
 * same order: the same runtime calls with the same arguments (struct
 * arguments built on the stack, zeroed like a C compound literal), the
 * same elementwise loops (constant trip counts over columns), the same
 * poison-mode fills.  Nothing here decides what a node becomes.
 *
 * The runtime's functions are bound by address through an explicit table
 * (kfuncs[], kacts[] and the C library's memcpy/memset/memmove, which
 * LLVM's copies and fills lower to), never by searching the process: a
 * symbol outside that table fails the lookup with its name.
 *
 * Activations: the loops call the runtime's exported one-value functions
 * (tfrt_gelu1_fn, ...), compiled from the same inline code the generated
 * C inlines, so both back ends give the same bits.  The price is a call
 * per element in loops with an activation, which fusion leaves rare (an
 * activation normally rides in a linear layer's epilogue).
 *
 * Float arithmetic is plain fadd/fmul without fast-math flags, which
 * LLVM never contracts into FMA: the same IEEE operations, in the same
 * order, as the C the other back end compiles with -std=c99.
 */
#include "jit.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct Jit {
    LLVMOrcLLJITRef lljit;
    LLVMTargetMachineRef tm;     /* the optimizer's (the JIT has its own copy) */
};

typedef struct {
    LLVMContextRef C;
    LLVMModuleRef M;
    LLVMBuilderRef B;
    LLVMTypeRef i8, i32, i64, f32, ptr, fptr, pptr, iptr;
    const KProgram *kp;
    int poison;
    LLVMValueRef fn, entry_end;           /* the function; its entry block's branch */
    LLVMValueRef ctx;
    LLVMValueRef arena, weights, slot, packed, q8, pool, inputs, output, pos;
    LLVMValueRef len[MAX_INPUTS + 1], valid[MAX_INPUTS + 1];
    LLVMValueRef scratch[2];              /* a TfrtLinear and a TfrtAttention */
} Gen;

/* ---- failures -------------------------------------------------------------- */

/* What the JIT's session reported last (the missing symbol's name, say):
 * the failure that follows names only what could not be compiled. */
static char session_error[512];

static void report_session_error(void *ctx, LLVMErrorRef err)
{
    (void)ctx;
    char *msg = LLVMGetErrorMessage(err);
    snprintf(session_error, sizeof session_error, "%s", msg);
    LLVMDisposeErrorMessage(msg);
}

/* An LLVM failure: tfc's fault or its LLVM's, not the user's, so an
 * internal error; but a clean exit that names the step, never a crash. */
static _Noreturn void fail(const char *what, const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "tfc: internal error: LLVM JIT: %s: %s%s%s\n"
                    "tfc: note: --jit cc runs the model through the C compiler instead\n",
            what, msg, *session_error ? "; " : "", session_error);
    exit(EXIT_INPUT);
}

static void check(LLVMErrorRef err, const char *what)
{
    if (!err)
        return;
    char *msg = LLVMGetErrorMessage(err);
    char *copy = tfc_strdup(msg);
    LLVMDisposeErrorMessage(msg);
    fail(what, copy);
}

/* ---- values ------------------------------------------------------------------ */

static LLVMValueRef i64c(Gen *G, int64_t v) { return LLVMConstInt(G->i64, (unsigned long long)v, 1); }
static LLVMValueRef i32c(Gen *G, int64_t v) { return LLVMConstInt(G->i32, (unsigned long long)v, 1); }

/* The byte address p + bytes (an i8*). */
static LLVMValueRef offset(Gen *G, LLVMValueRef p, LLVMValueRef bytes)
{
    return LLVMBuildGEP2(G->B, G->i8, p, &bytes, 1, "");
}

/* The value of type t at byte `off` of ctx. */
static LLVMValueRef ctx_field(Gen *G, size_t off, LLVMTypeRef t, const char *name)
{
    LLVMValueRef p = offset(G, G->ctx, i64c(G, (int64_t)off));
    p = LLVMBuildBitCast(G->B, p, LLVMPointerType(t, 0), "");
    return LLVMBuildLoad2(G->B, t, p, name);
}

/* Element i of an array of t at p (p typed t*). */
static LLVMValueRef element(Gen *G, LLVMTypeRef t, LLVMValueRef p, int64_t i, const char *name)
{
    LLVMValueRef idx = i64c(G, i);
    return LLVMBuildLoad2(G->B, t, LLVMBuildGEP2(G->B, t, p, &idx, 1, ""), name);
}

/* acc + k * x (x an i32), built small: the optimizer's time grows with
 * the instructions it is given. */
static LLVMValueRef term(Gen *G, LLVMValueRef acc, int64_t k, LLVMValueRef x)
{
    if (!k)
        return acc;
    LLVMValueRef t = LLVMBuildSExt(G->B, x, G->i64, "");
    if (k != 1)
        t = LLVMBuildMul(G->B, t, i64c(G, k), "");
    return acc ? LLVMBuildAdd(G->B, acc, t, "") : t;
}

/* c + k_len * len + k_pos * pos + k_valid * valid, in 64 bits. */
static LLVMValueRef kint(Gen *G, KInt v)
{
    LLVMValueRef acc = NULL;
    acc = term(G, acc, v.k_len, G->len[v.sym]);
    acc = term(G, acc, v.k_pos, G->pos);
    acc = term(G, acc, v.k_valid, G->valid[v.sym]);
    if (!acc)
        return i64c(G, v.c);
    return v.c ? LLVMBuildAdd(G->B, acc, i64c(G, v.c), "") : acc;
}

/* Where node id's data starts (an i8*). */
static LLVMValueRef base(Gen *G, int id)
{
    const KTensor *t = &G->kp->tensors[id];
    switch (t->base) {
    case KB_ARENA: return offset(G, G->arena, i64c(G, t->offset));
    case KB_WEIGHT: return element(G, G->ptr, G->weights, t->index, "w");
    case KB_CACHE: return element(G, G->ptr, G->slot, t->index, "slot");
    case KB_INPUT: return element(G, G->ptr, G->inputs, t->index, "input");
    case KB_OUTPUT: return G->output;
    case KB_NONE: break;
    }
    tfc_bug("LLVM JIT: node %s has no memory", G->kp->g->nodes[id].name);
}

/* A pointer argument: node's data, elem elements (4 bytes each: f32 or
 * i32, the only types a program's pointers have) on. */
static LLVMValueRef pointer(Gen *G, KRef r)
{
    if (r.node == KREF_SCRATCH)
        return offset(G, G->arena, i64c(G, G->kp->g->scratch_offset));
    if (r.node < 0)
        return LLVMConstNull(G->ptr);
    LLVMValueRef p = base(G, r.node);
    if (r.elem.c || r.elem.k_len || r.elem.k_pos || r.elem.k_valid)
        p = offset(G, p, LLVMBuildMul(G->B, kint(G, r.elem), i64c(G, 4), ""));
    return p;
}

static LLVMValueRef fill(Gen *G, LLVMValueRef p, int byte, LLVMValueRef bytes)
{
    return LLVMBuildMemSet(G->B, p, LLVMConstInt(G->i8, (unsigned long long)byte, 0), bytes, 1);
}

/* ---- calls ---------------------------------------------------------------------- */

static LLVMTypeRef ktype(Gen *G, KType t)
{
    return t == KT_INT ? G->i32 : t == KT_FLOAT ? G->f32 : G->ptr;
}

static LLVMValueRef declare(Gen *G, const KFunc *f)
{
    LLVMValueRef fn = LLVMGetNamedFunction(G->M, f->name);
    if (fn)
        return fn;
    LLVMTypeRef params[KFUNC_MAX_PARAMS];
    for (int i = 0; i < f->nparams; i++)
        params[i] = ktype(G, f->params[i].type);
    LLVMTypeRef ty = LLVMFunctionType(f->returns_status ? G->i32 : LLVMVoidTypeInContext(G->C), params,
                                      (unsigned)f->nparams, 0);
    return LLVMAddFunction(G->M, f->name, ty);
}

static LLVMValueRef scalar(Gen *G, KType type, const KValue *v)
{
    switch (type) {
    case KT_INT: return LLVMBuildTrunc(G->B, kint(G, v->i), G->i32, "");
    case KT_FLOAT: return LLVMConstReal(G->f32, v->f);
    case KT_PTR: return pointer(G, v->p);
    case KT_POOL: return G->pool;
    case KT_PACKED: return v->i.c ? element(G, G->ptr, G->packed, v->i.c - 1, "packed") : LLVMConstNull(G->ptr);
    case KT_Q8: return v->i.c ? element(G, G->ptr, G->q8, v->i.c - 1, "q8") : LLVMConstNull(G->ptr);
    case KT_STRUCT: break;
    }
    tfc_bug("LLVM JIT: a struct where a scalar goes");
}

/* Bytes of one element of a field. */
static size_t field_size(KType t) { return t == KT_INT || t == KT_FLOAT ? 4 : sizeof(void *); }

static int is_const(KType type, const KValue *v)
{
    if (type == KT_INT)
        return !v->i.k_len && !v->i.k_pos && !v->i.k_valid;
    return type == KT_FLOAT || (type == KT_PTR && v->p.node == -1)
           || ((type == KT_PACKED || type == KT_Q8) && !v->i.c);
}

/* The struct argument: its constant fields (sizes, strides, the zeros a C
 * compound literal leaves) as a constant template copied into a stack
 * slot, then the fields known at run time (pointers, lengths) stored at
 * their offsets.  One copy and a few stores, not a store a field: the
 * optimizer's time (the SLP vectorizer's above all) grows with the
 * stores it is given. */
static LLVMValueRef struct_arg(Gen *G, const KStruct *st, const KValue *fields)
{
    unsigned char *bytes = tfc_alloc(st->size);
    int later = 0;
    for (int f = 0, e = 0; f < st->nfields; e += st->fields[f++].count) {
        const KField *fd = &st->fields[f];
        size_t size = field_size(fd->type);
        if (fd->offset + size * (size_t)fd->count > st->size)
            tfc_bug("LLVM JIT: field %s.%s passes the end of the struct", st->name, fd->name);
        for (int k = 0; k < fd->count; k++) {
            const KValue *v = &fields[e + k];
            unsigned char *at = bytes + fd->offset + size * (size_t)k;
            int32_t i = (int32_t)v->i.c;
            if (!is_const(fd->type, v))
                later = 1;
            else if (fd->type == KT_INT)
                memcpy(at, &i, sizeof i);
            else if (fd->type == KT_FLOAT)
                memcpy(at, &v->f, sizeof v->f);
        }
    }
    LLVMValueRef init = LLVMConstStringInContext(G->C, (const char *)bytes, (unsigned)st->size, 1);
    LLVMValueRef tmpl = LLVMAddGlobal(G->M, LLVMTypeOf(init), st->name);
    LLVMSetInitializer(tmpl, init);
    LLVMSetGlobalConstant(tmpl, 1);
    LLVMSetLinkage(tmpl, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(tmpl, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(tmpl, 8);
    tmpl = LLVMConstBitCast(tmpl, G->ptr);
    if (!later)   /* every field constant: the template itself */
        return tmpl;
    LLVMValueRef slot = G->scratch[st->size == sizeof(TfrtLinear) ? 0 : 1];
    LLVMBuildMemCpy(G->B, slot, 8, tmpl, 8, i64c(G, (int64_t)st->size));
    for (int f = 0, e = 0; f < st->nfields; e += st->fields[f++].count) {
        const KField *fd = &st->fields[f];
        for (int k = 0; k < fd->count; k++) {
            const KValue *v = &fields[e + k];
            if (is_const(fd->type, v))
                continue;
            LLVMTypeRef t = ktype(G, fd->type);
            LLVMValueRef p = offset(G, slot, i64c(G, (int64_t)(fd->offset + field_size(fd->type) * (size_t)k)));
            LLVMBuildStore(G->B, scalar(G, fd->type, v), LLVMBuildBitCast(G->B, p, LLVMPointerType(t, 0), ""));
        }
    }
    return slot;
}

/* A call; a status other than TFRT_OK returns from the function. */
static void gen_call(Gen *G, const KInstr *in)
{
    const KFunc *f = in->fn;
    LLVMValueRef args[KFUNC_MAX_PARAMS], fn = declare(G, f);
    for (int a = 0; a < f->nparams; a++)
        args[a] = f->params[a].type == KT_STRUCT ? struct_arg(G, f->params[a].st, in->args[a].fields)
                                                 : scalar(G, f->params[a].type, &in->args[a]);
    LLVMValueRef rc = LLVMBuildCall2(G->B, LLVMGetElementType(LLVMTypeOf(fn)), fn, args,
                                     (unsigned)f->nparams, "");
    if (!f->returns_status)
        return;
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(G->C, G->fn, "fail");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(G->C, G->fn, "ok");
    LLVMBuildCondBr(G->B, LLVMBuildICmp(G->B, LLVMIntNE, rc, i32c(G, TFRT_OK), ""), fail, next);
    LLVMPositionBuilderAtEnd(G->B, fail);
    LLVMBuildRet(G->B, rc);
    LLVMPositionBuilderAtEnd(G->B, next);
}

/* ---- loops ------------------------------------------------------------------------ */

static LLVMValueRef activation(Gen *G, Act act, LLVMValueRef x)
{
    LLVMTypeRef ty = LLVMFunctionType(G->f32, &G->f32, 1, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(G->M, kacts[act].name);
    if (!fn) {   /* no memory touched: calls may move and vanish */
        fn = LLVMAddFunction(G->M, kacts[act].name, ty);
        const char *attrs[] = {"readnone", "nounwind", "willreturn"};
        for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++)
            LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                    LLVMCreateEnumAttribute(G->C, LLVMGetEnumAttributeKindForName(
                                                                      attrs[i], strlen(attrs[i])), 0));
    }
    return LLVMBuildCall2(G->B, ty, fn, &x, 1, "");
}

/* y[c] = the loop's expression, for one column c (i64) of one row. */
static void gen_element(Gen *G, const KLoop *L, LLVMValueRef y, LLVMValueRef *in, LLVMValueRef c)
{
    LLVMValueRef v[KLOOP_MAX_CODE];
    for (int k = 0; k < L->ncode; k++) {
        const KExpr *x = &L->code[k];
        switch (x->op) {
        case KE_LOAD: {
            LLVMValueRef p = x->in == L->alias ? y : in[x->in];
            v[k] = LLVMBuildLoad2(G->B, G->f32, LLVMBuildGEP2(G->B, G->f32, p, &c, 1, ""), "");
            break;
        }
        case KE_CONST: v[k] = LLVMConstReal(G->f32, x->c); break;
        case KE_ADD: v[k] = LLVMBuildFAdd(G->B, v[x->a], v[x->b], ""); break;
        case KE_MUL: v[k] = LLVMBuildFMul(G->B, v[x->a], v[x->b], ""); break;
        case KE_ACT: v[k] = activation(G, x->act, v[x->a]); break;
        }
    }
    LLVMBuildStore(G->B, v[L->ncode - 1], LLVMBuildGEP2(G->B, G->f32, y, &c, 1, ""));
}

/* A counted loop: *i runs from 0 while below n (n may be 0); returns the
 * block to continue after. */
typedef struct {
    LLVMBasicBlockRef head, body, done, from;
    LLVMValueRef i;
} Loop;

static void loop_open(Gen *G, Loop *lp, LLVMValueRef n, const char *name)
{
    lp->from = LLVMGetInsertBlock(G->B);
    lp->head = LLVMAppendBasicBlockInContext(G->C, G->fn, name);
    lp->body = LLVMAppendBasicBlockInContext(G->C, G->fn, name);
    lp->done = LLVMAppendBasicBlockInContext(G->C, G->fn, name);
    LLVMBuildBr(G->B, lp->head);
    LLVMPositionBuilderAtEnd(G->B, lp->head);
    lp->i = LLVMBuildPhi(G->B, G->i64, name);
    LLVMBuildCondBr(G->B, LLVMBuildICmp(G->B, LLVMIntSLT, lp->i, n, ""), lp->body, lp->done);
    LLVMPositionBuilderAtEnd(G->B, lp->body);
}

static void loop_close(Gen *G, Loop *lp)
{
    LLVMValueRef next = LLVMBuildAdd(G->B, lp->i, i64c(G, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(G->B);
    LLVMBuildBr(G->B, lp->head);
    LLVMValueRef vals[2] = {i64c(G, 0), next};
    LLVMBasicBlockRef blocks[2] = {lp->from, latch};
    LLVMAddIncoming(lp->i, vals, blocks, 2);
    LLVMPositionBuilderAtEnd(G->B, lp->done);
}

/* Row r of pointer p with `stride` floats between rows, as a float*. */
static LLVMValueRef row(Gen *G, LLVMValueRef p, int64_t stride, LLVMValueRef r)
{
    if (stride)
        p = offset(G, p, LLVMBuildMul(G->B, r, i64c(G, stride * 4), ""));
    return LLVMBuildBitCast(G->B, p, G->fptr, "");
}

static void gen_loop(Gen *G, const KLoop *L)
{
    LLVMValueRef out = pointer(G, L->out), in[KLOOP_MAX_IN], rin[KLOOP_MAX_IN];
    for (int i = 0; i < L->nin; i++)
        in[i] = pointer(G, L->in[i]);
    Loop rows;
    loop_open(G, &rows, kint(G, L->rows), "row");
    LLVMValueRef y = row(G, out, L->out_stride, rows.i);
    for (int i = 0; i < L->nin; i++)
        rin[i] = row(G, in[i], L->in_stride[i], rows.i);
    if (L->ncode == 1 && L->code[0].op == KE_LOAD) {   /* a copy */
        LLVMBuildMemCpy(G->B, y, 4, rin[0], 4, i64c(G, L->cols * 4));
    } else {
        Loop cols;
        loop_open(G, &cols, i64c(G, L->cols), "col");
        gen_element(G, L, y, rin, cols.i);
        loop_close(G, &cols);
    }
    loop_close(G, &rows);
}

/* ---- functions -------------------------------------------------------------------- */

/* Everything a body reads from ctx, loaded once in the entry block. */
static void load_ctx(Gen *G)
{
    G->arena = ctx_field(G, offsetof(JitCtx, arena), G->ptr, "arena");
    G->weights = ctx_field(G, offsetof(JitCtx, weights), G->pptr, "weights");
    G->slot = ctx_field(G, offsetof(JitCtx, slot), G->pptr, "slots");
    G->packed = ctx_field(G, offsetof(JitCtx, packed), G->pptr, "packed");
    G->q8 = ctx_field(G, offsetof(JitCtx, q8), G->pptr, "q8");
    G->pool = ctx_field(G, offsetof(JitCtx, pool), G->ptr, "pool");
    G->inputs = ctx_field(G, offsetof(JitCtx, inputs), G->pptr, "inputs");
    G->output = ctx_field(G, offsetof(JitCtx, output), G->ptr, "output");
    G->pos = ctx_field(G, offsetof(JitCtx, pos), G->i32, "pos");
    LLVMValueRef len = ctx_field(G, offsetof(JitCtx, len), G->iptr, "len");
    LLVMValueRef valid = ctx_field(G, offsetof(JitCtx, valid), G->iptr, "valid");
    const Graph *g = G->kp->g;
    for (int s = 1; s < g->nsyms; s++) {
        /* one step runs one token: `const int seq = 1` in the C */
        G->len[s] = G->kp->step && s == g->cache_sym ? i32c(G, 1) : element(G, G->i32, len, s, g->syms[s].name);
        G->valid[s] = element(G, G->i32, valid, s, "");
    }
    G->scratch[0] = LLVMBuildBitCast(
        G->B, LLVMBuildAlloca(G->B, LLVMArrayType(G->i64, (sizeof(TfrtLinear) + 7) / 8), "linear"), G->ptr, "");
    G->scratch[1] = LLVMBuildBitCast(
        G->B, LLVMBuildAlloca(G->B, LLVMArrayType(G->i64, (sizeof(TfrtAttention) + 7) / 8), "attention"),
        G->ptr, "");
}

/* TFC_DEAD of emit_c.c: node id's elements at the run-time lengths. */
static void poison_dead(Gen *G, int id)
{
    const Node *n = &G->kp->g->nodes[id];
    int64_t c = n->shape.ndim == 2 ? n->shape.d[1].n : 1;
    LLVMValueRef count = LLVMBuildMul(G->B, kint(G, kprog_rows(G->kp->g, id)), i64c(G, c * 4), "");
    fill(G, base(G, id), 0xff, count);
}

static void gen_function(Gen *G, const JitEntry *e)
{
    _Static_assert(sizeof(TfrtLinear) != sizeof(TfrtAttention), "struct_arg tells them by size");
    G->kp = e->kp;
    LLVMTypeRef ty = LLVMFunctionType(G->i32, &G->ptr, 1, 0);
    G->fn = LLVMAddFunction(G->M, e->name, ty);
    G->ctx = LLVMGetParam(G->fn, 0);
    LLVMPositionBuilderAtEnd(G->B, LLVMAppendBasicBlockInContext(G->C, G->fn, "entry"));
    load_ctx(G);
    if (G->poison && e->kp->from == 0)   /* decode keeps what encode left */
        fill(G, G->arena, 0xff, i64c(G, e->kp->g->arena_bytes));
    for (int i = 0; i < e->kp->count; i++) {
        const KInstr *in = &e->kp->instrs[i];
        if (in->kind == KI_CALL)
            gen_call(G, in);
        else
            gen_loop(G, in->loop);
        for (int d = 0; G->poison && d < in->ndead; d++)
            poison_dead(G, in->dead[d]);
    }
    LLVMBuildRet(G->B, i32c(G, TFRT_OK));
}

static void gen_init(Gen *G, LLVMContextRef C)
{
    memset(G, 0, sizeof *G);
    G->C = C;
    G->M = LLVMModuleCreateWithNameInContext("tfc", C);
    G->B = LLVMCreateBuilderInContext(C);
    G->i8 = LLVMInt8TypeInContext(C);
    G->i32 = LLVMInt32TypeInContext(C);
    G->i64 = LLVMInt64TypeInContext(C);
    G->f32 = LLVMFloatTypeInContext(C);
    G->ptr = LLVMPointerType(G->i8, 0);
    G->fptr = LLVMPointerType(G->f32, 0);
    G->pptr = LLVMPointerType(G->ptr, 0);
    G->iptr = LLVMPointerType(G->i32, 0);
}

/* ---- the target and the module ---------------------------------------------------- */

/* A target machine for this CPU (its name and features).  The IR is
 * optimized at O2 (build_module); instruction selection and register
 * allocation run at their fast level: the bodies are call sequences, and
 * the full level took 4-5 times as long (0.12 against 0.03 s for GPT-2
 * small, 0.44 against 0.08 s unfused) with no measurable change in the
 * forward pass's time (docs/jit.md). */
static LLVMTargetMachineRef host_machine(void)
{
    static int ready;
    if (!ready++ && (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()))
        fail("initializing", "no native target in this LLVM");
    char *triple = LLVMGetDefaultTargetTriple(), *msg = NULL;
    LLVMTargetRef target;
    if (LLVMGetTargetFromTriple(triple, &target, &msg))
        fail(tfc_format("target %s", triple), msg ? msg : "?");
    char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelNone,
                                                      LLVMRelocDefault, LLVMCodeModelJITDefault);
    if (!tm)
        fail("target machine", tfc_format("cannot make one for %s (%s)", triple, cpu));
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    return tm;
}

static void print_module(LLVMModuleRef M, const char *when, FILE *out)
{
    char *text = LLVMPrintModuleToString(M);
    fprintf(out, "; ---- the kernel programs as LLVM IR, %s ----\n%s", when, text);
    LLVMDisposeMessage(text);
}

/* The programs as a verified module in context C, optimized at O2. */
static LLVMModuleRef build_module(LLVMContextRef C, LLVMTargetMachineRef tm, const JitEntry *entries, int n,
                                  int flags, FILE *dump, JitTimes *times)
{
    double t0 = run_now();
    Gen G;
    gen_init(&G, C);
    G.poison = (flags & JIT_POISON) != 0;
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(G.M, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(G.M, layout);
    LLVMDisposeTargetData(layout);
    for (int i = 0; i < n; i++)
        gen_function(&G, &entries[i]);
    LLVMDisposeBuilder(G.B);
    if (dump)
        print_module(G.M, "before optimization", dump);
    char *msg = NULL;
    if (LLVMVerifyModule(G.M, LLVMReturnStatusAction, &msg))
        fail("the module does not verify", msg ? msg : "?");
    LLVMDisposeMessage(msg);
    double t1 = run_now();
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    /* -O2 without the SLP vectorizer: the bodies are straight-line calls,
     * whose only candidates are the stores of struct arguments (a third of
     * the optimizer's time for GPT-2, for nothing measurable); loops keep
     * the loop vectorizer. */
    LLVMPassBuilderOptionsSetSLPVectorization(po, 0);
    check(LLVMRunPasses(G.M, "default<O2>", tm, po), "optimizing (default<O2>)");
    LLVMDisposePassBuilderOptions(po);
    if (dump)
        print_module(G.M, "after default<O2>", dump);
    if (times)
        times->build = t1 - t0, times->optimize = run_now() - t1;
    return G.M;
}

void jit_llvm_dump(const JitEntry *entries, int n, FILE *out)
{
    LLVMContextRef C = LLVMContextCreate();
    LLVMTargetMachineRef tm = host_machine();
    LLVMDisposeModule(build_module(C, tm, entries, n, 0, out, NULL));
    LLVMDisposeTargetMachine(tm);
    LLVMContextDispose(C);
}

/* ---- the symbol table -------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*addr)(void);
} Symbol;

/* Every function a body may call: the kernel program's calls, the loops'
 * activations, and the C library functions LLVM lowers copies and fills
 * to. */
static int symbol_table(Symbol *out, int max)
{
    int n = 0;
    for (int i = 0; i < nkfuncs && n < max; i++)
        out[n++] = (Symbol){kfuncs[i]->name, kfuncs[i]->addr};
    for (int a = ACT_NONE + 1; a <= ACT_TANH && n < max; a++)
        out[n++] = (Symbol){kacts[a].name, (void (*)(void))kacts[a].addr};
    const Symbol libc[] = {{"memcpy", (void (*)(void))memcpy}, {"memset", (void (*)(void))memset},
                           {"memmove", (void (*)(void))memmove}};
    for (size_t i = 0; i < sizeof libc / sizeof *libc && n < max; i++)
        out[n++] = libc[i];
    return n;
}

/* The table as the JIT's absolute symbols.  TFC_JIT_DROP_SYMBOL=NAME
 * leaves NAME out: the tests' way to see a missing symbol reported, not
 * crashed on. */
static void define_symbols(LLVMOrcLLJITRef J)
{
    const char *drop = getenv("TFC_JIT_DROP_SYMBOL");
    Symbol table[64];
    LLVMJITCSymbolMapPair pairs[64];
    int count = symbol_table(table, 64);
    size_t n = 0;
    LLVMJITSymbolFlags flags = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable, 0};
    for (int i = 0; i < count; i++) {
        if (drop && strcmp(drop, table[i].name) == 0)
            continue;
        pairs[n].Name = LLVMOrcLLJITMangleAndIntern(J, table[i].name);
        pairs[n].Sym = (LLVMJITEvaluatedSymbol){(LLVMOrcJITTargetAddress)(uintptr_t)table[i].addr, flags};
        n++;
    }
    check(LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(J), LLVMOrcAbsoluteSymbols(pairs, n)),
          "defining the runtime's symbols");
}

Jit *jit_llvm_create(void)
{
    Jit *jit = tfc_alloc(sizeof *jit);
    jit->tm = host_machine();
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
        builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(host_machine()));
    check(LLVMOrcCreateLLJIT(&jit->lljit, builder), "creating the JIT");
    LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(jit->lljit),
                                            report_session_error, NULL);
    define_symbols(jit->lljit);
    return jit;
}

JitBody jit_llvm_add(Jit *jit, const JitEntry *e, int flags, JitTimes *times)
{
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMModuleRef M = build_module(LLVMOrcThreadSafeContextGetContext(tsc), jit->tm, e, 1, flags,
                                   (flags & JIT_DUMP) ? stderr : NULL, times);
    double t0 = run_now();
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(M, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc);   /* the module holds it now */
    check(LLVMOrcLLJITAddLLVMIRModule(jit->lljit, LLVMOrcLLJITGetMainJITDylib(jit->lljit), tsm),
          tfc_format("adding %s", e->name));
    LLVMOrcJITTargetAddress addr = 0;
    check(LLVMOrcLLJITLookup(jit->lljit, &addr, e->name), tfc_format("compiling %s", e->name));
    if (times)
        times->codegen = run_now() - t0;
    return (JitBody)(uintptr_t)addr;
}

void jit_llvm_free(Jit *jit)
{
    if (!jit)
        return;
    if (jit->lljit)
        check(LLVMOrcDisposeLLJIT(jit->lljit), "disposing of the JIT");
    if (jit->tm)
        LLVMDisposeTargetMachine(jit->tm);
    jit->lljit = NULL;
    jit->tm = NULL;
}
