/*
 * tfrt_text.h - the text side of the tfc runtime: tokenizers and samplers.
 *
 * A generation loop reads:
 *
 *   TfrtTokenizer *tok;
 *   char err[256];
 *   if (tfrt_tok_load(&tok, "gpt2/", err, sizeof err) != TFRT_OK)
 *       die("%s", err);
 *   int32_t *ids; size_t n;
 *   if (tfrt_tok_encode(tok, text, strlen(text), &ids, &n, err, sizeof err))
 *       die("%s", err);
 *
 *   TfrtSampler s;
 *   tfrt_sampler_init(&s, tfrt_tok_vocab_size(tok), 0.8f, 40, 0.95f, 1234);
 *   for (;;) {
 *       ... run the model, get logits (vocab,) ...
 *       int32_t next = tfrt_sample(&s, logits, vocab);
 *       if (next == tfrt_tok_eos(tok)) break;
 *       size_t len;
 *       const char *piece = tfrt_tok_decode_token(tok, next, &len);
 *       fwrite(piece, 1, len, stdout);     // may be part of a UTF-8 char
 *   }
 *   free(ids);
 *   tfrt_sampler_free(&s);
 *   tfrt_tok_free(tok);
 *
 * Tokenizers.  These are understood:
 *
 *   - Hugging Face tokenizer.json with a BPE, WordPiece or Unigram model:
 *     byte-level BPE (GPT-2: the ByteLevel pre-tokenizer), SentencePiece-
 *     style BPE with <0xNN> byte fallback and the ▁ metaspace (Llama,
 *     Mistral, TinyLlama: Prepend/Replace normalizers or the Metaspace
 *     pre-tokenizer), WordPiece (BERT: BertNormalizer, BertPreTokenizer,
 *     ## continuations) and Unigram (T5: Viterbi over piece scores, the
 *     precompiled charsmap normalizer, WhitespaceSplit + Metaspace).  A
 *     part of the file that would change the ids and is not implemented
 *     is refused with a message naming it, never ignored.
 *   - GPT-2's vocab.json + merges.txt (encoder.json + vocab.bpe);
 *   - llama2.c's tokenizer.bin (pieces with scores, merged by score);
 *   - BERT's vocab.txt (lower case unless a tokenizer_config.json beside it
 *     says "do_lower_case": false);
 *   - characters: a JSON file {"type": "chars", "chars": ["\n", " ", ...]}
 *     where token id = index and each entry is one UTF-8 character.
 *
 * Added tokens (tokenizer.json's added_tokens; "<|endoftext|>" for
 * vocab.json + merges.txt; [CLS] [SEP] ... for vocab.txt) are matched
 * literally in the raw input before anything else, the longest at the
 * leftmost position first (a trie: time linear in the text for a bounded
 * token length, whatever their number), so text containing "<|endoftext|>"
 * encodes to that one id.  lstrip / rstrip are applied; single_word is
 * refused; normalized is not (every added token is matched in the raw
 * text).
 *
 * Special tokens: tfrt_tok_encode gives the text's ids alone;
 * tfrt_tok_encode_special adds what the post-processor says ([CLS] ...
 * [SEP] for BERT, <s> in front for Llama, </s> behind for T5).  Decoding
 * writes every token's text (▁ as a space, <0xNN> as its byte, ## joined
 * to the word before) and drops the one space the encoder put in front of
 * the first word, so decode(encode(x)) == x for every text the model can
 * represent: any byte string for byte-level BPE, any UTF-8 for Llama's
 * BPE with byte fallback, not text that WordPiece lower-cases or Unigram's
 * normalizer changes.
 *
 * A loaded tokenizer is never changed by encoding or decoding: several
 * threads may share one.  All strings are byte strings with explicit
 * lengths; none needs to be NUL-terminated.
 *
 * Sampling: see TfrtSampler below.
 */
#ifndef TFRT_TEXT_H
#define TFRT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "tfrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tokenizers ---------------------------------------------------------- */

typedef struct TfrtTokenizer TfrtTokenizer;

/* Loads a tokenizer from path, which is one of
 *   - a tokenizer.json, a character vocabulary, a tokenizer.bin or a
 *     vocab.txt (told apart by their contents);
 *   - a directory holding tokenizer.json, vocab.json + merges.txt,
 *     encoder.json + vocab.bpe, tokenizer.bin or vocab.txt (tried in that
 *     order).
 * Only regular files are read (a FIFO is refused, not waited on), of at
 * most 1 GiB.  On failure returns a TfrtStatus (TFRT_ERR_IO,
 * TFRT_ERR_FORMAT, TFRT_ERR_NOMEM) and writes "path: what is wrong" into
 * err; unsupported parts are refused with TFRT_ERR_FORMAT. */
