/*
 * tokenizer.c - byte-level BPE (GPT-2) and character tokenizers.
 *
 * Byte-level BPE in three steps:
 *
 *   1. added tokens ("<|endoftext|>") are cut out of the text literally;
 *   2. each remaining segment is cut into pieces by GPT-2's pattern
 *      (tokenizer_pretok.c);
 *   3. each piece starts as one symbol per byte, and merges are applied by
 *      rank until none applies.
 *
 * Files spell tokens in GPT-2's "bytes to unicode" alphabet, where each of
 * the 256 byte values is a printable character (space is 'Ġ', U+0120).  We
 * turn every token back into raw bytes when loading, so encoding works on
 * bytes and decoding is a table lookup.
 *
 * Step 3 must give the same result as GPT-2's loop, which repeatedly takes
 * the adjacent pair of lowest rank and merges all its occurrences left to
 * right.  We keep the pairs in a min-heap keyed by (rank, position); all
 * entries of one rank are merged as one batch, in position order, before
 * the pairs those merges create are pushed, exactly mirroring one pass of
 * GPT-2's loop without rescanning the word.  A piece of n bytes costs
 * O(n log n) hash lookups and heap steps, so even a megabyte-long "word"
 * encodes quickly; no cache is needed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "tfrt_text.h"
#include "tokenizer_internal.h"

/* Ids beyond this are refused: they would only make us allocate a huge
 * table for a hostile file (real vocabularies hold at most a few 100k). */
#define MAX_TOKEN_ID (1 << 24)

enum { TOK_BPE, TOK_CHARS };

/* An added token, matched literally before pre-tokenization. */
typedef struct {
    int32_t id;
    const char *bytes;      /* points into the token pool after loading */
    size_t len;
} Added;

/* The merge of pair (left, right) into `merged`, `rank`-th in the list. */
typedef struct {
    uint64_t key;           /* left << 32 | right; EMPTY_KEY when unused */
    int32_t rank, merged;
} Merge;

#define EMPTY_KEY UINT64_MAX

struct TfrtTokenizer {
    int kind;
    int32_t n_ids;          /* vocab size: largest id + 1 */
    char *pool;             /* bytes of every token, back to back */
    size_t pool_len, pool_cap;
    size_t *tok_off;        /* (n_ids,) offset into pool, SIZE_MAX: no token */
    uint32_t *tok_len;      /* (n_ids,) */

    int32_t *vocab_slot;    /* open-addressing map bytes -> id; -1 empty */
    size_t vocab_cap;       /* power of two */
    size_t vocab_count;

    Merge *merges;          /* open-addressing map pair -> merge */
    size_t merge_cap;       /* power of two */
    size_t merge_count;

    int32_t byte_id[256];   /* id of each one-byte token, -1 if none */
    Added *added;
    int n_added;
    uint8_t added_first[256]; /* 1 for bytes that start an added token */
    int32_t eos;
    int add_prefix_space, use_regex, ignore_merges;
};

/* ---- messages -------------------------------------------------------------- */

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

/* ---- hashing ----------------------------------------------------------------- */

/* FNV-1a: short keys, good enough spread, no tables. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

/* splitmix64's finalizer: spreads a pair key over the table. */
static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

/* ---- the token table and the vocabulary map ----------------------------------- */

static const char *tok_bytes(const TfrtTokenizer *t, int32_t id, size_t *len)
{
    *len = 0;
    if (id < 0 || id >= t->n_ids || t->tok_off[id] == SIZE_MAX)
        return NULL;
    *len = t->tok_len[id];
    return t->pool + t->tok_off[id];
}

/* The slot where bytes s[0..n) is or would go. */
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
        b = tok_bytes(t, id, &len);
        if (len == n && memcmp(b, s, n) == 0)
            return i;
    }
}

int32_t tfrt_tok_find(const TfrtTokenizer *t, const char *s, size_t n)
{
    if (!t || !t->vocab_slot)
        return -1;
    return t->vocab_slot[vocab_probe(t, s, n)];
}

/* Room for ids [0, n_ids) and a vocabulary map for `expect` entries. */
static int tables_alloc(TfrtTokenizer *t, int32_t n_ids, size_t expect)
{
    t->n_ids = n_ids;
    t->tok_off = malloc((size_t)n_ids * sizeof *t->tok_off);
    t->tok_len = calloc((size_t)n_ids, sizeof *t->tok_len);
    t->vocab_cap = pow2_at_least(expect * 2 + 1);
    t->vocab_slot = malloc(t->vocab_cap * sizeof *t->vocab_slot);
    if (!t->tok_off || !t->tok_len || !t->vocab_slot)
        return TFRT_ERR_NOMEM;
    for (int32_t i = 0; i < n_ids; i++)
        t->tok_off[i] = SIZE_MAX;
    memset(t->vocab_slot, 0xff, t->vocab_cap * sizeof *t->vocab_slot);
    return TFRT_OK;
}

static int pool_add(TfrtTokenizer *t, const char *s, size_t n, size_t *off)
{
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
    memcpy(t->pool + t->pool_len, s, n);
    *off = t->pool_len;
    t->pool_len += n;
    return TFRT_OK;
}

