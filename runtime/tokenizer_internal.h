/*
 * tokenizer_internal.h - what the tokenizer files of libtfrt share.
 *
 * Encoding runs one pipeline for every kind of tokenizer (tokenizer.c):
 *
 *   text --added tokens cut out (trie)--> segments
 *        --normalizer (tok_normalize.c)--> normalized segment
 *        --pre-tokenizer (tokenizer_pretok.c)--> pieces
 *        --model: BPE (tok_bpe.c), WordPiece, Unigram (tok_models.c)--> ids
 *   then the post-processor's special tokens around them, when asked.
 *
 * Loaders (tok_load_json.c, tok_load_files.c) fill a TfrtTokenizer; after
 * loading it is never written again, so threads may share it.
 */
#ifndef TFRT_TOKENIZER_INTERNAL_H
#define TFRT_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tfrt_text.h"

/* ---- Unicode (unicode_tables.c, generated; tok_unicode.c) ------------------- */

extern const uint32_t tfrt_uni_letters[][2];
extern const size_t tfrt_uni_letters_count;
extern const uint32_t tfrt_uni_numbers[][2];
extern const size_t tfrt_uni_numbers_count;
extern const uint32_t tfrt_uni_punct[][2];
extern const size_t tfrt_uni_punct_count;
extern const uint32_t tfrt_uni_other[][2];
extern const size_t tfrt_uni_other_count;
extern const uint32_t tfrt_uni_nonspacing[][2];
extern const size_t tfrt_uni_nonspacing_count;
extern const uint32_t tfrt_uni_lower[][3];
extern const size_t tfrt_uni_lower_count;
extern const uint32_t tfrt_uni_lower_pool[];
extern const uint32_t tfrt_uni_nfd[][3];
extern const size_t tfrt_uni_nfd_count;
extern const uint32_t tfrt_uni_nfd_pool[];
extern const uint32_t tfrt_uni_ccc[][3];
extern const size_t tfrt_uni_ccc_count;

/* What the GPT-2 pattern distinguishes about a code point. */
typedef enum {
    CC_SPACE,    /* \s as JavaScript defines it */
    CC_LETTER,   /* \p{L} */
    CC_NUMBER,   /* \p{N} */
    CC_OTHER     /* anything else, and bytes that are not valid UTF-8 */
} CharClass;

/* Code point returned for a byte that does not start valid UTF-8. */
#define UTF8_INVALID 0xFFFFFFFFu

/* Decodes the UTF-8 sequence at s[i] (i < len) into *cp and returns its
 * length, 1 to 4.  An invalid or truncated sequence (overlong, surrogate,
 * above U+10FFFF) yields UTF8_INVALID and length 1: that byte alone. */
int tfrt_utf8_decode(const uint8_t *s, size_t len, size_t i, uint32_t *cp);
/* Writes cp (<= U+10FFFF) as UTF-8 into out[4]; returns the length. */
int tfrt_utf8_encode(uint32_t cp, uint8_t *out);

CharClass tfrt_char_class(uint32_t cp);
int tfrt_uni_in(uint32_t cp, const uint32_t (*ranges)[2], size_t n);
int tfrt_uni_is_white_space(uint32_t cp);      /* Unicode White_Space (Rust's) */
int tfrt_uni_is_bert_punct(uint32_t cp);       /* P* or ASCII punctuation */
int tfrt_uni_is_chinese(uint32_t cp);          /* BERT's CJK ideograph blocks */
/* Lower case of cp into out[2]; returns the count (1 when unchanged). */
int tfrt_uni_lower_of(uint32_t cp, uint32_t *out);
/* Canonical decomposition of cp into out[4] (Hangul included); returns
 * the count (1 when cp does not decompose). */
int tfrt_uni_nfd_of(uint32_t cp, uint32_t *out);
int tfrt_uni_combining_class(uint32_t cp);

/* The end of the GPT-2 pre-tokenizer piece that starts at s[i], i < len:
 * the match of
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * at i.  Some alternative always matches, so the result is > i. */
size_t tfrt_gpt2_piece_end(const uint8_t *s, size_t len, size_t i);

struct JsonValue;

/* ---- growable byte and id buffers ---------------------------------------------- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} Bytes;

int bytes_put(Bytes *o, const void *s, size_t n);     /* TFRT_OK or NOMEM */
int bytes_put_cp(Bytes *o, uint32_t cp);

typedef struct {
    int32_t *ids;
    size_t n, cap;
} IdBuf;

int push_id(IdBuf *b, int32_t id);

/* ---- the tokenizer ------------------------------------------------------------- */

