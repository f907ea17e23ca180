/*
 * tok_load_files.c - finding and reading tokenizer files: a path is a
 * tokenizer.json or character vocabulary (JSON), llama2.c's tokenizer.bin,
 * BERT's vocab.txt, or a folder holding one of them (or vocab.json +
 * merges.txt, GPT-2's encoder.json + vocab.bpe).
 *
 * Files are untrusted: each is opened without blocking and refused unless
 * it is a regular file (a FIFO would otherwise hang the reader), at most
 * TOK_MAX_FILE bytes, and every count and length in it is checked before
 * use.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "tokenizer_internal.h"

#define TOK_MAX_FILE ((size_t)1 << 30)

int tok_read_file(Loader *L, const char *path, char **data, size_t *len)
{
    Loader at = {path, L->err, L->errlen};
    struct stat st;
    size_t n = 0;
    char *buf;
    int fd = open(path, O_RDONLY | O_NONBLOCK);

    if (fd < 0)
        return tok_fail(&at, TFRT_ERR_IO, "%s", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return tok_fail(&at, TFRT_ERR_IO, "not a regular file");
    }
    if ((uint64_t)st.st_size > TOK_MAX_FILE) {
        close(fd);
        return tok_fail(&at, TFRT_ERR_FORMAT, "%lld bytes: tokenizer files are limited "
                        "to %zu bytes", (long long)st.st_size, TOK_MAX_FILE);
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        close(fd);
        return tok_fail(&at, TFRT_ERR_NOMEM, "out of memory");
    }
    while (n < (size_t)st.st_size) {
        ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;      /* a file that shrank: read what there is */
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return TFRT_OK;
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    char *p = malloc(n + strlen(name) + 2);

    if (p)
        sprintf(p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
    return p;
}

/* ---- vocab.json + merges.txt -------------------------------------------------------- */

static int load_vocab_merges(Loader *L, TfrtTokenizer *t, const char *vpath, const char *mpath)
{
    const char *saved = L->path;
    JsonValue *vocab;
    char *text;
    size_t len;
    int32_t eos;
    int rc;

    t->kind = TOK_BPE;
    t->byte_level = 1;
    t->pre[t->n_pre++] = (PreStep){.kind = PRE_BYTELEVEL, .use_regex = 1};
    if ((rc = tok_parse_json_file(L, vpath, &vocab)))
        return rc;
    L->path = vpath;
    rc = tok_load_vocab_object(L, t, vocab, NULL, 1);
    json_free(vocab);
    if (rc == TFRT_OK && (rc = tok_read_file(L, mpath, &text, &len)) == TFRT_OK) {
        L->path = mpath;
        rc = tok_load_text_merges(L, t, text, len);
        free(text);
    }
    /* what Hugging Face's GPT2Tokenizer treats as its special token */
    if (rc == TFRT_OK && (eos = tfrt_tok_find(t, "<|endoftext|>", 13)) >= 0 &&
        tok_add_added(t, eos, 0, 0, 1))
        rc = tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    L->path = saved;
    return rc;
}

/* ---- BERT's vocab.txt --------------------------------------------------------------- */

/* One token a line, the id being the line number; BERT's defaults around
 * it (lower case unless tokenizer_config.json says do_lower_case false). */