/* Gives id the bytes s[0..n).  Returns -1 if id already has other bytes. */
static int set_token(TfrtTokenizer *t, int32_t id, const char *s, size_t n)
{
    size_t len, off;
    const char *old = tok_bytes(t, id, &len);

    if (old)
        return (len == n && memcmp(old, s, n) == 0) ? TFRT_OK : -1;
    if (pool_add(t, s, n, &off))
        return TFRT_ERR_NOMEM;
    t->tok_off[id] = off;
    t->tok_len[id] = (uint32_t)n;
    return TFRT_OK;
}

/* Enters id (whose bytes are set) into the vocabulary map.  Returns -1 if
 * another id already has the same bytes. */
static int vocab_insert(TfrtTokenizer *t, int32_t id)
{
    size_t len;
    const char *b = tok_bytes(t, id, &len);
    size_t slot = vocab_probe(t, b, len);

    if (t->vocab_slot[slot] >= 0)
        return t->vocab_slot[slot] == id ? TFRT_OK : -1;
    if ((t->vocab_count + 1) * 2 > t->vocab_cap)
        return -2;   /* sized at load; cannot happen for a consistent file */
    t->vocab_slot[slot] = id;
    t->vocab_count++;
    return TFRT_OK;
}

/* ---- merges --------------------------------------------------------------------- */

static const Merge *merge_find(const TfrtTokenizer *t, int32_t left, int32_t right)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t mask = t->merge_cap - 1;

    for (size_t i = (size_t)hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (t->merges[i].key == key)
            return &t->merges[i];
        if (t->merges[i].key == EMPTY_KEY)
            return NULL;
    }
}

static int merges_alloc(TfrtTokenizer *t, size_t count)
{
    t->merge_cap = pow2_at_least(count * 2 + 1);
    t->merges = malloc(t->merge_cap * sizeof *t->merges);
    if (!t->merges)
        return TFRT_ERR_NOMEM;
    for (size_t i = 0; i < t->merge_cap; i++)
        t->merges[i].key = EMPTY_KEY;
    return TFRT_OK;
}

/* A later duplicate of a pair overrides its rank, as in GPT-2's
 * dict(zip(merges, range(...))) and in Hugging Face tokenizers. */
static void merge_insert(TfrtTokenizer *t, int32_t left, int32_t right,
                         int32_t rank, int32_t merged)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t mask = t->merge_cap - 1;
    size_t i = (size_t)hash_u64(key) & mask;

    while (t->merges[i].key != EMPTY_KEY && t->merges[i].key != key)
        i = (i + 1) & mask;
    if (t->merges[i].key == EMPTY_KEY)
        t->merge_count++;
    t->merges[i].key = key;
    t->merges[i].rank = rank;
    t->merges[i].merged = merged;
}

/* ---- output buffers -------------------------------------------------------------- */

typedef struct {
    int32_t *ids;
    size_t n, cap;
} IdBuf;

static int push_id(IdBuf *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        int32_t *p = realloc(b->ids, cap * sizeof *p);
        if (!p)
            return TFRT_ERR_NOMEM;
        b->ids = p;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return TFRT_OK;
}

/* ---- BPE on one piece ---------------------------------------------------------- */

/* Scratch for one piece of up to `cap` bytes, reused across pieces. */
typedef struct {
    int32_t *sym;          /* (cap,) token id of the symbol starting here, -1: merged away */
    int32_t *next, *prev;  /* (cap,) neighbours in the linked list, -1: none */
    uint64_t *heap;        /* (cap,) rank << 32 | position, a min-heap */
    size_t heap_n;
    int32_t *changed;      /* (cap,) positions merged in the current batch */
    size_t cap;
} Work;

static void work_free(Work *w)
{
    free(w->sym); free(w->next); free(w->prev); free(w->heap); free(w->changed);
    memset(w, 0, sizeof *w);
}

static int work_reserve(Work *w, size_t n)
{
    if (n <= w->cap)
        return TFRT_OK;
    work_free(w);
    w->sym = malloc(n * sizeof *w->sym);
    w->next = malloc(n * sizeof *w->next);
    w->prev = malloc(n * sizeof *w->prev);
    /* each merge pushes at most 2 pairs and there are < n merges */
    w->heap = malloc(3 * n * sizeof *w->heap);
    w->changed = malloc(n * sizeof *w->changed);
    if (!w->sym || !w->next || !w->prev || !w->heap || !w->changed)
        return TFRT_ERR_NOMEM;
    w->cap = n;
    return TFRT_OK;
}

static void heap_push(Work *w, uint64_t key)
{
    size_t i = w->heap_n++;
    while (i > 0 && w->heap[(i - 1) / 2] > key) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = key;
}

static uint64_t heap_pop(Work *w)
{
    uint64_t top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && w->heap[c + 1] < w->heap[c])
            c++;
        if (last <= w->heap[c])
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0)
        w->heap[i] = last;
    return top;
}

/* Pushes the pair starting at position p, if it has a merge. */
static void push_pair(const TfrtTokenizer *t, Work *w, int32_t p)
{
    const Merge *m;

    if (p < 0 || w->next[p] < 0)
        return;
    m = merge_find(t, w->sym[p], w->sym[w->next[p]]);
    if (m)
        heap_push(w, (uint64_t)(uint32_t)m->rank << 32 | (uint32_t)p);
}

