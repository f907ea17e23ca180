/*
 * tokenizer.c - the token table, added tokens, and the encoding pipeline
 * shared by every tokenizer (tokenizer_internal.h has the picture).
 *
 * Every token has two byte strings: its piece, as the model matches it
 * (GPT-2's byte-level pieces turned back into raw bytes at load; "▁the",
 * "##ing", "<0x0A>" as the file spells them), and its text, what decoding
 * writes (" the", "ing" after a space-less join, the byte 0x0A).
 * Decoding is then the concatenation of texts, less one leading space when
 * the encoder put one there (Metaspace, WordPiece's joins).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

static int failf(char *err, size_t errlen, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int failf(char *err, size_t errlen, int status, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

int push_id(IdBuf *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        int32_t *p = cap < SIZE_MAX / sizeof *p ? realloc(b->ids, cap * sizeof *p) : NULL;
        if (!p)
            return TFRT_ERR_NOMEM;
        b->ids = p;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return TFRT_OK;
}

/* ---- the token table and the vocabulary map ----------------------------------- */

/* FNV-1a: short keys, good enough spread, no tables. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

const char *tok_piece(const TfrtTokenizer *t, int32_t id, size_t *len)
{
    *len = 0;
    if (id < 0 || id >= t->n_ids || t->tok_off[id] == SIZE_MAX)
        return NULL;
    *len = t->tok_len[id];
    /* an empty piece has an offset but no bytes: never a NULL pointer */
    return t->pool ? t->pool + t->tok_off[id] : "";
}

static const char *tok_text(const TfrtTokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_ids || t->tok_off[id] == SIZE_MAX) {
        *len = 0;
        return NULL;
    }
    if (t->dec_off[id] == SIZE_MAX)
        return tok_piece(t, id, len);
    *len = t->dec_len[id];
    return t->pool ? t->pool + t->dec_off[id] : "";
}

/* The slot where piece s[0..n) is or would go. */
static size_t vocab_probe(const TfrtTokenizer *t, const char *s, size_t n)
{
    size_t mask = t->vocab_cap - 1;
    size_t i = (size_t)hash_bytes(s, n) & mask;

    for (;; i = (i + 1) & mask) {
        int32_t id = t->vocab_slot[i];
        size_t len;
        const char *b;
        if (id < 0)
            return i;
        b = tok_piece(t, id, &len);
        if (len == n && (n == 0 || memcmp(b, s, n) == 0))
            return i;
    }
}

int32_t tfrt_tok_find(const TfrtTokenizer *t, const char *s, size_t n)
{
    if (!t || !t->vocab_slot || (!s && n))
        return -1;
    return t->vocab_slot[vocab_probe(t, s ? s : "", n)];
}

int tok_tables_alloc(TfrtTokenizer *t, int32_t n_ids, size_t expect)
{
    size_t cap = 16;

    if (n_ids <= 0 || expect > SIZE_MAX / 8)
        return TFRT_ERR_NOMEM;
    while (cap < expect * 2 + 1)
        cap *= 2;
    t->n_ids = n_ids;
    t->tok_off = malloc((size_t)n_ids * sizeof *t->tok_off);
    t->dec_off = malloc((size_t)n_ids * sizeof *t->dec_off);
    t->tok_len = calloc((size_t)n_ids, sizeof *t->tok_len);
    t->dec_len = calloc((size_t)n_ids, sizeof *t->dec_len);
    t->is_special = calloc((size_t)n_ids, 1);
    t->vocab_cap = cap;
    t->vocab_slot = malloc(cap * sizeof *t->vocab_slot);
    if (!t->tok_off || !t->dec_off || !t->tok_len || !t->dec_len || !t->is_special ||
        !t->vocab_slot)
        return TFRT_ERR_NOMEM;
    for (int32_t i = 0; i < n_ids; i++)
        t->tok_off[i] = t->dec_off[i] = SIZE_MAX;
    memset(t->vocab_slot, 0xff, cap * sizeof *t->vocab_slot);
    return TFRT_OK;
}

