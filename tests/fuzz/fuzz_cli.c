/*
 * fuzz_cli.c - libFuzzer target for the command line: tfc's option
 * parser (parse_args in compiler/main.c, included here with its main
 * renamed) and the strict number and list parsers every option uses
 * (compiler/cli_parse.c).
 *
 * The input is an argument vector: arguments separated by NUL bytes, at
 * most 32.  "-h", "--help" and "--version" are dropped (they print and
 * exit, as they should).  Every command line must parse or be refused
 * with a message (exit status 2 through error_status); the output-path
 * check runs too, on paths that do not exist here.  Each argument is also
 * given to the strict parsers, which must accept exactly their grammar:
 * an accepted value has no blank, no sign but a leading '-', no base
 * prefix and lies within its bounds.
 *
 *   make fuzz FUZZ=cli
 */
#define main tfc_cli_main
#include "../../compiler/main.c"
#undef main

#include <ctype.h>
#include <math.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CLI_ARGS 32

typedef struct {
    int argc;
    char *argv[MAX_CLI_ARGS + 1];
} Cmd;

static void parse_job(void *arg)
{
    Cmd *c = arg;
    Options o = {0};
    o.gen = (GenOptions){.n_predict = 128, .temperature = 0.8f, .top_p = 1.0f, .beams = 1};
    parse_args(&o, c->argc, c->argv);
    check_output_paths(&o);              /* stat only: nothing is written */
}

/* Only [-]?[0-9]+ may come back as an integer, and within its bounds. */
static void check_integer(const char *s)
{
    int64_t v;
    if (cli_integer(s, -1000, 1000000, &v))
        return;
    for (const char *p = s + (*s == '-'); *p; p++)
        if (!isdigit((unsigned char)*p))
            abort();
    if (v < -1000 || v > 1000000 || v != strtoll(s, NULL, 10))
        abort();
}

/* An accepted number is finite, within bounds, and made of digits, at
 * most one '.', an exponent letter and signs only. */
static void check_number(const char *s)
{
    double v;
    int is_int;
    if (cli_number(s, -1e6, 1e6, &v, &is_int))
        return;
    if (!isfinite(v) || v < -1e6 || v > 1e6)
        abort();
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr("-+.eE", *p))
            abort();
    if (is_int && strpbrk(s, ".eE"))
        abort();
}

/* An accepted list rebuilds to the same text when written canonically. */
static void check_list(const char *s)
{
    int32_t *ids;
    int n;
    if (cli_list(s, 0, INT32_MAX, &ids, &n))
        return;
    if (n < 1)
        abort();
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (v != ids[i] || end == p || (i + 1 < n ? *end != ',' : *end != '\0'))
            abort();
        p = end + (i + 1 < n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    Cmd c = {1, {"tfc"}};
    for (char *p = buf; p < buf + size && c.argc < MAX_CLI_ARGS; p += strlen(p) + 1) {
        if (strcmp(p, "-h") && strcmp(p, "--help") && strcmp(p, "--version"))
            c.argv[c.argc++] = p;
        check_integer(p);
        check_number(p);
        check_list(p);
    }
    c.argv[c.argc] = NULL;
    diag_set_quiet(1);
    if (diag_try(parse_job, &c) && !*diag_last_message())
        abort();
    tfc_free_all();
    free(buf);
    return 0;
}
