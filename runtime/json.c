/*
 * json.c - a strict RFC 8259 JSON reader (see json.h).
 *
 * A recursive-descent parser over one buffer.  Strictness where it matters
 * for untrusted input:
 *   - the text must be exactly one value, with only whitespace around it;
 *   - strings must be valid UTF-8 (no overlong forms, no encoded
 *     surrogates, nothing above U+10FFFF) and contain no raw control
 *     characters;
 *   - \uXXXX escapes are decoded to UTF-8, surrogate pairs combined.  A
 *     lone surrogate (a high one not followed by a low one, or a low one on
 *     its own) becomes U+FFFD: some writers emit them, and one replaced
 *     character is kinder than refusing a whole vocabulary file;
 *   - numbers follow the JSON grammar exactly (no leading zeros, no '+',
 *     no bare '.', no NaN/Infinity); integer literals that fit int64 are
 *     kept exactly;
 *   - nesting deeper than JSON_MAX_DEPTH arrays/objects is an error, so the
 *     recursion cannot exhaust the stack.
 * Duplicate object keys are kept in order; json_get returns the first.
 * Callers that care (the safetensors reader) check for duplicates.
 */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 256

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
    int depth;
    char *err;
    size_t errlen;
    int failed;
} Parser;

static int parse_value(Parser *p, JsonValue *v);
static void free_value(JsonValue *v);

/* Records the first error only: later ones are consequences of it. */
static int fail(Parser *p, size_t at, const char *what)
{
    if (!p->failed && p->err && p->errlen > 0)
        snprintf(p->err, p->errlen, "offset %zu: %s", at, what);
    p->failed = 1;
    return -1;
}

static void skip_ws(Parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* The next byte, or -1 at the end of the input. */
static int peek(const Parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int expect_word(Parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, p->pos, "invalid literal");
    p->pos += n;
    return 0;
}

/* ---- strings ------------------------------------------------------------ */

/* A growing byte buffer for decoded strings. */
typedef struct {
    char *buf;
    size_t len, cap;
} Buf;

static int buf_put(Buf *b, const char *bytes, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 16;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb)
            return -1;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, bytes, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

static int put_utf8(Buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp; n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F)); n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    return buf_put(b, u, n);
}

