/*
 * parse.h - what the scanner (lexer.l) and the parser (parser.y) share.
 * Not for the rest of the compiler, which sees only parse_file().
 */
#ifndef TFC_PARSE_H
#define TFC_PARSE_H

#include "tfc.h"

/* Every token value is an AST node: NAME, STRING or NUMBER leaves for
 * identifiers and literals, NULL for punctuation and keywords. */
#define YYSTYPE_IS_DECLARED 1
typedef Ast *YYSTYPE;

/* Brackets open at once; deeper nesting is refused (no real model comes
 * near it, and a fixed stack needs no allocation). */
enum { MAX_OPEN = 256 };

typedef struct {
    const char *file;
    Program *prog;
    /* The brackets open now, innermost last: newlines inside ( and [ are
     * spaces, and at the end of the file the innermost one still open is
     * reported where it was opened. */
    int depth;
    char open[MAX_OPEN];
    Loc open_at[MAX_OPEN];
    int line, col;      /* where the next character is */
    int last_was_sep;   /* the last token ended a statement */
} ParseState;

/* Turns a bison location into ours. */
#define LOC(ps, yl) ((Loc){(ps)->file, (yl).first_line, (yl).first_column})

#endif