static int load_vocab_txt(Loader *L, TfrtTokenizer *t, char *text, size_t len, int lower)
{
    size_t lines = 0, i = 0;
    int32_t id = 0;
    int rc;

    for (size_t k = 0; k < len; k++)
        lines += text[k] == '\n';
    if (lines + 1 >= (1u << 24) || tok_tables_alloc(t, (int32_t)lines + 1, lines + 1))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    while (i < len) {
        char *line = text + i, *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if ((rc = tok_set_piece(t, id, line, n)))
            return rc == TFRT_ERR_NOMEM ? tok_fail(L, rc, "out of memory")
                 : tok_fail(L, TFRT_ERR_FORMAT, "line %ld: \"%.60s\" appears twice",
                            (long)id + 1, line);
        id++;
    }
    t->n_ids = id;
    t->kind = TOK_WORDPIECE;
    if ((t->unk = tfrt_tok_find(t, "[UNK]", 5)) < 0)
        return tok_fail(L, TFRT_ERR_FORMAT, "a WordPiece vocab.txt needs [UNK]");
    if (!(t->wp_prefix = malloc(3)))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    memcpy(t->wp_prefix, "##", 3);
    t->wp_prefix_len = 2;
    t->norm[t->n_norm++] = (NormStep){.kind = NORM_BERT, .flags = BERT_CLEAN | BERT_CHINESE |
                                      (lower ? BERT_LOWER | BERT_ACCENTS : 0)};
    t->pre[t->n_pre++] = (PreStep){.kind = PRE_BERT};
    t->strip_first_space = 1;
    {
        static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
        for (size_t k = 0; k < 5; k++) {
            int32_t s = tfrt_tok_find(t, specials[k], strlen(specials[k]));
            if (s >= 0 && tok_add_added(t, s, 0, 0, 1))
                return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
        }
    }
    t->before[0] = tfrt_tok_find(t, "[CLS]", 5);
    t->after[0] = tfrt_tok_find(t, "[SEP]", 5);
    t->n_before = t->before[0] >= 0;
    t->n_after = t->after[0] >= 0;
    return TFRT_OK;
}

/* do_lower_case from a tokenizer_config.json beside vocab.txt (default 1). */
static int config_lowercase(Loader *L, const char *dir)
{
    char *p = join_path(dir, "tokenizer_config.json");
    JsonValue *root = NULL;
    Loader quiet = {L->path, NULL, 0};
    int lower = 1;

    if (p && is_regular(p) && tok_parse_json_file(&quiet, p, &root) == TFRT_OK) {
        const JsonValue *v = json_get(root, "do_lower_case");
        if (v && v->type == JSON_BOOL)
            lower = v->u.boolean;
        json_free(root);
    }
    free(p);
    return lower;
}

/* ---- llama2.c's tokenizer.bin ---------------------------------------------------------- */

static int32_t read_i32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static float read_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Counts the records of a tokenizer.bin; -1 when s is not one:
 *   int32 max_token_length, then per token float32 score, int32 len, bytes. */
static long bin_count(const uint8_t *s, size_t len)
{
    size_t i = 4;
    long n = 0;
    int32_t max;

    if (len < 4 || (max = read_i32(s)) < 1 || max > (1 << 16))
        return -1;
    while (i < len) {
        int32_t k;
        if (len - i < 8 || !isfinite(read_f32(s + i)) || (k = read_i32(s + i + 4)) < 0 ||
            k > max || (size_t)k > len - i - 8 || n >= (1 << 24) - 1)
            return -1;
        i += 8 + (size_t)k;
        n++;
    }
    return n >= 3 ? n : -1;
}

static int bin_specials(Loader *L, TfrtTokenizer *t)
{
    static const char *const text[] = {"<unk>", "<s>", "</s>"};

    /* special, but not matched in the text: llama2.c reads "<s>" as characters */
    for (int32_t id = 0; id < 3; id++) {
        t->is_special[id] = 1;
        if (tok_set_text(t, id, text[id], strlen(text[id])))
            return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    }
    t->unk = 0;
    t->bos = t->before[0] = 1;
    t->n_before = 1;
    t->eos = 2;
    return TFRT_OK;
}

/* llama2.c writes SentencePiece's pieces with ' ' for ▁ and wraps BOS and
 * EOS in newlines; ids 0, 1, 2 are <unk>, <s>, </s>.  We keep the pieces
 * as written and encode as llama2.c does: a space in front of the text,
 * characters merged by score, unknown characters as <0xNN> bytes (so a ▁
 * in the text is a character like any other, as there). */