enum { TOK_BPE, TOK_WORDPIECE, TOK_UNIGRAM, TOK_CHARS };

/* Normalizer steps, applied in order to each segment between added tokens. */
typedef enum {
    NORM_BERT,          /* BertNormalizer: flags below */
    NORM_LOWERCASE,
    NORM_STRIP_ACCENTS, /* NFD, then drop Mn */
    NORM_NFD,
    NORM_PREPEND,       /* str before a non-empty segment */
    NORM_REPLACE,       /* every str -> content */
    NORM_REPLACE_RUN,   /* runs of `min` or more of the one character str -> content */
    NORM_STRIP,         /* White_Space off the left and/or right end */
    NORM_PRECOMPILED    /* SentencePiece's compiled character map */
} NormKind;

enum { BERT_CLEAN = 1, BERT_CHINESE = 2, BERT_LOWER = 4, BERT_ACCENTS = 8 };

typedef struct {
    NormKind kind;
    int flags;                   /* NORM_BERT: BERT_*; NORM_STRIP: 1 left, 2 right */
    int min;                     /* NORM_REPLACE_RUN */
    char *str, *content;         /* NORM_PREPEND / NORM_REPLACE(_RUN) */
    size_t str_len, content_len;
    uint8_t *map;                /* NORM_PRECOMPILED: the charsmap blob */
    size_t map_len;
    const uint32_t *trie;        /* ... its double array (inside map) */
    size_t trie_units;
    const char *strings;         /* ... its NUL-separated replacements */
    size_t strings_len;
} NormStep;

/* Pre-tokenizer steps: each cuts the pieces of the one before. */
typedef enum {
    PRE_BYTELEVEL,          /* GPT-2's pattern (when use_regex) */
    PRE_BERT,               /* split on White_Space (dropped) and punctuation */
    PRE_WHITESPACE_SPLIT,   /* split on White_Space, dropped */
    PRE_METASPACE           /* ' ' -> replacement, a prefix, optional split */
} PreKind;

enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct {
    PreKind kind;
    int prepend;            /* METASPACE: PREPEND_*; BYTELEVEL: add_prefix_space */
    int split;              /* METASPACE: cut before each replacement */
    int use_regex;          /* BYTELEVEL */
} PreStep;

#define MAX_STEPS 8

/* An added token: matched literally in the raw text, longest first. */
typedef struct {
    int32_t id;
    int lstrip, rstrip;     /* swallow White_Space on that side */
    int special;
} Added;

/* The added-token trie: node 0 is the root; edges in a hash table. */
typedef struct {
    int32_t *accept;        /* (nodes,) index into added, or -1 */
    size_t nodes, node_cap;
    uint64_t *edge_key;     /* node << 8 | byte, EMPTY_KEY: free */
    int32_t *edge_to;
    size_t edge_cap, edges;  /* power of two */
} Trie;

#define EMPTY_KEY UINT64_MAX

/* The merge of pair (left, right) into `merged`, `rank`-th in the list. */
typedef struct {
    uint64_t key;           /* left << 32 | right; EMPTY_KEY when unused */
    int32_t rank, merged;
} Merge;

struct TfrtTokenizer {
    int kind;                 /* TOK_* */
    int32_t n_ids;            /* vocab size: largest id + 1 */
    /* token table: each id's bytes as the model matches them (piece) and
     * as decoding writes them (text) */
    char *pool;
    size_t pool_len, pool_cap;
    size_t *tok_off, *dec_off;    /* (n_ids,) SIZE_MAX: no token */
    uint32_t *tok_len, *dec_len;
    double *scores;           /* (n_ids,) Unigram or tokenizer.bin scores, else NULL */
    uint8_t *is_special;      /* (n_ids,) added special tokens */

    int32_t *vocab_slot;      /* open-addressing map piece bytes -> id; -1 empty */
    size_t vocab_cap, vocab_count;

    Merge *merges;            /* BPE: open-addressing map pair -> merge */
    size_t merge_cap, merge_count;

    int32_t byte_id[256];     /* byte-level alphabet or <0xNN> fallback; -1 none */
    int byte_level;           /* pieces are spelled in GPT-2's byte alphabet */
    int byte_fallback;        /* unknown characters become <0xNN> tokens */
    int ignore_merges;
    int32_t unk;              /* unknown token, -1 none */
    int fuse_unk;

    /* WordPiece */
    char *wp_prefix;          /* "##" */
    size_t wp_prefix_len;
    int wp_max_chars;

    NormStep norm[MAX_STEPS];
    int n_norm;
    PreStep pre[MAX_STEPS];
    int n_pre;

