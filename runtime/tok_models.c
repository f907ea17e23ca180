/*
 * tok_models.c - the WordPiece and Unigram models, each over one
 * pre-tokenized piece.  Both follow Hugging Face's tokenizers (Rust).
 *
 * WordPiece (BERT): greedy longest match from the left; pieces after the
 * first carry the continuation prefix ("##").  A word longer than
 * max_input_chars_per_word characters, or one with a part no piece
 * matches, is the unknown token as a whole.
 *
 * Unigram (T5, SentencePiece): the segmentation with the highest total
 * score (Viterbi over byte positions).  A character that no piece starts
 * with becomes the unknown token, scored as the lowest score less 10;
 * consecutive unknown characters are one unknown token.  On equal totals
 * the path found first wins: shorter pieces before longer ones at each
 * position, as Hugging Face's loop finds them.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* ---- WordPiece ------------------------------------------------------------------ */

/* The id of prefix ++ s[0..n) (the prefix only when `cont`), or -1. */
static int32_t find_with_prefix(const TfrtTokenizer *t, Bytes *tmp, const uint8_t *s,
                                size_t n, int cont)
{
    if (!cont)
        return tfrt_tok_find(t, (const char *)s, n);
    tmp->n = 0;
    if (bytes_put(tmp, t->wp_prefix, t->wp_prefix_len) || bytes_put(tmp, s, n))
        return -2;
    return tfrt_tok_find(t, (const char *)tmp->b, tmp->n);
}

static size_t char_count(const uint8_t *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += (s[i] & 0xC0) != 0x80;
    return c;
}

/* Where the character before byte `end` starts (> start). */
static size_t prev_char(const uint8_t *s, size_t start, size_t end)
{
    size_t b = end - 1;
    while (b > start && (s[b] & 0xC0) == 0x80 && end - b < 4)
        b--;
    return b;
}

int tok_wordpiece_piece(const TfrtTokenizer *t, const uint8_t *s, size_t n, IdBuf *out)
{
    size_t first = out->n, start = 0;
    Bytes tmp = {0};
    int rc = TFRT_OK;

    if (char_count(s, n) > (size_t)t->wp_max_chars)
        return push_id(out, t->unk);
    while (start < n && rc == TFRT_OK) {
        /* no piece is longer than max_piece (+ the prefix) */
        size_t end = n - start > t->max_piece ? start + t->max_piece : n;
        int32_t id = -1;
        while (end > start) {
            if ((id = find_with_prefix(t, &tmp, s + start, end - start, start > 0)) != -1)
                break;
            end = prev_char(s, start, end);
        }
        if (id == -2)
            rc = TFRT_ERR_NOMEM;
        else if (id < 0)
            break;
        else
            rc = push_id(out, id);
        start = end;
    }
    free(tmp.b);
    if (rc == TFRT_OK && start < n) {     /* a part matched nothing: all unknown */
        out->n = first;
        rc = push_id(out, t->unk);
    }
    return rc;
}

/* ---- Unigram ----------------------------------------------------------------------- */

typedef struct {
    double score;      /* best total of a path ending here */
    size_t from;       /* where its last piece starts; SIZE_MAX: unreached */
    int32_t id;        /* its last piece */
} Best;

static void offer(Best *b, double score, size_t from, int32_t id)
{
    if (b->from == SIZE_MAX || score > b->score) {
        b->score = score;
        b->from = from;
        b->id = id;
    }
}

/* The ids of an unknown stretch s[0..n): its bytes' <0xNN> tokens with
 * byte_fallback, else the unknown token. */
static int push_unknown(const TfrtTokenizer *t, const uint8_t *s, size_t n, IdBuf *out)
{
    int bytes_ok = t->byte_fallback;
    int rc = TFRT_OK;

    for (size_t i = 0; i < n && bytes_ok; i++)
        bytes_ok = t->byte_id[s[i]] >= 0;
    if (!bytes_ok)
        return push_id(out, t->unk);
    for (size_t i = 0; i < n && rc == TFRT_OK; i++)
        rc = push_id(out, t->byte_id[s[i]]);
    return rc;
}

/* Viterbi forward pass over byte positions. */
static void unigram_forward(const TfrtTokenizer *t, const uint8_t *s, size_t n, Best *best)
{
    for (size_t i = 0; i <= n; i++)
        best[i] = (Best){0, SIZE_MAX, -1};
    best[0].from = 0;
    for (size_t at = 0; at < n;) {
        uint32_t cp;
        size_t mblen = (size_t)tfrt_utf8_decode(s, n, at, &cp);
        double here = best[at].score;
        int single = 0;
        int32_t node = 0;
        for (size_t k = at; k < n && (node = trie_child(&t->pieces, node, s[k])) >= 0; k++) {
            int32_t id = t->pieces.accept[node];
            if (id < 0)
                continue;
            offer(&best[k + 1], here + t->scores[id], at, id);
            single |= k + 1 - at == mblen;
        }
        if (!single)
            offer(&best[at + mblen], here + t->unk_score, at, t->unk);
        at += mblen;
    }
}

int tok_unigram_piece(const TfrtTokenizer *t, const uint8_t *s, size_t n, IdBuf *out)
{
    Best *best;
    size_t *starts, count = 0, k;
    int rc = TFRT_OK;

    if (n == 0)
        return TFRT_OK;
    if (n >= SIZE_MAX / sizeof *best / 2 || !(best = malloc((n + 1) * sizeof *best)))
        return TFRT_ERR_NOMEM;
    unigram_forward(t, s, n, best);
    for (size_t end = n; end > 0; end = best[end].from)
        count++;
    if (!(starts = malloc((count + 1) * sizeof *starts))) {
        free(best);
        return TFRT_ERR_NOMEM;
    }
    /* the path's piece boundaries, in order */
    starts[k = count] = n;
    for (size_t end = n; end > 0; end = best[end].from)
        starts[--k] = best[end].from;
    for (k = 0; k < count && rc == TFRT_OK; k++) {
        size_t a = starts[k], b = starts[k + 1];
        if (best[b].id != t->unk) {
            rc = push_id(out, best[b].id);
            continue;
        }
        while (t->fuse_unk && k + 1 < count && best[starts[k + 2]].id == t->unk)
            b = starts[++k + 1];
        rc = push_unknown(t, s + a, b - a, out);
    }
    free(starts);
    free(best);
    return rc;
}
