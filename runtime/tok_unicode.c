/*
 * tok_unicode.c - UTF-8 and the Unicode properties the tokenizers ask
 * about, over the generated tables of unicode_tables.c.
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

int tfrt_utf8_encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

int tfrt_uni_in(uint32_t cp, const uint32_t (*r)[2], size_t n)
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

/* The row of a sorted (code point, ...) table holding cp, or -1. */
static long find_row(uint32_t cp, const uint32_t (*t)[3], size_t n)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < t[mid][0])
            hi = mid;
        else if (cp > t[mid][0])
            lo = mid + 1;
        else
            return (long)mid;
    }
    return -1;
}

int tfrt_uni_is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int tfrt_uni_is_bert_punct(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) ||
               (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
    return tfrt_uni_in(cp, tfrt_uni_punct, tfrt_uni_punct_count);
}

/* The CJK Unified Ideographs blocks BERT's basic tokenizer spaces out. */
int tfrt_uni_is_chinese(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int tfrt_uni_lower_of(uint32_t cp, uint32_t *out)
{
    long r;

    if (cp < 0x80) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    if ((r = find_row(cp, tfrt_uni_lower, tfrt_uni_lower_count)) < 0) {
        out[0] = cp;
        return 1;
    }
    for (uint32_t k = 0; k < tfrt_uni_lower[r][2]; k++)
        out[k] = tfrt_uni_lower_pool[tfrt_uni_lower[r][1] + k];
    return (int)tfrt_uni_lower[r][2];
}

/* Hangul syllables decompose by arithmetic (Unicode 3.12). */
enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7,
       VCOUNT = 21, TCOUNT = 28, SCOUNT = 11172 };

int tfrt_uni_nfd_of(uint32_t cp, uint32_t *out)
{
    long r;

    if (cp >= SBASE && cp < SBASE + SCOUNT) {
        uint32_t s = cp - SBASE, t = s % TCOUNT;
        out[0] = LBASE + s / (VCOUNT * TCOUNT);
        out[1] = VBASE + (s % (VCOUNT * TCOUNT)) / TCOUNT;
        if (t == 0)
            return 2;
        out[2] = TBASE + t;
        return 3;
    }
    if (cp < 0xC0 || (r = find_row(cp, tfrt_uni_nfd, tfrt_uni_nfd_count)) < 0) {
        out[0] = cp;
        return 1;
    }
    for (uint32_t k = 0; k < tfrt_uni_nfd[r][2]; k++)
        out[k] = tfrt_uni_nfd_pool[tfrt_uni_nfd[r][1] + k];
    return (int)tfrt_uni_nfd[r][2];
}

int tfrt_uni_combining_class(uint32_t cp)
{
    size_t lo = 0, hi = tfrt_uni_ccc_count;

    if (cp < 0x300)
        return 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < tfrt_uni_ccc[mid][0])
            hi = mid;
        else if (cp > tfrt_uni_ccc[mid][1])
            lo = mid + 1;
        else
            return (int)tfrt_uni_ccc[mid][2];
    }
    return 0;
}