/* Appends s[0..n) to the pool; s may point into the pool itself. */
static int pool_add(TfrtTokenizer *t, const char *s, size_t n, size_t *off)
{
    int inside = t->pool && s >= t->pool && s < t->pool + t->pool_len;
    size_t from = inside ? (size_t)(s - t->pool) : 0;

    if (n > UINT32_MAX || n > SIZE_MAX / 4 - t->pool_len)
        return TFRT_ERR_NOMEM;
    if (t->pool_len + n > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 4096;
        char *p;
        while (cap < t->pool_len + n)
            cap *= 2;
        if (!(p = realloc(t->pool, cap)))
            return TFRT_ERR_NOMEM;
        t->pool = p;
        t->pool_cap = cap;
    }
    if (inside)
        s = t->pool + from;
    if (n)       /* an empty token copies nothing (s may be NULL then) */
        memcpy(t->pool + t->pool_len, s, n);
    *off = t->pool_len;
    t->pool_len += n;
    return TFRT_OK;
}

int tok_set_piece(TfrtTokenizer *t, int32_t id, const char *s, size_t n)
{
    size_t len, off, slot;
    const char *old = tok_piece(t, id, &len);

    if (id < 0 || id >= t->n_ids)
        return -1;
    if (old)
        return len == n && (n == 0 || memcmp(old, s, n) == 0) ? TFRT_OK : -1;
    slot = vocab_probe(t, s, n);
    if (t->vocab_slot[slot] >= 0)
        return -1;                  /* another id has these bytes */
    if ((t->vocab_count + 1) * 2 > t->vocab_cap)
        return -1;                  /* more tokens than the file announced */
    if (pool_add(t, s, n, &off))
        return TFRT_ERR_NOMEM;
    t->tok_off[id] = off;
    t->tok_len[id] = (uint32_t)n;
    t->vocab_slot[slot] = id;
    t->vocab_count++;
    if (n > t->max_piece)
        t->max_piece = n;
    return TFRT_OK;
}

int tok_set_text(TfrtTokenizer *t, int32_t id, const char *s, size_t n)
{
    size_t off;

    if (pool_add(t, s, n, &off))
        return TFRT_ERR_NOMEM;
    t->dec_off[id] = off;
    t->dec_len[id] = (uint32_t)n;
    return TFRT_OK;
}

int tok_add_added(TfrtTokenizer *t, int32_t id, int lstrip, int rstrip, int special)
{
    Added *a = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a);

    if (!a || t->n_added == INT32_MAX)
        return TFRT_ERR_NOMEM;
    t->added = a;
    a[t->n_added++] = (Added){id, lstrip, rstrip, special};
    t->is_special[id] |= (uint8_t)special;
    return TFRT_OK;
}

/* ---- texts, at the end of loading ----------------------------------------------- */

static const char METASPACE[] = "\xE2\x96\x81";   /* U+2581 ▁ */

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "<0xNN>" with upper-case hex: the byte, else -1. */
static int byte_token(const char *p, size_t len)
{
    if (len != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>' || hex_digit(p[3]) < 0 ||
        hex_digit(p[4]) < 0)
        return -1;
    return hex_digit(p[3]) * 16 + hex_digit(p[4]);
}

/* The text of a piece of a Metaspace model: ▁ read as a space. */
static int metaspace_text(TfrtTokenizer *t, int32_t id, const char *p, size_t len)
{
    Bytes b = {0};
    int rc = TFRT_OK;

    size_t k = 0;

    while (k + 3 <= len && memcmp(p + k, METASPACE, 3) != 0)
        k++;
    if (k + 3 > len || !t->meta_text)
        return TFRT_OK;
    for (size_t i = 0; i < len && rc == TFRT_OK;) {
        int meta = len - i >= 3 && memcmp(p + i, METASPACE, 3) == 0;
        rc = bytes_put(&b, meta ? " " : p + i, 1);
        i += meta ? 3 : 1;
    }
    if (rc == TFRT_OK)
        rc = tok_set_text(t, id, (const char *)b.b, b.n);
    free(b.b);
    return rc;
}

/* WordPiece joins: "##ing" reads "ing", any other token " word". */
static int wordpiece_text(TfrtTokenizer *t, int32_t id, const char *p, size_t len)
{
    Bytes b = {0};
    int rc;

    if (!t->is_special[id] && t->wp_prefix_len && len >= t->wp_prefix_len &&
        memcmp(p, t->wp_prefix, t->wp_prefix_len) == 0)
        return tok_set_text(t, id, p + t->wp_prefix_len, len - t->wp_prefix_len);
    rc = bytes_put(&b, " ", 1);
    if (rc == TFRT_OK)
        rc = bytes_put(&b, p, len);
    if (rc == TFRT_OK)
        rc = tok_set_text(t, id, (const char *)b.b, b.n);
    free(b.b);
    return rc;
}

