/*
 * tok_normalize.c - normalizers, the first step of encoding a segment.
 *
 * Each step reads the bytes the step before wrote.  Text is UTF-8; a byte
 * that does not start valid UTF-8 passes through unchanged (SentencePiece's
 * map writes U+FFFD for it, as SentencePiece does).  The steps follow the
 * Hugging Face tokenizers library (Rust), whose tokenizer.json files name
 * them:
 *
 *   BertNormalizer  clean_text: drop NUL, U+FFFD and C* characters other
 *                   than \t \n \r, turn White_Space into ' '; then CJK
 *                   ideographs get a space on each side; then accents are
 *                   stripped (NFD, drop Mn); then lower case.
 *   Lower case is Unicode's full mapping with the final-sigma rule (Σ at
 *   the end of a word is ς), as Python's str.lower (BERT's own tokenizer)
 *   and JavaScript's toLowerCase do; Hugging Face's Rust library maps
 *   character by character and writes σ there.  Our word-end test reads
 *   letters as cased and Mn/Cf as case-ignorable, Unicode's condition
 *   nearly.
 *   Lowercase, StripAccents (drop Mn), NFD, Prepend, Replace (a string, or
 *                   a run of one character: " {2,}"), Strip.
 *   Precompiled     SentencePiece's compiled character map (a darts-clone
 *                   double-array trie of UTF-8 keys and a pool of
 *                   replacement strings): at each position the longest key
 *                   that matches is replaced, as SentencePiece's
 *                   normalizer does; other characters are copied.  This is
 *                   what T5's nmt_nfkc map needs.  Hugging Face's Rust
 *                   version first cuts the text into grapheme clusters and
 *                   looks whole clusters up; the results differ only for a
 *                   cluster that is itself a key but whose longest-prefix
 *                   reading is not, which nmt_nfkc does not contain as far as
 *                   our tests reach.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

int bytes_put(Bytes *o, const void *s, size_t n)
{
    if (n > SIZE_MAX / 2 - o->n)
        return TFRT_ERR_NOMEM;
    if (o->n + n > o->cap) {
        size_t cap = o->cap ? o->cap : 64;
        uint8_t *p;
        while (cap < o->n + n)
            cap *= 2;
        if (!(p = realloc(o->b, cap)))
            return TFRT_ERR_NOMEM;
        o->b = p;
        o->cap = cap;
    }
    if (n)
        memcpy(o->b + o->n, s, n);
    o->n += n;
    return TFRT_OK;
}

int bytes_put_cp(Bytes *o, uint32_t cp)
{
    uint8_t u[4];
    return bytes_put(o, u, (size_t)tfrt_utf8_encode(cp, u));
}

/* ---- per character ---------------------------------------------------------- */

static int is_bert_control(uint32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return 0;
    return tfrt_uni_in(cp, tfrt_uni_other, tfrt_uni_other_count);
}

static int is_nonspacing(uint32_t cp)
{
    return cp >= 0x300 && tfrt_uni_in(cp, tfrt_uni_nonspacing, tfrt_uni_nonspacing_count);
}

static int is_letter(uint32_t cp)
{
    if (cp < 0x80)
        return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return cp != UTF8_INVALID && tfrt_uni_in(cp, tfrt_uni_letters, tfrt_uni_letters_count);
}

static int is_case_ignorable(uint32_t cp)
{
    return is_nonspacing(cp) || cp == 0x200B || cp == 0x200C || cp == 0x200D ||
           cp == 0xAD || cp == 0xFEFF;
}

/* Σ at s[i] ends a word: a letter before it, none after it (skipping
 * case-ignorable characters on both sides). */
static int final_sigma(const uint8_t *s, size_t n, size_t i, size_t k)
{
    uint32_t cp = UTF8_INVALID;
    size_t j = i, before = 0;

    while (j > 0) {
        size_t b = j - 1;
        while (b > 0 && (s[b] & 0xC0) == 0x80 && j - b < 4)
            b--;
        tfrt_utf8_decode(s, j, b, &cp);
        j = b;
        if (!is_case_ignorable(cp))
            break;
    }
    before = j < i && is_letter(cp);
    for (j = i + k; j < n;) {
        j += (size_t)tfrt_utf8_decode(s, n, j, &cp);
        if (!is_case_ignorable(cp))
            return before && !is_letter(cp);
    }
    return before;
}

