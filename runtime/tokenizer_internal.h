/*
 * tokenizer_internal.h - what tokenizer.c, tokenizer_pretok.c and
 * unicode_tables.c share.  Internal to libtfrt.
 */
#ifndef TFRT_TOKENIZER_INTERNAL_H
#define TFRT_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* unicode_tables.c: sorted, disjoint [lo, hi] ranges of \p{L} and \p{N}. */
extern const uint32_t tfrt_uni_letters[][2];
extern const size_t tfrt_uni_letters_count;
extern const uint32_t tfrt_uni_numbers[][2];
extern const size_t tfrt_uni_numbers_count;

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

CharClass tfrt_char_class(uint32_t cp);

/* The end of the GPT-2 pre-tokenizer piece that starts at s[i], i < len:
 * the match of
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * at i.  Some alternative always matches, so the result is > i. */
size_t tfrt_gpt2_piece_end(const uint8_t *s, size_t len, size_t i);

#endif