    Added *added;
    int n_added;
    Trie trie;                /* added tokens: accept = index into added */
    Trie pieces;              /* Unigram: accept = token id */
    double unk_score;         /* Unigram: the lowest score less 10 */
    size_t max_piece;         /* bytes of the longest piece */

    int32_t before[4], after[4];  /* post-processor: special ids around one sequence */
    int n_before, n_after;
    int strip_first_space;    /* decoding drops one leading space (Metaspace) */
    int meta_text;            /* decoding reads ▁ as a space */
    int32_t eos, bos, pad;
};

/* tok_trie.c: byte tries.  Nodes are numbered from 0 (the root). */
int trie_init(Trie *tr);
/* Enters s[0..n) with `value`; an existing entry keeps its first value. */
int trie_insert(Trie *tr, const uint8_t *s, size_t n, int32_t value);
int32_t trie_child(const Trie *tr, int32_t node, uint8_t byte);   /* -1: none */
void trie_free(Trie *tr);

/* tokenizer.c: the token table */
const char *tok_piece(const TfrtTokenizer *t, int32_t id, size_t *len);
int tok_tables_alloc(TfrtTokenizer *t, int32_t n_ids, size_t expect);
/* Gives id the piece s[0..n) and enters it in the vocabulary map.  Returns
 * TFRT_OK, TFRT_ERR_NOMEM, or -1 if id or the piece is taken already. */
int tok_set_piece(TfrtTokenizer *t, int32_t id, const char *s, size_t n);
/* The decoded text of id, when it differs from its piece. */
int tok_set_text(TfrtTokenizer *t, int32_t id, const char *s, size_t n);
int tok_add_added(TfrtTokenizer *t, int32_t id, int lstrip, int rstrip, int special);
/* Fills the text of every token from its piece by the model's rules (byte
 * alphabet, <0xNN>, ▁, ##) and sets the derived fields; once, at the end. */
int tok_finish(TfrtTokenizer *t);

/* tok_bpe.c */
int tok_merges_alloc(TfrtTokenizer *t, size_t count);
void tok_merge_insert(TfrtTokenizer *t, int32_t left, int32_t right,
                      int32_t rank, int32_t merged);
/* Merges derived from scores (llama2.c's tokenizer.bin, SentencePiece
 * BPE): every split of a piece into two pieces is a merge, ranked by the
 * piece's score, higher first. */
int tok_merges_from_scores(TfrtTokenizer *t, const double *scores);
typedef struct Work Work;
Work *tok_work_new(void);
void tok_work_free(Work *w);
int tok_bpe_piece(const TfrtTokenizer *t, Work *w, const uint8_t *s, size_t n,
                  size_t base, IdBuf *out, char *err, size_t errlen);

/* tok_models.c */
int tok_wordpiece_piece(const TfrtTokenizer *t, const uint8_t *s, size_t n,
                        IdBuf *out);
int tok_unigram_piece(const TfrtTokenizer *t, const uint8_t *s, size_t n,
                      IdBuf *out);

/* tok_normalize.c: the normalizer steps over s[0..n) into out (reset first) */
int tok_normalize(const TfrtTokenizer *t, const uint8_t *s, size_t n, Bytes *out);
/* Reads a precompiled charsmap blob (copied) into step; -1 if malformed. */
int tok_charsmap_init(NormStep *step, const uint8_t *blob, size_t len);
void tok_norm_free(NormStep *step);

/* tokenizer_pretok.c: cuts s[0..n) into pieces and hands each to fn */
typedef int (*PieceFn)(void *arg, const uint8_t *s, size_t n, size_t base);
int tok_pretokenize(const TfrtTokenizer *t, const uint8_t *s, size_t n, int first,
                    PieceFn fn, void *arg);

/* tok_load_json.c, tok_load_files.c */
typedef struct {
    const char *path;       /* the file named in messages */
    char *err;
    size_t errlen;
} Loader;

int tok_fail(Loader *L, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int tok_read_file(Loader *L, const char *path, char **data, size_t *len);
int tok_load_json_file(Loader *L, TfrtTokenizer *t, const char *path);
int tok_load_path(Loader *L, TfrtTokenizer *t, const char *path);
/* A vocabulary object {piece: id} (with the added tokens' ids counted in
 * the table size); byte_level: pieces are spelled in GPT-2's alphabet. */
int tok_load_vocab_object(Loader *L, TfrtTokenizer *t, const struct JsonValue *vocab,
                          const struct JsonValue *added, int byte_level);
int tok_load_text_merges(Loader *L, TfrtTokenizer *t, char *text, size_t len);
int tok_parse_json_file(Loader *L, const char *path, struct JsonValue **root);

#endif
