/*
 * cli_parse.h - strict parsers for command-line values (cli_parse.c):
 * each returns NULL and stores the value, or returns a message saying
 * what is wrong with s (the caller names the option).
 */
#ifndef TFC_CLI_PARSE_H
#define TFC_CLI_PARSE_H

#include "tfc.h"

/* [-]DIGITS in [lo, hi]. */
const char *cli_integer(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* [-]DIGITS[.DIGITS][(e|E)[+|-]DIGITS] in [lo, hi]; *is_integer (may be
 * NULL) when written without '.' or exponent. */
const char *cli_number(const char *s, double lo, double hi, double *out, int *is_integer);
/* One or more integers in [lo, hi] (within int32), comma separated; the
 * items go to an array in the compiler's arena. */
const char *cli_list(const char *s, int64_t lo, int64_t hi, int32_t **items, int *count);

#endif
