/*
 * sema.c - names, configuration and scalar arithmetic while lowering.
 *
 * Configuration values are numbers known at compile time: integers stay
 * exact (dim / heads is an integer only when it divides), anything else
 * is a double.  A -D override replaces a value where it is defined, so
 * values computed from it (head_dim = dim / heads) follow.
 */
#include "cli_parse.h"
#include "lower.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

Value sema_number(double v, int is_integer)
{
    return (Value){.kind = V_NUMBER, .number = v, .is_integer = is_integer};
}

const char *sema_value_kind(Value v)
{
    static const char *const names[] = {"a number", "a boolean", "a tensor",
                                        "a module", "a string"};
    return names[v.kind];
}

Binding *sema_lookup(Lowering *L, const char *name)
{
    int i = strmap_get(&L->bound, name, -1);
    return i >= 0 ? &L->bindings[i] : NULL;
}

/* Edit distance, for "did you mean" hints; small names only. */
static int distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int d[41][41];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* A hint is worth giving only within about half of name's length, or
 * every unknown name would be "corrected" to something unrelated. */
static int hint_limit(const char *name)
{
    return (int)strlen(name) / 2 + 1;
}

/* Makes candidate the best hint so far when it is nearer to name. */
static void consider(const char *name, const char *candidate, const char **best, int *best_d)
{
    int d = distance(name, candidate);
    if (d < *best_d) {
        *best_d = d;
        *best = candidate;
    }
}

static const char *nearest_name(Lowering *L, const char *name)
{
    const char *best = NULL;
    int best_d = hint_limit(name);
    for (int i = 0; i < L->count; i++)
        consider(name, L->bindings[i].name, &best, &best_d);
    return best;
}

const char *sema_nearest(const char *name, const char *const *candidates, int count)
{
    const char *best = NULL;
    int best_d = hint_limit(name);
    for (int i = 0; i < count; i++)
        consider(name, candidates[i], &best, &best_d);
    return best;
}

Value sema_need(Lowering *L, const Ast *n)
{
    Binding *b = sema_lookup(L, n->name);
    if (b)
        return b->value;
    const char *hint = nearest_name(L, n->name);
    if (hint)
        error_at(n->loc, "unknown name '%s' (did you mean '%s'?)", n->name, hint);
    error_at(n->loc, "unknown name '%s'", n->name);
}

/* Assignment to a name bound in an enclosing scope updates it (x = x + ...
 * inside repeat carries x to the next block); a new name is local. */
void sema_bind(Lowering *L, const char *name, Value v, Loc loc)
{
    Binding *old = sema_lookup(L, name);
    if (old && old->is_config)
        error_at(loc, "'%s' is a configuration value (set at %s:%d) and cannot be reassigned",
                 name, old->loc.file, old->loc.line);
    if (old) {
        old->value = v;
        return;
    }
    if (L->count == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 64;
        Binding *nb = tfc_alloc((size_t)L->cap * sizeof *nb);
        if (L->count)
            memcpy(nb, L->bindings, (size_t)L->count * sizeof *nb);
        L->bindings = nb;
    }
    strmap_put(&L->bound, name, L->count);
    L->bindings[L->count++] = (Binding){name, v, L->depth, 0, loc};
}

void sema_pop_scope(Lowering *L)
{
    while (L->count > 0 && L->bindings[L->count - 1].depth > L->depth)
        strmap_remove(&L->bound, L->bindings[--L->count].name);
}

double sema_scalar(Lowering *L, const Ast *e)
{
    Value v = lower_expr(L, e);
    if (v.kind != V_NUMBER)
        error_at(e->loc, "expected a number here, found %s", sema_value_kind(v));
    return v.number;
}

static int fits_integer(double x)
{
    return fabs(x) <= 9007199254740992.0 && x == floor(x);
}

/* A number that is no integer, as "must be an integer" shows it.  A whole
 * value written as 64.0 or 1e3 is no integer either (docs/language.md),
 * but calling it "not a whole number" would be false. */
static const char *non_integer_text(double x)
{
    if (x != floor(x))
        return tfc_format("%g (not a whole number)", x);
    if (fits_integer(x))    /* + 0.0: -0.0 reads as 0.0 */
        return tfc_format("%.1f (a decimal; integers are written without '.' or exponent)",
                          x + 0.0);
    return tfc_format("%g (too large for an integer)", x);
}

int64_t sema_int(Lowering *L, const Ast *e, const char *what)
{
    Value v = lower_expr(L, e);
    if (v.kind != V_NUMBER)
        error_at(e->loc, "%s must be an integer, found %s", what, sema_value_kind(v));
    if (!v.is_integer)
        error_at(e->loc, "%s must be an integer, found %s", what, non_integer_text(v.number));
    return (int64_t)v.number;
}

Value sema_arith(int op, Value a, Value b, Loc loc)
{
    int ints = a.is_integer && b.is_integer;
    double x = a.number, y = b.number, r = 0;
    switch (op) {
    case '+': r = x + y; break;
    case '-': r = x - y; break;
    case '*': r = x * y; break;
    case '/':
        if (y == 0)
            error_at(loc, "division by zero (%g / 0)", x);
        r = x / y;
        /* an integer quotient only when it divides exactly */
        ints = ints && fmod(x, y) == 0;
        break;
    case '@':
        error_at(loc, "'@' multiplies matrices; here both sides are numbers");
    default:
        tfc_bug("unknown operator %c", op);
    }
    if (ints && !fits_integer(r))
        error_at(loc, "integer overflow in %g %c %g", x, op, y);
    if (!isfinite(r))
        error_at(loc, "the result of %g %c %g is not a finite number", x, op, y);
    return sema_number(r, ints);
}

