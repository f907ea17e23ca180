/* parser.y - the grammar of the .model language.  Actions only build AST
 * nodes; meaning is given by lower.c.  See docs/language.md. */
%define api.pure full
%define parse.error custom
%locations
%expect 0
%parse-param {void *scanner} {ParseState *ps}
%lex-param {void *scanner}

%code requires {
#include "parse.h"
}

%code {
/* The parser's stack on the C stack: an error leaves the parse by
 * longjmp (error_at), which would leak a stack grown with malloc.  The
 * stack only grows deep on a chain of unary minus signs; past
 * YYMAXDEPTH the parser stops with an error (yyerror below). */
#define YYSTACK_USE_ALLOCA 1
#define YYMAXDEPTH 5000
#include "lexer.h"
#include "model_limits.h"
#include <string.h>
static Ast *node(ParseState *ps, AstKind kind, YYLTYPE loc);
static Ast *binary(ParseState *ps, int op, Ast *l, Ast *r, YYLTYPE loc);
static Ast *nest(Ast *parent, const Ast *child);
static void add_stmt(ParseState *ps, AstList *body, Ast *stmt);
static void yyerror(YYLTYPE *loc, void *scanner, ParseState *ps, const char *msg);
}

%token NEWLINE "end of line"
%token KW_MODEL "model" KW_CONFIG "config" KW_CHECKPOINT "checkpoint"
%token KW_PREFIX "prefix" KW_IGNORE "ignore" KW_INPUT "input" KW_PARAM "param"
%token KW_REPEAT "repeat" KW_OUTPUT "output" KW_AT "at" KW_FROM "from"
%token KW_TRUE "true" KW_FALSE "false"
%token IDENT "name" NUMBER "number" STRING "string" LE "<="
%token ';' ";" '=' "=" ',' "," '(' "(" ')' ")" '[' "[" ']' "]" '{' "{" '}' "}"
%token '.' "." '<' "<" '+' "+" '-' "-" '*' "*" '/' "/" '@' "@"

%left '+' '-'
%left '*' '/' '@'
%precedence NEG

%%

program:
    body                        { ps->prog->stmts = $1->list; }
;

/* body: statements, one per line (or separated by ;) */
body:
    %empty                      { $$ = node(ps, AST_REPEAT, @$); }
  | body sep                    { $$ = $1; }
  | body statement sep          { $$ = $1; add_stmt(ps, &$$->list, $2); }
;

sep: NEWLINE | ';' ;

statement:
    "model" IDENT               { $$ = node(ps, AST_MODEL, @1); $$->name = $2->name; }
  | "config" IDENT '=' expr from { $$ = node(ps, AST_CONFIG, @2); $$->name = $2->name; $$->lhs = $4;
                                  $$->at = $5 ? $5->name : NULL; }
  | "checkpoint" "prefix" strings { $$ = $3; $$->kind = AST_PREFIX; }
  | "checkpoint" "ignore" strings { $$ = $3; $$->kind = AST_IGNORE; }
  | "input" IDENT '[' IDENT bound ']' flag
                                { $$ = node(ps, AST_INPUT, @2); $$->name = $2->name;
                                  $$->dim = $4->name; $$->rhs = $5; $$->lhs = $7; }
  | targets '=' expr at         { $$ = $1; $$->rhs = $3; $$->at = $4 ? $4->name : NULL; }
  | "param" IDENT '[' exprs ']' "at" STRING
                                { $$ = $4; $$->kind = AST_PARAM; $$->loc = LOC(ps, @2);
                                  $$->name = $2->name; $$->at = $7->name; }
  | "repeat" IDENT '<' expr '{' body '}'
                                { $$ = $6; $$->loc = LOC(ps, @1); $$->name = $2->name; $$->rhs = $4; }
  | "output" IDENT '=' expr     { $$ = node(ps, AST_OUTPUT, @2); $$->name = $2->name; $$->lhs = $4; }
;

/* strings: "a", "b", ... */
strings:
    STRING                      { $$ = node(ps, AST_PREFIX, @1); ast_push(&$$->list, $1); }
  | strings ',' STRING          { $$ = $1; ast_push(&$$->list, $3); }
;

bound:
    %empty                      { $$ = NULL; }
  | "<=" expr                   { $$ = $2; }
;

/* flag: a word after an input's brackets, as in  input t[seq <= ctx] padded */
flag:
    %empty                      { $$ = NULL; }
  | IDENT
;

at:
    %empty                      { $$ = NULL; }
  | "at" STRING                 { $$ = $2; }
;

/* from: the checkpoint configuration key of a config value, as in
 * config dim = 768 from "n_embd" */
from:
    %empty                      { $$ = NULL; }
  | "from" STRING               { $$ = $2; }
;

/* targets: the names on the left of =, as in  q, k, v = split(qkv, 3) */
targets:
    IDENT                       { $$ = node(ps, AST_ASSIGN, @1); ast_push(&$$->list, $1); }
  | targets ',' IDENT           { $$ = $1; ast_push(&$$->list, $3); }
;

exprs:
    expr                        { $$ = node(ps, AST_PARAM, @1); ast_push(&$$->list, $1); }
  | exprs ',' expr              { $$ = $1; ast_push(&$$->list, $3); }
;

expr:
    expr '+' expr               { $$ = binary(ps, '+', $1, $3, @2); }
  | expr '-' expr               { $$ = binary(ps, '-', $1, $3, @2); }
  | expr '*' expr               { $$ = binary(ps, '*', $1, $3, @2); }
  | expr '/' expr               { $$ = binary(ps, '/', $1, $3, @2); }
  | expr '@' expr               { $$ = binary(ps, '@', $1, $3, @2); }
  | '-' expr %prec NEG          { $$ = nest(node(ps, AST_NEG, @1), $2); $$->lhs = $2; }
  | primary