int tfrt_tok_load(TfrtTokenizer **out, const char *path,
                  char *err, size_t errlen);
void tfrt_tok_free(TfrtTokenizer *tok);

/* Encodes text[0..len) into *ids, a malloc'ed array of *n ids that the
 * caller frees with free() (NULL when *n == 0).  Errors: TFRT_ERR_TOKEN
 * when the text holds something the vocabulary cannot express (a character
 * not in a character vocabulary, a byte with no token in a BPE vocabulary),
 * with its byte offset in err; TFRT_ERR_NOMEM.  On error *ids is NULL and
 * *n is 0. */
int tfrt_tok_encode(const TfrtTokenizer *tok, const char *text, size_t len,
                    int32_t **ids, size_t *n, char *err, size_t errlen);

/* The same, with the post-processor's special tokens around the text's ids
 * when add_special is non-zero. */
int tfrt_tok_encode_special(const TfrtTokenizer *tok, const char *text, size_t len,
                            int add_special, int32_t **ids, size_t *n,
                            char *err, size_t errlen);

/* The text of token id (not NUL-terminated) and its byte count in *len,
 * or NULL when id is not a token.  The bytes belong to the tokenizer.
 * A word-initial token's text starts with its space (" the"); see
 * tfrt_tok_strips_first_space. */
const char *tfrt_tok_decode_token(const TfrtTokenizer *tok, int32_t id,
                                  size_t *len);

/* Concatenates the bytes of ids[0..n) into *out, a malloc'ed buffer of
 * *len bytes plus a terminating NUL, freed by the caller with free().
 * TFRT_ERR_TOKEN, naming the position, if an id is not a token. */
int tfrt_tok_decode(const TfrtTokenizer *tok, const int32_t *ids, size_t n,
                    char **out, size_t *len, char *err, size_t errlen);

/* One more than the largest token id: the rows the model's logits have. */
int tfrt_tok_vocab_size(const TfrtTokenizer *tok);

/* End of text: "<|endoftext|>", else "</s>", else "[SEP]" (tokenizer.bin:
 * id 2); -1 when the vocabulary has none. */
int32_t tfrt_tok_eos(const TfrtTokenizer *tok);
/* Start of text: the post-processor's first special token, else "<s>",
 * "[CLS]" or "<|endoftext|>"; -1 when none. */
int32_t tfrt_tok_bos(const TfrtTokenizer *tok);
/* Padding: "<pad>" or "[PAD]"; -1 when none. */
int32_t tfrt_tok_pad(const TfrtTokenizer *tok);
/* 1 for an added special token ([CLS], <s>, <|endoftext|>). */
int tfrt_tok_is_special(const TfrtTokenizer *tok, int32_t id);
/* 1 when decoding drops the leading space of the first token's text (the
 * one the encoder put in front of the text: ▁ models, WordPiece). */
int tfrt_tok_strips_first_space(const TfrtTokenizer *tok);

/* The id of the token whose bytes are exactly s[0..len), or -1. */
int32_t tfrt_tok_find(const TfrtTokenizer *tok, const char *s, size_t len);

/* ---- sampling ------------------------------------------------------------ */

/* Picks the next token from a row of logits.  The steps, in the order the
 * Hugging Face transformers library applies them:
 *
 *   1. temperature: logits / temperature.  temperature <= 0 means greedy:
 *      the argmax, the lowest id among equal maxima, and nothing else runs.
 *   2. top-k: keep the top_k largest (ties broken by the lower id),
 *      best first; top_k <= 0 or >= vocab keeps all, in id order.
 *   3. softmax over what is kept.
 *   4. top-p (nucleus): keep the smallest prefix of the tokens sorted by
 *      probability (descending, lower id first on ties) whose mass reaches
 *      top_p; at least one token is always kept.  top_p >= 1 keeps all.
 *   5. draw from what is left, renormalized, with the sampler's PRNG.
 *
 * The PRNG is xorshift64* (Vigna, 2016): a 64-bit state, the output
 * multiplied by 0x2545F4914F6CDD1D.  The seed goes through one splitmix64
 * step first, so any seed (0 too) gives a good state.  The draws depend
 * only on the seed and the logits, not on the platform (barring expf's last
 * bit on exotic libms).
 *
 * Logits may be -INFINITY (a masked token: probability 0); when every
 * logit is -INFINITY the result is 0, as greedy would give.  A NaN or
 * +INFINITY logit means the model's arithmetic failed (NaN or overflowing
 * weights): no token is chosen, tfrt_sample and tfrt_argmax return -1, and
 * tfrt_bad_logit says which logit it was.  tfrt_sample allocates
 * nothing as long as vocab does not exceed the vocab given to
 * tfrt_sampler_init; a larger vocab grows the scratch buffer once. */