/* Writes cp lower-cased when `lower`; s[i..i+k) is cp in its text. */
static int put_lower(Bytes *o, uint32_t cp, int lower, const uint8_t *s, size_t n, size_t i,
                     size_t k)
{
    uint32_t l[2];
    int cnt = lower ? tfrt_uni_lower_of(cp, l) : (l[0] = cp, 1), rc = TFRT_OK;

    if (lower && cp == 0x3A3 && final_sigma(s, n, i, k))
        l[0] = 0x3C2;
    for (int j = 0; j < cnt && rc == TFRT_OK; j++)
        rc = bytes_put_cp(o, l[j]);
    return rc;
}
/* Accents stripped (NFD, Mn dropped), then lower case, as BERT orders them. */
static int put_bert_char(Bytes *o, uint32_t cp, int flags, const uint8_t *s, size_t n,
                         size_t i, size_t k)
{
    uint32_t d[4];
    int nd = flags & BERT_ACCENTS ? tfrt_uni_nfd_of(cp, d) : (d[0] = cp, 1), rc = TFRT_OK;

    for (int j = 0; j < nd && rc == TFRT_OK; j++)
        if (!(flags & BERT_ACCENTS) || !is_nonspacing(d[j]))
            rc = put_lower(o, d[j], flags & BERT_LOWER, s, n, i, k);
    return rc;
}

static int norm_bert(const NormStep *st, const uint8_t *s, size_t n, Bytes *o)
{
    int rc = TFRT_OK;

    for (size_t i = 0; i < n && rc == TFRT_OK;) {
        uint32_t cp;
        int k = tfrt_utf8_decode(s, n, i, &cp);
        if (cp == UTF8_INVALID)
            rc = bytes_put(o, s + i, 1);
        else if ((st->flags & BERT_CLEAN) && (cp == 0 || cp == 0xFFFD || is_bert_control(cp)))
            ;
        else if ((st->flags & BERT_CLEAN) && tfrt_uni_is_white_space(cp))
            rc = bytes_put(o, " ", 1);
        else if ((st->flags & BERT_CHINESE) && tfrt_uni_is_chinese(cp)) {
            if (!(rc = bytes_put(o, " ", 1)) && !(rc = bytes_put_cp(o, cp)))
                rc = bytes_put(o, " ", 1);
        } else
            rc = put_bert_char(o, cp, st->flags, s, n, i, (size_t)k);
        i += (size_t)k;
    }
    return rc;
}

/* One code point at a time through fn: lower case, Mn dropped. */
static int norm_chars(const uint8_t *s, size_t n, Bytes *o, int lower, int drop_mn)
{
    int rc = TFRT_OK;

    for (size_t i = 0; i < n && rc == TFRT_OK;) {
        uint32_t cp;
        int k = tfrt_utf8_decode(s, n, i, &cp);
        if (cp == UTF8_INVALID)
            rc = bytes_put(o, s + i, 1);
        else if (!(drop_mn && is_nonspacing(cp)))
            rc = put_lower(o, cp, lower, s, n, i, (size_t)k);
        i += (size_t)k;
    }
    return rc;
}

/* NFD: full canonical decomposition, then the canonical ordering of each
 * run of combining marks (a stable sort by combining class). */