;

primary:
    NUMBER
  | STRING
  | "true"
  | "false"
  | IDENT
  | IDENT '.' IDENT             { $$ = nest(node(ps, AST_MEMBER, @3), $1); $$->lhs = $1;
                                  $$->name = $3->name; }
  | IDENT '(' ')'               { $$ = node(ps, AST_CALL, @1); $$->name = $1->name; }
  | IDENT '(' args ')'          { $$ = $3; $$->loc = LOC(ps, @1); $$->name = $1->name; }
  | '(' expr ')'                { $$ = $2; }
;

/* args: positional first or mixed with keywords, as in  f(x, heads = 12) */
args:
    arg                         { $$ = nest(node(ps, AST_CALL, @1), $1); ast_push(&$$->list, $1); }
  | args ',' arg                { $$ = nest($1, $3); ast_push(&$$->list, $3); }
;

arg:
    expr                        { $$ = nest(node(ps, AST_ARG, @1), $1); $$->lhs = $1; }
  | IDENT '=' expr              { $$ = nest(node(ps, AST_ARG, @1), $3); $$->name = $1->name;
                                  $$->lhs = $3; }
;

%%

static Ast *node(ParseState *ps, AstKind kind, YYLTYPE loc)
{
    return ast_new(kind, LOC(ps, loc));
}

/* parent holds child: one level deeper.  Lowering recurses once per
 * level, so the depth is bounded here, where the file is still text, to
 * keep the compiler's stack bounded too. */
static Ast *nest(Ast *parent, const Ast *child)
{
    if (child->depth >= parent->depth)
        parent->depth = child->depth + 1;
    if (parent->depth > tfc_limits.expr_depth)
        error_at(parent->loc, "this expression nests operators and calls more than %d deep; "
                 "split it into several statements", tfc_limits.expr_depth);
    return parent;
}

static Ast *binary(ParseState *ps, int op, Ast *l, Ast *r, YYLTYPE loc)
{
    Ast *a = nest(nest(node(ps, AST_BINARY, loc), l), r);
    a->op = op;
    a->lhs = l;
    a->rhs = r;
    return a;
}

static void add_stmt(ParseState *ps, AstList *body, Ast *stmt)
{
    (void)ps;
    ast_push(body, stmt);
}

/* A token as messages name it: punctuation and keywords quoted as they are
 * written ("=", "output"), classes of tokens plain (number, name, end of
 * line, end of file), so that the two cannot be confused. */
static const char *token_text(yysymbol_kind_t t)
{
    switch (t) {
    case YYSYMBOL_YYEOF:
        return "end of file";
    case YYSYMBOL_YYUNDEF:
    case YYSYMBOL_NEWLINE:
    case YYSYMBOL_IDENT:
    case YYSYMBOL_NUMBER:
    case YYSYMBOL_STRING:
        return yysymbol_name(t);
    default:
        return tfc_format("\"%s\"", yysymbol_name(t));
    }
}

static int has_token(const yysymbol_kind_t *set, int n, yysymbol_kind_t t)
{
    for (int i = 0; i < n; i++)
        if (set[i] == t)
            return 1;
    return 0;
}

/* By name: bison numbers character tokens by their order in the grammar. */
static int is_operator(yysymbol_kind_t t)
{
    const char *s = yysymbol_name(t);
    return s[0] != '\0' && s[1] == '\0' && strchr("+-*/@", s[0]) != NULL;
}

/* What the parser could have taken instead, in words.  The sets that
 * start a statement (11 tokens) or an expression (7) would bury the point
 * when listed, so they are named; so are the operators that may follow an
 * expression.  The top-level statement list ends the program by its
 * default reduction, so a token that cannot start a statement there is
 * met with "end of file" alone expected: that, too, is a statement start. */
static const char *expected_text(const yysymbol_kind_t *set, int n)
{
    if (has_token(set, n, YYSYMBOL_KW_OUTPUT) || (n == 1 && set[0] == YYSYMBOL_YYEOF))
        return "a statement";
    if (has_token(set, n, YYSYMBOL_NUMBER))
        return "an expression";
    const char *items[YYNTOKENS];
    int count = 0, ops = 0;
    for (int i = 0; i < n; i++) {
        if (is_operator(set[i]))
            ops++;
        else
            items[count++] = token_text(set[i]);
    }
    if (ops)
        items[count++] = "an operator";
    const char *text = "";
    for (int i = 0; i < count; i++)
        text = tfc_format("%s%s%s", text, i == 0 ? "" : i == count - 1 ? " or " : ", ", items[i]);
    return text;
}

/* Messages say what was expected and what came instead:
 *   expected "=", found number
 *   expected an expression, found ")" */
static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner, ParseState *ps)
{
    (void)scanner;
    yysymbol_kind_t expected[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
    const char *found = token_text(yypcontext_token(ctx));
    Loc loc = LOC(ps, *yypcontext_location(ctx));
    if (n <= 0)
        error_at(loc, "%s is not allowed here", found);
    error_at(loc, "expected %s, found %s", expected_text(expected, n), found);
}

/* Bison's own messages: in practice only its stack running out, on a
 * long chain of unary minus signs (nothing else nests without brackets,
 * and brackets are bounded by the scanner). */
static void yyerror(YYLTYPE *loc, void *scanner, ParseState *ps, const char *msg)
{
    (void)scanner;
    if (strcmp(msg, "memory exhausted") == 0)
        error_at(LOC(ps, *loc), "this expression nests too deeply for the parser; "
                 "split it into several statements");
    error_at(LOC(ps, *loc), "%s", msg);
}
