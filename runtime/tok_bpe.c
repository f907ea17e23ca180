/*
 * tok_bpe.c - byte-pair encoding of one pre-tokenized piece.
 *
 * A piece starts as one symbol per byte (byte-level BPE, GPT-2) or per
 * character (SentencePiece-style BPE: Llama), and merges are applied, the
 * pair of lowest rank first, the leftmost of equal ranks first, until none
 * applies.  That is the loop of Hugging Face's tokenizers, of
 * SentencePiece's BPE and of llama2.c (whose ranks are the merged pieces'
 * scores, see tok_merges_from_scores).  For a merge list in which each
 * merge's halves are made by earlier merges, as every trained list is, it
 * also equals GPT-2's original loop, which merges every occurrence of the
 * best pair at once.
 *
 * We keep the pairs in a min-heap keyed by (rank, position) and check an
 * entry when it comes off the heap, since merges around it may have
 * changed its pair.  A piece of n bytes costs O(n log n) hash lookups and
 * heap steps, so even a megabyte-long "word" encodes quickly.
 *
 * A character with no token becomes its UTF-8 bytes' <0xNN> tokens when
 * the model has byte_fallback, else the unknown token (consecutive ones
 * fused into one with fuse_unk), else an error naming its offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* splitmix64's finalizer: spreads a pair key over the table. */
static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static const Merge *merge_find(const TfrtTokenizer *t, int32_t left, int32_t right)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t mask = t->merge_cap - 1;

    if (!t->merges)
        return NULL;
    for (size_t i = (size_t)hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (t->merges[i].key == key)
            return &t->merges[i];
        if (t->merges[i].key == EMPTY_KEY)
            return NULL;
    }
}

int tok_merges_alloc(TfrtTokenizer *t, size_t count)
{
    size_t cap = 16;

    while (cap < count * 2 + 1)
        cap *= 2;
    free(t->merges);
    t->merge_count = 0;
    t->merge_cap = cap;
    if (count > SIZE_MAX / 4 / sizeof *t->merges || !(t->merges = malloc(cap * sizeof *t->merges)))
        return TFRT_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++)
        t->merges[i].key = EMPTY_KEY;
    return TFRT_OK;
}

/* A later duplicate of a pair overrides its rank, as in GPT-2's
 * dict(zip(merges, range(...))) and in Hugging Face tokenizers.  The table
 * was sized for every insert (tok_merges_alloc). */
