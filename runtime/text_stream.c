/*
 * text_stream.c - generated text out as it is made: whole UTF-8
 * characters only, stop strings cut off (TfrtStream, tfrt_generate.h).
 *
 * The held text is the tail that cannot go out yet.  Invariant: what was
 * emitted holds no stop string, and the held text starts at or before the
 * start of every suffix of the whole text that is a proper prefix of a
 * stop string.  So a stop string that the next piece completes lies
 * entirely in the held text plus that piece, and searching those finds it.
 */
#include <stdlib.h>
#include <string.h>

#include "tfrt_generate.h"

int tfrt_stream_init(TfrtStream *s, const char *const *stop, int nstop,
                     int (*emit)(void *user, const char *text, size_t len), void *user)
{
    if (!s || nstop < 0 || (nstop > 0 && !stop))
        return TFRT_ERR_ARG;
    memset(s, 0, sizeof *s);
    for (int i = 0; i < nstop; i++) {
        if (!stop[i] || !stop[i][0])
            return TFRT_ERR_ARG;
        size_t len = strlen(stop[i]);
        if (len > s->max_stop)
            s->max_stop = len;
    }
    s->stop = stop;
    s->nstop = nstop;
    s->emit = emit;
    s->user = user;
    return TFRT_OK;
}

void tfrt_stream_free(TfrtStream *s)
{
    if (!s)
        return;
    free(s->held);
    s->held = NULL;
    s->len = s->cap = 0;
}

/* Bytes a UTF-8 sequence starting with b should have; 1 for a byte that
 * cannot start one (it goes out as it is). */
static size_t utf8_need(unsigned char b)
{
    return b >= 0xF0 && b < 0xF8 ? 4 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xC0 && b < 0xE0 ? 2 : 1;
}

/* Bytes at the end of t[0..len) that begin a character not yet complete. */
static size_t utf8_incomplete(const char *t, size_t len)
{
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        unsigned char b = (unsigned char)t[len - back];
        if ((b & 0xC0) != 0x80)
            return utf8_need(b) > back ? back : 0;
    }
    return 0;
}

/* The longest tail of t[0..len) that is a proper prefix of a stop string. */
static size_t stop_prefix(const TfrtStream *s, const char *t, size_t len)
{
    size_t best = 0;
    for (int i = 0; i < s->nstop; i++) {
        size_t n = strlen(s->stop[i]);
        for (size_t k = n - 1 < len ? n - 1 : len; k > best; k--)
            if (memcmp(t + len - k, s->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Where the first stop string in t[0..len) starts, len if none; *which
 * says which (the first listed, among those starting there). */
static size_t first_stop(const TfrtStream *s, const char *t, size_t len, int *which)
{
    size_t at = len;
    for (int i = 0; i < s->nstop; i++) {
        size_t n = strlen(s->stop[i]);
        for (size_t p = 0; p + n <= len && p < at; p++)
            if (memcmp(t + p, s->stop[i], n) == 0) {
                at = p;
                *which = i;
                break;
            }
    }
    return at;
}

/* Emits held[0..n) and keeps the rest; returns 0 or 2 (emit refused). */
static int emit_front(TfrtStream *s, size_t n)
{
    if (n == 0)
        return 0;
    int rc = s->emit ? s->emit(s->user, s->held, n) : 0;
    memmove(s->held, s->held + n, s->len - n);
    s->len -= n;
    if (rc && !s->status)
        s->status = rc;
    return rc ? 2 : 0;
}

static int append(TfrtStream *s, const char *text, size_t len)
{
    if (len > s->cap - s->len) {
        if (len > ((size_t)-1) / 2 - s->len)
            return -1;
        size_t cap = 2 * (s->len + len) > 64 ? 2 * (s->len + len) : 64;
        char *p = realloc(s->held, cap);
        if (!p)
            return -1;
        s->held = p;
        s->cap = cap;
    }
    if (len)
        memcpy(s->held + s->len, text, len);
    s->len += len;
    return 0;
}

int tfrt_stream_put(TfrtStream *s, const char *text, size_t len)
{
    if (s->found)
        return 1;
    if (s->status)
        return 2;
    if (append(s, text, len))
        return -1;
    int which = 0;
    size_t at = first_stop(s, s->held, s->len, &which);
    if (at < s->len) {
        s->found = 1 + which;
        s->len = at;            /* the stop string and what follows it go */
        int rc = emit_front(s, at);
        return rc ? rc : 1;
    }
    size_t keep = stop_prefix(s, s->held, s->len);
    size_t out = s->len - keep;
    out -= utf8_incomplete(s->held, out);
    return emit_front(s, out);
}

int tfrt_stream_finish(TfrtStream *s)
{
    if (s->found)
        return 0;
    if (s->status)
        return 2;   /* emit asked to stop: it is not called again */
    return emit_front(s, s->len);
}
