/*
 * cli_parse.c - the one strict reading of numbers and lists that every
 * command-line option and -D value goes through.
 *
 * Integers are decimal digits with an optional leading '-': no blanks, no
 * '+', no base prefix (0x40), no trailing text.  Numbers are written as in
 * a model file, [-]DIGITS[.DIGITS][(e|E)[+|-]DIGITS], finite: no "inf",
 * "nan" or hexadecimal floats.  A list is one or more integers separated
 * by single commas: "" "1," ",1" and "1,,2" are not lists.  strtol and
 * strtod accept all of those; here each is refused with a message that
 * says what is wrong, and where.
 */
#include "cli_parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int digit(char c) { return c >= '0' && c <= '9'; }

/* Length of the longest integer token at s: [-]DIGITS, 0 if none. */
static size_t integer_span(const char *s)
{
    size_t i = s[0] == '-';
    size_t start = i;
    while (digit(s[i]))
        i++;
    return i > start ? i : 0;
}

/* Length of the longest number token at s, 0 if none; *is_integer when it
 * has neither '.' nor an exponent. */
static size_t number_span(const char *s, int *is_integer)
{
    size_t i = integer_span(s);
    *is_integer = 1;
    if (!i)
        return 0;
    if (s[i] == '.' && digit(s[i + 1])) {
        *is_integer = 0;
        for (i++; digit(s[i]); i++)
            ;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1 + (s[i + 1] == '+' || s[i + 1] == '-');
        if (digit(s[j])) {
            *is_integer = 0;
            for (i = j; digit(s[i]); i++)
                ;
        }
    }
    return i;
}

/* The value of the integer token s[0..len), or a message. */
static const char *integer_value(const char *s, size_t len, int64_t lo, int64_t hi, int64_t *out)
{
    char buf[32];
    if (len >= sizeof buf)
        return tfc_format("'%.*s' is out of range [%lld, %lld]", (int)len, s, (long long)lo,
                          (long long)hi);
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno || v < lo || v > hi)
        return tfc_format("'%s' is out of range [%lld, %lld]", buf, (long long)lo, (long long)hi);
    *out = v;
    return NULL;
}

const char *cli_integer(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    size_t len = integer_span(s);
    if (!len || s[len])
        return tfc_format("'%s' is not a decimal integer", s);
    return integer_value(s, len, lo, hi, out);
}

const char *cli_number(const char *s, double lo, double hi, double *out, int *is_integer)
{
    int whole;
    size_t len = number_span(s, &whole);
    if (!len || s[len])
        return tfc_format("'%s' is not a decimal number (as 64, 0.5 or 1e-5)", s);
    errno = 0;
    double v = strtod(s, NULL);
    if (errno == ERANGE && fabs(v) > 1.0)
        return tfc_format("'%s' is too large", s);
    if (!(v >= lo && v <= hi))
        return tfc_format("'%s' is out of range [%g, %g]", s, lo, hi);
    *out = v;
    if (is_integer)
        *is_integer = whole;
    return NULL;
}

const char *cli_list(const char *s, int64_t lo, int64_t hi, int32_t **items, int *count)
{
    int n = 0, cap = 16;
    int32_t *v = tfc_alloc((size_t)cap * sizeof *v);
    if (!*s)
        return "the list is empty";
    for (const char *p = s;; p++) {
        size_t len = integer_span(p);
        if (!len)
            return tfc_format("item %d is %s", n + 1, *p == ',' || !*p ? "empty" : "not a decimal integer");
        int64_t x;
        const char *bad = integer_value(p, len, lo, hi, &x);
        if (bad)
            return tfc_format("item %d: %s", n + 1, bad);
        if (n == cap) {
            int32_t *grown = tfc_alloc((size_t)cap * 2 * sizeof *grown);
            memcpy(grown, v, (size_t)n * sizeof *v);
            v = grown;
            cap *= 2;
        }
        v[n++] = (int32_t)x;
        p += len;
        if (!*p)
            break;
        if (*p != ',')
            return tfc_format("item %d is not a decimal integer", n);
    }
    *items = v;
    *count = n;
    return NULL;
}