/* Merges the pair at p if it is still the pair of rank `rank`. */
static int merge_at(const TfrtTokenizer *t, Work *w, int32_t p, int32_t rank)
{
    int32_t q;
    const Merge *m;

    if (w->sym[p] < 0 || (q = w->next[p]) < 0)
        return 0;
    m = merge_find(t, w->sym[p], w->sym[q]);
    if (!m || m->rank != rank)
        return 0;            /* a stale entry: the pair changed since */
    w->sym[p] = m->merged;
    w->sym[q] = -1;
    w->next[p] = w->next[q];
    if (w->next[q] >= 0)
        w->prev[w->next[q]] = p;
    return 1;
}

/* Runs merges over w->sym[0..n) until none applies. */
static void bpe_merge(const TfrtTokenizer *t, Work *w, int32_t n)
{
    w->heap_n = 0;
    for (int32_t p = 0; p + 1 < n; p++)
        push_pair(t, w, p);
    while (w->heap_n > 0) {
        int32_t rank = (int32_t)(w->heap[0] >> 32);
        size_t n_changed = 0;
        /* one GPT-2 pass: every occurrence of this pair, left to right */
        while (w->heap_n > 0 && (int32_t)(w->heap[0] >> 32) == rank) {
            int32_t p = (int32_t)(uint32_t)heap_pop(w);
            if (merge_at(t, w, p, rank))
                w->changed[n_changed++] = p;
        }
        for (size_t i = 0; i < n_changed; i++) {
            int32_t p = w->changed[i];
            push_pair(t, w, w->prev[p]);
            push_pair(t, w, p);
        }
    }
}

/* Encodes one pre-tokenized piece s[0..n); `base` is its offset in the
 * caller's text, for messages. */
static int bpe_piece(const TfrtTokenizer *t, Work *w, const uint8_t *s, size_t n,
                     size_t base, IdBuf *out, char *err, size_t errlen)
{
    int32_t whole;

    if (t->ignore_merges && (whole = tfrt_tok_find(t, (const char *)s, n)) >= 0)
        return push_id(out, whole);
    if (n > INT32_MAX)
        return failf(err, errlen, TFRT_ERR_LENGTH, "a piece of %zu bytes is too long", n);
    if (work_reserve(w, n))
        return TFRT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((w->sym[i] = t->byte_id[s[i]]) < 0)
            return failf(err, errlen, TFRT_ERR_TOKEN,
                         "byte offset %zu: byte 0x%02x has no token in the vocabulary",
                         base + i, s[i]);
        w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        w->prev[i] = (int32_t)i - 1;
    }
    bpe_merge(t, w, (int32_t)n);
    /* position 0 is never merged away: a merge removes the right symbol */
    for (int32_t p = 0; p >= 0; p = w->next[p])
        if (push_id(out, w->sym[p]))
            return TFRT_ERR_NOMEM;
    return TFRT_OK;
}

/* ---- encoding ----------------------------------------------------------------- */

/* The first added token matching at or after `from`, the longest when
 * several match at one position; *at = len when none does. */
static const Added *next_added(const TfrtTokenizer *t, const uint8_t *s, size_t len,
                               size_t from, size_t *at)
{
    for (size_t i = from; i < len && t->n_added > 0; i++) {
        const Added *best = NULL;
        if (!t->added_first[s[i]])
            continue;
        for (int k = 0; k < t->n_added; k++) {
            const Added *a = &t->added[k];
            if (a->len <= len - i &&
                (!best || a->len > best->len) && memcmp(a->bytes, s + i, a->len) == 0)
                best = a;
        }
        if (best) {
            *at = i;
            return best;
        }
    }
    *at = len;
    return NULL;
}

static int bpe_segment(const TfrtTokenizer *t, Work *w, const uint8_t *s, size_t n,
                       size_t base, IdBuf *out, char *err, size_t errlen)
{
    size_t i = 0, j;
    int rc;

    if (!t->use_regex)
        return n ? bpe_piece(t, w, s, n, base, out, err, errlen) : TFRT_OK;
    for (; i < n; i = j) {
        j = tfrt_gpt2_piece_end(s, n, i);
        if ((rc = bpe_piece(t, w, s + i, j - i, base + i, out, err, errlen)))
            return rc;
    }
    return TFRT_OK;
}

/* ByteLevel's add_prefix_space: a segment not starting with a space is
 * encoded as if it did, so "Hello" at the start reads like " Hello". */
static int bpe_segment_prefixed(const TfrtTokenizer *t, Work *w, const uint8_t *s,
                                size_t n, size_t base, IdBuf *out,
                                char *err, size_t errlen)
{
    uint8_t *tmp;
    int rc;

    if (!t->add_prefix_space || n == 0 || s[0] == ' ')
        return bpe_segment(t, w, s, n, base, out, err, errlen);
    if (!(tmp = malloc(n + 1)))
        return TFRT_ERR_NOMEM;
    tmp[0] = ' ';
    memcpy(tmp + 1, s, n);
    rc = bpe_segment(t, w, tmp, n + 1, base, out, err, errlen);
    free(tmp);
    return rc;
}

