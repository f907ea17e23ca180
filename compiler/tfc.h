/*
 * tfc.h - everything the compiler shares, in one header, one section per
 * file.  The pipeline runs in one direction:
 *
 *   text --parse--> AST --lower (with sema)--> Graph --passes--> emit C / run
 *
 * Memory: the compiler allocates from one arena that lives until exit
 * (tfc_alloc); nothing is freed piecemeal.
 */
#ifndef TFC_H
#define TFC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- util.c / diag.c ------------------------------------------------ */

void *tfc_alloc(size_t size);                /* zeroed; never NULL */
/* Frees everything tfc_alloc gave, at once (fuzz harnesses, between
 * inputs: nothing allocated before may be used after).  The first block
 * is kept for reuse. */
void tfc_free_all(void);
char *tfc_strdup(const char *s);
char *tfc_strndup(const char *s, size_t n);
char *tfc_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A place in a source file.  line and col count from 1. */
typedef struct {
    const char *file;
    int line, col;
} Loc;

/* A loaded source file, kept for diagnostics (to show the line). */
typedef struct {
    const char *name;
    const char *text;
    size_t len;
} Source;

void diag_set_source(const Source *src);

/* Reports `file:line:col: error: msg` with the source line and a caret,
 * then leaves the compilation: longjmp to the handler set by diag_try, or
 * exit(1) when there is none.  For mistakes in the user's input. */