static int norm_nfd(const uint8_t *s, size_t n, Bytes *o)
{
    uint32_t run[64];
    int in_run = 0, rc = TFRT_OK;

    for (size_t i = 0; i <= n && rc == TFRT_OK;) {
        uint32_t cp = 0, d[4];
        int k = i < n ? tfrt_utf8_decode(s, n, i, &cp) : 1, nd = 0;
        if (i < n && cp != UTF8_INVALID)
            nd = tfrt_uni_nfd_of(cp, d);
        for (int j = 0; j <= nd && rc == TFRT_OK; j++) {
            int ccc = j < nd ? tfrt_uni_combining_class(d[j]) : 0;
            if (j < nd && ccc != 0 && in_run < (int)(sizeof run / sizeof *run)) {
                int at = in_run++;
                while (at > 0 && tfrt_uni_combining_class(run[at - 1]) > ccc) {
                    run[at] = run[at - 1];
                    at--;
                }
                run[at] = d[j];
                continue;
            }
            for (int r = 0; r < in_run && rc == TFRT_OK; r++)
                rc = bytes_put_cp(o, run[r]);
            in_run = 0;
            if (j < nd && rc == TFRT_OK)
                rc = bytes_put_cp(o, d[j]);
        }
        if (i < n && cp == UTF8_INVALID && rc == TFRT_OK)
            rc = bytes_put(o, s + i, 1);
        i += (size_t)k;
    }
    return rc;
}

/* ---- strings ------------------------------------------------------------------- */

static int norm_replace(const NormStep *st, const uint8_t *s, size_t n, Bytes *o)
{
    int rc = TFRT_OK;

    for (size_t i = 0; i < n && rc == TFRT_OK;) {
        if (st->str_len <= n - i && memcmp(s + i, st->str, st->str_len) == 0) {
            rc = bytes_put(o, st->content, st->content_len);
            i += st->str_len;
        } else {
            rc = bytes_put(o, s + i++, 1);
        }
    }
    return rc;
}

/* Runs of at least st->min copies of the character st->str. */
static int norm_replace_run(const NormStep *st, const uint8_t *s, size_t n, Bytes *o)
{
    size_t w = st->str_len;
    int rc = TFRT_OK;

    for (size_t i = 0; i < n && rc == TFRT_OK;) {
        size_t j = i;
        while (w <= n - j && memcmp(s + j, st->str, w) == 0)
            j += w;
        if (j > i && (j - i) / w >= (size_t)st->min) {
            rc = bytes_put(o, st->content, st->content_len);
            i = j;
        } else if (j > i) {
            rc = bytes_put(o, s + i, j - i);
            i = j;
        } else {
            rc = bytes_put(o, s + i++, 1);
        }
    }
    return rc;
}

static int norm_strip(const NormStep *st, const uint8_t *s, size_t n, Bytes *o)
{
    size_t lo = 0, hi = n;
    uint32_t cp;

    while ((st->flags & 1) && lo < hi) {
        int k = tfrt_utf8_decode(s, hi, lo, &cp);
        if (!tfrt_uni_is_white_space(cp))
            break;
        lo += (size_t)k;
    }
    while ((st->flags & 2) && hi > lo) {
        size_t b = hi - 1;
        while (b > lo && (s[b] & 0xC0) == 0x80 && hi - b < 4)
            b--;
        if ((size_t)tfrt_utf8_decode(s, hi, b, &cp) != hi - b || !tfrt_uni_is_white_space(cp))
            break;
        hi = b;
    }
    return bytes_put(o, s + lo, hi - lo);
}

/* ---- SentencePiece's precompiled character map ------------------------------------ */

/* darts-clone's double-array unit fields */
static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t unit_label(uint32_t u) { return u & (0x80000000u | 0xFF); }
static int unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }

/* The longest key that prefixes s[0..n): its length (0: none) and the
 * offset of its replacement in *value.  Every index is checked: the map
 * comes from the file. */
static size_t charsmap_longest(const NormStep *st, const uint8_t *s, size_t n, uint32_t *value)
{
    const uint32_t *u = st->trie;
    size_t pos, best = 0;

    if (st->trie_units == 0)
        return 0;
    pos = unit_offset(u[0]);
    for (size_t i = 0; i < n; i++) {
        uint32_t unit;
        pos ^= s[i];
        if (pos >= st->trie_units)
            break;
        unit = u[pos];
        if (unit_label(unit) != s[i])
            break;
        pos ^= unit_offset(unit);
        if (pos >= st->trie_units)
            break;
        if (unit_has_leaf(unit)) {
            *value = unit_value(u[pos]);
            best = i + 1;
        }
    }
    return best;
}