static int encode_bpe(const TfrtTokenizer *t, const uint8_t *s, size_t len,
                      IdBuf *out, char *err, size_t errlen)
{
    Work w = {0};
    size_t pos = 0, at;
    int rc = TFRT_OK;

    while (pos < len && rc == TFRT_OK) {
        const Added *a = next_added(t, s, len, pos, &at);
        rc = bpe_segment_prefixed(t, &w, s + pos, at - pos, pos, out, err, errlen);
        if (rc == TFRT_OK && a)
            rc = push_id(out, a->id);
        pos = a ? at + a->len : len;
    }
    work_free(&w);
    return rc;
}

static int encode_chars(const TfrtTokenizer *t, const uint8_t *s, size_t len,
                        IdBuf *out, char *err, size_t errlen)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = tfrt_utf8_decode(s, len, i, &cp);
        int32_t id;
        if (cp == UTF8_INVALID)
            return failf(err, errlen, TFRT_ERR_TOKEN,
                         "byte offset %zu: invalid UTF-8 (byte 0x%02x)", i, s[i]);
        if ((id = tfrt_tok_find(t, (const char *)s + i, (size_t)n)) < 0)
            return failf(err, errlen, TFRT_ERR_TOKEN,
                         "byte offset %zu: character U+%04X '%.*s' is not in the vocabulary",
                         i, (unsigned)cp, n, (const char *)s + i);
        if (push_id(out, id))
            return TFRT_ERR_NOMEM;
        i += (size_t)n;
    }
    return TFRT_OK;
}

int tfrt_tok_encode(const TfrtTokenizer *t, const char *text, size_t len,
                    int32_t **ids, size_t *n, char *err, size_t errlen)
{
    IdBuf out = {0};
    int rc;

    if (!ids || !n)
        return failf(err, errlen, TFRT_ERR_ARG, "encode: NULL output");
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len))
        return failf(err, errlen, TFRT_ERR_ARG, "encode: NULL tokenizer or text");
    if (t->kind == TOK_CHARS)
        rc = encode_chars(t, (const uint8_t *)text, len, &out, err, errlen);
    else
        rc = encode_bpe(t, (const uint8_t *)text, len, &out, err, errlen);
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

/* ---- decoding and queries ------------------------------------------------------ */

const char *tfrt_tok_decode_token(const TfrtTokenizer *t, int32_t id, size_t *len)
{
    size_t dummy;
    return t ? tok_bytes(t, id, len ? len : &dummy) : NULL;
}

int tfrt_tok_decode(const TfrtTokenizer *t, const int32_t *ids, size_t n,
                    char **out, size_t *len, char *err, size_t errlen)
{
    size_t total = 0, tl;
    char *buf;

    if (!t || !out || !len || (!ids && n))
        return failf(err, errlen, TFRT_ERR_ARG, "decode: NULL argument");
    *out = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tok_bytes(t, ids[i], &tl))
            return failf(err, errlen, TFRT_ERR_TOKEN,
                         "decode: id %ld at position %zu is not a token",
                         (long)ids[i], i);
        total += tl;
    }
    if (!(buf = malloc(total + 1)))
        return failf(err, errlen, TFRT_ERR_NOMEM, "decode: out of memory");
    total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *b = tok_bytes(t, ids[i], &tl);
        memcpy(buf + total, b, tl);
        total += tl;
    }
    buf[total] = '\0';
    *out = buf;
    *len = total;
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

void tfrt_tok_free(TfrtTokenizer *t)
{
    if (!t)
        return;
    free(t->pool);
    free(t->tok_off);
    free(t->tok_len);
    free(t->vocab_slot);
    free(t->merges);
    free(t->added);
    free(t);
}

/* ================================================================================
 * Loading
 * ================================================================================ */

/* What every loader needs: the file named in messages, the error buffer. */
typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    char *scratch;          /* for concatenating merge halves */
    size_t scratch_cap;
} Loader;

static int load_fail(Loader *L, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return failf(L->err, L->errlen, status, "%s: %s", L->path, msg);
}