static int load_tokenizer_bin(Loader *L, TfrtTokenizer *t, const uint8_t *s, long n)
{
    size_t i = 4;
    int rc = TFRT_OK;

    t->kind = TOK_BPE;
    t->byte_fallback = 1;
    if (tok_tables_alloc(t, (int32_t)n, (size_t)n) ||
        !(t->scores = malloc((size_t)n * sizeof *t->scores)))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    for (int32_t id = 0; id < n && rc == TFRT_OK; id++) {
        int32_t k = read_i32(s + i + 4);
        t->scores[id] = read_f32(s + i);
        if ((rc = tok_set_piece(t, id, (const char *)s + i + 8, (size_t)k)))
            rc = rc == TFRT_ERR_NOMEM ? tok_fail(L, rc, "out of memory")
               : tok_fail(L, TFRT_ERR_FORMAT, "token %ld \"%.*s\" appears twice", (long)id,
                          (int)(k < 60 ? k : 60), (const char *)s + i + 8);
        i += 8 + (size_t)k;
    }
    if (rc || (rc = bin_specials(L, t)))
        return rc;
    if (tok_merges_from_scores(t, t->scores))
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    t->norm[0] = (NormStep){.kind = NORM_PREPEND, .str = malloc(2), .str_len = 1};
    t->n_norm = 1;
    if (!t->norm[0].str)
        return tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
    memcpy(t->norm[0].str, " ", 2);
    t->strip_first_space = 1;
    return TFRT_OK;
}

/* ---- one file, by its contents -------------------------------------------------------- */

static int has_line(const char *text, size_t len, const char *line)
{
    size_t n = strlen(line);
    for (size_t i = 0; i + n <= len; i++)
        if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, line, n) == 0 &&
            (i + n == len || text[i + n] == '\n' || text[i + n] == '\r'))
            return 1;
    return 0;
}

static int load_file(Loader *L, TfrtTokenizer *t, const char *path, int lower)
{
    const char *saved = L->path;
    char *text;
    size_t len, k = 0;
    long n;
    int rc = tok_read_file(L, path, &text, &len);

    if (rc)
        return rc;
    L->path = path;
    while (k < len && (text[k] == ' ' || text[k] == '\n' || text[k] == '\r' || text[k] == '\t'))
        k++;
    if (k < len && text[k] == '{')
        rc = tok_load_json_file(L, t, path);
    else if ((n = bin_count((const uint8_t *)text, len)) > 0)
        rc = load_tokenizer_bin(L, t, (const uint8_t *)text, n);
    else if (has_line(text, len, "[UNK]"))
        rc = load_vocab_txt(L, t, text, len, lower);
    else
        rc = tok_fail(L, TFRT_ERR_FORMAT, "not a tokenizer: expected a tokenizer.json, a "
                      "character vocabulary (JSON), llama2.c's tokenizer.bin or a WordPiece "
                      "vocab.txt");
    free(text);
    L->path = saved;
    return rc;
}

static int load_dir(Loader *L, TfrtTokenizer *t, const char *dir)
{
    static const char *const names[][2] = {
        {"tokenizer.json", NULL}, {"vocab.json", "merges.txt"},
        {"encoder.json", "vocab.bpe"}, {"tokenizer.bin", NULL}, {"vocab.txt", NULL}
    };
    static const char *const refused[] = {"tokenizer.model", "spiece.model"};

    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *a = join_path(dir, names[i][0]);
        char *b = names[i][1] ? join_path(dir, names[i][1]) : NULL;
        int found = 0, rc = TFRT_OK;
        if (!a || (names[i][1] && !b))
            rc = tok_fail(L, TFRT_ERR_NOMEM, "out of memory");
        else if ((found = is_regular(a) && (!b || is_regular(b))))
            rc = b ? load_vocab_merges(L, t, a, b)
                   : load_file(L, t, a, i == 4 ? config_lowercase(L, dir) : 1);
        free(a);
        free(b);
        if (found || rc)
            return rc;
    }
    for (size_t i = 0; i < 2; i++) {
        char *a = join_path(dir, refused[i]);
        int found = a && is_regular(a);
        free(a);
        if (found)
            return tok_fail(L, TFRT_ERR_FORMAT, "%s (a SentencePiece model) is not read; "
                            "use the folder's tokenizer.json (Hugging Face's "
                            "AutoTokenizer.from_pretrained(...).save_pretrained() writes one)",
                            refused[i]);
    }
    return tok_fail(L, TFRT_ERR_IO, "no tokenizer.json, vocab.json + merges.txt, encoder.json "
                    "+ vocab.bpe, tokenizer.bin or vocab.txt in this folder");
}

int tok_load_path(Loader *L, TfrtTokenizer *t, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return tok_fail(L, TFRT_ERR_IO, "%s", strerror(errno));
    return S_ISDIR(st.st_mode) ? load_dir(L, t, path) : load_file(L, t, path, 1);
}
