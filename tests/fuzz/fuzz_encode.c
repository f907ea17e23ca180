/*
 * fuzz_encode.c - libFuzzer target for encoding with each model: byte-level
 * BPE (GPT-2 style), SentencePiece-style BPE with byte fallback (Llama
 * style), WordPiece (BERT style) and Unigram (T5 style), on small
 * vocabularies built here.  The input is the text.
 *
 * What must hold: every id is a token; decoding works; and
 * decode(encode(x)) == x for byte-level BPE on any bytes, and for the
 * byte-fallback BPE on valid UTF-8 without U+2581 and without its special
 * tokens.  WordPiece and Unigram normalize, so they give no such promise.
 */
#include "fuzz_util.h"
#include "tfrt_text.h"

static TfrtTokenizer *toks[4];

/* GPT-2's spelling of byte b as UTF-8 into out (see tok_load_json.c). */
static int spell(int b, char *out)
{
    int cp;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        cp = b;
    else {
        int k = 0;
        for (int c = 0; c < b; c++)
            k += !((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE);
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static TfrtTokenizer *load(const char *name, const char *json)
{
    char path[256], err[512];
    TfrtTokenizer *t;
    fuzz_file(name, json, strlen(json), path, sizeof path);
    if (tfrt_tok_load(&t, path, err, sizeof err) != TFRT_OK) {
        fprintf(stderr, "fuzz_encode: %s\n", err);
        abort();
    }
    return t;
}

static char buf[1 << 16];

static void make_tokenizers(void)
{
    size_t n = 0;
    char s[4];
    /* byte-level: 256 bytes, "he" 256, "Ġt" 257, "Ġthe" 258, <|endoftext|> 259 */
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
    for (int b = 0; b < 256; b++) {
        int k = spell(b, s);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\"%s%.*s\": %d, ",
                              s[0] == '"' || s[0] == '\\' ? "\\" : "", k, s, b);
    }
    snprintf(buf + n, sizeof buf - n, "\"he\": 256, \"\xc4\xa0t\": 257, \"\xc4\xa0the\": 258},"
             " \"merges\": [\"h e\", \"\xc4\xa0 t\", \"\xc4\xa0t he\"]},"
             " \"added_tokens\": [{\"id\": 259, \"content\": \"<|endoftext|>\", \"special\": true}],"
             " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}}");
    toks[0] = load("bytelevel.json", buf);
    /* Llama style: <unk> <s> </s>, <0x00>..<0xFF>, then pieces */
    n = (size_t)snprintf(buf, sizeof buf, "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true,"
                         " \"fuse_unk\": true, \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0,"
                         " \"<s>\": 1, \"</s>\": 2, ");
    for (int b = 0; b < 256; b++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\"<0x%02X>\": %d, ", b, 3 + b);
    snprintf(buf + n, sizeof buf - n, "\"\xe2\x96\x81\": 259, \"t\": 260, \"h\": 261, \"e\": 262,"
             " \"\xe2\x96\x81t\": 263, \"he\": 264, \"\xe2\x96\x81the\": 265, \"\xc3\xa9\": 266},"
             " \"merges\": [\"\xe2\x96\x81 t\", \"h e\", \"\xe2\x96\x81t he\"]},"
             " \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
             " {\"id\": 1, \"content\": \"<s>\", \"special\": true}, {\"id\": 2, \"content\": \"</s>\","
             " \"special\": true}], \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
             "{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"}, {\"type\": \"Replace\","
             " \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]},"
             " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\":"
             " {\"id\": \"<s>\"}}, {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\":"
             " {\"ids\": [1]}}}, \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\":"
             " \"Replace\", \"pattern\": {\"String\": \"\xe2\x96\x81\"}, \"content\": \" \"},"
             " {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\","
             " \"content\": \" \", \"start\": 1, \"stop\": 0}]}}");
    toks[1] = load("llama.json", buf);
    toks[2] = load("wordpiece.json",
        "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[PAD]\": 0,"
        " \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, \"the\": 4, \"##s\": 5, \"cat\": 6, \"un\": 7,"
        " \"##able\": 8, \"a\": 9, \"##b\": 10, \",\": 11, \"\xe4\xb8\xad\": 12, \"e\": 13}},"
        " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
        " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
        " \"added_tokens\": [{\"id\": 2, \"content\": \"[CLS]\", \"special\": true},"
        " {\"id\": 3, \"content\": \"[SEP]\", \"special\": true}],"
        " \"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 2],"
        " \"sep\": [\"[SEP]\", 3]}, \"decoder\": {\"type\": \"WordPiece\"}}");
    toks[3] = load("unigram.json",
        "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": [[\"<pad>\", 0], [\"</s>\", 0],"
        " [\"<unk>\", 0], [\"\xe2\x96\x81\", -2], [\"a\", -3], [\"b\", -3.5], [\"ab\", -4],"
        " [\"\xe2\x96\x81" "a\", -2.5], [\"ba\", -5], [\"\xe2\x96\x81" "ab\", -6], [\"c\", -7]]},"
        " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Replace\","
        " \"pattern\": {\"Regex\": \" {2,}\"}, \"content\": \" \"}]},"
        " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\":"
        " \"WhitespaceSplit\"}, {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\","
        " \"add_prefix_space\": true}]}, \"decoder\": {\"type\": \"Metaspace\", \"replacement\":"
        " \"\xe2\x96\x81\", \"add_prefix_space\": true}}");
}

static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        int k = 0;
        uint8_t b = s[i];
        if (b < 0x80) k = 1;
        else if ((b & 0xE0) == 0xC0 && b >= 0xC2) k = 2;
        else if ((b & 0xF0) == 0xE0) k = 3;
        else if ((b & 0xF8) == 0xF0 && b <= 0xF4) k = 4;
        if (!k || n - i < (size_t)k)
            return 0;
        for (int j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        uint32_t cp = k == 1 ? b : k == 2 ? (b & 0x1Fu) : k == 3 ? (b & 0x0Fu) : (b & 0x07u);
        for (int j = 1; j < k; j++)
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        if ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += (size_t)k;
    }
    return 1;
}

static int contains(const uint8_t *s, size_t n, const char *what)
{
    size_t w = strlen(what);
    for (size_t i = 0; i + w <= n; i++)
        if (memcmp(s + i, what, w) == 0)
            return 1;
    return 0;
}

/* Encodes, checks every id, decodes; returns 1 when decode(encode(x)) == x. */
static int round_trip(const TfrtTokenizer *t, const uint8_t *s, size_t n)
{
    int32_t *ids;
    size_t count, blen;
    char err[256], *back;
    int same;
    if (tfrt_tok_encode(t, (const char *)s, n, &ids, &count, err, sizeof err) != TFRT_OK) {
        if (!err[0])
            abort();
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        if (!tfrt_tok_decode_token(t, ids[i], &blen))
            abort();
    if (tfrt_tok_decode(t, ids, count, &back, &blen, err, sizeof err) != TFRT_OK)
        abort();
    same = blen == n && (n == 0 || memcmp(back, s, n) == 0);
    free(back);
    free(ids);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!toks[0])
        make_tokenizers();
    if (size > 1 << 16)
        return 0;
    if (round_trip(toks[0], data, size) != 1)
        abort();                  /* byte-level BPE gives back any bytes */
    int r = round_trip(toks[1], data, size);
    if (valid_utf8(data, size) && !contains(data, size, "\xe2\x96\x81") &&
        !contains(data, size, "<s>") && !contains(data, size, "</s>") &&
        !contains(data, size, "<unk>") && r != 1)
        abort();                  /* byte fallback gives back any UTF-8 */
    round_trip(toks[2], data, size);
    round_trip(toks[3], data, size);
    return 0;
}