static int read_file(Loader *L, const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;

    if (!f)
        return failf(L->err, L->errlen, TFRT_ERR_IO, "%s: %s", path, strerror(errno));
    do {
        if (n == cap) {
            char *p = realloc(buf, cap = cap ? cap * 2 : 1 << 16);
            if (!p) {
                free(buf);
                fclose(f);
                return failf(L->err, L->errlen, TFRT_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = p;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return failf(L->err, L->errlen, TFRT_ERR_IO, "%s: read error", path);
    }
    fclose(f);
    *data = buf;
    *len = n;
    return TFRT_OK;
}

static int parse_json_file(Loader *L, const char *path, JsonValue **root)
{
    char *text, msg[256];
    size_t len;
    int rc = read_file(L, path, &text, &len);

    if (rc)
        return rc;
    *root = json_parse(text, len, msg, sizeof msg);
    free(text);
    if (!*root)
        return failf(L->err, L->errlen, TFRT_ERR_FORMAT, "%s: %s", path, msg);
    return TFRT_OK;
}

/* ---- GPT-2's byte <-> character alphabet ------------------------------------------ */

/* The byte that character cp stands for, or -1.  Byte b is spelled U+00bb
 * when that character is printable (! .. ~, ¡ .. ¬, ® .. ÿ); the 68 other
 * bytes (0..32, 127..160, 173), in order, are spelled U+0100 onwards. */
static int alphabet_byte(uint32_t cp)
{
    if (cp < 256) {
        int printable = (cp >= '!' && cp <= '~') || (cp >= 0xA1 && cp <= 0xAC) ||
                        cp >= 0xAE;
        return printable ? (int)cp : -1;
    }
    if (cp < 256 + 33)
        return (int)cp - 256;
    if (cp < 256 + 67)
        return 127 + (int)cp - (256 + 33);
    return cp == 256 + 67 ? 173 : -1;
}

/* Turns a token spelled in the byte alphabet into raw bytes, in place (the
 * result is never longer).  Returns -1 on a character outside the alphabet. */
static int unspell(char *s, size_t *len)
{
    size_t i = 0, o = 0;

    while (i < *len) {
        uint32_t cp;
        int b;
        i += (size_t)tfrt_utf8_decode((const uint8_t *)s, *len, i, &cp);
        if ((b = alphabet_byte(cp)) < 0)
            return -1;
        s[o++] = (char)b;
    }
    *len = o;
    return 0;
}

/* ---- vocabulary -------------------------------------------------------------- */

static int json_id(const JsonValue *v, int32_t *id)
{
    if (!v || v->type != JSON_NUMBER || !v->u.number.is_integer ||
        v->u.number.integer < 0 || v->u.number.integer >= MAX_TOKEN_ID)
        return -1;
    *id = (int32_t)v->u.number.integer;
    return 0;
}

/* Largest id in a vocab object and among added tokens, or -1 on a bad id. */
static int32_t max_id(Loader *L, const JsonValue *vocab, const JsonValue *added)
{
    int32_t id, top = -1;

    for (size_t i = 0; i < vocab->u.object.count; i++) {
        if (json_id(&vocab->u.object.members[i].value, &id)) {
            load_fail(L, TFRT_ERR_FORMAT, "vocab entry \"%s\": id must be an "
                      "integer in [0, %d)", vocab->u.object.members[i].key, MAX_TOKEN_ID);
            return -1;
        }
        if (id > top)
            top = id;
    }
    for (size_t i = 0; added && i < added->u.array.count; i++)
        if (!json_id(json_get(&added->u.array.items[i], "id"), &id) && id > top)
            top = id;
    return top;
}

static int load_vocab(Loader *L, TfrtTokenizer *t, const JsonValue *vocab,
                      const JsonValue *added)
{
    int32_t top;
    int rc;

    if (!vocab || vocab->type != JSON_OBJECT || vocab->u.object.count == 0)
        return load_fail(L, TFRT_ERR_FORMAT, "the vocabulary must be a non-empty "
                         "object of token: id");
    if ((top = max_id(L, vocab, added)) < 0)
        return TFRT_ERR_FORMAT;
    if ((rc = tables_alloc(t, top + 1, vocab->u.object.count +
                           (added ? added->u.array.count : 1))))
        return load_fail(L, rc, "out of memory");
    for (size_t i = 0; i < vocab->u.object.count; i++) {
        const JsonMember *m = &vocab->u.object.members[i];
        size_t len = m->key_len;
        int32_t id = (int32_t)m->value.u.number.integer;
        if (unspell(m->key, &len))
            return load_fail(L, TFRT_ERR_FORMAT, "vocab entry \"%s\" has a character "
                             "outside GPT-2's byte alphabet (not byte-level BPE?)", m->key);
        if ((rc = set_token(t, id, m->key, len)) || (rc = vocab_insert(t, id)))
            return rc == TFRT_ERR_NOMEM ? load_fail(L, rc, "out of memory")
                 : load_fail(L, TFRT_ERR_FORMAT, "vocab entry %zu (id %ld) "
                             "duplicates another token's id or bytes", i, (long)id);
        if (len == 1 && t->byte_id[(uint8_t)m->key[0]] < 0)
            t->byte_id[(uint8_t)m->key[0]] = id;
    }
    return TFRT_OK;
}

/* ---- merges ------------------------------------------------------------------- */

/* The id of a merge half spelled s[0..n) in the byte alphabet (s is
 * modified), or -1. */
static int32_t half_id(const TfrtTokenizer *t, char *s, size_t n)
{
    if (unspell(s, &n))
        return -1;
    return tfrt_tok_find(t, s, n);
}

static int add_merge(Loader *L, TfrtTokenizer *t, char *a, size_t na,
                     char *b, size_t nb, int32_t rank)
{
    int32_t left, right, merged;
    size_t la, lb;
    const char *ba, *bb;

    if ((left = half_id(t, a, na)) < 0 || (right = half_id(t, b, nb)) < 0)
        return load_fail(L, TFRT_ERR_FORMAT, "merge %ld: a half is not in the "
                         "vocabulary", (long)rank + 1);
    ba = tok_bytes(t, left, &la);
    bb = tok_bytes(t, right, &lb);
    if (la + lb > L->scratch_cap) {
        free(L->scratch);
        L->scratch_cap = 2 * (la + lb);
        if (!(L->scratch = malloc(L->scratch_cap)))
            return load_fail(L, TFRT_ERR_NOMEM, "out of memory");
    }
    memcpy(L->scratch, ba, la);
    memcpy(L->scratch + la, bb, lb);
    if ((merged = tfrt_tok_find(t, L->scratch, la + lb)) < 0)
        return load_fail(L, TFRT_ERR_FORMAT, "merge %ld: the merged token is not in "
                         "the vocabulary", (long)rank + 1);
    merge_insert(t, left, right, rank, merged);
    return TFRT_OK;
}

/* A merge written "a b": exactly one space (tokens never hold a raw one). */
static int add_merge_line(Loader *L, TfrtTokenizer *t, char *s, size_t n, int32_t rank)
{
    char *sp = memchr(s, ' ', n);

    if (!sp || sp == s || sp == s + n - 1 || memchr(sp + 1, ' ', n - (size_t)(sp - s) - 1))
        return load_fail(L, TFRT_ERR_FORMAT, "merge %ld: expected \"left right\"",
                         (long)rank + 1);
    return add_merge(L, t, s, (size_t)(sp - s), sp + 1, n - (size_t)(sp - s) - 1, rank);
}

/* tokenizer.json merges: "a b" strings or ["a", "b"] pairs. */
static int load_json_merges(Loader *L, TfrtTokenizer *t, const JsonValue *merges)
{
    int rc;

    if (!merges || merges->type != JSON_ARRAY)
        return load_fail(L, TFRT_ERR_FORMAT, "model.merges must be an array");
    if (merges->u.array.count == 0)
        return load_fail(L, TFRT_ERR_FORMAT, "the BPE model has no merges");
    if (merges->u.array.count >= INT32_MAX || merges_alloc(t, merges->u.array.count))
        return load_fail(L, TFRT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < merges->u.array.count; i++) {
        JsonValue *m = &merges->u.array.items[i];
        JsonValue *p = m->u.array.items;
        if (m->type == JSON_STRING)
            rc = add_merge_line(L, t, m->u.string.chars, m->u.string.len, (int32_t)i);
        else if (m->type == JSON_ARRAY && m->u.array.count == 2 &&
                 p[0].type == JSON_STRING && p[1].type == JSON_STRING)
            rc = add_merge(L, t, p[0].u.string.chars, p[0].u.string.len,
                           p[1].u.string.chars, p[1].u.string.len, (int32_t)i);
        else
            rc = load_fail(L, TFRT_ERR_FORMAT, "merge %zu: expected \"a b\" or "
                           "[\"a\", \"b\"]", i + 1);
        if (rc)
            return rc;
    }
    return TFRT_OK;
}

/* merges.txt: an optional "#version" line, then one "a b" per line. */
static int load_text_merges(Loader *L, TfrtTokenizer *t, char *text, size_t len)
{
    size_t count = 0, i = 0;
    int32_t rank = 0;
    int rc;

    for (size_t k = 0; k < len; k++)
        count += text[k] == '\n';
    if (merges_alloc(t, count + 1))
        return load_fail(L, TFRT_ERR_NOMEM, "out of memory");
    if (len >= 8 && memcmp(text, "#version", 8) == 0)
        while (i < len && text[i++] != '\n')
            ;
    while (i < len) {
        char *line = text + i, *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            continue;
        if ((rc = add_merge_line(L, t, line, n, rank++)))
            return rc;
    }
    if (rank == 0)
        return load_fail(L, TFRT_ERR_FORMAT, "the BPE model has no merges");
    return TFRT_OK;
}

/* ---- added tokens ----------------------------------------------------------------- */

static int add_added(Loader *L, TfrtTokenizer *t, int32_t id, const char *s, size_t n)
{
    Added *a;

    if (n == 0)
        return load_fail(L, TFRT_ERR_FORMAT, "added token %ld is empty", (long)id);
    if (set_token(t, id, s, n))
        return load_fail(L, TFRT_ERR_FORMAT, "added token %ld \"%.*s\" clashes with "
                         "the vocabulary's token of that id", (long)id, (int)n, s);
    if (vocab_insert(t, id) == -2)
        return load_fail(L, TFRT_ERR_FORMAT, "too many added tokens");
    if (!(a = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a)))
        return load_fail(L, TFRT_ERR_NOMEM, "out of memory");
    t->added = a;
    a[t->n_added].id = id;
    a[t->n_added].len = n;
    t->n_added++;
    return TFRT_OK;
}

/* Points each added token at its bytes, once the pool no longer moves. */
static void fix_added(TfrtTokenizer *t)
{
    for (int k = 0; k < t->n_added; k++) {
        t->added[k].bytes = tok_bytes(t, t->added[k].id, &t->added[k].len);
        t->added_first[(uint8_t)t->added[k].bytes[0]] = 1;
    }
}

static int load_added_tokens(Loader *L, TfrtTokenizer *t, const JsonValue *added)
{
    int rc;

    if (!added || added->type == JSON_NULL)
        return TFRT_OK;
    if (added->type != JSON_ARRAY)
        return load_fail(L, TFRT_ERR_FORMAT, "added_tokens must be an array");
    for (size_t i = 0; i < added->u.array.count; i++) {
        const JsonValue *c = json_get(&added->u.array.items[i], "content");
        int32_t id;
        if (json_id(json_get(&added->u.array.items[i], "id"), &id) || !c ||
            c->type != JSON_STRING)
            return load_fail(L, TFRT_ERR_FORMAT, "added token %zu needs an integer id "
                             "and a string content", i);
        if ((rc = add_added(L, t, id, c->u.string.chars, c->u.string.len)))
            return rc;
    }
    return TFRT_OK;
}

/* ---- tokenizer.json ------------------------------------------------------------- */

static int is_string(const JsonValue *v, const char *s)
{
    return v && v->type == JSON_STRING && strcmp(v->u.string.chars, s) == 0;
}

static int json_flag(const JsonValue *obj, const char *key, int dflt)
{
    const JsonValue *v = json_get(obj, key);
    return v && v->type == JSON_BOOL ? v->u.boolean : dflt;
}

static const char *type_name(const JsonValue *v)
{
    const JsonValue *ty = json_get(v, "type");
    return ty && ty->type == JSON_STRING ? ty->u.string.chars : "(no type)";
}

/* The pre-tokenizer must be ByteLevel, alone or as the one step of a
 * Sequence: any other split would need its own pattern. */
static int check_pretokenizer(Loader *L, TfrtTokenizer *t, const JsonValue *pre)
{
    const JsonValue *steps;

    if (!pre || pre->type == JSON_NULL)
        return load_fail(L, TFRT_ERR_FORMAT, "no pre_tokenizer; only ByteLevel "
                         "(GPT-2 style byte-level BPE) is supported");
    if (is_string(json_get(pre, "type"), "Sequence")) {
        steps = json_get(pre, "pretokenizers");
        if (!steps || steps->type != JSON_ARRAY || steps->u.array.count != 1)
            return load_fail(L, TFRT_ERR_FORMAT, "unsupported pre_tokenizer: a "
                             "Sequence other than one ByteLevel step");
        pre = &steps->u.array.items[0];
    }
    if (!is_string(json_get(pre, "type"), "ByteLevel"))
        return load_fail(L, TFRT_ERR_FORMAT, "unsupported pre_tokenizer \"%s\"; only "
                         "ByteLevel is supported", type_name(pre));
    t->add_prefix_space = json_flag(pre, "add_prefix_space", 0);
    t->use_regex = json_flag(pre, "use_regex", 1);
    return TFRT_OK;
}

/* Options of the BPE model that GPT-2 style files leave empty. */
static int check_bpe_options(Loader *L, const JsonValue *model)
{
    static const char *const unsupported[] = {
        "continuing_subword_prefix", "end_of_word_suffix"
    };

    if (!is_string(json_get(model, "type"), "BPE") &&
        !(json_get(model, "type") == NULL && json_get(model, "merges")))
        return load_fail(L, TFRT_ERR_FORMAT, "unsupported model type \"%s\"; only BPE "
                         "is supported", type_name(model));
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
        const JsonValue *v = json_get(model, unsupported[i]);
        if (v && v->type != JSON_NULL && !(v->type == JSON_STRING && v->u.string.len == 0))
            return load_fail(L, TFRT_ERR_FORMAT, "model.%s is not supported",
                             unsupported[i]);
    }
    return TFRT_OK;
}

static int load_tokenizer_json(Loader *L, TfrtTokenizer *t, const JsonValue *root)
{
    const JsonValue *model = json_get(root, "model");
    const JsonValue *norm = json_get(root, "normalizer");
    const JsonValue *added = json_get(root, "added_tokens");
    int rc;

    if (!model || model->type != JSON_OBJECT)
        return load_fail(L, TFRT_ERR_FORMAT, "no \"model\" object");
    if ((rc = check_bpe_options(L, model)) || (rc = check_pretokenizer(L, t, json_get(root, "pre_tokenizer"))))
        return rc;
    if (norm && norm->type != JSON_NULL)
        return load_fail(L, TFRT_ERR_FORMAT, "unsupported normalizer \"%s\"",
                         type_name(norm));
    t->ignore_merges = json_flag(model, "ignore_merges", 0);
    if (added && added->type != JSON_ARRAY)
        added = NULL;
    if ((rc = load_vocab(L, t, json_get(model, "vocab"), added)) ||
        (rc = load_json_merges(L, t, json_get(model, "merges"))))
        return rc;
    return load_added_tokens(L, t, added);
}

/* ---- vocab.json + merges.txt ------------------------------------------------------- */

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    char *p = malloc(n + strlen(name) + 2);

    if (p)
        sprintf(p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int load_vocab_merges(Loader *L, TfrtTokenizer *t, const char *vpath,
                             const char *mpath)
{
    JsonValue *vocab;
    char *text;
    size_t len;
    int32_t eos;
    int rc;

    t->use_regex = 1;
    if ((rc = parse_json_file(L, vpath, &vocab)))
        return rc;
    L->path = vpath;
    rc = load_vocab(L, t, vocab, NULL);
    json_free(vocab);
    if (rc || (rc = read_file(L, mpath, &text, &len)))
        return rc;
    L->path = mpath;
    rc = load_text_merges(L, t, text, len);
    free(text);
    /* what Hugging Face's GPT2Tokenizer treats as its special token */
    if (!rc && (eos = tfrt_tok_find(t, "<|endoftext|>", 13)) >= 0)
        rc = add_added(L, t, eos, "<|endoftext|>", 13);
    return rc;
}

/* ---- the character vocabulary -------------------------------------------------------- */

static int load_chars(Loader *L, TfrtTokenizer *t, const JsonValue *chars)
{
    int rc;

    if (!chars || chars->type != JSON_ARRAY || chars->u.array.count == 0 ||
        chars->u.array.count >= MAX_TOKEN_ID)
        return load_fail(L, TFRT_ERR_FORMAT, "\"chars\" must be a non-empty array "
                         "of one-character strings");
    if ((rc = tables_alloc(t, (int32_t)chars->u.array.count, chars->u.array.count)))
        return load_fail(L, rc, "out of memory");
    for (size_t i = 0; i < chars->u.array.count; i++) {
        const JsonValue *c = &chars->u.array.items[i];
        uint32_t cp;
        if (c->type != JSON_STRING || c->u.string.len == 0 ||
            (size_t)tfrt_utf8_decode((const uint8_t *)c->u.string.chars,
                                     c->u.string.len, 0, &cp) != c->u.string.len ||
            cp == UTF8_INVALID)
            return load_fail(L, TFRT_ERR_FORMAT, "chars[%zu] is not one UTF-8 "
                             "character", i);
        if ((rc = set_token(t, (int32_t)i, c->u.string.chars, c->u.string.len)))
            return load_fail(L, rc, "out of memory");
        if (vocab_insert(t, (int32_t)i))
            return load_fail(L, TFRT_ERR_FORMAT, "chars[%zu] \"%s\" appears twice",
                             i, c->u.string.chars);
    }
    return TFRT_OK;
}

/* ---- entry point --------------------------------------------------------------------- */

static int load_json_path(Loader *L, TfrtTokenizer *t, const char *path)
{
    JsonValue *root;
    int rc = parse_json_file(L, path, &root);

    if (rc)
        return rc;
    if (root->type != JSON_OBJECT)
        rc = load_fail(L, TFRT_ERR_FORMAT, "expected a JSON object");
    else if (is_string(json_get(root, "type"), "chars")) {
        t->kind = TOK_CHARS;
        rc = load_chars(L, t, json_get(root, "chars"));
    } else if (json_get(root, "model"))
        rc = load_tokenizer_json(L, t, root);
    else
        rc = load_fail(L, TFRT_ERR_FORMAT, "neither a tokenizer.json (no \"model\") "
                       "nor a character vocabulary (no \"type\": \"chars\")");
    json_free(root);
    return rc;
}

static int load_dir(Loader *L, TfrtTokenizer *t, const char *dir)
{
    static const char *const names[][2] = {
        {"tokenizer.json", NULL}, {"vocab.json", "merges.txt"},
        {"encoder.json", "vocab.bpe"}
    };

    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *a = join_path(dir, names[i][0]);
        char *b = names[i][1] ? join_path(dir, names[i][1]) : NULL;
        int found = 0, rc = TFRT_OK;
        if (!a || (names[i][1] && !b))
            rc = load_fail(L, TFRT_ERR_NOMEM, "out of memory");
        else if ((found = file_exists(a) && (!b || file_exists(b))))
            rc = b ? load_vocab_merges(L, t, a, b) : load_json_path(L, t, a);
        free(a);
        free(b);
        if (found || rc)
            return rc;
    }
    return load_fail(L, TFRT_ERR_IO, "no tokenizer.json, vocab.json + merges.txt or "
                     "encoder.json + vocab.bpe in this directory");
}

static void find_eos(TfrtTokenizer *t)
{
    t->eos = -1;
    for (int k = 0; k < t->n_added; k++)
        if (t->added[k].len == 13 && memcmp(t->added[k].bytes, "<|endoftext|>", 13) == 0)
            t->eos = t->added[k].id;
    if (t->eos < 0 && t->vocab_slot)
        t->eos = tfrt_tok_find(t, "<|endoftext|>", 13);
}

int tfrt_tok_load(TfrtTokenizer **out, const char *path, char *err, size_t errlen)
{
    Loader L = {path, err, errlen, NULL, 0};
    TfrtTokenizer *t;
    struct stat st;
    int rc;

    if (!out || !path)
        return failf(err, errlen, TFRT_ERR_ARG, "tokenizer: NULL argument");
    *out = NULL;
    if (stat(path, &st) != 0)
        return failf(err, errlen, TFRT_ERR_IO, "%s: %s", path, strerror(errno));
    if (!(t = calloc(1, sizeof *t)))
        return failf(err, errlen, TFRT_ERR_NOMEM, "%s: out of memory", path);
    memset(t->byte_id, 0xff, sizeof t->byte_id);
    rc = S_ISDIR(st.st_mode) ? load_dir(&L, t, path) : load_json_path(&L, t, path);
    free(L.scratch);
    if (rc) {
        tfrt_tok_free(t);
        return rc;
    }
    fix_added(t);
    find_eos(t);
    *out = t;
    return TFRT_OK;
}
