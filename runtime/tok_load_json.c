/*
 * tok_load_json.c - Hugging Face tokenizer.json, and the vocabulary and
 * merge readers that vocab.json + merges.txt share with it.
 *
 * Every part of the file that changes how text is encoded or decoded is
 * either implemented or refused with a message naming it: the model (BPE,
 * WordPiece, Unigram), the normalizer, the pre-tokenizer, the
 * post-processor (its special tokens around one sequence) and the decoder.
 * Nothing is silently dropped.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tokenizer_internal.h"

/* Ids beyond this are refused: they would only make us allocate a huge
 * table for a hostile file (real vocabularies hold at most a few 100k). */
#define MAX_TOKEN_ID (1 << 24)

int tok_fail(Loader *L, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->err && L->errlen)
        snprintf(L->err, L->errlen, "%s: %s", L->path, msg);
    return status;
}

int tok_parse_json_file(Loader *L, const char *path, JsonValue **root)
{
    char *text, msg[256];
    size_t len;
    const char *saved = L->path;
    int rc = tok_read_file(L, path, &text, &len);

    if (rc)
        return rc;
    *root = json_parse(text, len, msg, sizeof msg);
    free(text);
    if (!*root) {
        L->path = path;
        rc = tok_fail(L, TFRT_ERR_FORMAT, "%s", msg);
        L->path = saved;
        return rc;
    }
    return TFRT_OK;
}

/* ---- small readers ----------------------------------------------------------- */

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

static int json_id(const JsonValue *v, int32_t *id)
{
    if (!v || v->type != JSON_NUMBER || !v->u.number.is_integer ||
        v->u.number.integer < 0 || v->u.number.integer >= MAX_TOKEN_ID)
        return -1;
    *id = (int32_t)v->u.number.integer;
    return 0;
}

