/*
 * lower.h - what sema.c and lower.c share: the values a name can stand
 * for while a model file is lowered, and the scopes that hold them.
 */
#ifndef TFC_LOWER_H
#define TFC_LOWER_H

#include "strmap.h"
#include "tfc.h"

typedef enum { V_NUMBER, V_BOOL, V_TENSOR, V_MODULE, V_STRING } ValueKind;

typedef enum { MOD_EMBEDDING, MOD_LINEAR, MOD_CONV1D, MOD_LAYERNORM, MOD_RMSNORM } ModuleKind;

typedef struct {
    ModuleKind kind;
    const char *var;      /* the name it was bound to, for node names */
    int weight, bias;     /* WEIGHT node ids; bias -1 when absent */
    float eps;
} Module;

typedef struct {
    ValueKind kind;
    double number;        /* NUMBER, BOOL */
    int is_integer;
    int node;             /* TENSOR: node id */
    Module *module;       /* MODULE */
    const char *string;   /* STRING */
} Value;

typedef struct {
    const char *name;
    Value value;
    int depth;            /* scope depth it was bound in */
    int is_config;
    Loc loc;
} Binding;

typedef struct {
    Graph *g;
    Binding *bindings;
    int count, cap;
    StrMap bound;         /* binding name -> index in bindings (names are
                             unique there: assignment updates, never shadows) */
    int depth;            /* 0 at top level, +1 per repeat */
    const char *scope;    /* node-name prefix inside repeat, e.g. "l3_" */
    const Define *defs;
    int ndefs;
    int *def_used;
    Loc output_at;        /* the output statement, once there is one */
    StrMap node_names;    /* node name -> node id */
    StrMap next_suffix;   /* base name -> the next _N worth trying */
    StrMap ckpts;         /* checkpoint name -> its WEIGHT node */
    /* running totals, held to model_limits.h */
    int64_t statements;   /* statements run, repeat iterations included */
    int64_t weight_bytes, buffer_bytes, cache_bytes, flops;
} Lowering;

/* sema.c: names and scalar arithmetic */
Binding *sema_lookup(Lowering *L, const char *name);
Value sema_need(Lowering *L, const Ast *name_node);   /* unknown: error */
/* The candidate nearest to name by edit distance, for "did you mean"
 * hints; NULL when none is near enough. */
const char *sema_nearest(const char *name, const char *const *candidates, int count);
void sema_bind(Lowering *L, const char *name, Value v, Loc loc);
void sema_pop_scope(Lowering *L);
Value sema_number(double v, int is_integer);
double sema_scalar(Lowering *L, const Ast *e);        /* must be a number */
int64_t sema_int(Lowering *L, const Ast *e, const char *what);
void sema_config(Lowering *L, const Ast *stmt);
void sema_check_defines(Lowering *L);
const char *sema_interpolate(Lowering *L, const Ast *str_node, const char *s);
const char *sema_value_kind(Value v);
Value sema_arith(int op, Value a, Value b, Loc loc);
Value sema_call_scalar(Lowering *L, const Ast *call);   /* sqrt(x), ... */
int sema_is_scalar_function(const char *name);

/* lower.c: an expression to a value (scalar or tensor) */
Value lower_expr(Lowering *L, const Ast *e);

#endif
