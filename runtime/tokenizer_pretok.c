/*
 * tokenizer_pretok.c - pre-tokenizers: GPT-2's pattern by hand, BERT's
 * whitespace-and-punctuation split, whitespace split and Metaspace.
 *
 * Before BPE, GPT-2 cuts text into pieces with the regular expression
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * taking successive leftmost matches.  Merges never cross a piece boundary.
 * Rather than carry a regex engine we decide, at each start position, which
 * alternative matches and how far it reaches.  The only backtracking in the
 * pattern is \s+(?!\S): a whitespace run followed by a non-space gives up
 * its last character, so that " word" keeps its leading space.
 *
 * \s follows JavaScript (the reference implementation we test against is
 * JavaScript): ASCII \t \n \v \f \r and space, plus U+00A0, U+1680,
 * U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and U+FEFF.
 * Python's `regex` module, used by the original GPT-2 code, differs only in
 * counting U+0085 and U+001C..U+001F as space and U+FEFF as not.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

static int is_js_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= '\t' && cp <= '\r');
    return cp == 0x00A0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000 || cp == 0xFEFF;
}

CharClass tfrt_char_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return CC_LETTER;
        if (cp >= '0' && cp <= '9')
            return CC_NUMBER;
        return is_js_space(cp) ? CC_SPACE : CC_OTHER;
    }
    if (cp == UTF8_INVALID)
        return CC_OTHER;
    if (is_js_space(cp))
        return CC_SPACE;
    if (tfrt_uni_in(cp, tfrt_uni_letters, tfrt_uni_letters_count))
        return CC_LETTER;
    if (tfrt_uni_in(cp, tfrt_uni_numbers, tfrt_uni_numbers_count))
        return CC_NUMBER;
    return CC_OTHER;
}

static CharClass class_at(const uint8_t *s, size_t len, size_t i, int *n)
{
    uint32_t cp;
    *n = tfrt_utf8_decode(s, len, i, &cp);
    return tfrt_char_class(cp);
}

/* End of the run of characters of class cc that starts at i. */
static size_t run_end(const uint8_t *s, size_t len, size_t i, CharClass cc)
{
    int n;
    while (i < len && class_at(s, len, i, &n) == cc)
        i += (size_t)n;
    return i;
}

/* 's 't 're 've 'm 'll 'd at s[i] == '\'': the end of the match, or i.
 * Lower case only, as in the pattern. */
static size_t contraction_end(const uint8_t *s, size_t len, size_t i)
{
    size_t left = len - i - 1;
    const uint8_t *p = s + i + 1;

    if (left >= 1 && (p[0] == 's' || p[0] == 't' || p[0] == 'm' || p[0] == 'd'))
        return i + 2;
    if (left >= 2 && ((p[0] == 'r' && p[1] == 'e') || (p[0] == 'v' && p[1] == 'e') ||
                      (p[0] == 'l' && p[1] == 'l')))
        return i + 3;
    return i;
}

/* \s+(?!\S)|\s+ at i: the whole whitespace run when it ends the text or is
 * one character long, else the run less its last character. */
static size_t space_end(const uint8_t *s, size_t len, size_t i)
{
    size_t start = i, last = i;
    int n;

    while (i < len && class_at(s, len, i, &n) == CC_SPACE) {
        last = i;
        i += (size_t)n;
    }
    if (i == len || last == start)
        return i;
    return last;
}

size_t tfrt_gpt2_piece_end(const uint8_t *s, size_t len, size_t i)
{
    int n, m;
    CharClass cc;

    if (s[i] == '\'') {
        size_t j = contraction_end(s, len, i);
        if (j > i)
            return j;
    }
    cc = class_at(s, len, i, &n);
    /* " ?\p{L}+" and friends: one leading space joins the run after it */
    if (s[i] == ' ' && i + 1 < len) {
        CharClass next = class_at(s, len, i + 1, &m);
        if (next != CC_SPACE)
            return run_end(s, len, i + 1, next);
    }
    if (cc != CC_SPACE)
        return run_end(s, len, i, cc);
    return space_end(s, len, i);
}

/* ---- the pre-tokenizer pipeline ------------------------------------------------ */

/* Pieces as ranges of one buffer.  Each step reads one list and writes the
 * next, since Metaspace rewrites bytes. */
typedef struct {
    Bytes buf;
    size_t *off, *len;
    size_t n, cap;
} Pieces;

static void pieces_free(Pieces *p)
{
    free(p->buf.b);
    free(p->off);
    free(p->len);
    memset(p, 0, sizeof *p);
}

/* Appends s[0..n) as a new piece, or to the last one when `join`. */
static int piece_add(Pieces *p, const uint8_t *s, size_t n, int join)
{
    if (join && p->n > 0) {
        p->len[p->n - 1] += n;
        return bytes_put(&p->buf, s, n);
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        size_t *o = realloc(p->off, cap * sizeof *o), *l;
        if (!o)
            return TFRT_ERR_NOMEM;
        p->off = o;
        if (!(l = realloc(p->len, cap * sizeof *l)))
            return TFRT_ERR_NOMEM;
        p->len = l;
        p->cap = cap;
    }
    p->off[p->n] = p->buf.n;
    p->len[p->n++] = n;
    return bytes_put(&p->buf, s, n);
}

