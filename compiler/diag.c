/*
 * diag.c - the one path for user errors: `file:line:col: error: message`,
 * the source line, and a caret under the column.  Also the compiler's
 * allocator (one arena, freed at exit) and string helpers.
 */
#include "tfc.h"

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory ---------------------------------------------------------- */

/* Blocks are chained from a static head so that they stay reachable. */
typedef struct Block {
    struct Block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} Block;

static Block *blocks;

void *tfc_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (!blocks || blocks->cap - blocks->used < size) {
        size_t cap = size > (1 << 20) ? size : (1 << 20);
        Block *b = malloc(sizeof *b + cap);
        if (!b) {
            fprintf(stderr, "tfc: error: out of memory\n");
            exit(1);
        }
        b->next = blocks;
        b->used = 0;
        b->cap = cap;
        blocks = b;
    }
    void *p = blocks->data + blocks->used;
    blocks->used += size;
    memset(p, 0, size);
    return p;
}

void tfc_free_all(void)
{
    /* the first block stays, empty: a harness would otherwise map and
     * unmap a megabyte per input */
    while (blocks && blocks->next) {
        Block *next = blocks->next;
        free(blocks);
        blocks = next;
    }
    if (blocks)
        blocks->used = 0;
}

char *tfc_strndup(const char *s, size_t n)
{
    char *d = tfc_alloc(n + 1);
    memcpy(d, s, n);
    return d;
}

char *tfc_strdup(const char *s)
{
    return tfc_strndup(s, strlen(s));
}

char *tfc_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = tfc_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- diagnostics ----------------------------------------------------- */

static const Source *source;
static jmp_buf *handler;
static char last_message[1024];
static int quiet;

void diag_set_source(const Source *src) { source = src; }
void diag_set_quiet(int q) { quiet = q; }
const char *diag_last_message(void) { return last_message; }

/* The text of line `line` of the current source, for the caret display. */
static void show_line(Loc loc)
{
    if (!source || !loc.file || strcmp(loc.file, source->name) != 0)
        return;
    const char *p = source->text, *end = source->text + source->len;
    for (int l = 1; l < loc.line && p < end; p++)
        if (*p == '\n')
            l++;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    int len = (int)((eol ? eol : end) - p);
    fprintf(stderr, "    %.*s\n    %*s^\n", len, p, loc.col - 1, "");
}

static int last_status;

int diag_last_status(void) { return last_status; }

static _Noreturn void leave(int status)
{
    last_status = status;
    if (handler)
        longjmp(*handler, 1);
    exit(status);
}

void error_at(Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(last_message, sizeof last_message, "%s:%d:%d: error: ",
                     loc.file ? loc.file : "<input>", loc.line, loc.col);
    vsnprintf(last_message + n, sizeof last_message - (size_t)n, fmt, ap);
    va_end(ap);
    if (!quiet) {
        fprintf(stderr, "%s\n", last_message);
        show_line(loc);
    }
    leave(EXIT_INPUT);
}

static _Noreturn void fail_plain(int status, const char *fmt, va_list ap)
{
    int n = snprintf(last_message, sizeof last_message, "tfc: error: ");
    vsnprintf(last_message + n, sizeof last_message - (size_t)n, fmt, ap);
    if (!quiet)
        fprintf(stderr, "%s\n", last_message);
    leave(status);
}

void error_plain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_plain(EXIT_INPUT, fmt, ap);
}

void error_status(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_plain(status, fmt, ap);
}

int diag_try(void (*fn)(void *), void *arg)
{
    jmp_buf here, *saved = handler;
    if (setjmp(here)) {
        handler = saved;
        return 1;
    }
    handler = &here;
    fn(arg);
    handler = saved;
    return 0;
}

void tfc_bug_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tfc: internal error at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}