void tok_merge_insert(TfrtTokenizer *t, int32_t left, int32_t right,
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

/* ---- merges from scores ------------------------------------------------------- */

typedef struct {
    double score;
    int32_t id;
} Scored;

static int by_score_desc(const void *a, const void *b)
{
    const Scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* A piece that merges may make: not special, not a <0xNN> byte token. */
static int mergeable(const TfrtTokenizer *t, int32_t id)
{
    size_t len;
    const char *p = tok_piece(t, id, &len);
    return p && !t->is_special[id] &&
           !(len == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>');
}

int tok_merges_from_scores(TfrtTokenizer *t, const double *scores)
{
    Scored *order = malloc((size_t)t->n_ids * sizeof *order);
    int32_t *rank = malloc((size_t)t->n_ids * sizeof *rank);
    size_t total = 0, n = 0;
    int rc = TFRT_ERR_NOMEM;

    if (!order || !rank)
        goto out;
    for (int32_t id = 0; id < t->n_ids; id++) {
        size_t len;
        if (mergeable(t, id) && tok_piece(t, id, &len)) {
            order[n++] = (Scored){scores[id], id};
            total += len;
        }
    }
    qsort(order, n, sizeof *order, by_score_desc);
    for (size_t i = 0; i < n; i++)   /* equal scores, equal ranks */
        rank[order[i].id] = i > 0 && order[i].score == order[i - 1].score
                                ? rank[order[i - 1].id] : (int32_t)i;
    if (tok_merges_alloc(t, total + 1))
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        int32_t id = order[i].id, a, b;
        const char *p = tok_piece(t, id, &len);
        for (size_t k = 1; k < len; k++) {
            if ((p[k] & 0xC0) == 0x80)
                continue;           /* not between two characters */
            a = tfrt_tok_find(t, p, k);
            b = tfrt_tok_find(t, p + k, len - k);
            if (a >= 0 && b >= 0 && mergeable(t, a) && mergeable(t, b))
                tok_merge_insert(t, a, b, rank[id], id);
        }
    }
    rc = TFRT_OK;
out:
    free(order);
    free(rank);
    return rc;
}

/* ---- the merge loop ------------------------------------------------------------ */

/* Scratch for one piece of up to `cap` symbols, reused across pieces. */
struct Work {
    int32_t *sym;          /* (cap,) token id of the symbol starting here, -1: merged away */
    int32_t *next, *prev;  /* (cap,) neighbours in the linked list, -1: none */
    uint64_t *heap;        /* (3 cap,) rank << 32 | position, a min-heap */
    size_t heap_n;
    size_t cap;
};

Work *tok_work_new(void)
{
    return calloc(1, sizeof(Work));
}

static void work_clear(Work *w)
{
    free(w->sym); free(w->next); free(w->prev); free(w->heap);
    memset(w, 0, sizeof *w);
}

void tok_work_free(Work *w)
{
    if (w)
        work_clear(w);
    free(w);
}

static int work_reserve(Work *w, size_t n)
{
    if (n <= w->cap)
        return TFRT_OK;
    work_clear(w);
    if (n > INT32_MAX || n > SIZE_MAX / (3 * sizeof *w->heap))
        return TFRT_ERR_NOMEM;
    w->sym = malloc(n * sizeof *w->sym);
    w->next = malloc(n * sizeof *w->next);
    w->prev = malloc(n * sizeof *w->prev);
    /* n - 1 pairs at first; each merge pushes at most 2 more, < n merges */
    w->heap = malloc(3 * n * sizeof *w->heap);
    if (!w->sym || !w->next || !w->prev || !w->heap)
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

/* Merges the pair at p if it is still a pair of rank `rank`. */
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

static void bpe_merge(const TfrtTokenizer *t, Work *w, int32_t n)
{
    w->heap_n = 0;
    for (int32_t p = 0; p + 1 < n; p++)
        push_pair(t, w, p);
    while (w->heap_n > 0) {
        uint64_t top = heap_pop(w);
        int32_t p = (int32_t)(uint32_t)top;
        if (merge_at(t, w, p, (int32_t)(top >> 32))) {
            push_pair(t, w, w->prev[p]);
            push_pair(t, w, p);
        }
    }
}

/* ---- initial symbols ------------------------------------------------------------- */

static int add_sym(Work *w, int32_t *n, int32_t id, int fuse_with_last)
{
    if (fuse_with_last && *n > 0 && w->sym[*n - 1] == id)
        return 0;
    w->sym[*n] = id;
    w->next[*n] = -1;
    w->prev[*n] = *n - 1;
    if (*n > 0)
        w->next[*n - 1] = *n;
    (*n)++;
    return 0;
}

/* The symbols of a character that has no token: bytes, or unknown. */
static int unknown_char(const TfrtTokenizer *t, Work *w, int32_t *n, const uint8_t *s,
                        int k, size_t at, char *err, size_t errlen)
{
    int bytes_ok = t->byte_fallback;

    for (int b = 0; b < k && bytes_ok; b++)
        bytes_ok = t->byte_id[s[b]] >= 0;
    if (bytes_ok) {
        for (int b = 0; b < k; b++)
            add_sym(w, n, t->byte_id[s[b]], 0);
        return TFRT_OK;
    }
    if (t->unk >= 0)
        return add_sym(w, n, t->unk, t->fuse_unk);
    if (err && errlen)
        snprintf(err, errlen, "byte offset %zu: '%.*s' (byte 0x%02x) has no token in the "
                 "vocabulary and the model has no unknown token", at, k, (const char *)s, s[0]);
    return TFRT_ERR_TOKEN;
}

/* One symbol per character (SentencePiece-style BPE). */
static int char_symbols(const TfrtTokenizer *t, Work *w, const uint8_t *s, size_t len,
                        size_t base, int32_t *n, char *err, size_t errlen)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = tfrt_utf8_decode(s, len, i, &cp), rc;
        int32_t id = tfrt_tok_find(t, (const char *)s + i, (size_t)k);
        if (id >= 0)
            add_sym(w, n, id, 0);
        else if ((rc = unknown_char(t, w, n, s + i, k, base + i, err, errlen)))
            return rc;
        i += (size_t)k;
    }
    return TFRT_OK;
}

/* One symbol per byte (byte-level BPE: every byte has a token or none). */
static int byte_symbols(const TfrtTokenizer *t, Work *w, const uint8_t *s, size_t len,
                        size_t base, int32_t *n, char *err, size_t errlen)
{
    for (size_t i = 0; i < len; i++) {
        if (t->byte_id[s[i]] < 0) {
            if (t->unk >= 0) {
                add_sym(w, n, t->unk, t->fuse_unk);
                continue;
            }
            if (err && errlen)
                snprintf(err, errlen, "byte offset %zu: byte 0x%02x has no token in the "
                         "vocabulary", base + i, s[i]);
            return TFRT_ERR_TOKEN;
        }
        add_sym(w, n, t->byte_id[s[i]], 0);
    }
    return TFRT_OK;
}

int tok_bpe_piece(const TfrtTokenizer *t, Work *w, const uint8_t *s, size_t len,
                  size_t base, IdBuf *out, char *err, size_t errlen)
{
    int32_t whole, n = 0;
    int rc;

    if (t->ignore_merges && (whole = tfrt_tok_find(t, (const char *)s, len)) >= 0)
        return push_id(out, whole);
    if (len >= INT32_MAX / 4)
        return TFRT_ERR_NOMEM;
    /* a character may become up to 4 byte symbols: never more than len */
    if (work_reserve(w, len))
        return TFRT_ERR_NOMEM;
    rc = t->byte_level ? byte_symbols(t, w, s, len, base, &n, err, errlen)
                       : char_symbols(t, w, s, len, base, &n, err, errlen);
    if (rc)
        return rc;
    bpe_merge(t, w, n);
    /* position 0 is never merged away: a merge removes the right symbol */
    for (int32_t p = 0; n > 0 && p >= 0; p = w->next[p])
        if (push_id(out, w->sym[p]))
            return TFRT_ERR_NOMEM;
    return TFRT_OK;
}