static int set_text(TfrtTokenizer *t, int32_t id)
{
    size_t len;
    const char *p = tok_piece(t, id, &len);
    char one;
    int b;

    if (!p || t->kind == TOK_CHARS || t->byte_level)
        return TFRT_OK;
    if (t->kind == TOK_WORDPIECE)
        return wordpiece_text(t, id, p, len);
    if (t->is_special[id])
        return TFRT_OK;
    if ((b = byte_token(p, len)) >= 0 && t->byte_fallback) {
        one = (char)b;
        return tok_set_text(t, id, &one, 1);
    }
    return metaspace_text(t, id, p, len);
}

static void find_specials(TfrtTokenizer *t)
{
    static const char *const eos[] = {"<|endoftext|>", "</s>", "[SEP]"};
    static const char *const bos[] = {"<s>", "[CLS]", "<|endoftext|>"};
    static const char *const pad[] = {"<pad>", "[PAD]"};

    if (t->eos < 0)
        for (size_t i = 0; i < 3 && t->eos < 0; i++)
            t->eos = tfrt_tok_find(t, eos[i], strlen(eos[i]));
    if (t->bos < 0)
        t->bos = t->n_before > 0 ? t->before[0] : -1;
    for (size_t i = 0; i < 3 && t->bos < 0; i++)
        t->bos = tfrt_tok_find(t, bos[i], strlen(bos[i]));
    for (size_t i = 0; i < 2 && t->pad < 0; i++)
        t->pad = tfrt_tok_find(t, pad[i], strlen(pad[i]));
}

int tok_finish(TfrtTokenizer *t)
{
    int rc = trie_init(&t->trie);

    for (int32_t id = 0; id < t->n_ids && rc == TFRT_OK; id++)
        rc = set_text(t, id);
    for (int k = 0; k < t->n_added && rc == TFRT_OK; k++) {
        size_t len;
        const char *p = tok_piece(t, t->added[k].id, &len);
        if (len > 0)    /* an empty added token can never match */
            rc = trie_insert(&t->trie, (const uint8_t *)p, len, k);
    }
    if (t->byte_fallback)
        for (int32_t id = 0; id < t->n_ids; id++) {
            size_t len;
            const char *p = tok_piece(t, id, &len);
            int b = p ? byte_token(p, len) : -1;
            if (b >= 0 && t->byte_id[b] < 0)
                t->byte_id[b] = id;
        }
    if (rc == TFRT_OK && t->kind == TOK_UNIGRAM) {
        rc = trie_init(&t->pieces);
        for (int32_t id = 0; id < t->n_ids && rc == TFRT_OK; id++) {
            size_t len;
            const char *p = tok_piece(t, id, &len);
            if (p && len > 0 && !t->is_special[id])
                rc = trie_insert(&t->pieces, (const uint8_t *)p, len, id);
        }
    }
    find_specials(t);
    return rc;
}

/* ---- added tokens ---------------------------------------------------------------- */

/* The longest added token starting at s[i]: its index, and its end in *end. */
static int added_at(const TfrtTokenizer *t, const uint8_t *s, size_t len, size_t i,
                    size_t *end)
{
    int32_t node = 0, best = -1;

    for (size_t k = i; k < len && (node = trie_child(&t->trie, node, s[k])) >= 0; k++)
        if (t->trie.accept[node] >= 0) {
            best = t->trie.accept[node];
            *end = k + 1;
        }
    return best;
}

static size_t skip_space_left(const uint8_t *s, size_t from, size_t at)
{
    while (at > from) {
        size_t b = at - 1;
        uint32_t cp;
        while (b > from && (s[b] & 0xC0) == 0x80 && at - b < 4)
            b--;
        if ((size_t)tfrt_utf8_decode(s, at, b, &cp) != at - b || !tfrt_uni_is_white_space(cp))
            break;
        at = b;
    }
    return at;
}

static size_t skip_space_right(const uint8_t *s, size_t len, size_t at)
{
    while (at < len) {
        uint32_t cp;
        int k = tfrt_utf8_decode(s, len, at, &cp);
        if (!tfrt_uni_is_white_space(cp))
            break;
        at += (size_t)k;
    }
    return at;
}

/* ---- encoding ----------------------------------------------------------------------- */

