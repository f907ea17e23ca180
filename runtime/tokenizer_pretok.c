/*
 * tokenizer_pretok.c - GPT-2's pre-tokenizer, by hand.
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
#include "tokenizer_internal.h"

int tfrt_utf8_decode(const uint8_t *s, size_t len, size_t i, uint32_t *cp)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint8_t b = s[i];
    int n;
    uint32_t c;

    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if ((b & 0xE0) == 0xC0)      n = 2, c = b & 0x1F;
    else if ((b & 0xF0) == 0xE0) n = 3, c = b & 0x0F;
    else if ((b & 0xF8) == 0xF0) n = 4, c = b & 0x07;
    else goto invalid;
    if (len - i < (size_t)n)
        goto invalid;
    for (int k = 1; k < n; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            goto invalid;
        c = (c << 6) | (s[i + k] & 0x3F);
    }
    /* overlong forms, UTF-16 surrogates and values past Unicode are not
     * characters: their bytes stay single bytes */
    if (c < min_cp[n] || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
        goto invalid;
    *cp = c;
    return n;
invalid:
    *cp = UTF8_INVALID;
    return 1;
}

static int in_ranges(uint32_t cp, const uint32_t (*r)[2], size_t n)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid][0])
            hi = mid;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

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
    if (in_ranges(cp, tfrt_uni_letters, tfrt_uni_letters_count))
        return CC_LETTER;
    if (in_ranges(cp, tfrt_uni_numbers, tfrt_uni_numbers_count))
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
