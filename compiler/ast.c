/* ast.c - builders for the syntax tree (called by parser.y's actions). */
#include "tfc.h"

#include <string.h>

Ast *ast_new(AstKind kind, Loc loc)
{
    Ast *a = tfc_alloc(sizeof *a);
    a->kind = kind;
    a->loc = loc;
    a->depth = 1;
    return a;
}

void ast_push(AstList *list, Ast *node)
{
    if (list->count == list->cap) {
        int cap = list->cap ? 2 * list->cap : 4;
        Ast **items = tfc_alloc((size_t)cap * sizeof *items);
        if (list->count)
            memcpy(items, list->items, (size_t)list->count * sizeof *items);
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = node;
}