typedef struct {
    const TfrtTokenizer *t;
    Work *w;
    IdBuf *out;
    size_t base;
    char *err;
    size_t errlen;
} Encoding;

static int encode_piece(void *arg, const uint8_t *s, size_t n, size_t unused)
{
    Encoding *e = arg;
    (void)unused;
    switch (e->t->kind) {
    case TOK_WORDPIECE: return tok_wordpiece_piece(e->t, s, n, e->out);
    case TOK_UNIGRAM:   return tok_unigram_piece(e->t, s, n, e->out);
    default:            return tok_bpe_piece(e->t, e->w, s, n, e->base, e->out, e->err, e->errlen);
    }
}

static int encode_chars(const TfrtTokenizer *t, const uint8_t *s, size_t len, size_t base,
                        IdBuf *out, char *err, size_t errlen)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = tfrt_utf8_decode(s, len, i, &cp);
        int32_t id;
        if (cp == UTF8_INVALID)
            return failf(err, errlen, TFRT_ERR_TOKEN,
                         "byte offset %zu: invalid UTF-8 (byte 0x%02x)", base + i, s[i]);
        if ((id = tfrt_tok_find(t, (const char *)s + i, (size_t)n)) < 0)
            return failf(err, errlen, TFRT_ERR_TOKEN,
                         "byte offset %zu: character U+%04X '%.*s' is not in the vocabulary",
                         base + i, (unsigned)cp, n, (const char *)s + i);
        if (push_id(out, id))
            return TFRT_ERR_NOMEM;
        i += (size_t)n;
    }
    return TFRT_OK;
}

/* A segment between added tokens: normalized, pre-tokenized, modelled. */
static int encode_segment(Encoding *e, Bytes *norm, const uint8_t *s, size_t n, size_t base)
{
    int rc;

    if (n == 0)
        return TFRT_OK;
    if (e->t->kind == TOK_CHARS)
        return encode_chars(e->t, s, n, base, e->out, e->err, e->errlen);
    if ((rc = tok_normalize(e->t, s, n, norm)))
        return rc;
    e->base = base;
    return tok_pretokenize(e->t, norm->b, norm->n, base == 0, encode_piece, e);
}

static int encode_text(Encoding *e, const uint8_t *s, size_t len)
{
    Bytes norm = {0};
    size_t seg = 0, i = 0;
    int rc = TFRT_OK;

    while (i < len && rc == TFRT_OK) {
        size_t end = 0, cut, next;
        int k = e->t->n_added > 0 ? added_at(e->t, s, len, i, &end) : -1;
        if (k < 0) {
            i++;
            continue;
        }
        cut = e->t->added[k].lstrip ? skip_space_left(s, seg, i) : i;
        next = e->t->added[k].rstrip ? skip_space_right(s, len, end) : end;
        rc = encode_segment(e, &norm, s + seg, cut - seg, seg);
        if (rc == TFRT_OK)
            rc = push_id(e->out, e->t->added[k].id);
        seg = i = next;
    }
    if (rc == TFRT_OK)
        rc = encode_segment(e, &norm, s + seg, len - seg, seg);
    free(norm.b);
    return rc;
}

static int add_specials(const int32_t *ids, int n, IdBuf *out)
{
    int rc = TFRT_OK;
    for (int k = 0; k < n && rc == TFRT_OK; k++)
        rc = push_id(out, ids[k]);
    return rc;
}

int tfrt_tok_encode_special(const TfrtTokenizer *t, const char *text, size_t len,
                            int add_special, int32_t **ids, size_t *n,
                            char *err, size_t errlen)
{
    IdBuf out = {0};
    Encoding e;
    int rc;

    if (!ids || !n)
        return failf(err, errlen, TFRT_ERR_ARG, "encode: NULL output");
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len))
        return failf(err, errlen, TFRT_ERR_ARG, "encode: NULL tokenizer or text");
    e = (Encoding){t, tok_work_new(), &out, 0, err, errlen};
    rc = e.w ? TFRT_OK : TFRT_ERR_NOMEM;
    if (rc == TFRT_OK && add_special)
        rc = add_specials(t->before, t->n_before, &out);
    if (rc == TFRT_OK)
        rc = encode_text(&e, (const uint8_t *)text, len);
    if (rc == TFRT_OK && add_special)
        rc = add_specials(t->after, t->n_after, &out);
    tok_work_free(e.w);
    if (rc == TFRT_ERR_NOMEM)
        failf(err, errlen, rc, "encode: out of memory");
    if (rc) {
        free(out.ids);
        return rc;
    }
    *ids = out.ids;
    *n = out.n;
    return TFRT_OK;
}