typedef struct {
    float temperature;   /* <= 0: greedy */
    int top_k;           /* <= 0: off */
    float top_p;         /* >= 1: off */
    uint64_t rng;        /* xorshift64* state, never 0 */
    /* scratch: candidates of one call, owned by the sampler */
    struct TfrtCandidate *cand;
    int cap;
    float *row;          /* tfrt_sample_split's gathered row, row_cap floats */
    size_t row_cap;
} TfrtSampler;

/* Sets the parameters and allocates scratch for vocab tokens.  Returns
 * TFRT_OK, TFRT_ERR_ARG (vocab < 1) or TFRT_ERR_NOMEM. */
int tfrt_sampler_init(TfrtSampler *s, int vocab, float temperature,
                      int top_k, float top_p, uint64_t seed);
void tfrt_sampler_free(TfrtSampler *s);

/* Reseeds the PRNG; the same seed replays the same draws. */
void tfrt_sampler_seed(TfrtSampler *s, uint64_t seed);

/* The next token id in [0, vocab), or -1 if vocab < 1, a logit is NaN or
 * +INFINITY, or scratch cannot grow.  logits (vocab,) is not modified. */
int32_t tfrt_sample(TfrtSampler *s, const float *logits, int vocab);

/* tfrt_sample over a vocabulary split by rows over the ranks of a
 * tensor-parallel job (tfc --tp N, the head's logits left LOCAL:
 * tfrt_comm_logits_to): this rank holds logits x[0..cols) of tokens
 * [rank*cols, rank*cols + cols) of vocab (the last rank's past vocab are
 * padding).  Every rank calls it with the same sampler (seed, settings)
 * and gets the token tfrt_sample would choose from the whole row, by
 * exchanging only what the choice needs:
 *   - greedy (temperature <= 0, top_k 1): one MPI_MAXLOC all-reduce of
 *     (logit, id), 8 bytes;
 *   - top-k: that, then an all-gather of each rank's top_k + 1 best
 *     candidates, 8 bytes each (the row instead when that is smaller);
 *   - otherwise (top-p or temperature alone): that, then the whole row,
 *     all-gathered.
 * A NaN or +INFINITY logit on any rank: returns -1 on every rank, with the
 * lowest such token in *bad_id and its logit in *bad_logit.  Scratch that
 * cannot grow ends the job (tfrt_comm_abort): the ranks are mid-way.  In
 * runtime/sample_split.c: a program that calls it links the collectives
 * (MPI, in a libtfrt built with it); one that samples whole rows does not. */
int32_t tfrt_sample_split(TfrtSampler *s, const float *x, int cols, int vocab, int32_t *bad_id,
                          float *bad_logit);

/* Index of the largest of x[0..n), the lowest on ties; -1 if n < 1 or a
 * value is NaN or +INFINITY. */
int32_t tfrt_argmax(const float *x, int n);

/* Index of the first NaN or +INFINITY in x[0..n), or -1 when there is none
 * (every value finite or -INFINITY): a row that can be sampled. */
int32_t tfrt_bad_logit(const float *x, int n);

/* The repeat penalty of CTRL (Keskar et al., 2019), as llama.cpp and the
 * Hugging Face transformers library apply it: each distinct token of
 * tokens[0..n) has its logit divided by penalty when positive and
 * multiplied by it otherwise, once however often it occurs.  penalty > 1
 * makes repeating less likely, 1 changes nothing.  Ids outside [0, vocab)
 * are skipped.  seen is vocab bytes of scratch, all 0, and left all 0 (so
 * the call allocates nothing).  Runs before tfrt_sample, on a row
 * tfrt_bad_logit accepted. */
void tfrt_repeat_penalty(float *logits, int vocab, const int32_t *tokens, int n,
                         float penalty, unsigned char *seen);
/* The same over logits x[0..count) of tokens [first, first + count) (a
 * rank's share of a split vocabulary); tokens outside are skipped, seen
 * has count bytes. */
void tfrt_repeat_penalty_slice(float *x, int first, int count, const int32_t *tokens, int n,
                               float penalty, unsigned char *seen);

/* A uniform float in [0, 1) from the sampler's PRNG (24 random bits). */
float tfrt_sampler_uniform(TfrtSampler *s);

#ifdef __cplusplus
}
#endif
#endif
