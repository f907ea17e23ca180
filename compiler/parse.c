/*
 * parse.c - reads a model file and runs the scanner and parser over it.
 * Rejects what is not a model file before the grammar sees it: a file that
 * is not text (a NUL byte or invalid UTF-8), or one with no statement.
 */
#include "parse.h"
#include "parser.h"
#include "lexer.h"
#include "model_limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, refused past the file-size limit without reading on:
 * "-" may be a pipe and a path may be a device that never ends. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        error_status(EXIT_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t limit = (size_t)tfc_limits.file_bytes, cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            error_plain("'%s': out of memory", path);
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1 || n > limit)
            break;
        cap *= 2;
        char *grown = realloc(buf, cap);
        if (!grown)
            free(buf);
        buf = grown;
    }
    int bad = ferror(f), big = n > limit;
    if (bad || big)
        free(buf);
    if (f != stdin)
        fclose(f);
    if (bad)
        error_status(EXIT_IO, "cannot read '%s'", path);
    if (big)
        error_plain("'%s' is larger than %zu bytes, the largest model file tfc reads", path, limit);
    buf[n] = '\0';
    char *text = tfc_strndup(buf, n);
    free(buf);
    *len = n;
    return text;
}

/* Length of the UTF-8 sequence at s, or 0 when it is malformed. */
static int utf8_length(const unsigned char *s, size_t left)
{
    int n = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3
          : (s[0] >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)n > left)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

static void check_text(const Source *src)
{
    int line = 1, col = 1;
    for (size_t i = 0; i < src->len;) {
        const unsigned char *p = (const unsigned char *)src->text + i;
        int n = utf8_length(p, src->len - i);
        if (*p == '\0' || n == 0)
            error_at((Loc){src->name, line, col},
                     "this is not a text file (%s at byte %zu); expected a model description",
                     *p ? "invalid UTF-8" : "a NUL byte", i);
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        i += (size_t)n;
    }
}

static Program *parse_source(Source *src)
{
    diag_set_source(src);
    check_text(src);
    Program *prog = tfc_alloc(sizeof *prog);
    prog->src = src;
    ParseState ps = {.file = src->name, .prog = prog, .line = 1, .col = 1,
                     .last_was_sep = 1};
    /* Static so that the scanner stays reachable if an error leaves the
     * parse early; the next parse frees what such a parse left. */
    static yyscan_t scanner;
    if (scanner)
        yylex_destroy(scanner);
    scanner = NULL;
    if (yylex_init_extra(&ps, &scanner))
        error_plain("cannot start the scanner");
    YY_BUFFER_STATE buf = yy_scan_bytes(src->text, (int)src->len, scanner);
    int rc = yyparse(scanner, &ps);
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    scanner = NULL;
    if (rc != 0)
        error_at((Loc){src->name, ps.line, ps.col}, "cannot parse this file");
    if (prog->stmts.count == 0)
        error_at((Loc){src->name, 1, 1},
                 "empty model file: expected statements such as 'config', 'input' and 'output'");
    return prog;
}

Program *parse_file(const char *path)
{
    Source *src = tfc_alloc(sizeof *src);
    src->name = tfc_strdup(path);
    src->text = read_all(path, &src->len);
    return parse_source(src);
}

Program *parse_buffer(const char *name, const char *text, size_t len)
{
    if (len > (size_t)tfc_limits.file_bytes)
        error_plain("'%s' is larger than %lld bytes, the largest model file tfc reads", name,
                    (long long)tfc_limits.file_bytes);
    Source *src = tfc_alloc(sizeof *src);
    src->name = tfc_strdup(name);
    src->text = tfc_strndup(text, len);
    src->len = len;
    return parse_source(src);
}

Program *parse_string(const char *name, const char *text)
{
    return parse_buffer(name, text, strlen(text));
}