int sema_is_scalar_function(const char *name)
{
    return strcmp(name, "sqrt") == 0;
}

Value sema_call_scalar(Lowering *L, const Ast *call)
{
    if (call->list.count != 1 || call->list.items[0]->name)
        error_at(call->loc, "%s takes one number", call->name);
    double x = sema_scalar(L, call->list.items[0]->lhs);
    if (x < 0)
        error_at(call->loc, "sqrt of a negative number (%g)", x);
    double r = sqrt(x);
    return sema_number(r, fits_integer(r) && r * r == x);
}

/* ---- configuration ----------------------------------------------------- */

/* A -D value is written as a number in a model file, with an optional
 * leading '-' (cli_parse.c): not 0x40, not " 64", not inf. */
static Value parse_define(const Define *d)
{
    double v;
    int is_int;
    const char *bad = cli_number(d->value, -HUGE_VAL, HUGE_VAL, &v, &is_int);
    if (bad && d->from)
        error_plain("%s: \"%s\" is %s, not a number: %s", d->from, d->name, d->value, bad);
    if (bad)
        error_plain("-D %s=%s: the value must be a number: %s", d->name, d->value, bad);
    return sema_number(v, is_int && fits_integer(v));
}

/* Room for cap configuration values, in the compiler's arena. */
static void grow_config(Graph *g, int cap)
{
    const char **names = tfc_alloc((size_t)cap * sizeof *names);
    double *values = tfc_alloc((size_t)cap * sizeof *values);
    int *is_int = tfc_alloc((size_t)cap * sizeof *is_int);
    if (g->nconfig) {
        memcpy(names, g->config_names, (size_t)g->nconfig * sizeof *names);
        memcpy(values, g->config_values, (size_t)g->nconfig * sizeof *values);
        memcpy(is_int, g->config_is_int, (size_t)g->nconfig * sizeof *is_int);
    }
    g->config_names = names;
    g->config_values = values;
    g->config_is_int = is_int;
}

void sema_config(Lowering *L, const Ast *stmt)
{
    if (L->depth > 0)
        error_at(stmt->loc, "config '%s' inside repeat: configuration belongs at the top level",
                 stmt->name);
    Binding *old = sema_lookup(L, stmt->name);
    if (old)
        error_at(stmt->loc, "'%s' is already defined at line %d", stmt->name, old->loc.line);
    Value v = lower_expr(L, stmt->lhs);
    if (v.kind != V_NUMBER && v.kind != V_BOOL)
        error_at(stmt->lhs->loc, "config '%s' must be a number, found %s",
                 stmt->name, sema_value_kind(v));
    const Define *stated = NULL;    /* the checkpoint's value, by its key */
    for (int i = 0; stmt->at && i < L->ndefs; i++)
        if (L->defs[i].from && strcmp(L->defs[i].name, stmt->at) == 0) {
            v = parse_define(&L->defs[i]);
            stated = &L->defs[i];
            L->def_used[i] = 1;
        }
    for (int i = 0; i < L->ndefs; i++)
        if (!L->defs[i].from && strcmp(L->defs[i].name, stmt->name) == 0) {
            Value d = parse_define(&L->defs[i]);
            if (stated && d.number != v.number)
                fprintf(stderr, "tfc: note: -D %s=%s overrides %s's \"%s\" = %s\n",
                        stmt->name, L->defs[i].value, stated->from, stated->name, stated->value);
            v = d;
            L->def_used[i] = 1;
        }
    sema_bind(L, stmt->name, v, stmt->loc);
    L->bindings[L->count - 1].is_config = 1;

    Graph *g = L->g;
    if ((g->nconfig & (g->nconfig - 1)) == 0)   /* 0, 1, 2, 4, ...: double */
        grow_config(g, g->nconfig ? 2 * g->nconfig : 1);
    g->config_names[g->nconfig] = stmt->name;
    g->config_values[g->nconfig] = v.number;
    g->config_is_int[g->nconfig] = v.is_integer || v.kind == V_BOOL;
    g->nconfig++;
}

void sema_check_defines(Lowering *L)
{
    for (int i = 0; i < L->ndefs; i++) {
        if (L->def_used[i] || L->defs[i].from)
            continue;
        char list[512] = "";
        size_t len = 0;
        for (int j = 0; j < L->g->nconfig && len < sizeof list - 64; j++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                    j ? ", " : "", L->g->config_names[j]);
        error_plain("-D %s: the model has no configuration value '%s' (it has: %s)",
                    L->defs[i].name, L->defs[i].name, L->g->nconfig ? list : "none");
    }
}

/* Checkpoint names may hold {name}: the value of an integer in scope, as
 * in "h.{i}.ln_1" inside repeat i < layers. */
const char *sema_interpolate(Lowering *L, const Ast *at, const char *s)
{
    char out[1024];
    size_t len = 0;
    for (const char *p = s; *p; p++) {
        if (len > sizeof out - 32)
            error_at(at->loc, "checkpoint name is too long");
        if (*p != '{') {
            out[len++] = *p;
            continue;
        }
        const char *close = strchr(p, '}');
        if (!close)
            error_at(at->loc, "'{' without '}' in checkpoint name \"%s\"", s);
        char *name = tfc_strndup(p + 1, (size_t)(close - p - 1));
        Binding *b = sema_lookup(L, name);
        if (!b || b->value.kind != V_NUMBER || !b->value.is_integer)
            error_at(at->loc, "{%s} in \"%s\" must name an integer in scope, such as a repeat index",
                     name, s);
        len += (size_t)snprintf(out + len, sizeof out - len, "%lld", (long long)b->value.number);
        p = close;
    }
    out[len] = '\0';
    return tfc_strdup(out);
}