int tfrt_tok_encode(const TfrtTokenizer *t, const char *text, size_t len,
                    int32_t **ids, size_t *n, char *err, size_t errlen)
{
    return tfrt_tok_encode_special(t, text, len, 0, ids, n, err, errlen);
}

/* ---- decoding and queries ------------------------------------------------------ */

const char *tfrt_tok_decode_token(const TfrtTokenizer *t, int32_t id, size_t *len)
{
    size_t dummy;
    return t ? tok_text(t, id, len ? len : &dummy) : NULL;
}

int tfrt_tok_decode(const TfrtTokenizer *t, const int32_t *ids, size_t n,
                    char **out, size_t *len, char *err, size_t errlen)
{
    Bytes b = {0};
    int rc = TFRT_OK;

    if (!t || !out || !len || (!ids && n))
        return failf(err, errlen, TFRT_ERR_ARG, "decode: NULL argument");
    *out = NULL;
    *len = 0;
    for (size_t i = 0; i < n && rc == TFRT_OK; i++) {
        size_t tl;
        const char *s = tok_text(t, ids[i], &tl);
        if (!s) {
            free(b.b);
            return failf(err, errlen, TFRT_ERR_TOKEN,
                         "decode: id %ld at position %zu is not a token", (long)ids[i], i);
        }
        /* the space the encoder added in front of the first word */
        if (i == 0 && t->strip_first_space && tl > 0 && s[0] == ' ')
            s++, tl--;
        rc = bytes_put(&b, s, tl);
    }
    if (rc == TFRT_OK)
        rc = bytes_put(&b, "", 1);
    if (rc) {
        free(b.b);
        return failf(err, errlen, TFRT_ERR_NOMEM, "decode: out of memory");
    }
    *out = (char *)b.b;
    *len = b.n - 1;
    return TFRT_OK;
}

int tfrt_tok_vocab_size(const TfrtTokenizer *t)
{
    return t ? t->n_ids : 0;
}

int32_t tfrt_tok_eos(const TfrtTokenizer *t)
{
    return t ? t->eos : -1;
}

int32_t tfrt_tok_bos(const TfrtTokenizer *t)
{
    return t ? t->bos : -1;
}

int32_t tfrt_tok_pad(const TfrtTokenizer *t)
{
    return t ? t->pad : -1;
}

int tfrt_tok_is_special(const TfrtTokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_ids && t->is_special[id];
}

int tfrt_tok_strips_first_space(const TfrtTokenizer *t)
{
    return t && t->strip_first_space;
}

void tfrt_tok_free(TfrtTokenizer *t)
{
    if (!t)
        return;
    free(t->pool);
    free(t->tok_off);
    free(t->dec_off);
    free(t->tok_len);
    free(t->dec_len);
    free(t->scores);
    free(t->is_special);
    free(t->vocab_slot);
    free(t->merges);
    free(t->wp_prefix);
    for (int k = 0; k < t->n_norm; k++)
        tok_norm_free(&t->norm[k]);
    free(t->added);
    trie_free(&t->trie);
    trie_free(&t->pieces);
    free(t);
}

int tfrt_tok_load(TfrtTokenizer **out, const char *path, char *err, size_t errlen)
{
    Loader L = {path, err, errlen};
    TfrtTokenizer *t;
    int rc;

    if (!out || !path)
        return failf(err, errlen, TFRT_ERR_ARG, "tokenizer: NULL argument");
    *out = NULL;
    if (!(t = calloc(1, sizeof *t)))
        return failf(err, errlen, TFRT_ERR_NOMEM, "%s: out of memory", path);
    memset(t->byte_id, 0xff, sizeof t->byte_id);
    t->unk = t->eos = t->bos = t->pad = -1;
    t->wp_max_chars = 100;
    rc = tok_load_path(&L, t, path);
    if (rc == TFRT_OK && (rc = tok_finish(t)))
        rc = failf(err, errlen, rc, "%s: out of memory", path);
    if (rc) {
        tfrt_tok_free(t);
        return rc;
    }
    *out = t;
    return TFRT_OK;
}