static int norm_precompiled(const NormStep *st, const uint8_t *s, size_t n, Bytes *o)
{
    int rc = TFRT_OK;

    for (size_t i = 0; i < n && rc == TFRT_OK;) {
        uint32_t value = 0, cp;
        size_t k = charsmap_longest(st, s + i, n - i, &value);
        if (k > 0 && value < st->strings_len) {
            const char *r = st->strings + value;
            const char *end = memchr(r, '\0', st->strings_len - value);
            rc = bytes_put(o, r, end ? (size_t)(end - r) : st->strings_len - value);
            i += k;
            continue;
        }
        k = (size_t)tfrt_utf8_decode(s, n, i, &cp);
        rc = cp == UTF8_INVALID ? bytes_put(o, "\xEF\xBF\xBD", 3) : bytes_put(o, s + i, k);
        i += k;
    }
    return rc;
}

int tok_charsmap_init(NormStep *st, const uint8_t *blob, size_t len)
{
    uint32_t trie_bytes;
    uint32_t *units;

    if (len < 4)
        return -1;
    trie_bytes = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                 (uint32_t)blob[3] << 24;
    if (trie_bytes % 4 != 0 || trie_bytes > len - 4)
        return -1;
    /* units copied out as host integers; the strings kept after them */
    if (!(units = malloc(trie_bytes + (len - 4 - trie_bytes) + 4)))
        return TFRT_ERR_NOMEM;
    for (uint32_t i = 0; i < trie_bytes / 4; i++) {
        const uint8_t *b = blob + 4 + 4 * i;
        units[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                   (uint32_t)b[3] << 24;
    }
    memcpy((uint8_t *)units + trie_bytes, blob + 4 + trie_bytes, len - 4 - trie_bytes);
    st->map = (uint8_t *)units;
    st->map_len = len;
    st->trie = units;
    st->trie_units = trie_bytes / 4;
    st->strings = (const char *)units + trie_bytes;
    st->strings_len = len - 4 - trie_bytes;
    return TFRT_OK;
}

void tok_norm_free(NormStep *st)
{
    free(st->str);
    free(st->content);
    free(st->map);
}

/* ---- the pipeline ------------------------------------------------------------------ */

static int apply(const NormStep *st, const uint8_t *s, size_t n, Bytes *o)
{
    switch (st->kind) {
    case NORM_BERT:          return norm_bert(st, s, n, o);
    case NORM_LOWERCASE:     return norm_chars(s, n, o, 1, 0);
    case NORM_STRIP_ACCENTS: return norm_chars(s, n, o, 0, 1);
    case NORM_NFD:           return norm_nfd(s, n, o);
    case NORM_PREPEND:
        return n == 0 ? TFRT_OK : bytes_put(o, st->str, st->str_len) ? TFRT_ERR_NOMEM
                                : bytes_put(o, s, n);
    case NORM_REPLACE:       return norm_replace(st, s, n, o);
    case NORM_REPLACE_RUN:   return norm_replace_run(st, s, n, o);
    case NORM_STRIP:         return norm_strip(st, s, n, o);
    case NORM_PRECOMPILED:   return norm_precompiled(st, s, n, o);
    }
    return TFRT_ERR_ARG;
}

int tok_normalize(const TfrtTokenizer *t, const uint8_t *s, size_t n, Bytes *out)
{
    Bytes a = {0};
    int rc = TFRT_OK;

    out->n = 0;
    if (t->n_norm == 0)
        return bytes_put(out, s, n);
    for (int k = 0; k < t->n_norm && rc == TFRT_OK; k++) {
        Bytes tmp;
        a.n = 0;
        rc = apply(&t->norm[k], s, n, &a);
        /* a holds this step's output; it becomes the next step's input */
        tmp = *out, *out = a, a = tmp;
        s = out->b;
        n = out->n;
    }
    free(a.b);
    return rc;
}
