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
 * Tokenizers.  Two kinds are understood:
 *
 *   - byte-level BPE as in GPT-2: a Hugging Face tokenizer.json whose model
 *     is "BPE" and whose pre-tokenizer is ByteLevel, or the pair
 *     vocab.json + merges.txt (GPT-2's own names: encoder.json + vocab.bpe).
 *     Any byte string can be encoded, valid UTF-8 or not, and decoding the
 *     ids gives back the same bytes.
 *   - characters: a JSON file {"type": "chars", "chars": ["\n", " ", ...]}
 *     where token id = index and each entry is one UTF-8 character.
 *
 * Added tokens (tokenizer.json's added_tokens; for vocab.json + merges.txt,
 * the vocabulary's "<|endoftext|>") are matched literally in the input
 * before pre-tokenization, the longest at the leftmost position first, so
 * text containing "<|endoftext|>" encodes to that one id.  Their lstrip /
 * rstrip / single_word flags are not applied.
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
 *   - a tokenizer.json file, or a character-vocabulary file (told apart by
 *     their contents);
 *   - a directory holding tokenizer.json, or vocab.json + merges.txt, or
 *     encoder.json + vocab.bpe (tried in that order).
 * On failure returns a TfrtStatus (TFRT_ERR_IO, TFRT_ERR_FORMAT,
 * TFRT_ERR_NOMEM) and writes "path: what is wrong" into err; unsupported
 * tokenizers (another model type, another pre-tokenizer, a normalizer, a
 * BPE without merges) are refused with TFRT_ERR_FORMAT. */
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

/* The bytes of token id (not NUL-terminated) and their count in *len, or
 * NULL when id is not a token.  The bytes belong to the tokenizer. */
const char *tfrt_tok_decode_token(const TfrtTokenizer *tok, int32_t id,
                                  size_t *len);

/* Concatenates the bytes of ids[0..n) into *out, a malloc'ed buffer of
 * *len bytes plus a terminating NUL, freed by the caller with free().
 * TFRT_ERR_TOKEN, naming the position, if an id is not a token. */
int tfrt_tok_decode(const TfrtTokenizer *tok, const int32_t *ids, size_t n,
                    char **out, size_t *len, char *err, size_t errlen);

/* One more than the largest token id: the rows the model's logits have. */
int tfrt_tok_vocab_size(const TfrtTokenizer *tok);

/* The id of "<|endoftext|>", or -1 when the vocabulary has none. */
int32_t tfrt_tok_eos(const TfrtTokenizer *tok);

/* The id of the token whose bytes are exactly s[0..len), or -1. */
int32_t tfrt_tok_find(const TfrtTokenizer *tok, const char *s, size_t len);

/* ---- sampling ------------------------------------------------------------ */

/* Picks the next token from a row of logits.  The steps, in the order the
 * Hugging Face transformers library applies them:
 *
 *   1. temperature: logits / temperature.  temperature <= 0 means greedy:
 *      the argmax, the lowest id among equal maxima, and nothing else runs.
 *   2. top-k: keep the top_k largest (ties broken by the lower id);
 *      top_k <= 0 or >= vocab keeps all.
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

/* Index of the largest of x[0..n), the lowest on ties; -1 if n < 1 or a
 * value is NaN or +INFINITY. */
int32_t tfrt_argmax(const float *x, int n);

/* Index of the first NaN or +INFINITY in x[0..n), or -1 when there is none
 * (every value finite or -INFINITY): a row that can be sampled. */
int32_t tfrt_bad_logit(const float *x, int n);

/* A uniform float in [0, 1) from the sampler's PRNG (24 random bits). */
float tfrt_sampler_uniform(TfrtSampler *s);

#ifdef __cplusplus
}
#endif
#endif