static const uint8_t METASPACE[3] = {0xE2, 0x96, 0x81};   /* U+2581 ▁ */

/* GPT-2's pattern over one piece, with ByteLevel's add_prefix_space. */
static int step_bytelevel(const PreStep *st, const uint8_t *s, size_t n, Pieces *out)
{
    Bytes tmp = {0};
    int rc = TFRT_OK;

    if (st->prepend && n > 0 && s[0] != ' ') {
        if ((rc = bytes_put(&tmp, " ", 1)) || (rc = bytes_put(&tmp, s, n))) {
            free(tmp.b);
            return rc;
        }
        s = tmp.b;
        n = tmp.n;
    }
    if (!st->use_regex)
        rc = n ? piece_add(out, s, n, 0) : TFRT_OK;
    for (size_t i = 0, j; st->use_regex && i < n && rc == TFRT_OK; i = j) {
        j = tfrt_gpt2_piece_end(s, n, i);
        rc = piece_add(out, s + i, j - i, 0);
    }
    free(tmp.b);
    return rc;
}

/* Splits on whitespace (dropped); with `punct`, punctuation characters
 * become pieces of their own (BERT).  Whitespace is JavaScript's \s, as
 * for GPT-2's pattern: the JavaScript tokenizers we test against use it,
 * and so does SentencePiece in effect (U+0085 is no space to it); Hugging
 * Face's Rust library counts U+0085 and not U+FEFF. */
static int step_split(const uint8_t *s, size_t n, int punct, Pieces *out)
{
    int in_word = 0, rc;

    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = tfrt_utf8_decode(s, n, i, &cp);
        if (tfrt_char_class(cp) == CC_SPACE) {
            in_word = 0;
        } else if (punct && tfrt_uni_is_bert_punct(cp)) {
            if ((rc = piece_add(out, s + i, (size_t)k, 0)))
                return rc;
            in_word = 0;
        } else {
            if ((rc = piece_add(out, s + i, (size_t)k, in_word)))
                return rc;
            in_word = 1;
        }
        i += (size_t)k;
    }
    return TFRT_OK;
}

/* Metaspace: ' ' -> ▁, ▁ in front when the scheme says so, and with
 * `split` a new piece at every ▁. */
static int step_metaspace(const PreStep *st, const uint8_t *s, size_t n, int first,
                          Pieces *out)
{
    int starts = n >= 3 && memcmp(s, METASPACE, 3) == 0;
    int prepend, rc, any;

    if (n == 0)
        return TFRT_OK;
    prepend = !starts && s[0] != ' ' &&
              (st->prepend == PREPEND_ALWAYS || (st->prepend == PREPEND_FIRST && first));
    if (prepend && (rc = piece_add(out, METASPACE, 3, 0)))
        return rc;
    any = prepend;
    for (size_t i = 0; i < n;) {
        int is_space = s[i] == ' ', is_meta = n - i >= 3 && memcmp(s + i, METASPACE, 3) == 0;
        size_t k = is_space ? 1 : is_meta ? 3 : 1;
        int join = any && !((is_space || is_meta) && st->split);
        if ((rc = piece_add(out, is_space ? METASPACE : s + i, is_space ? 3 : k, join)))
            return rc;
        any = 1;
        i += k;
    }
    return TFRT_OK;
}

static int apply_step(const PreStep *st, const uint8_t *s, size_t n, int first, Pieces *out)
{
    switch (st->kind) {
    case PRE_BYTELEVEL:        return step_bytelevel(st, s, n, out);
    case PRE_BERT:             return step_split(s, n, 1, out);
    case PRE_WHITESPACE_SPLIT: return step_split(s, n, 0, out);
    case PRE_METASPACE:        return step_metaspace(st, s, n, first, out);
    }
    return TFRT_ERR_ARG;
}

int tok_pretokenize(const TfrtTokenizer *t, const uint8_t *s, size_t n, int first,
                    PieceFn fn, void *arg)
{
    Pieces a, b;
    int rc = TFRT_OK;

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);

    if (t->n_pre == 0)
        return n ? fn(arg, s, n, 0) : TFRT_OK;
    rc = piece_add(&a, s, n, 0);
    for (int k = 0; k < t->n_pre && rc == TFRT_OK; k++) {
        Pieces tmp;
        b.buf.n = 0;
        b.n = 0;
        for (size_t i = 0; i < a.n && rc == TFRT_OK; i++)
            if (a.len[i] > 0)
                rc = apply_step(&t->pre[k], a.buf.b + a.off[i], a.len[i], first && i == 0, &b);
        tmp = a, a = b, b = tmp;
    }
    for (size_t i = 0; i < a.n && rc == TFRT_OK; i++)
        if (a.len[i] > 0)
            rc = fn(arg, a.buf.b + a.off[i], a.len[i], 0);
    pieces_free(&a);
    pieces_free(&b);
    return rc;
}