_Noreturn void error_at(Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same without a location (files, weights): status 1. */
_Noreturn void error_plain(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Exit statuses: 1 bad input, 2 usage (the command line), 3 I/O. */
enum { EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_IO = 3 };
_Noreturn void error_status(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int diag_last_status(void);

/* Runs fn(arg) so that a user error returns 1 (message kept in
 * diag_last_message) instead of exiting.  Returns 0 when fn succeeded.
 * Used by the driver and the unit tests. */
int diag_try(void (*fn)(void *), void *arg);
const char *diag_last_message(void);
/* When quiet, errors are recorded but not printed (unit tests). */
void diag_set_quiet(int quiet);

/* Internal compiler bugs: never the user's fault. */
#define tfc_bug(...) tfc_bug_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void tfc_bug_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- ast.c: the syntax tree built by parser.y ------------------------- */

typedef enum {
    /* expressions */
    AST_NUMBER, AST_BOOL, AST_STRING, AST_NAME, AST_BINARY, AST_NEG,
    AST_CALL, AST_MEMBER, AST_ARG,
    /* statements */
    AST_MODEL, AST_CONFIG, AST_PREFIX, AST_IGNORE, AST_INPUT, AST_ASSIGN,
    AST_PARAM, AST_REPEAT, AST_OUTPUT
} AstKind;

typedef struct Ast Ast;

/* A list of nodes, in source order. */
typedef struct {
    Ast **items;
    int count, cap;
} AstList;

struct Ast {
    AstKind kind;
    Loc loc;
    const char *name;    /* NAME, CALL callee, MEMBER field, ARG keyword
                            (NULL when positional), CONFIG/INPUT/PARAM/
                            REPEAT/OUTPUT/MODEL name, STRING text */
    double number;       /* NUMBER value */
    int is_integer;      /* NUMBER written as an integer */
    int op;              /* BINARY: '+', '-', '*', '/', '@' */
    Ast *lhs, *rhs;      /* BINARY operands; NEG/ARG/MEMBER/CONFIG/OUTPUT
                            operand in lhs; INPUT bound and REPEAT count
                            in rhs; ASSIGN value in rhs; INPUT flag (a
                            NAME such as padded, or NULL) in lhs */
    const char *at;      /* ASSIGN/PARAM: checkpoint name after `at`;
                            CONFIG: the checkpoint configuration key after `from` */
    const char *dim;     /* INPUT: the name of its length (seq) */
    AstList list;        /* CALL args, ASSIGN targets (NAMEs), PARAM shape,
                            PREFIX/IGNORE strings, REPEAT body */
    int depth;           /* expressions: 1 for a leaf, else 1 + the deepest
                            operand or argument (bounded: model_limits.h) */
};

Ast *ast_new(AstKind kind, Loc loc);
void ast_push(AstList *list, Ast *node);

/* The parsed file: its statements, in order. */
typedef struct {
    const Source *src;
    AstList stmts;
} Program;

/* parse.c: reads and parses path (fatal errors on failure). */
Program *parse_file(const char *path);
Program *parse_string(const char *name, const char *text);
/* text[0..len) need not end in NUL and may hold any byte. */
Program *parse_buffer(const char *name, const char *text, size_t len);

/* ---- ir.c: the graph ------------------------------------------------- */

typedef enum {
#define OP(name, nin, flags, rule) OP_##name,
#include "ops.h"
#undef OP
    OP_COUNT_
} Op;

enum { OPF_ELEMENTWISE = 1, OPF_INPLACE = 2, OPF_ROWWISE = 4 };

typedef enum {
#define DTYPE(id, name, block_bytes, block_values, what) DT_##id,
#include "dtypes.h"
#undef DTYPE
    DT_COUNT_
} DType;

/* One row of dtypes.h: a block of `block` values takes `block_bytes`. */
typedef struct {
    const char *name;
    int block_bytes, block;
    const char *what;
} DTypeInfo;
extern const DTypeInfo dtypes[DT_COUNT_];
/* Bytes of elems values of dt: elems must be whole blocks (a q8 weight's
 * rows are; the verifier checks it). */
int64_t dtype_bytes(DType dt, int64_t elems);

/* A dimension: a constant, or the length of a model input (sym > 0, the
 * index of that input's length in Graph.syms; n is then its upper bound). */
typedef struct {
    int sym;
    int64_t n;
} Dim;

#define MAX_DIMS 4
#define MAX_INPUTS 4     /* model inputs */
#define MAX_ARGS 5       /* a node's operands */
#define MAX_PARTS 3      /* stacked weight parts of one matmul */
#define MAX_COVERS 8     /* source lines a fused node remembers */
#define MAX_FUSE_RULES 16

/* Activations a matmul applies in its epilogue (the fusion pass). */
typedef enum { ACT_NONE, ACT_GELU, ACT_GELU_TANH, ACT_RELU, ACT_SILU, ACT_TANH } Act;

typedef struct {
    int ndim;
    Dim d[MAX_DIMS];
} Shape;

/* One node: an op over up to MAX_INPUTS earlier nodes, giving one tensor. */
typedef struct {
    Op op;
    int in[MAX_ARGS];            /* node ids, -1 when absent */
    Shape shape;
    DType dtype;
    const char *name;            /* a readable, unique C identifier */
    Loc loc;                     /* the source expression it came from */
    union {
        struct {
            const char *ckpt;                          /* checkpoint name */
            int64_t first;                             /* view: first element */
            Shape full;                                /* view: the stored shape
                                                          (ndim 0: not a view) */
            /* --tp (passes/shard.c): 1 + the stored axis split over the
               ranks (0: whole), the stored shape, and the fused parts
               along that axis (TfrtWeightSpec.split_*) */
            int split_axis;
            Shape split_full;
            int64_t split_parts[MAX_PARTS];
            int split_packed;        /* the slice is bound as a packed copy: its
                                        reader takes no row stride (T5's
                                        relative bias, split by heads) */
        } weight;
        struct { int index; } input;                   /* model input */
        struct {
            int layout;                                /* TfrtWeightLayout */
            /* the epilogue, set by the fusion pass (passes/fuse.c) */
            Act act;                                   /* on the product */
            int glu;                                   /* act(part 0) * part 1 */
            int parts;                                 /* column parts of the
                                                          result, 0: one */
            int part_cols[MAX_PARTS];
            int rope_heads[MAX_PARTS];                 /* rope on a part, 0: none */
            float rope_theta;
            int rope_interleaved;
            int cache[MAX_PARTS];                      /* the CACHE node a part
                                                          is copied into, 0: none */
            int tp;                                    /* TpRole (passes/shard.c) */
        } matmul;
        struct { float eps; } norm;
        struct {
            int heads, kv_heads, causal;
            float scale;
            int buckets, max_distance, bidirectional;  /* with in[3] (T5) */
        } attn;
        struct { int heads, interleaved; float theta; } rope;
        struct { int first, cols, view; } slice;       /* view: no copy, the
                                                          operand's memory */
        struct { float s; } scale;
        struct { int64_t offset; int fused; } cache;   /* in the cache region;
                                                          fused: a matmul's
                                                          epilogue writes it */
        struct { int axis; } concat;                   /* 0: rows, 1: columns */
    } attr;
    int64_t offset;              /* planned byte offset in the arena */
    int64_t step_offset;         /* the same in the one-token step plan */
    int dead;                    /* removed by a pass */
    int persist;                 /* encoder output read by decode: live to
                                    the end of the schedule (partition.c) */
    int inlined;                 /* an elementwise op computed inside the
                                    loop of its one reader (fuse.c) */
    int covers[MAX_COVERS];      /* model-file lines of nodes fused into
                                    this one, besides loc.line */
    int ncovers;
} Node;

/* A length symbol: the length of one or more model inputs, or (past > 0)
 * the tokens a KV cache holds after a call: the cached `pos` plus the
 * length of symbol `past`. */
typedef struct {
    const char *name;
    int64_t max;
    int past;
} Sym;

typedef struct {
    const char *model;           /* the model's name (C prefix default) */
    const char *source;          /* file it came from */
    const char *source_text;     /* its text, quoted in generated code */
    Node *nodes;
    int count, cap;
    Sym syms[MAX_INPUTS + 1];    /* syms[0] unused: sym 0 means constant */
    int nsyms;
    unsigned padded;             /* bit s: symbol s is padded, and has a valid
                                    length <name>_valid at run time; keys at
                                    positions >= it are masked in attention */
    int inputs[MAX_INPUTS];      /* INPUT node ids, in declaration order */
    int ninputs;
    int output;                  /* node id of the output */
    const char *output_name;
    const char **prefixes;       /* checkpoint name prefixes */
    int nprefixes;
    const char **ignores;        /* checkpoint names the model skips */
    int nignores;
    /* configuration values, after -D overrides, for the header */
    const char **config_names;
    double *config_values;
    int *config_is_int;
    int nconfig;
    int64_t arena_bytes;         /* set by the planner */
    int64_t scratch_offset;      /* the int8 linear layers' scratch: where it */
    int64_t scratch_bytes;       /* starts in the arena, its size (0: none) */
    int enc_end;                 /* set by the partition: nodes [0, enc_end)
                                    depend on encoder inputs only and run in
                                    PREFIX_encode; 0 when there is none */
    struct Plan *plan;           /* the planner's live ranges and figures */
    /* set by the KV-cache pass */
    int cache_sym;               /* the cached sequence's symbol, or 0 */
    int64_t cache_bytes;         /* persistent K/V region */
    int64_t step_arena_bytes;    /* of the arena, what the one-token step
                                    touches (with the encoder values it reads) */
    int64_t unfused_arena_bytes; /* the same planned before fusion, when asked */
    int64_t unfused_step_arena_bytes;
    int unfused_calls;           /* kernel calls of one forward pass before
                                    fusion, when asked (0: not measured) */
    int fused[MAX_FUSE_RULES];   /* times each fusion rule applied */
    int q8_layers, fp32_layers;  /* set by the quantize pass: linear layers
                                    made int8, and kept fp32 */
    int tp;                      /* --tp: ranks the graph is split over (0, 1: none) */
} Graph;

/* A matmul's part in tensor parallelism (passes/shard.c). */
typedef enum {
    TP_NONE,      /* replicated: every rank computes all of it */
    TP_COLUMN,    /* this rank's output columns (heads, hidden units) */
    TP_ROW,       /* this rank's input columns; an all-reduce sums the ranks'
                     products, then adds the bias and residual */
    TP_GATHER     /* the head: this rank's vocabulary rows, gathered into the
                     whole output (whose shape the node keeps) */
} TpRole;

extern const char *const op_names[OP_COUNT_];
extern const int op_arity[OP_COUNT_];
extern const int op_flags[OP_COUNT_];

Graph *ir_new_graph(void);
int ir_add(Graph *g, Op op, DType dt, Shape shape, Loc loc);
/* Inserts a node at schedule position `at` (before planning); later nodes
 * and every reference to them move up by one. */
int ir_insert(Graph *g, int at, Op op, DType dt, Shape shape, Loc loc);
extern const char *const act_names[];
Shape ir_shape1(Dim a);
Shape ir_shape2(Dim a, Dim b);
Dim ir_const(int64_t n);
int ir_dim_equal(Dim a, Dim b);
int ir_shape_equal(Shape a, Shape b);
int64_t ir_dim_max(const Graph *g, Dim d);
/* Elements of a shape at the largest lengths its symbols allow. */
int64_t ir_max_elems(const Graph *g, Shape s);
const char *ir_dim_str(const Graph *g, Dim d);
const char *ir_shape_str(const Graph *g, Shape s);
void ir_dump(const Graph *g, FILE *out);

/* verify.c: checks the graph's invariants (arity, shape rules, dtypes,
 * topological order).  Returns 0, or 1 with a message (naming the pass
 * that broke it) in diag_last_message-style text via errbuf. */
int ir_verify(const Graph *g, char *err, size_t errlen);
/* verify_plan.c: once the graph is planned (g->plan), ir_verify also
 * checks the memory plan: no two buffers live at one step overlap. */
int plan_verify(const Graph *g, char *err, size_t errlen);

/* ---- sema.c / lower.c -------------------------------------------------- */

/* A -D override from the command line, or (with `from`) a value the
 * checkpoint states: then name is its key there ("n_embd") and `from`
 * the file that says so ("gpt2/config.json"), for messages. */
typedef struct {
    const char *name;
    const char *value;
    const char *from;
} Define;

/* Lowers a parsed program to a graph, evaluating config (with overrides),
 * resolving names and checking every shape; errors are fatal (error_at). */
Graph *lower_program(const Program *prog, const Define *defs, int ndefs);

/* ---- passes ------------------------------------------------------------ */

/* What the command line says about the passes. */
typedef struct {
    unsigned off;            /* bit i: pass i of `passes` is switched off */
    int tp;                  /* --tp N: ranks to split the model over (0, 1: none) */
    unsigned fuse_off;       /* bit r: rule r of `fuse_rules` is switched off */
    int measure_unfused;     /* also plan the graph before fusion (--plan) */
    int quantize;            /* --quantize: QUANT_NONE or QUANT_INT8 */
    int keep_head_fp32;      /* -fno-quantize-head */
} PassOptions;
enum { QUANT_NONE, QUANT_INT8 };

/* pipeline.c: the passes in their order, one table (DESIGN.md): the
 * driver runs them with the verifier after each, -fno-NAME switches one
 * off (when it may be), --dump-ir=NAME prints the graph after it. */
typedef struct {
    const char *name;
    void (*run)(Graph *g, const PassOptions *o);
    const char *purpose;
    int optional;            /* may be switched off */
} PassInfo;
extern const PassInfo passes[];
extern const int npasses;

/* Runs every pass that is on, verifying after each; when dump_after is
 * a pass name, prints the graph after that pass to `dump` and stops
 * there.  Returns the graph (planned unless the dump stopped early). */
Graph *pipeline_run(Graph *g, const PassOptions *o, const char *dump_after, FILE *dump);
/* The index of pass `name` in `passes`, or -1. */
int pipeline_find(const char *name);

/* fuse.c: operator fusion, one rule per entry of fuse_rules. */
typedef struct {
    const char *name;
    int (*run)(Graph *g);        /* returns how often it applied */
    const char *purpose;
} FuseRule;
extern const FuseRule fuse_rules[];
extern const int fuse_nrules;
void pass_fuse(Graph *g, const PassOptions *o);

/* quantize.c: --quantize int8: the linear layers' weights to dtype Q8. */
void pass_quantize(Graph *g, const PassOptions *o);
/* dce.c: marks nodes the output does not depend on as dead. */
void pass_dce(Graph *g);
/* partition.c: for an encoder-decoder, moves the nodes that depend only
 * on encoder inputs to the front (g->enc_end) and marks what the decoder
 * reads of them persistent. */
void pass_partition(Graph *g);
/* shard.c: splits the graph over o->tp ranks (tensor parallelism). */
void pass_shard(Graph *g, int tp);
/* The shape of weight w's stored tensor (before a view or a split). */
Shape shard_stored_shape(const Node *w);
/* Where a rank's slice of weight w is read in place (bind.c): rows of
 * the stored tensor apart, and its part starting `first` rows (or
 * columns) into the slice is `shard_stored_first` into the stored
 * tensor.  For a whole weight, its row length and `first`. */
int64_t shard_row_len(const Node *w);
int64_t shard_stored_first(const Graph *g, const Node *w, int64_t first);
/* Floats the row-parallel all-reduces sum per token (per rank, each way). */
int64_t shard_allreduce_floats_per_token(const Graph *g);
/* The output is the head split by vocabulary rows (TP_GATHER): its
 * logits go where tfrt_comm_logits_to says; the columns a rank computes. */
int shard_split_head(const Graph *g);
int64_t shard_head_cols(const Graph *g);
/* plan.c: assigns arena offsets to every live intermediate. */
void pass_plan(Graph *g);

/* What the planner decided, per node id (docs/memory-planning.md).  A node
 * that overwrites an input in place shares that input's buffer: the chain
 * is one buffer, free after free_at. */
typedef struct Plan {
    int64_t *bytes;      /* arena bytes (64-byte aligned), 0: not in the arena */
    int *first, *last;   /* steps (node ids): written, last read by a node */
    int *alias;          /* the input whose storage it reuses, or -1 */
    int *free_at;        /* the last step its storage is in use, or -1 */
    int buffers;         /* distinct buffers (chains) */
    int64_t lower_bound; /* largest sum of buffer bytes live at one step */
    int peak_step;       /* the first step where that sum is reached */
    int64_t no_reuse;    /* every node's bytes, no sharing at all */
    const char *heuristic;   /* the ordering and fit that won */
} Plan;

/* Every arena buffer starts and ends on this boundary (cache lines, SIMD). */
#define PLAN_ALIGN 64
/* Bytes of node id's arena buffer at the symbols' maxima, aligned. */
int64_t plan_node_bytes(const Graph *g, int id);
/* Bytes of one row of it (a gated matmul's holds both halves). */
int64_t plan_row_bytes(const Graph *g, int id);
/* Whether node id is a view: no memory of its own, its operand's. */
int plan_is_view(const Graph *g, int id);
/* Caps every symbolic length (shapes and symbols) at n: --seq N. */
void plan_limit_length(Graph *g, int64_t n);

/* plan_report.c: `--plan`, the plan and the model's costs as text, JSON
 * (schema in docs/memory-planning.md) or an SVG picture. */
typedef enum { PLAN_TEXT, PLAN_JSON, PLAN_SVG } PlanFormat;
void plan_report(const Graph *g, PlanFormat format, FILE *out);
/* float32 bytes of the weights the graph reads, each weight once. */
int64_t plan_weight_bytes(const Graph *g);
/* Arena bytes the planned offsets touch for inputs of len[sym] tokens. */
int64_t plan_arena_need(const Graph *g, const int64_t *len);
/* KV-cache bytes per cached token (0 without a cache). */
int64_t plan_kv_bytes_per_token(const Graph *g);
/* kv_cache.c: gives a decoder's causal self-attention a persistent cache,
 * so that a call may append tokens to those of earlier calls (the decoder
 * of an encoder-decoder too: run after pass_partition). */
void pass_kv_cache(Graph *g);
/* Plans the one-token step of a cached graph (step_offset), in the same
 * arena as the full plan (g->arena_bytes covers both). */
void pass_plan_step(Graph *g);
/* plan.c: reserves the int8 linear layers' scratch above the planned
 * buffers (Graph.scratch_offset, scratch_bytes). */
void pass_plan_scratch(Graph *g);
/* The index in g->inputs of the cached decoder's input, -1 without a cache. */
int kv_cache_input(const Graph *g);

/* ---- kprog.c: the kernel program ---------------------------------------
 *
 * The seam between the middle and the back ends.  After planning, one
 * function turns the part of the schedule that one entry point runs
 * (forward, encode, decode, prefill or one step) into a list of kernel
 * calls with their arguments, and elementwise loops.  It is the only place
 * that decides what a node becomes; the C emitter prints the list and the
 * JIT compiles it, so the two cannot drift.
 */

/* An integer known at run time: c + k_len * len + k_pos * pos + k_valid *
 * valid, where len and valid are the run-time length and valid length of
 * symbol sym and pos the tokens already in the KV cache. */
typedef struct {
    int64_t c, k_len, k_pos, k_valid;
    int sym;
} KInt;

/* Where a node's data is during one entry point. */
typedef enum {
    KB_NONE,      /* no memory: stacked weights, inlined ops, fused caches */
    KB_ARENA,     /* the arena, at `offset` bytes */
    KB_WEIGHT,    /* the weight table's pointer for node `index` */
    KB_CACHE,     /* the KV cache's slot number `index` (its size is set at open) */
    KB_INPUT,     /* the caller's input number `index` */
    KB_OUTPUT     /* the caller's output buffer */
} KBase;

typedef struct {
    KBase base;
    int index;
    int64_t offset;
    int64_t stride;       /* elements between rows (a view's: its operand's) */
} KTensor;

/* A pointer argument: node's data, `elem` elements on; node -1 is NULL,
 * node KREF_SCRATCH the arena's scratch region (Graph.scratch_offset),
 * the working memory of the int8 linear layers. */
typedef struct {
    int node;
    KInt elem;
} KRef;
enum { KREF_SCRATCH = -2 };

/* KT_PACKED: a linear part's packed weights, made at open; its KInt's c
 * is the part's number in kprog_packed_parts plus one, 0 for none.
 * KT_Q8 likewise: a part's int8 copy, number c - 1 of kprog_q8_parts. */
typedef enum { KT_INT, KT_FLOAT, KT_PTR, KT_POOL, KT_STRUCT, KT_PACKED, KT_Q8 } KType;

/* A field of a runtime struct (TfrtLinear, TfrtAttention): `count`
 * elements at `offset`; enum_names, when set, name an int's values. */
typedef struct {
    const char *name;
    KType type;
    int count;
    size_t offset;
    const char *const *enum_names;
} KField;

typedef struct {
    const char *name;
    size_t size;
    const KField *fields;
    int nfields;
} KStruct;

/* A runtime function the program calls: its parameters in order; a
 * KT_STRUCT parameter is a pointer to a struct of kind `st`. */
#define KFUNC_MAX_PARAMS 9
typedef struct {
    const char *name;
    void (*addr)(void);          /* the function itself, for the JIT */
    int returns_status;          /* a TfrtStatus to check */
    int nparams;
    struct {
        const char *name;
        KType type;
        const KStruct *st;
    } params[KFUNC_MAX_PARAMS];
} KFunc;

/* One argument, or one element of a struct argument's fields. */
typedef struct KValue {
    KInt i;                      /* KT_INT */
    float f;                     /* KT_FLOAT */
    KRef p;                      /* KT_PTR */
    struct KValue *fields;       /* KT_STRUCT: each field's elements, in order */
} KValue;

/* An elementwise loop over rows x cols (fused chains, copies): code[] is
 * a little expression program whose last entry is stored to out. */
typedef enum { KE_LOAD, KE_CONST, KE_ADD, KE_MUL, KE_ACT } KEOp;
typedef struct {
    KEOp op;
    int a, b;                    /* operands: earlier code entries */
    int in;                      /* KE_LOAD: the input */
    float c;                     /* KE_CONST */
    Act act;                     /* KE_ACT */
} KExpr;

#define KLOOP_MAX_IN 4
#define KLOOP_MAX_CODE 32
typedef struct {
    KInt rows;
    int64_t cols;
    KRef out;
    int64_t out_stride;
    int nin;
    KRef in[KLOOP_MAX_IN];
    int64_t in_stride[KLOOP_MAX_IN];   /* 0: one row, the same for every row */
    int alias;                   /* input that out overwrites (in place), -1 */
    int ncode;
    KExpr code[KLOOP_MAX_CODE];
} KLoop;

typedef enum { KI_CALL, KI_LOOP } KKind;

typedef struct {
    KKind kind;
    int node;                    /* the graph node it computes */
    const KFunc *fn;             /* KI_CALL */
    KValue *args;                /* KI_CALL: one per parameter */
    KLoop *loop;                 /* KI_LOOP */
    int *dead;                   /* arena buffers free after it (poison mode) */
    int ndead;
} KInstr;

enum {
    KP_STEP = 1,                 /* with the one-token step plan's offsets */
    KP_LAST_ROW = 2              /* the output for the last row only (a matmul
                                    output reads only that row of its input) */
};

typedef struct {
    const Graph *g;
    int from, to;                /* the nodes it runs */
    int step;                    /* the one-token step plan's offsets */
    int last_row;                /* KP_LAST_ROW */
    int *packed_first;           /* per matmul node: its first packed part, or
                                    (int8 weights) its first kprog_q8_parts entry */
    KTensor *tensors;            /* per node id */
    KInstr *instrs;
    int count;
} KProgram;

/* The program of nodes [from, to); flags: KP_STEP, KP_LAST_ROW. */
KProgram *kprog_build(const Graph *g, int from, int to, int flags);
/* Whether a KP_LAST_ROW program exists: the output is a matmul. */
int kprog_has_last_row(const Graph *g);
/* The KV-cache slot of CACHE node id: its rank among the live caches. */
int kprog_cache_slot(const Graph *g, int id);
int kprog_cache_slots(const Graph *g);
/* The rows of node id: an integer of the run-time lengths. */
KInt kprog_rows(const Graph *g, int id);
/* The weight parts of every live linear layer, in node order: what a
 * model packs (tfrt_pack_when_due).  Part p of matmul node m is
 * entry packed_first[m] + p of a KProgram. */
typedef struct {
    int weight;                  /* the weight node */
    int64_t first;               /* elements from its start */
    int64_t in, rows, ldw;
    int layout;
} KPackedPart;
KPackedPart *kprog_packed_parts(const Graph *g, int *count);
/* Bytes the packed copies take (TFRT_PACK_PANEL columns a panel). */
int64_t kprog_packed_bytes(const Graph *g);
/* The parts of the int8 linear layers (weights of dtype q8), in node
 * order, then the int8 embedding tables no layer reads whole: what open
 * quantizes (tfrt_quantize_weights); the fp32 layers' parts are
 * kprog_packed_parts. */
KPackedPart *kprog_q8_parts(const Graph *g, int *count);
int kprog_q8_count(const Graph *g);
/* Of them, the parts of int8 layers (they come first; the int8 embedding
 * tables that no layer reads whole follow). */
int kprog_q8_layer_parts(const Graph *g);
/* TfrtWeightSpec.quantized of weight node id: 0 for a float weight, else
 * 2 + the TfrtWeightLayout its int8 layers read it in (1: none does). */
int kprog_spec_quantized(const Graph *g, int id);
/* Bytes the int8 copies take in the runtime's layout (tfrt_q8_weight_bytes),
 * a part read by several layers once. */
int64_t kprog_q8_bytes(const Graph *g);
/* The scratch an int8 linear layer node id needs for n rows. */
int64_t kprog_q8_scratch(const Graph *g, int id, int64_t n);
extern const KFunc kfunc_embed, kfunc_embed_packed, kfunc_embed_q8, kfunc_positions, kfunc_sinusoidal, kfunc_linear,
    kfunc_layernorm, kfunc_rmsnorm, kfunc_attention, kfunc_softmax, kfunc_rope,
    kfunc_allreduce_add, kfunc_gather_cols;
/* The activation of a loop's KE_ACT: the inline one-value function of
 * tfrt.h that generated C calls, and the runtime's exported copy of it
 * (same code, same bits) that a back end without a C compiler calls. */
typedef struct {
    const char *inline_name;     /* tfrt_gelu1 */
    const char *name;            /* tfrt_gelu1_fn */
    float (*addr)(float);
} KAct;
extern const KAct kacts[];       /* by Act; ACT_NONE's entry is empty */
/* Every runtime function a program may call, for a back end's symbol table. */
extern const KFunc *const kfuncs[];
extern const int nkfuncs;

/* ---- emit_c.c ---------------------------------------------------------- */

typedef struct {
    const char *prefix;          /* symbol prefix, e.g. "gpt2" */
    const char *header_name;     /* what the .c includes, e.g. "gpt2.h";
                                    NULL: header text goes inline */
    int trace;                   /* report every kernel call's result to the
                                    callback of PREFIX_set_trace */
} EmitOptions;

void emit_header(const Graph *g, const EmitOptions *opt, FILE *out);
/* emit_kprog.c: a kernel program as the C statements of a function body
 * (it expects m, w, arena and the lengths in scope, and rc when
 * emit_kprog_uses_status); with trace, each call's result then goes to
 * m->trace_fn when set. */
void emit_kprog(const KProgram *kp, int trace, FILE *out);
int emit_kprog_uses_status(const KProgram *kp);
/* The C name of node id's data in generated code; a float literal. */
const char *emit_var(const Graph *g, int id);
const char *emit_float(double v);
void emit_source(const Graph *g, const EmitOptions *opt, FILE *out);

/* ---- run.c: compile generated C with the system compiler, dlopen, run -- */

typedef struct {
    const char *weights;
    const int32_t *tokens[MAX_INPUTS];   /* per model input */
    int lengths[2 * MAX_INPUTS];         /* per length symbol, from 0; from
                                            MAX_INPUTS, the valid length of
                                            each padded symbol */
    int threads;
    const char *logits_path;             /* NULL: no file */
    int keep;                            /* keep the build folder */
    int prefill;                         /* > 0: that many tokens, then steps */
    int ctx;                             /* -c: the KV cache's context, 0: the most */
    int jit;                             /* RUN_JIT_LLVM or RUN_JIT_CC */
    int verbose;                         /* -v: the JIT's time */
    int dump_llvm;                       /* --dump-llvm: the module, to stderr */
    int trace;                           /* --jit cc only: Loaded.set_trace works */
} RunOptions;

/* How --run compiles: in memory through LLVM (jit_llvm.c, when tfc was
 * built with it), or with the system C compiler into a shared object. */
enum { RUN_JIT_CC, RUN_JIT_LLVM };
/* Whether this tfc was built with the LLVM back end. */
int run_have_llvm(void);

/* The entry points of a compiled model (glue.c in run.c). */
typedef int (*OpenFn)(void **, const char *, int ctx, char *, size_t);
typedef int (*ForwardFn)(void *, const int32_t *const *, const int *, float *);
typedef int (*StepFn)(void *, int32_t, float *);
typedef int (*PrefillFn)(void *, const int32_t *, int, float *);
typedef int (*CopyFn)(void *, const void *);
typedef void (*CloseFn)(void *);
typedef void (*TraceFn)(void *arg, const char *name, const float *data, int rows, int cols,
                        int stride);
typedef int (*SetTraceFn)(void *, TraceFn, void *);
typedef const char *(*StrerrorFn)(int);

typedef struct {
    void *so;
    void *model;
    OpenFn open;
    ForwardFn forward;
    StepFn step;                 /* NULL when the model has no KV cache */
    PrefillFn prefill_last;      /* a decoder's: NULL without a cache, for an
                                    encoder-decoder, or with no last-row program */
    int ctx;                     /* open's ctx (-c), 0: the most */
    CopyFn copy_state;
    CloseFn close;
    StrerrorFn strerror;
    void (*release)(void);       /* the JIT's code, after close; or NULL */
    SetTraceFn set_trace;        /* --jit cc: PREFIX_set_trace; else NULL */
} Loaded;

int run_load(const Graph *g, const RunOptions *opt, Loaded *L);
int run_open(Loaded *L, const char *weights, void **model);
void run_unload(Loaded *L);
double run_now(void);
int run_model(const Graph *g, const RunOptions *opt);

/* ---- quant_report.c: --quant-report, what int8 costs ------------------- */

typedef struct {
    const char *text;            /* the text file to measure on */
    int json;                    /* --quant-report=json */
    const char *tokenizer;
    int64_t max_tokens;          /* of the text, at most */
} QuantReportOptions;

/* g32 and g8: the model compiled without and with --quantize int8 (the
 * residual epilogue off, so that a layer's output is its own). */
int quant_report(const Graph *g32, const Graph *g8, const RunOptions *opt,
                 const QuantReportOptions *q);

/* The numbers --quant-report prints (and the --report page draws). */
typedef struct {
    const char *name;            /* the int8 matmul node's */
    int parts;
    double weight_rel_rms;       /* ||W - deq(q(W))|| / ||W|| over its parts */
    double output_rel_rms;       /* ||y8 - y32|| / ||y32|| over the text */
    double output_cosine;
} QuantLayer;

typedef struct {
    QuantLayer *layers;
    int n;
    int outputs;                 /* 1: the text ran, outputs and end to end are set */
    int64_t tokens;              /* of the text */
    int window;
    int64_t predictions;
    double top1, kl, loss32, loss8;   /* means over the predictions */
} QuantMeasure;

/* Every int8 layer's weight error; with ntok >= 2 tokens (g8 a language
 * model) also the output errors and end to end, over windows of the
 * tokens.  Returns 0 or an exit status. */
int quant_measure(const Graph *g32, const Graph *g8, const RunOptions *opt, const int32_t *tokens,
                  size_t ntok, QuantMeasure *m);
/* Whether quant_measure can run g8 over a text: one token input, logits
 * for every position. */
int quant_is_language_model(const Graph *g8);

/* ---- generate.c: text in, text out ------------------------------------- */

typedef struct {
    const char *tokenizer;
    const char *prompt;
    int n_predict;
    float temperature;
    int top_k;
    float top_p;
    uint64_t seed;
    int seed_given;
    int beams;
    size_t prompt_len;           /* bytes of prompt (-f: may hold NUL bytes) */
    const char *prompt_file;     /* -f FILE, read into prompt by main */
    float repeat_penalty;        /* 1: off */
    int penalty_given;
    const char **stop;           /* --stop, nstop of them */
    int nstop;
    int ctx;                     /* -c N: tokens the model holds, 0: the most */
    int echo;                    /* --echo: the prompt to stdout first */
} GenOptions;

int generate_text(const Graph *g, const RunOptions *opt, const GenOptions *gen);
struct TfrtTokenizer;
/* An encoder-decoder's first decoder token: config.json's
 * decoder_start_token_id, else the tokenizer's pad, bos or eos; -1: none. */
int32_t gen_decoder_start(const struct TfrtTokenizer *tok, const char *weights);

/* prompt_file.c: -f FILE's bytes, NUL-terminated, *len of them (the file
 * may hold NUL bytes); exits with a message for a file that is not
 * regular, unreadable or over PROMPT_FILE_MAX bytes. */
#define PROMPT_FILE_MAX (16 << 20)
const char *prompt_read_file(const char *path, size_t *len);

/* classify.c: --prompt for a classifier: label probabilities, or a tag a word */
struct TfrtTokenizer;
int classify_text(const Graph *g, const RunOptions *opt, const GenOptions *gen,
                  const struct TfrtTokenizer *tok);

/* tokenize.c: --encode FILE / --decode IDS with a tokenizer alone;
 * add_special: the post-processor's special tokens around --encode's ids */
int tokenizer_main(const char *path, const char *encode, const char *decode, int add_special);

/* ---- checkpoint.c: what a checkpoint states -------------------------------- */

/* defs, then the configuration the checkpoint at weights states (a
 * folder's config.json, a llama2.c header) as Defines with `from` set, for
 * `config NAME = ... from "key"`. */
void ckpt_defines(const char *weights, const Define *defs, int ndefs, Define **out, int *nout);
/* The folder's tokenizer.json (or tokenizer.bin, vocab.txt), or NULL. */
const char *ckpt_default_tokenizer(const char *weights);
/* A folder's config.json parsed (NULL when there is none); *path its path. */
struct JsonValue *ckpt_config_json(const char *weights, const char **path);
/* Exits with a message naming the -D or config.json key to change when a
 * stored tensor's shape differs from the model's. */
void ckpt_check_shapes(const Graph *g, const Program *prog, const Define *defs, int ndefs,
                       const char *weights);

/* ---- save_weights.c: --save-weights, int8 weights written once ----------- */

/* Writes the weights at `weights` that g (compiled with --quantize int8)
 * reads to path: its int8 layers' tensors in the kernels' layout, the
 * others as stored (runtime/q8_file.h).  All or nothing; exits with a
 * message on an error.  Returns 0. */
int save_weights(const Graph *g, const char *weights, const char *path);

extern const char tfc_runtime_header[];

#endif