static char *dup_bytes(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
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

/* ---- vocabulary ---------------------------------------------------------------------- */

/* Largest id in a vocab object and among added tokens, or -1 on a bad id. */
static int32_t max_id(Loader *L, const JsonValue *vocab, const JsonValue *added)
{
    int32_t id, top = -1;

    for (size_t i = 0; i < vocab->u.object.count; i++) {
        if (json_id(&vocab->u.object.members[i].value, &id)) {
            tok_fail(L, TFRT_ERR_FORMAT, "vocab entry \"%.60s\": id must be an integer "
                     "in [0, %d)", vocab->u.object.members[i].key, MAX_TOKEN_ID);
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

static int table_for(Loader *L, TfrtTokenizer *t, int32_t top, size_t count,
                     const JsonValue *added)
{
    size_t extra = added && added->type == JSON_ARRAY ? added->u.array.count : 1;
    if (tok_tables_alloc(t, top + 1, count + extra))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    return TFRT_OK;
}

int tok_load_vocab_object(Loader *L, TfrtTokenizer *t, const JsonValue *vocab,
                          const JsonValue *added, int byte_level)
{
    int32_t top;
    int rc;

    if (!vocab || vocab->type != JSON_OBJECT || vocab->u.object.count == 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "the vocabulary must be a non-empty "
                        "object of token: id");
    if (added && added->type != JSON_ARRAY)
        added = NULL;
    if ((top = max_id(L, vocab, added)) < 0)
        return TFRT_ERR_FORMAT;
    if ((rc = table_for(L, t, top, vocab->u.object.count, added)))
        return rc;
    for (size_t i = 0; i < vocab->u.object.count; i++) {
        const JsonMember *m = &vocab->u.object.members[i];
        size_t len = m->key_len;
        int32_t id = (int32_t)m->value.u.number.integer;
        if (byte_level && unspell(m->key, &len))
            return tok_fail(L, TFRT_ERR_FORMAT, "vocab entry \"%.60s\" has a character "
                            "outside GPT-2's byte alphabet (not byte-level BPE?)", m->key);
        if ((rc = tok_set_piece(t, id, m->key, len)))
            return rc == TFRT_ERR_NOMEM ? tok_fail(L, rc, "out of memory")
                 : tok_fail(L, TFRT_ERR_FORMAT, "vocab entry %zu (id %ld) duplicates "
                            "another token's id or bytes", i, (long)id);
        if (byte_level && len == 1 && t->byte_id[(uint8_t)m->key[0]] < 0)
            t->byte_id[(uint8_t)m->key[0]] = id;
    }
    return TFRT_OK;
}

/* Unigram: [["piece", score], ...], the index being the id. */
static int load_unigram_vocab(Loader *L, TfrtTokenizer *t, const JsonValue *vocab,
                              const JsonValue *added)
{
    int32_t top = -1, id;
    double low = INFINITY;
    int rc;

    if (!vocab || vocab->type != JSON_ARRAY || vocab->u.array.count == 0 ||
        vocab->u.array.count >= MAX_TOKEN_ID)
        return tok_fail(L, TFRT_ERR_FORMAT, "model.vocab must be a non-empty array of "
                        "[piece, score] (at most %d)", MAX_TOKEN_ID);
    top = (int32_t)vocab->u.array.count - 1;
    for (size_t i = 0; added && added->type == JSON_ARRAY && i < added->u.array.count; i++)
        if (!json_id(json_get(&added->u.array.items[i], "id"), &id) && id > top)
            top = id;
    if ((rc = table_for(L, t, top, vocab->u.array.count, added)))
        return rc;
    if (!(t->scores = calloc((size_t)top + 1, sizeof *t->scores)))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < vocab->u.array.count; i++) {
        const JsonValue *e = &vocab->u.array.items[i];
        const JsonValue *p = e->type == JSON_ARRAY && e->u.array.count == 2 ? e->u.array.items : NULL;
        if (!p || p[0].type != JSON_STRING || p[1].type != JSON_NUMBER ||
            !isfinite(p[1].u.number.value))
            return tok_fail(L, TFRT_ERR_FORMAT, "model.vocab[%zu] is not [piece, finite score]", i);
        if ((rc = tok_set_piece(t, (int32_t)i, p[0].u.string.chars, p[0].u.string.len)))
            return rc == TFRT_ERR_NOMEM ? tok_fail(L, rc, "out of memory")
                 : tok_fail(L, TFRT_ERR_FORMAT, "model.vocab[%zu] \"%.60s\" appears twice",
                            i, p[0].u.string.chars);
        t->scores[i] = p[1].u.number.value;
        if (t->scores[i] < low)
            low = t->scores[i];
    }
    t->unk_score = low - 10.0;
    return TFRT_OK;
}

/* ---- merges ------------------------------------------------------------------------ */

/* The id of a merge half s[0..n) (unspelled in place when byte-level). */
static int32_t half_id(const TfrtTokenizer *t, char *s, size_t n)
{
    if (t->byte_level && unspell(s, &n))
        return -1;
    return tfrt_tok_find(t, s, n);
}

static int add_merge(Loader *L, TfrtTokenizer *t, char *a, size_t na, char *b, size_t nb,
                     int32_t rank, Bytes *scratch)
{
    int32_t left, right, merged;
    size_t la, lb;
    const char *ba, *bb;

    if ((left = half_id(t, a, na)) < 0 || (right = half_id(t, b, nb)) < 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "merge %ld: a half is not in the vocabulary",
                        (long)rank + 1);
    ba = tok_piece(t, left, &la);
    bb = tok_piece(t, right, &lb);
    scratch->n = 0;
    if (bytes_put(scratch, ba, la) || bytes_put(scratch, bb, lb))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    if ((merged = tfrt_tok_find(t, (const char *)scratch->b, scratch->n)) < 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "merge %ld: the merged token is not in the "
                        "vocabulary", (long)rank + 1);
    tok_merge_insert(t, left, right, rank, merged);
    return TFRT_OK;
}

/* A merge written "a b": exactly one space (pieces never hold a raw one). */
static int add_merge_line(Loader *L, TfrtTokenizer *t, char *s, size_t n, int32_t rank,
                          Bytes *scratch)
{
    char *sp = n ? memchr(s, ' ', n) : NULL;

    if (!sp || sp == s || sp == s + n - 1 || memchr(sp + 1, ' ', n - (size_t)(sp - s) - 1))
        return tok_fail(L, TFRT_ERR_FORMAT, "merge %ld: expected \"left right\"", (long)rank + 1);
    return add_merge(L, t, s, (size_t)(sp - s), sp + 1, n - (size_t)(sp - s) - 1, rank, scratch);
}

static int load_json_merges(Loader *L, TfrtTokenizer *t, const JsonValue *merges)
{
    Bytes scratch = {0};
    int rc = TFRT_OK;

    if (!merges || merges->type != JSON_ARRAY)
        return tok_fail(L, TFRT_ERR_FORMAT, "model.merges must be an array");
    if (merges->u.array.count >= INT32_MAX || tok_merges_alloc(t, merges->u.array.count))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < merges->u.array.count && rc == TFRT_OK; i++) {
        JsonValue *m = &merges->u.array.items[i];
        JsonValue *p = m->type == JSON_ARRAY ? m->u.array.items : NULL;
        if (m->type == JSON_STRING)
            rc = add_merge_line(L, t, m->u.string.chars, m->u.string.len, (int32_t)i, &scratch);
        else if (p && m->u.array.count == 2 && p[0].type == JSON_STRING &&
                 p[1].type == JSON_STRING)
            rc = add_merge(L, t, p[0].u.string.chars, p[0].u.string.len,
                           p[1].u.string.chars, p[1].u.string.len, (int32_t)i, &scratch);
        else
            rc = tok_fail(L, TFRT_ERR_FORMAT, "merge %zu: expected \"a b\" or [\"a\", \"b\"]",
                          i + 1);
    }
    free(scratch.b);
    return rc;
}

/* merges.txt: an optional "#version" line, then one "a b" per line. */
int tok_load_text_merges(Loader *L, TfrtTokenizer *t, char *text, size_t len)
{
    Bytes scratch = {0};
    size_t count = 0, i = 0;
    int32_t rank = 0;
    int rc = TFRT_OK;

    for (size_t k = 0; k < len; k++)
        count += text[k] == '\n';
    if (count >= INT32_MAX || tok_merges_alloc(t, count + 1))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    if (len >= 8 && memcmp(text, "#version", 8) == 0)
        while (i < len && text[i++] != '\n')
            ;
    while (i < len && rc == TFRT_OK) {
        char *line = text + i, *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n > 0)
            rc = add_merge_line(L, t, line, n, rank++, &scratch);
    }
    free(scratch.b);
    if (rc == TFRT_OK && rank == 0)
        rc = tok_fail(L, TFRT_ERR_FORMAT, "the BPE model has no merges");
    return rc;
}

/* ---- added tokens ---------------------------------------------------------------- */

static int load_added_tokens(Loader *L, TfrtTokenizer *t, const JsonValue *added)
{
    if (!added || added->type == JSON_NULL)
        return TFRT_OK;
    if (added->type != JSON_ARRAY)
        return tok_fail(L, TFRT_ERR_FORMAT, "added_tokens must be an array");
    for (size_t i = 0; i < added->u.array.count; i++) {
        const JsonValue *a = &added->u.array.items[i], *c = json_get(a, "content");
        int32_t id;
        int rc;
        if (json_id(json_get(a, "id"), &id) || !c || c->type != JSON_STRING)
            return tok_fail(L, TFRT_ERR_FORMAT, "added token %zu needs an integer id "
                            "and a string content", i);
        if (json_flag(a, "single_word", 0))
            return tok_fail(L, TFRT_ERR_FORMAT, "added token \"%.60s\": single_word is "
                            "not supported", c->u.string.chars);
        if ((rc = tok_set_piece(t, id, c->u.string.chars, c->u.string.len)))
            return rc == TFRT_ERR_NOMEM ? tok_fail(L, rc, "out of memory")
                 : tok_fail(L, TFRT_ERR_FORMAT, "added token %ld \"%.60s\" clashes with "
                            "another token's id or bytes", (long)id, c->u.string.chars);
        if (tok_add_added(t, id, json_flag(a, "lstrip", 0), json_flag(a, "rstrip", 0),
                          json_flag(a, "special", 0)))
            return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    }
    return TFRT_OK;
}

/* ---- normalizer ------------------------------------------------------------------ */

static int b64_value(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
         : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 (padding optional) into a malloc'ed buffer. */
static uint8_t *b64_decode(const char *s, size_t n, size_t *out_len)
{
    uint8_t *out = malloc(n / 4 * 3 + 3);
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return out;
}

static NormStep *new_norm(Loader *L, TfrtTokenizer *t)
{
    if (t->n_norm == MAX_STEPS) {
        tok_fail(L, TFRT_ERR_FORMAT, "normalizer: more than %d steps", MAX_STEPS);
        return NULL;
    }
    memset(&t->norm[t->n_norm], 0, sizeof t->norm[0]);
    return &t->norm[t->n_norm++];
}

static int set_strings(Loader *L, NormStep *st, const char *a, size_t na, const char *b, size_t nb)
{
    if (!(st->str = dup_bytes(a, na)) || !(st->content = dup_bytes(b ? b : "", nb)))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    st->str_len = na;
    st->content_len = nb;
    return TFRT_OK;
}

/* Replace: a string, or a regex that is a run of one literal character
 * ("X+" or "X{n,}"), which is what SentencePiece conversions write. */
static int parse_replace(Loader *L, NormStep *st, const JsonValue *v)
{
    const JsonValue *pat = json_get(v, "pattern"), *c = json_get(v, "content");
    const JsonValue *str = json_get(pat, "String"), *re = json_get(pat, "Regex");
    const char *r;
    uint32_t cp;
    int k;
    long min;
    char *end;

    if (!c || c->type != JSON_STRING || (!str && !re))
        return tok_fail(L, TFRT_ERR_FORMAT, "normalizer Replace needs a pattern and a content");
    if (str && str->type == JSON_STRING && str->u.string.len > 0) {
        st->kind = NORM_REPLACE;
        return set_strings(L, st, str->u.string.chars, str->u.string.len,
                           c->u.string.chars, c->u.string.len);
    }
    if (!re || re->type != JSON_STRING || re->u.string.len == 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "normalizer Replace: unsupported pattern");
    r = re->u.string.chars;
    k = tfrt_utf8_decode((const uint8_t *)r, re->u.string.len, 0, &cp);
    if (cp == UTF8_INVALID || strchr("\\.[](){}+*?|^$", r[0]))
        k = 0;
    if (k > 0 && strcmp(r + k, "+") == 0)
        min = 1;
    else if (k > 0 && r[k] == '{' && (min = strtol(r + k + 1, &end, 10)) >= 1 &&
             min < 1000 && strcmp(end, ",}") == 0)
        ;
    else
        return tok_fail(L, TFRT_ERR_FORMAT, "normalizer Replace with the regex \"%.60s\" is "
                        "not supported (only a literal string, or a run of one character "
                        "such as \" {2,}\")", r);
    st->kind = NORM_REPLACE_RUN;
    st->min = (int)min;
    return set_strings(L, st, r, (size_t)k, c->u.string.chars, c->u.string.len);
}

static int parse_normalizer(Loader *L, TfrtTokenizer *t, const JsonValue *v, int depth);

static int parse_norm_step(Loader *L, TfrtTokenizer *t, const JsonValue *v, const char *ty)
{
    NormStep *st = new_norm(L, t);
    const JsonValue *x;

    if (!st)
        return TFRT_ERR_FORMAT;
    if (strcmp(ty, "BertNormalizer") == 0) {
        int lower = json_flag(v, "lowercase", 1);
        const JsonValue *sa = json_get(v, "strip_accents");
        st->kind = NORM_BERT;
        st->flags = (json_flag(v, "clean_text", 1) ? BERT_CLEAN : 0) |
                    (json_flag(v, "handle_chinese_chars", 1) ? BERT_CHINESE : 0) |
                    (lower ? BERT_LOWER : 0) |
                    ((sa && sa->type == JSON_BOOL ? sa->u.boolean : lower) ? BERT_ACCENTS : 0);
        return TFRT_OK;
    }
    if (strcmp(ty, "Lowercase") == 0 || strcmp(ty, "StripAccents") == 0 || strcmp(ty, "NFD") == 0) {
        st->kind = ty[0] == 'L' ? NORM_LOWERCASE : ty[0] == 'S' ? NORM_STRIP_ACCENTS : NORM_NFD;
        return TFRT_OK;
    }
    if (strcmp(ty, "Prepend") == 0) {
        x = json_get(v, "prepend");
        if (!x || x->type != JSON_STRING)
            return tok_fail(L, TFRT_ERR_FORMAT, "normalizer Prepend needs a string \"prepend\"");
        st->kind = NORM_PREPEND;
        return set_strings(L, st, x->u.string.chars, x->u.string.len, NULL, 0);
    }
    if (strcmp(ty, "Replace") == 0)
        return parse_replace(L, st, v);
    if (strcmp(ty, "Strip") == 0) {
        st->kind = NORM_STRIP;
        st->flags = json_flag(v, "strip_left", 1) | json_flag(v, "strip_right", 1) << 1;
        return TFRT_OK;
    }
    if (strcmp(ty, "Precompiled") == 0) {
        size_t n;
        uint8_t *blob;
        int rc;
        x = json_get(v, "precompiled_charsmap");
        st->kind = NORM_PRECOMPILED;
        if (!x || x->type == JSON_NULL)
            return TFRT_OK;          /* no map: copies the text (trie_units 0) */
        if (x->type != JSON_STRING || !(blob = b64_decode(x->u.string.chars, x->u.string.len, &n)))
            return tok_fail(L, TFRT_ERR_FORMAT, "normalizer Precompiled: the charsmap is not "
                            "base64");
        rc = tok_charsmap_init(st, blob, n);
        free(blob);
        return rc == 0 ? TFRT_OK : rc == TFRT_ERR_NOMEM ? tok_fail(L, rc, "out of memory")
             : tok_fail(L, TFRT_ERR_FORMAT, "normalizer Precompiled: malformed charsmap");
    }
    t->n_norm--;
    return tok_fail(L, TFRT_ERR_FORMAT, "unsupported normalizer \"%.40s\" (supported: "
                    "BertNormalizer, Lowercase, StripAccents, NFD, Prepend, Replace, Strip, "
                    "Precompiled, Sequence)", ty);
}

static int parse_normalizer(Loader *L, TfrtTokenizer *t, const JsonValue *v, int depth)
{
    const JsonValue *list;
    int rc = TFRT_OK;

    if (!v || v->type == JSON_NULL)
        return TFRT_OK;
    if (!is_string(json_get(v, "type"), "Sequence"))
        return parse_norm_step(L, t, v, type_name(v));
    list = json_get(v, "normalizers");
    if (depth > 4 || !list || list->type != JSON_ARRAY)
        return tok_fail(L, TFRT_ERR_FORMAT, "normalizer Sequence needs a \"normalizers\" array");
    for (size_t i = 0; i < list->u.array.count && rc == TFRT_OK; i++)
        rc = parse_normalizer(L, t, &list->u.array.items[i], depth + 1);
    return rc;
}

/* ---- pre-tokenizer ----------------------------------------------------------------- */

/* prepend_scheme, or the older add_prefix_space flag */
static int prepend_scheme(Loader *L, const JsonValue *v, const char *part, int *out)
{
    const JsonValue *ps = json_get(v, "prepend_scheme");

    if (is_string(ps, "always"))
        *out = PREPEND_ALWAYS;
    else if (is_string(ps, "first"))
        *out = PREPEND_FIRST;
    else if (is_string(ps, "never"))
        *out = PREPEND_NEVER;
    else if (ps && ps->type != JSON_NULL)
        return tok_fail(L, TFRT_ERR_FORMAT, "%s: unknown prepend_scheme", part);
    else
        *out = json_flag(v, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
    if (!is_string(json_get(v, "replacement"), "\xE2\x96\x81"))
        return tok_fail(L, TFRT_ERR_FORMAT, "%s: only the replacement \"\xE2\x96\x81\" (U+2581) "
                        "is supported", part);
    return TFRT_OK;
}

static int parse_pre_step(Loader *L, TfrtTokenizer *t, const JsonValue *v)
{
    const char *ty = type_name(v);
    PreStep *st;

    if (t->n_pre == MAX_STEPS)
        return tok_fail(L, TFRT_ERR_FORMAT, "pre_tokenizer: more than %d steps", MAX_STEPS);
    st = &t->pre[t->n_pre];
    memset(st, 0, sizeof *st);
    if (strcmp(ty, "ByteLevel") == 0) {
        st->kind = PRE_BYTELEVEL;
        st->prepend = json_flag(v, "add_prefix_space", 0);
        st->use_regex = json_flag(v, "use_regex", 1);
        t->byte_level = 1;
    } else if (strcmp(ty, "BertPreTokenizer") == 0) {
        st->kind = PRE_BERT;
    } else if (strcmp(ty, "WhitespaceSplit") == 0) {
        st->kind = PRE_WHITESPACE_SPLIT;
    } else if (strcmp(ty, "Metaspace") == 0) {
        int rc = prepend_scheme(L, v, "pre_tokenizer Metaspace", &st->prepend);
        if (rc)
            return rc;
        st->kind = PRE_METASPACE;
        st->split = json_flag(v, "split", 1);
    } else {
        return tok_fail(L, TFRT_ERR_FORMAT, "unsupported pre_tokenizer \"%.40s\" (supported: "
                        "ByteLevel, BertPreTokenizer, WhitespaceSplit, Metaspace, Sequence)", ty);
    }
    t->n_pre++;
    return TFRT_OK;
}

static int parse_pretokenizer(Loader *L, TfrtTokenizer *t, const JsonValue *v)
{
    const JsonValue *list;
    int rc = TFRT_OK;

    if (!v || v->type == JSON_NULL)
        return TFRT_OK;
    if (!is_string(json_get(v, "type"), "Sequence"))
        return parse_pre_step(L, t, v);
    list = json_get(v, "pretokenizers");
    if (!list || list->type != JSON_ARRAY)
        return tok_fail(L, TFRT_ERR_FORMAT, "pre_tokenizer Sequence needs a \"pretokenizers\" array");
    for (size_t i = 0; i < list->u.array.count && rc == TFRT_OK; i++) {
        if (is_string(json_get(&list->u.array.items[i], "type"), "Sequence"))
            return tok_fail(L, TFRT_ERR_FORMAT, "pre_tokenizer: nested Sequence");
        rc = parse_pre_step(L, t, &list->u.array.items[i]);
    }
    return rc;
}

/* ---- post-processor ------------------------------------------------------------------ */

static int add_special_id(Loader *L, TfrtTokenizer *t, int32_t id, int after)
{
    int32_t *ids = after ? t->after : t->before;
    int *n = after ? &t->n_after : &t->n_before;

    if (*n == 4)
        return tok_fail(L, TFRT_ERR_FORMAT, "post_processor: more than 4 special tokens "
                        "on one side");
    ids[(*n)++] = id;
    return TFRT_OK;
}

/* TemplateProcessing's "single": specials before and after Sequence A. */
static int parse_template(Loader *L, TfrtTokenizer *t, const JsonValue *v)
{
    const JsonValue *single = json_get(v, "single"), *specials = json_get(v, "special_tokens");
    int seen_a = 0, rc = TFRT_OK;

    if (!single || single->type != JSON_ARRAY)
        return tok_fail(L, TFRT_ERR_FORMAT, "post_processor TemplateProcessing needs \"single\"");
    for (size_t i = 0; i < single->u.array.count && rc == TFRT_OK; i++) {
        const JsonValue *item = &single->u.array.items[i];
        const JsonValue *sp = json_get(json_get(item, "SpecialToken"), "id");
        const JsonValue *ids = json_get(json_get(specials, sp && sp->type == JSON_STRING
                                                            ? sp->u.string.chars : ""), "ids");
        if (json_get(item, "Sequence")) {
            if (!is_string(json_get(json_get(item, "Sequence"), "id"), "A") || seen_a)
                return tok_fail(L, TFRT_ERR_FORMAT, "post_processor: \"single\" must hold "
                                "sequence A once");
            seen_a = 1;
            continue;
        }
        if (!sp || !ids || ids->type != JSON_ARRAY)
            return tok_fail(L, TFRT_ERR_FORMAT, "post_processor: special token %zu of "
                            "\"single\" is not in special_tokens", i);
        for (size_t k = 0; k < ids->u.array.count && rc == TFRT_OK; k++) {
            int32_t id;
            if (json_id(&ids->u.array.items[k], &id) || id >= t->n_ids)
                return tok_fail(L, TFRT_ERR_FORMAT, "post_processor: a special token id is "
                                "not a token");
            rc = add_special_id(L, t, id, seen_a);
        }
    }
    return rc;
}

/* BertProcessing / RobertaProcessing: {"cls": [str, id], "sep": [str, id]} */
static int parse_cls_sep(Loader *L, TfrtTokenizer *t, const JsonValue *v)
{
    const JsonValue *cls = json_get(v, "cls"), *sep = json_get(v, "sep");
    int32_t a, b;

    if (!cls || !sep || cls->type != JSON_ARRAY || sep->type != JSON_ARRAY ||
        cls->u.array.count != 2 || sep->u.array.count != 2 ||
        json_id(&cls->u.array.items[1], &a) || json_id(&sep->u.array.items[1], &b) ||
        a >= t->n_ids || b >= t->n_ids)
        return tok_fail(L, TFRT_ERR_FORMAT, "post_processor %s needs cls and sep as "
                        "[token, id]", type_name(v));
    return add_special_id(L, t, a, 0) ? TFRT_ERR_FORMAT : add_special_id(L, t, b, 1);
}

static int parse_post(Loader *L, TfrtTokenizer *t, const JsonValue *v, int depth)
{
    const char *ty = type_name(v);
    const JsonValue *list;
    int rc = TFRT_OK;

    if (!v || v->type == JSON_NULL || strcmp(ty, "ByteLevel") == 0)
        return TFRT_OK;
    if (strcmp(ty, "TemplateProcessing") == 0)
        return parse_template(L, t, v);
    if (strcmp(ty, "BertProcessing") == 0 || strcmp(ty, "RobertaProcessing") == 0)
        return parse_cls_sep(L, t, v);
    if (strcmp(ty, "Sequence") != 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "unsupported post_processor \"%.40s\" (supported: "
                        "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, "
                        "Sequence)", ty);
    list = json_get(v, "processors");
    if (depth > 2 || !list || list->type != JSON_ARRAY)
        return tok_fail(L, TFRT_ERR_FORMAT, "post_processor Sequence needs \"processors\"");
    for (size_t i = 0; i < list->u.array.count && rc == TFRT_OK; i++)
        rc = parse_post(L, t, &list->u.array.items[i], depth + 1);
    return rc;
}

/* ---- decoder ----------------------------------------------------------------------------- */

static int parse_decoder(Loader *L, TfrtTokenizer *t, const JsonValue *v, int depth)
{
    const char *ty = type_name(v);
    const JsonValue *list;
    int rc = TFRT_OK, scheme;

    if (!v || v->type == JSON_NULL || strcmp(ty, "ByteLevel") == 0 ||
        strcmp(ty, "ByteFallback") == 0 || strcmp(ty, "Fuse") == 0)
        return TFRT_OK;
    if (strcmp(ty, "WordPiece") == 0) {
        t->strip_first_space = 1;
        return TFRT_OK;
    }
    if (strcmp(ty, "Metaspace") == 0) {
        if ((rc = prepend_scheme(L, v, "decoder Metaspace", &scheme)))
            return rc;
        t->meta_text = 1;
        t->strip_first_space = scheme != PREPEND_NEVER;
        return TFRT_OK;
    }
    if (strcmp(ty, "Replace") == 0) {
        if (!is_string(json_get(json_get(v, "pattern"), "String"), "\xE2\x96\x81") ||
            !is_string(json_get(v, "content"), " "))
            return tok_fail(L, TFRT_ERR_FORMAT, "decoder Replace: only \xE2\x96\x81 -> ' ' "
                            "is supported");
        t->meta_text = 1;
        return TFRT_OK;
    }
    if (strcmp(ty, "Strip") == 0) {
        const JsonValue *start = json_get(v, "start"), *stop = json_get(v, "stop");
        if (!is_string(json_get(v, "content"), " ") || !start || start->type != JSON_NUMBER ||
            start->u.number.value > 1 || (stop && stop->type == JSON_NUMBER && stop->u.number.value != 0))
            return tok_fail(L, TFRT_ERR_FORMAT, "decoder Strip: only one leading space "
                            "(content ' ', start 1, stop 0) is supported");
        t->strip_first_space = start->u.number.value == 1;
        return TFRT_OK;
    }
    if (strcmp(ty, "Sequence") != 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "unsupported decoder \"%.40s\" (supported: "
                        "ByteLevel, WordPiece, Metaspace, Replace, ByteFallback, Fuse, "
                        "Strip, Sequence)", ty);
    list = json_get(v, "decoders");
    if (depth > 2 || !list || list->type != JSON_ARRAY)
        return tok_fail(L, TFRT_ERR_FORMAT, "decoder Sequence needs \"decoders\"");
    for (size_t i = 0; i < list->u.array.count && rc == TFRT_OK; i++)
        rc = parse_decoder(L, t, &list->u.array.items[i], depth + 1);
    return rc;
}

/* ---- models ---------------------------------------------------------------------------- */

/* The id of the token named by model.unk_token (a string), or -1. */
static int unk_by_name(Loader *L, TfrtTokenizer *t, const JsonValue *model, int required)
{
    const JsonValue *u = json_get(model, "unk_token");

    t->unk = -1;
    if (u && u->type == JSON_STRING)
        t->unk = tfrt_tok_find(t, u->u.string.chars, u->u.string.len);
    if (t->unk < 0 && (required || (u && u->type != JSON_NULL)))
        return tok_fail(L, TFRT_ERR_FORMAT, "model.unk_token is %s", u && u->type == JSON_STRING
                        ? "not in the vocabulary" : "missing");
    return TFRT_OK;
}

static int empty_or_null(const JsonValue *v)
{
    return !v || v->type == JSON_NULL || (v->type == JSON_STRING && v->u.string.len == 0);
}

static int load_bpe(Loader *L, TfrtTokenizer *t, const JsonValue *model, const JsonValue *added)
{
    const JsonValue *dropout = json_get(model, "dropout");
    int rc;

    if (!empty_or_null(json_get(model, "continuing_subword_prefix")) ||
        !empty_or_null(json_get(model, "end_of_word_suffix")))
        return tok_fail(L, TFRT_ERR_FORMAT, "model BPE: continuing_subword_prefix and "
                        "end_of_word_suffix are not supported");
    if (dropout && dropout->type == JSON_NUMBER && dropout->u.number.value != 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "model BPE: dropout is not supported");
    t->kind = TOK_BPE;
    t->byte_fallback = json_flag(model, "byte_fallback", 0);
    t->fuse_unk = json_flag(model, "fuse_unk", 0);
    t->ignore_merges = json_flag(model, "ignore_merges", 0);
    if ((rc = tok_load_vocab_object(L, t, json_get(model, "vocab"), added, t->byte_level)) ||
        (rc = load_json_merges(L, t, json_get(model, "merges"))))
        return rc;
    return unk_by_name(L, t, model, 0);
}

static int load_wordpiece(Loader *L, TfrtTokenizer *t, const JsonValue *model,
                          const JsonValue *added)
{
    const JsonValue *prefix = json_get(model, "continuing_subword_prefix");
    const JsonValue *max = json_get(model, "max_input_chars_per_word");
    int rc;

    t->kind = TOK_WORDPIECE;
    if ((rc = tok_load_vocab_object(L, t, json_get(model, "vocab"), added, 0)) ||
        (rc = unk_by_name(L, t, model, 1)))
        return rc;
    if (prefix && prefix->type != JSON_STRING && prefix->type != JSON_NULL)
        return tok_fail(L, TFRT_ERR_FORMAT, "model.continuing_subword_prefix must be a string");
    t->wp_prefix = prefix && prefix->type == JSON_STRING
                       ? dup_bytes(prefix->u.string.chars, prefix->u.string.len) : dup_bytes("##", 2);
    t->wp_prefix_len = t->wp_prefix ? strlen(t->wp_prefix) : 0;
    if (!t->wp_prefix)
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    if (max && max->type == JSON_NUMBER) {
        if (!max->u.number.is_integer || max->u.number.integer < 1 ||
            max->u.number.integer > 1000000)
            return tok_fail(L, TFRT_ERR_FORMAT, "model.max_input_chars_per_word must be an "
                            "integer in [1, 1000000]");
        t->wp_max_chars = (int)max->u.number.integer;
    }
    return TFRT_OK;
}

static int load_unigram(Loader *L, TfrtTokenizer *t, const JsonValue *model,
                        const JsonValue *added)
{
    const JsonValue *u = json_get(model, "unk_id");
    int rc;

    t->kind = TOK_UNIGRAM;
    t->fuse_unk = 1;
    t->byte_fallback = json_flag(model, "byte_fallback", 0);
    if ((rc = load_unigram_vocab(L, t, json_get(model, "vocab"), added)))
        return rc;
    if (u && u->type != JSON_NULL && (json_id(u, &t->unk) || t->unk >= t->n_ids ||
                                      !tok_piece(t, t->unk, &(size_t){0})))
        return tok_fail(L, TFRT_ERR_FORMAT, "model.unk_id is not a token");
    if (t->unk < 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "model Unigram without unk_id is not supported");
    return TFRT_OK;
}

static int load_model(Loader *L, TfrtTokenizer *t, const JsonValue *model, const JsonValue *added)
{
    const JsonValue *ty = json_get(model, "type"), *vocab = json_get(model, "vocab");

    if (is_string(ty, "BPE") || (!ty && json_get(model, "merges")))
        return load_bpe(L, t, model, added);
    if (is_string(ty, "WordPiece") || (!ty && vocab && vocab->type == JSON_OBJECT))
        return load_wordpiece(L, t, model, added);
    if (is_string(ty, "Unigram") || (!ty && vocab && vocab->type == JSON_ARRAY))
        return load_unigram(L, t, model, added);
    return tok_fail(L, TFRT_ERR_FORMAT, "unsupported model type \"%.40s\" (supported: BPE, "
                    "WordPiece, Unigram)", type_name(model));
}

static int load_tokenizer_json(Loader *L, TfrtTokenizer *t, const JsonValue *root)
{
    const JsonValue *model = json_get(root, "model"), *added = json_get(root, "added_tokens");
    const JsonValue *trunc = json_get(root, "truncation"), *pad = json_get(root, "padding");
    int rc;

    if (!model || model->type != JSON_OBJECT)
        return tok_fail(L, TFRT_ERR_FORMAT, "no \"model\" object");
    if ((trunc && trunc->type != JSON_NULL) || (pad && pad->type != JSON_NULL))
        return tok_fail(L, TFRT_ERR_FORMAT, "truncation and padding are not supported "
                        "(set them to null)");
    if ((rc = parse_normalizer(L, t, json_get(root, "normalizer"), 0)) ||
        (rc = parse_pretokenizer(L, t, json_get(root, "pre_tokenizer"))) ||
        (rc = load_model(L, t, model, added)) ||
        (rc = load_added_tokens(L, t, added)) ||
        (rc = parse_post(L, t, json_get(root, "post_processor"), 0)) ||
        (rc = parse_decoder(L, t, json_get(root, "decoder"), 0)))
        return rc;
    if (t->byte_level && t->kind != TOK_BPE)
        return tok_fail(L, TFRT_ERR_FORMAT, "the ByteLevel pre-tokenizer goes with a BPE "
                        "model only");
    if (t->byte_level && t->byte_fallback)
        return tok_fail(L, TFRT_ERR_FORMAT, "byte_fallback with a ByteLevel pre-tokenizer "
                        "is not supported");
    if (t->kind == TOK_WORDPIECE)
        t->strip_first_space = 1;
    return TFRT_OK;
}

/* ---- the character vocabulary ---------------------------------------------------------- */

static int load_chars(Loader *L, TfrtTokenizer *t, const JsonValue *chars)
{
    int rc;

    t->kind = TOK_CHARS;
    if (!chars || chars->type != JSON_ARRAY || chars->u.array.count == 0 ||
        chars->u.array.count >= MAX_TOKEN_ID)
        return tok_fail(L, TFRT_ERR_FORMAT, "\"chars\" must be a non-empty array of "
                        "one-character strings");
    if (tok_tables_alloc(t, (int32_t)chars->u.array.count, chars->u.array.count))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < chars->u.array.count; i++) {
        const JsonValue *c = &chars->u.array.items[i];
        uint32_t cp;
        if (c->type != JSON_STRING || c->u.string.len == 0 ||
            (size_t)tfrt_utf8_decode((const uint8_t *)c->u.string.chars,
                                     c->u.string.len, 0, &cp) != c->u.string.len ||
            cp == UTF8_INVALID)
            return tok_fail(L, TFRT_ERR_FORMAT, "chars[%zu] is not one UTF-8 character", i);
        if ((rc = tok_set_piece(t, (int32_t)i, c->u.string.chars, c->u.string.len)))
            return rc == TFRT_ERR_NOMEM ? tok_fail(L, rc, "out of memory")
                 : tok_fail(L, TFRT_ERR_FORMAT, "chars[%zu] \"%s\" appears twice", i,
                            c->u.string.chars);
    }
    return TFRT_OK;
}

int tok_load_json_file(Loader *L, TfrtTokenizer *t, const char *path)
{
    JsonValue *root;
    const char *saved = L->path;
    int rc = tok_parse_json_file(L, path, &root);

    if (rc)
        return rc;
    L->path = path;
    if (root->type != JSON_OBJECT)
        rc = tok_fail(L, TFRT_ERR_FORMAT, "expected a JSON object");
    else if (is_string(json_get(root, "type"), "chars"))
        rc = load_chars(L, t, json_get(root, "chars"));
    else if (json_get(root, "model"))
        rc = load_tokenizer_json(L, t, root);
    else
        rc = tok_fail(L, TFRT_ERR_FORMAT, "neither a tokenizer.json (no \"model\") nor a "
                      "character vocabulary (no \"type\": \"chars\")");
    json_free(root);
    L->path = saved;
    return rc;
}