/* Four hex digits at p->pos; -1 if they are not there. */
static long read_hex4(Parser *p)
{
    long v = 0;
    if (p->len - p->pos < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p->s[p->pos + i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    p->pos += 4;
    return v;
}

/* After "\u": one code point, combining a surrogate pair when present. */
static long read_unicode_escape(Parser *p)
{
    size_t at = p->pos;
    long hi = read_hex4(p);
    if (hi < 0)
        return fail(p, at, "expected four hex digits after \\u");
    if (hi < 0xD800 || hi > 0xDFFF)
        return hi;
    if (hi >= 0xDC00)
        return 0xFFFD;                  /* lone low surrogate */
    if (p->len - p->pos >= 6 && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
        size_t save = p->pos;
        p->pos += 2;
        long lo = read_hex4(p);
        if (lo >= 0xDC00 && lo <= 0xDFFF)
            return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        p->pos = save;                  /* not a pair: decode it on its own */
    }
    return 0xFFFD;                      /* lone high surrogate */
}

/* Length of the valid UTF-8 sequence starting at s[0] (at most n bytes),
 * or 0 if it is invalid (RFC 3629: shortest form, no surrogates). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp, min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int escape_char(int c)
{
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return -1;
    }
}

/* One escape sequence, p->pos just after the backslash. */
static int parse_escape(Parser *p, Buf *b)
{
    int c = peek(p);
    if (c == 'u') {
        p->pos++;
        long cp = read_unicode_escape(p);
        if (cp < 0)
            return -1;
        return put_utf8(b, (unsigned)cp) ? fail(p, p->pos, "out of memory") : 0;
    }
    int e = c < 0 ? -1 : escape_char(c);
    if (e < 0)
        return fail(p, p->pos, "invalid escape sequence");
    p->pos++;
    char ch = (char)e;
    return buf_put(b, &ch, 1) ? fail(p, p->pos, "out of memory") : 0;
}

/* string = '"' chars '"'; p->pos at the opening quote.  On success the
 * decoded bytes are malloc'd into *out (NUL-terminated) with *out_len. */
static int parse_string(Parser *p, char **out, size_t *out_len)
{
    Buf b = {0};
    p->pos++;
    if (buf_put(&b, "", 0))
        return fail(p, p->pos, "out of memory");
    for (;;) {
        if (p->pos >= p->len) {
            free(b.buf);
            return fail(p, p->pos, "unterminated string");
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        int r = 0;
        if (c == '"') {
            p->pos++;
            break;
        } else if (c == '\\') {
            p->pos++;
            r = parse_escape(p, &b);
        } else if (c < 0x20) {
            r = fail(p, p->pos, "control character in string");
        } else {
            size_t n = utf8_seq((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (n == 0)
                r = fail(p, p->pos, "invalid UTF-8 in string");
            else if (buf_put(&b, p->s + p->pos, n))
                r = fail(p, p->pos, "out of memory");
            else
                p->pos += n;
        }
        if (r) {
            free(b.buf);
            return -1;
        }
    }
    *out = b.buf;
    *out_len = b.len;
    return 0;
}

/* ---- numbers ------------------------------------------------------------ */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Exact int64 value of an optionally signed run of digits, or -1 when it
 * does not fit. */
static int to_int64(const char *s, size_t n, int64_t *out)
{
    int neg = s[0] == '-';
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = neg; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

/* number = '-'? int frac? exp?   int = '0' | [1-9][0-9]* */
static int parse_number(Parser *p, JsonValue *v)
{
    size_t start = p->pos;
    int is_int = 1;
    if (peek(p) == '-')
        p->pos++;
    if (peek(p) == '0') {
        p->pos++;
    } else if (is_digit(peek(p))) {
        while (is_digit(peek(p)))
            p->pos++;
    } else {
        return fail(p, p->pos, "expected a digit");
    }
    size_t int_end = p->pos;
    if (peek(p) == '.') {
        is_int = 0;
        p->pos++;
        if (!is_digit(peek(p)))
            return fail(p, p->pos, "expected a digit after '.'");
        while (is_digit(peek(p)))
            p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        is_int = 0;
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (!is_digit(peek(p)))
            return fail(p, p->pos, "expected a digit in exponent");
        while (is_digit(peek(p)))
            p->pos++;
    }
    /* strtod needs a terminated copy: the buffer need not end here. */
    size_t n = p->pos - start;
    char *tmp = malloc(n + 1);
    if (!tmp)
        return fail(p, start, "out of memory");
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    errno = 0;
    v->type = JSON_NUMBER;
    v->u.number.value = strtod(tmp, NULL);   /* overflow gives +-HUGE_VAL */
    v->u.number.is_integer = is_int && to_int64(tmp, int_end - start,
                                                &v->u.number.integer) == 0;
    if (!v->u.number.is_integer)
        v->u.number.integer = 0;
    free(tmp);
    return 0;
}

/* ---- arrays and objects ------------------------------------------------- */

/* Grows *items (each `size` bytes) so that one more fits. */
static int grow(void **items, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / size)
        return -1;
    void *n = realloc(*items, ncap * size);
    if (!n)
        return -1;
    *items = n;
    *cap = ncap;
    return 0;
}

static int enter(Parser *p)
{
    if (++p->depth > JSON_MAX_DEPTH)
        return fail(p, p->pos, "nesting deeper than 256 levels");
    p->pos++;                           /* the '[' or '{' */
    skip_ws(p);
    return 0;
}

/* After an item: ',' continues (1), the closing bracket ends (0). */
static int after_item(Parser *p, char close)
{
    skip_ws(p);
    int c = peek(p);
    if (c == ',') {
        p->pos++;
        skip_ws(p);
        return 1;
    }
    if (c == close) {
        p->pos++;
        return 0;
    }
    return fail(p, p->pos, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

/* array = '[' (value (',' value)*)? ']' */
static int parse_array(Parser *p, JsonValue *v)
{
    size_t cap = 0;
    v->type = JSON_ARRAY;
    v->u.array.items = NULL;
    v->u.array.count = 0;
    if (enter(p))
        return -1;
    if (peek(p) == ']') {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        if (grow((void **)&v->u.array.items, v->u.array.count, &cap, sizeof(JsonValue)))
            return fail(p, p->pos, "out of memory");
        /* Counted before parsing so that a half-built item is freed. */
        if (parse_value(p, &v->u.array.items[v->u.array.count++]))
            return -1;
        int r = after_item(p, ']');
        if (r < 0)
            return -1;
        if (r == 0)
            break;
    }
    p->depth--;
    return 0;
}

/* member = string ':' value */
static int parse_member(Parser *p, JsonMember *m)
{
    m->key = NULL;
    m->value.type = JSON_NULL;
    if (peek(p) != '"')
        return fail(p, p->pos, "expected a string key");
    if (parse_string(p, &m->key, &m->key_len))
        return -1;
    skip_ws(p);
    if (peek(p) != ':')
        return fail(p, p->pos, "expected ':'");
    p->pos++;
    skip_ws(p);
    return parse_value(p, &m->value);
}

/* object = '{' (member (',' member)*)? '}' */
static int parse_object(Parser *p, JsonValue *v)
{
    size_t cap = 0;
    v->type = JSON_OBJECT;
    v->u.object.members = NULL;
    v->u.object.count = 0;
    if (enter(p))
        return -1;
    if (peek(p) == '}') {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        if (grow((void **)&v->u.object.members, v->u.object.count, &cap, sizeof(JsonMember)))
            return fail(p, p->pos, "out of memory");
        /* Counted before parsing so that a half-built member is freed. */
        JsonMember *m = &v->u.object.members[v->u.object.count++];
        if (parse_member(p, m))
            return -1;
        int r = after_item(p, '}');
        if (r < 0)
            return -1;
        if (r == 0)
            break;
    }
    p->depth--;
    return 0;
}

/* value = object | array | string | number | true | false | null.
 * On failure *v is still safe to pass to free_value. */
static int parse_value(Parser *p, JsonValue *v)
{
    int c = peek(p);
    v->type = JSON_NULL;
    v->offset = p->pos;
    switch (c) {
    case '{': return parse_object(p, v);
    case '[': return parse_array(p, v);
    case '"':
        v->type = JSON_STRING;
        v->u.string.chars = NULL;
        return parse_string(p, &v->u.string.chars, &v->u.string.len);
    case 't':
        v->type = JSON_BOOL;
        v->u.boolean = 1;
        return expect_word(p, "true");
    case 'f':
        v->type = JSON_BOOL;
        v->u.boolean = 0;
        return expect_word(p, "false");
    case 'n':
        return expect_word(p, "null");
    case -1:
        return fail(p, p->pos, "unexpected end of input, expected a value");
    default:
        if (c == '-' || is_digit(c))
            return parse_number(p, v);
        return fail(p, p->pos, "expected a value");
    }
}

/* ---- public ------------------------------------------------------------- */

static void free_value(JsonValue *v)
{
    switch (v->type) {
    case JSON_STRING:
        free(v->u.string.chars);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.count; i++)
            free_value(&v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.count; i++) {
            free(v->u.object.members[i].key);
            free_value(&v->u.object.members[i].value);
        }
        free(v->u.object.members);
        break;
    default:
        break;
    }
}

JsonValue *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    Parser p = { text, len, 0, 0, err, errlen, 0 };
    JsonValue *v = malloc(sizeof *v);
    if (!v) {
        fail(&p, 0, "out of memory");
        return NULL;
    }
    if (err && errlen > 0)
        err[0] = '\0';
    if (!text && len > 0) {
        fail(&p, 0, "no input");
        free(v);
        return NULL;
    }
    skip_ws(&p);
    int r = parse_value(&p, v);
    if (r == 0) {
        skip_ws(&p);
        if (p.pos != len)
            r = fail(&p, p.pos, "unexpected text after the value");
    }
    if (r != 0) {
        free_value(v);
        free(v);
        return NULL;
    }
    return v;
}

void json_free(JsonValue *v)
{
    if (!v)
        return;
    free_value(v);
    free(v);
}

const JsonValue *json_get(const JsonValue *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT || !key)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->u.object.count; i++) {
        const JsonMember *m = &obj->u.object.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return &m->value;
    }
    return NULL;
}
