/*
 * test_safetensors.c - the JSON reader, the safetensors reader and weight
 * binding.
 *
 * Each test writes a small file into a fresh temporary file (mkstemp under
 * $TMPDIR or /tmp), opens it and removes it.  Malformed files must be
 * refused with the right status and a message that names the problem;
 * the checks look for the telling words in the message.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "json.h"
#include "q8.h"
#include "tfrt.h"
#include "tests.h"

/* ---- helpers ----------------------------------------------------------- */

/* Writes bytes to a new temporary file; its path goes to path (64 bytes). */
static int write_temp(char *path, const void *bytes, size_t n)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%s/tfrt_test_XXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    ssize_t w = n ? write(fd, bytes, n) : 0;
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

/* Opens bytes as a safetensors file.  The file is unlinked at once: the
 * mapping outlives the name. */
static int open_bytes(TfrtSafetensors **st, const void *bytes, size_t n,
                      char *err, size_t errlen)
{
    char path[64];
    *st = NULL;
    if (write_temp(path, bytes, n) != 0) {
        snprintf(err, errlen, "test could not write a temporary file");
        return -1;
    }
    int r = tfrt_st_open(st, path, err, errlen);
    unlink(path);
    return r;
}

/* 8-byte length + header + data, the header padded with spaces so that
 * the data section starts 8-aligned, or 1 past that when misalign. */
static unsigned char *build(const char *header, int misalign, const void *data,
                            size_t dlen, size_t *total)
{
    size_t n = strlen(header);
    while ((8 + n) % 8 != (misalign ? 1u : 0u))
        n++;
    unsigned char *buf = malloc(8 + n + dlen + 1);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memset(buf + 8, ' ', n);
    memcpy(buf + 8, header, strlen(header));
    if (dlen)
        memcpy(buf + 8 + n, data, dlen);
    *total = 8 + n + dlen;
    return buf;
}

static int open_st(TfrtSafetensors **st, const char *header, int misalign,
                   const void *data, size_t dlen, char *err, size_t errlen)
{
    size_t total;
    unsigned char *buf = build(header, misalign, data, dlen, &total);
    int r = open_bytes(st, buf, total, err, errlen);
    free(buf);
    return r;
}

/* Opens header + dlen zero bytes and expects status with `words` in the
 * message. */
static void expect_bad(const char *header, size_t dlen, int status, const char *words)
{
    TfrtSafetensors *st;
    char err[512];
    unsigned char *zeros = calloc(dlen + 1, 1);
    int r = open_st(&st, header, 0, zeros, dlen, err, sizeof err);
    free(zeros);
    CU_ASSERT_EQUAL(r, status);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, words));
    if (r != status || !strstr(err, words))
        fprintf(stderr, "\n    header %s\n    got %d \"%s\", wanted %d \"%s\"\n",
                header, r, err, status, words);
    tfrt_st_close(st);
}

/* ---- JSON -------------------------------------------------------------- */

static JsonValue *parse(const char *text)
{
    char err[128];
    return json_parse(text, strlen(text), err, sizeof err);
}

static void test_json_values(void)
{
    JsonValue *v = parse(" {\"a\": [1, -2.5e1, true, false, null, \"x\"], \"b\": {}} ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(v->type, JSON_OBJECT);
    const JsonValue *a = json_get(v, "a");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(a->type, JSON_ARRAY);
    CU_ASSERT_EQUAL_FATAL(a->u.array.count, 6);
    CU_ASSERT(a->u.array.items[0].u.number.is_integer && a->u.array.items[0].u.number.integer == 1);
    CU_ASSERT(!a->u.array.items[1].u.number.is_integer);
    CU_ASSERT_DOUBLE_EQUAL(a->u.array.items[1].u.number.value, -25.0, 0);
    CU_ASSERT(a->u.array.items[2].type == JSON_BOOL && a->u.array.items[2].u.boolean == 1);
    CU_ASSERT(a->u.array.items[3].type == JSON_BOOL && a->u.array.items[3].u.boolean == 0);
    CU_ASSERT_EQUAL(a->u.array.items[4].type, JSON_NULL);
    CU_ASSERT_STRING_EQUAL(a->u.array.items[5].u.string.chars, "x");
    CU_ASSERT_EQUAL(a->u.array.items[5].offset, 38);
    CU_ASSERT_EQUAL(json_get(v, "b")->type, JSON_OBJECT);
    CU_ASSERT_PTR_NULL(json_get(v, "c"));
    CU_ASSERT_PTR_NULL(json_get(a, "a"));          /* not an object */
    json_free(v);
}

/* Integers are exact over all of int64; beyond it they are not integers. */
static void test_json_integers(void)
{
    JsonValue *v = parse("[9007199254740993, 9223372036854775807, -9223372036854775808,"
                         " 9223372036854775808, -0, 1.0, 1e2]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    const JsonValue *it = v->u.array.items;
    CU_ASSERT(it[0].u.number.is_integer && it[0].u.number.integer == 9007199254740993LL);
    CU_ASSERT(it[1].u.number.is_integer && it[1].u.number.integer == INT64_MAX);
    CU_ASSERT(it[2].u.number.is_integer && it[2].u.number.integer == INT64_MIN);
    CU_ASSERT(!it[3].u.number.is_integer);
    CU_ASSERT_DOUBLE_EQUAL(it[3].u.number.value, 9223372036854775808.0, 0);
    CU_ASSERT(it[4].u.number.is_integer && it[4].u.number.integer == 0);
    CU_ASSERT(!it[5].u.number.is_integer && !it[6].u.number.is_integer);
    CU_ASSERT_DOUBLE_EQUAL(it[6].u.number.value, 100.0, 0);
    json_free(v);
}

static void test_json_strings(void)
{
    /* escapes; U+00E9 as \u; U+1F600 as a surrogate pair; raw UTF-8 */
    JsonValue *v = parse("[\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\", \"\\ud83d\\ude00\","
                         " \"\xc3\xa9\", \"a\\u0000b\", \"\\ud800x\", \"\\udc00\",\"\\udc00\\udc01\"]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    const JsonValue *it = v->u.array.items;
    CU_ASSERT_STRING_EQUAL(it[0].u.string.chars, "a\"\\/\b\f\n\r\t");
    CU_ASSERT_STRING_EQUAL(it[1].u.string.chars, "\xc3\xa9");
    CU_ASSERT_STRING_EQUAL(it[2].u.string.chars, "\xf0\x9f\x98\x80");
    CU_ASSERT_STRING_EQUAL(it[3].u.string.chars, "\xc3\xa9");
    CU_ASSERT_EQUAL(it[4].u.string.len, 3);        /* NUL kept, length exact */
    CU_ASSERT(memcmp(it[4].u.string.chars, "a\0b", 3) == 0);
    /* Lone surrogates become U+FFFD (documented in json.c). */
    CU_ASSERT_STRING_EQUAL(it[5].u.string.chars, "\xef\xbf\xbdx");
    CU_ASSERT_STRING_EQUAL(it[6].u.string.chars, "\xef\xbf\xbd");
    CU_ASSERT_STRING_EQUAL(it[7].u.string.chars, "\xef\xbf\xbd\xef\xbf\xbd");  /* low, low */
    json_free(v);
}

static void test_json_rejects(void)
{
    static const char *const bad[] = {
        "", " ", "[1,]", "{\"a\":1,}", "[01]", "[+1]", "[.5]", "[1.]", "[1e]",
        "[-]", "[NaN]", "[Infinity]", "{a:1}", "{\"a\" 1}", "[1 2]", "[1] x",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"a\tb\"", "\"\xc3\"", "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "tru", "nul", "[", "{",
        "{\"a\"", "{\"a\":", "\xef\xbb\xbf{}", "[\"\\u00e9\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128] = "";
        JsonValue *v = json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        CU_ASSERT_PTR_NULL(v);
        CU_ASSERT(strncmp(err, "offset ", 7) == 0);
        if (v)
            fprintf(stderr, "\n    accepted bad JSON %s\n", bad[i]);
        json_free(v);
    }
    /* The buffer ends where len says, even if more text follows. */
    char err[128];
    CU_ASSERT_PTR_NULL(json_parse("[1,2]", 4, err, sizeof err));
}

/* 256 nested arrays parse; 257 do not. */
static void test_json_depth(void)
{
    char buf[600];
    char err[128];
    for (int depth = 256; depth <= 257; depth++) {
        memset(buf, '[', (size_t)depth);
        memset(buf + depth, ']', (size_t)depth);
        JsonValue *v = json_parse(buf, 2 * (size_t)depth, err, sizeof err);
        if (depth == 256) {
            CU_ASSERT_PTR_NOT_NULL(v);
        } else {
            CU_ASSERT(v == NULL && strstr(err, "nesting") != NULL);
        }
        json_free(v);
    }
}

/* ---- safetensors: a valid file ------------------------------------------ */

static void test_st_valid(void)
{
    const char *header =
        "{\"__metadata__\": {\"format\": \"pt\"},"
        " \"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
        " \"b\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [24, 40]},"
        " \"empty\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [40, 40]},"
        " \"scalar\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [40, 42]}}";
    unsigned char data[42];
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t b[2] = {-7, 1LL << 40};
    memcpy(data, a, 24);
    memcpy(data + 24, b, 16);
    data[40] = 0x00, data[41] = 0x3C;   /* 1.0 in F16 */
    TfrtSafetensors *st;
    char err[256];
    int r = open_st(&st, header, 0, data, sizeof data, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(r, TFRT_OK);
    CU_ASSERT_EQUAL(tfrt_st_count(st), 4);
    const TfrtTensor *t = tfrt_st_find(st, "a");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->name, "a");
    CU_ASSERT(t->dtype == TFRT_DT_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    CU_ASSERT(t->nbytes == 24 && memcmp(t->data, a, 24) == 0);
    t = tfrt_st_find(st, "b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(t->dtype == TFRT_DT_I64 && t->ndim == 1 && memcmp(t->data, b, 16) == 0);
    t = tfrt_st_find(st, "empty");
    CU_ASSERT(t && t->nbytes == 0 && t->shape[0] == 0 && t->shape[1] == 4);
    t = tfrt_st_find(st, "scalar");
    CU_ASSERT(t && t->dtype == TFRT_DT_F16 && t->ndim == 0 && t->nbytes == 2);
    CU_ASSERT_PTR_NULL(tfrt_st_find(st, "__metadata__"));
    CU_ASSERT_PTR_NULL(tfrt_st_find(st, "c"));
    CU_ASSERT_STRING_EQUAL(tfrt_st_tensor(st, 0)->name, "a");   /* header order */
    CU_ASSERT_STRING_EQUAL(tfrt_st_tensor(st, 3)->name, "scalar");
    CU_ASSERT_PTR_NULL(tfrt_st_tensor(st, 4));
    CU_ASSERT_PTR_NULL(tfrt_st_tensor(st, -1));
    CU_ASSERT_STRING_EQUAL(tfrt_dtype_name(TFRT_DT_BF16), "BF16");
    tfrt_st_close(st);
}

/* An empty header object is a valid file with no tensors. */
static void test_st_empty_header(void)
{
    TfrtSafetensors *st;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(open_st(&st, "{}", 0, NULL, 0, err, sizeof err), TFRT_OK);
    CU_ASSERT_EQUAL(tfrt_st_count(st), 0);
    CU_ASSERT_PTR_NULL(tfrt_st_find(st, "a"));
    tfrt_st_close(st);
}

/* ---- safetensors: malformed files ----------------------------------------- */

static void test_st_truncated(void)
{
    TfrtSafetensors *st;
    char err[256];
    CU_ASSERT_EQUAL(open_bytes(&st, "", 0, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "0 bytes"));
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_EQUAL(open_bytes(&st, "\x02\0\0\0\0\0\0", 7, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "7 bytes"));
    /* header length 1000 in a 20-byte file */
    unsigned char f[20] = {0xE8, 0x03};
    memcpy(f + 8, "{}          ", 12);
    CU_ASSERT_EQUAL(open_bytes(&st, f, sizeof f, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "header length 1000 runs past the end"));
    /* 2^64 - 1: must not wrap around when added to 8 */
    memset(f, 0xFF, 8);
    CU_ASSERT_EQUAL(open_bytes(&st, f, sizeof f, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "runs past the end"));
    /* a valid file cut short inside its data */
    size_t total;
    unsigned char *buf = build("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], "
                               "\"data_offsets\": [0, 16]}}", 0, "0123456789abcdef", 16, &total);
    CU_ASSERT_EQUAL(open_bytes(&st, buf, total - 1, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "lie beyond the end of the data section"));
    free(buf);
}

static void test_st_missing_file(void)
{
    TfrtSafetensors *st;
    char err[256];
    CU_ASSERT_EQUAL(tfrt_st_open(&st, "/nonexistent/w.safetensors", err, sizeof err), TFRT_ERR_IO);
    CU_ASSERT(strncmp(err, "/nonexistent/w.safetensors: ", 28) == 0);
}

/* The error message starts with the path. */
static void test_st_message_has_path(void)
{
    char path[64], err[256];
    TfrtSafetensors *st;
    write_temp(path, "\x02\0\0\0\0\0\0\0[]", 10);
    CU_ASSERT_EQUAL(tfrt_st_open(&st, path, err, sizeof err), TFRT_ERR_FORMAT);
    CU_ASSERT(strncmp(err, path, strlen(path)) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "header is not a JSON object"));
    unlink(path);
}

#define T(dtype, shape, offs) "{\"dtype\": \"" dtype "\", \"shape\": " shape ", \"data_offsets\": " offs "}"

static void test_st_bad_headers(void)
{
    expect_bad("{\"a\": ", 0, TFRT_ERR_FORMAT, "header is not valid JSON");
    expect_bad("[1, 2]", 0, TFRT_ERR_FORMAT, "header is not a JSON object");
    expect_bad("{\"a\": 3}", 0, TFRT_ERR_FORMAT, "tensor 'a': entry is not an object");
    expect_bad("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
               TFRT_ERR_FORMAT, "tensor 'a': no \"dtype\"");
    expect_bad("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4,
               TFRT_ERR_FORMAT, "tensor 'a': no \"shape\"");
    expect_bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4,
               TFRT_ERR_FORMAT, "tensor 'a': no \"data_offsets\"");
    expect_bad("{\"a\": " T("F32", "[1, -1]", "[0, 4]") "}", 4,
               TFRT_ERR_FORMAT, "shape dimension 1 is not a non-negative integer");
    expect_bad("{\"a\": " T("F32", "[1.5]", "[0, 4]") "}", 4,
               TFRT_ERR_FORMAT, "shape dimension 0 is not a non-negative integer");
    expect_bad("{\"a\": " T("F32", "4", "[0, 16]") "}", 16,
               TFRT_ERR_FORMAT, "\"shape\" is not an array");
    expect_bad("{\"a\": " T("F32", "[1,1,1,1,1,1,1,1,1]", "[0, 4]") "}", 4,
               TFRT_ERR_FORMAT, "9 dimensions");
    expect_bad("{\"a\": " T("Q4", "[4]", "[0, 2]") "}", 2,
               TFRT_ERR_FORMAT, "tensor 'a': unknown dtype \"Q4\"");
    expect_bad("{\"a\": {\"dtype\": 1, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
               TFRT_ERR_FORMAT, "\"dtype\" is not a string");
    expect_bad("{\"a\": " T("F32", "[4]", "[0, 16]") "}", 8,
               TFRT_ERR_FORMAT,
               "tensor 'a': data_offsets [0, 16] lie beyond the end of the data section (8 bytes)");
    expect_bad("{\"a\": " T("F32", "[0]", "[8, 4]") "}", 8,
               TFRT_ERR_FORMAT, "data_offsets [8, 4] begin after they end");
    expect_bad("{\"a\": " T("F32", "[4]", "[0, 8]") "}", 16,
               TFRT_ERR_FORMAT, "hold 8 bytes, but dtype F32 and the shape need 16");
    expect_bad("{\"a\": " T("F32", "[1]", "[0, 4, 8]") "}", 8,
               TFRT_ERR_FORMAT, "\"data_offsets\" is not [begin, end]");
    expect_bad("{\"a\": " T("F32", "[1]", "[-4, 0]") "}", 8,
               TFRT_ERR_FORMAT, "are not non-negative integers");
    expect_bad("{\"a\": " T("F32", "[4]", "[0, 16]") ", \"b\": " T("F32", "[2]", "[12, 20]") "}",
               20, TFRT_ERR_FORMAT, "tensors 'a' and 'b' overlap");
    expect_bad("{\"b\": " T("U8", "[2]", "[3, 5]") ", \"a\": " T("U8", "[4]", "[0, 4]") "}",
               5, TFRT_ERR_FORMAT, "tensors 'a' and 'b' overlap");     /* by one byte */
    expect_bad("{\"a\": " T("F32", "[1]", "[0, 4]") ", \"a\": " T("F32", "[1]", "[4, 8]") "}",
               8, TFRT_ERR_FORMAT, "tensor 'a' appears twice");
    /* 2^32 * 2^32 * 4 bytes overflows 64 bits; the offsets cannot match. */
    expect_bad("{\"a\": " T("F32", "[4294967296, 4294967296]", "[0, 0]") "}", 0,
               TFRT_ERR_FORMAT, "byte count overflows");
    expect_bad("{\"a\": " T("U8", "[99999999999999999999]", "[0, 0]") "}", 0,
               TFRT_ERR_FORMAT, "shape dimension 0 is not a non-negative integer");
    expect_bad("{\"__metadata__\": [1]}", 0, TFRT_ERR_FORMAT, "\"__metadata__\" is not an object");
    expect_bad("{\"__metadata__\": {\"k\": 1}}", 0, TFRT_ERR_FORMAT, "is not a string");
}

/* Zero-size tensors may share an offset with others; that is no overlap. */
static void test_st_zero_size_no_overlap(void)
{
    TfrtSafetensors *st;
    char err[256];
    float d[2] = {1, 2};
    int r = open_st(&st, "{\"a\": " T("F32", "[2]", "[0, 8]") ", \"z\": " T("F32", "[0]", "[4, 4]")
                    ", \"y\": " T("BF16", "[3, 0]", "[0, 0]") "}", 0, d, 8, err, sizeof err);
    CU_ASSERT_EQUAL(r, TFRT_OK);
    if (r)
        fprintf(stderr, "\n    %s\n", err);
    tfrt_st_close(st);
}

/* ---- binding ----------------------------------------------------------------- */

typedef struct {
    const float *wte;           /* (4,3) */
    const float *w;             /* (2,2) */
} Table;

/* A file with transformer.wte (4,3) and transformer.h.0.w (2,2), F32, plus
 * whatever extra entries (header text, data appended after 64 bytes). */
static TfrtSafetensors *bind_file(const char *extra, int misalign, const void *xdata,
                                  size_t xlen)
{
    char header[1024];
    unsigned char data[64 + 512] = {0};
    if (xlen > sizeof data - 64)
        return NULL;   /* more extra data than this helper holds */
    snprintf(header, sizeof header,
             "{\"transformer.wte\": " T("F32", "[4, 3]", "[0, 48]")
             ", \"transformer.h.0.w\": " T("F32", "[2, 2]", "[48, 64]") "%s}", extra);
    for (int i = 0; i < 16; i++) {
        float f = (float)i;
        memcpy(data + 4 * i, &f, 4);
    }
    if (xlen)
        memcpy(data + 64, xdata, xlen);
    TfrtSafetensors *st;
    char err[256];
    if (open_st(&st, header, misalign, data, 64 + xlen, err, sizeof err) != TFRT_OK)
        fprintf(stderr, "\n    bind_file: %s\n", err);
    return st;
}

static const char *const prefixes[] = {"transformer."};
static const char *const ignores[] = {"*.attn.bias", "lm_head.*"};
static const TfrtNameMap name_map = {prefixes, 1, ignores, 2};

static const TfrtWeightSpec specs[] = {
    {"wte", 2, {4, 3}, offsetof(Table, wte), 0, 0},
    {"h.0.w", 2, {2, 2}, offsetof(Table, w), 0, 0},
};

static void test_bind_prefix(void)
{
    TfrtSafetensors *st = bind_file("", 0, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    Table t = {0};
    TfrtBindings *b;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(tfrt_bind_weights(&b, st, specs, 2, &name_map, &t, err, sizeof err), TFRT_OK);
    /* F32 and aligned: the pointers are views into the mapping. */
    CU_ASSERT_PTR_EQUAL(t.wte, tfrt_st_find(st, "transformer.wte")->data);
    CU_ASSERT_PTR_EQUAL(t.w, tfrt_st_find(st, "transformer.h.0.w")->data);
    CU_ASSERT(t.wte[5] == 5.0f && t.w[3] == 15.0f);
    tfrt_bindings_free(b);
    /* A view: `first` elements into the stored tensor, still in place. */
    TfrtWeightSpec view[3] = {specs[0], specs[1], {"wte", 2, {4, 3}, offsetof(Table, w), 3, 0}};
    CU_ASSERT_EQUAL_FATAL(tfrt_bind_weights(&b, st, view, 3, &name_map, &t, err, sizeof err), TFRT_OK);
    CU_ASSERT_PTR_EQUAL(t.w, (const float *)tfrt_st_find(st, "transformer.wte")->data + 3);
    tfrt_bindings_free(b);
    tfrt_st_close(st);
}

/* --tp: a rank's slice, found in place (wte is (4,3) of 0..11). */
static const float *bind_rank(TfrtSafetensors *st, TfrtWeightSplit split, int rank, int *status)
{
    TfrtWeightSplit splits[2] = {split, {0, 0, {0, 0, 0}, 0}};
    Table t = {0};
    TfrtBindings *b;
    char err[256];
    *status = tfrt_bind_weights_rank(&b, st, specs, splits, 2, &name_map, &t, rank, err, sizeof err);
    static float copy[6];   /* the slice outlives the binding here */
    if (*status != TFRT_OK)
        return NULL;
    const float *wte = t.wte;
    int in_file = wte >= (const float *)tfrt_st_find(st, "transformer.wte")->data &&
                  wte < (const float *)tfrt_st_find(st, "transformer.wte")->data + 12;
    if (!in_file) {   /* a padded copy: keep its values, return them */
        memcpy(copy, wte, sizeof copy);
        wte = copy;
    }
    tfrt_bindings_free(b);
    return wte;
}

static void test_bind_split(void)
{
    TfrtSafetensors *st = bind_file("", 0, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    const float *wte = tfrt_st_find(st, "transformer.wte")->data;
    int rc;
    /* rows: rank 1 of 2 starts at row 2 */
    CU_ASSERT_PTR_EQUAL(bind_rank(st, (TfrtWeightSplit){1, 2, {0, 0, 0}, 0}, 1, &rc), wte + 6);
    /* columns: rank 2 of 3 starts at column 2, read with the stored stride */
    CU_ASSERT_PTR_EQUAL(bind_rank(st, (TfrtWeightSplit){2, 3, {0, 0, 0}, 0}, 2, &rc), wte + 2);
    /* two fused parts of 2 rows: rank 1's slice of the first is row 1 (its
       slice of the second, row 3, is a part's stored length further) */
    CU_ASSERT_PTR_EQUAL(bind_rank(st, (TfrtWeightSplit){1, 2, {2, 2, 0}, 0}, 1, &rc), wte + 3);
    /* 4 rows over 3 ranks: 2 rows each, rank 1 in place, rank 2 a copy of
       nothing but padding */
    CU_ASSERT_PTR_EQUAL(bind_rank(st, (TfrtWeightSplit){1, 3, {0, 0, 0}, 0}, 1, &rc), wte + 6);
    const float *pad = bind_rank(st, (TfrtWeightSplit){1, 3, {0, 0, 0}, 0}, 2, &rc);
    CU_ASSERT_EQUAL(rc, TFRT_OK);
    CU_ASSERT(pad && pad[0] == 0.0f && pad[5] == 0.0f);
    /* 3 columns do not split 2 ways; a rank outside the job */
    CU_ASSERT_PTR_NULL(bind_rank(st, (TfrtWeightSplit){2, 2, {0, 0, 0}, 0}, 0, &rc));
    CU_ASSERT_EQUAL(rc, TFRT_ERR_ARG);
    CU_ASSERT_PTR_NULL(bind_rank(st, (TfrtWeightSplit){1, 2, {0, 0, 0}, 0}, 2, &rc));
    CU_ASSERT_EQUAL(rc, TFRT_ERR_ARG);
    /* packed (T5's relative bias by heads): rank 1 of 3's column, copied */
    TfrtWeightSplit packed[2] = {{2, 3, {0, 0, 0}, 1}, {0, 0, {0, 0, 0}, 0}};
    Table t = {0};
    TfrtBindings *b;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(tfrt_bind_weights_rank(&b, st, specs, packed, 2, &name_map, &t, 1, err, sizeof err),
                          TFRT_OK);
    CU_ASSERT(t.wte[0] == 1.0f && t.wte[1] == 4.0f && t.wte[2] == 7.0f && t.wte[3] == 10.0f);
    tfrt_bindings_free(b);
    tfrt_st_close(st);
}

static void test_bind_errors(void)
{
    TfrtSafetensors *st = bind_file("", 0, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    Table t = {0};
    TfrtBindings *b;
    char err[256];
    TfrtWeightSpec bad[3] = {specs[0], specs[1], {"lm_head.weight", 2, {4, 3}, offsetof(Table, w), 0, 0}};
    CU_ASSERT_EQUAL(tfrt_bind_weights(&b, st, bad, 3, &name_map, &t, err, sizeof err),
                    TFRT_ERR_MISSING);
    CU_ASSERT_PTR_NULL(b);
    CU_ASSERT_STRING_EQUAL(err, "tensor 'lm_head.weight' is missing (looked for "
                                "'lm_head.weight', 'transformer.lm_head.weight')");
    bad[1].shape[1] = 3;
    CU_ASSERT_EQUAL(tfrt_bind_weights(&b, st, bad, 2, &name_map, &t, err, sizeof err),
                    TFRT_ERR_SHAPE);
    CU_ASSERT_STRING_EQUAL(err, "tensor 'transformer.h.0.w' has shape [2, 2], "
                                "the model expects [2, 3]");
    bad[1].ndim = 1;
    CU_ASSERT_EQUAL(tfrt_bind_weights(&b, st, bad, 2, &name_map, &t, err, sizeof err),
                    TFRT_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the model expects [2]"));
    /* Without the prefix the names are not found. */
    TfrtNameMap bare = {NULL, 0, NULL, 0};
    CU_ASSERT_EQUAL(tfrt_bind_weights(&b, st, specs, 2, &bare, &t, err, sizeof err),
                    TFRT_ERR_MISSING);
    /* The model uses only wte: h.0.w is unexpected. */
    CU_ASSERT_EQUAL(tfrt_bind_weights(&b, st, specs, 1, &name_map, &t, err, sizeof err),
                    TFRT_ERR_UNEXPECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'transformer.h.0.w'"));
    tfrt_st_close(st);
}

static void test_bind_ignore(void)
{
    float x[2] = {0};
    TfrtSafetensors *st = bind_file(", \"transformer.h.0.attn.bias\": " T("F32", "[2]", "[64, 72]"),
                                    0, x, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    Table t = {0};
    TfrtBindings *b;
    char err[256];
    CU_ASSERT_EQUAL(tfrt_bind_weights(&b, st, specs, 2, &name_map, &t, err, sizeof err), TFRT_OK);
    tfrt_bindings_free(b);
    TfrtNameMap no_ignore = {prefixes, 1, NULL, 0};
    CU_ASSERT_EQUAL(tfrt_bind_weights(&b, st, specs, 2, &no_ignore, &t, err, sizeof err),
                    TFRT_ERR_UNEXPECTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'transformer.h.0.attn.bias'"));
    tfrt_st_close(st);
}

/* F16 and BF16 weights are widened; an I32 weight is refused. */
static void test_bind_convert(void)
{
    /* F16: 1, -2, 0.5, 65504, 2^-24 (smallest subnormal), +inf */
    const uint16_t f16[6] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x7C00};
    /* BF16: 1, -2, 3.140625, -0 */
    const uint16_t bf16[4] = {0x3F80, 0xC000, 0x4049, 0x8000};
    unsigned char x[20];
    for (int i = 0; i < 6; i++)
        x[2 * i] = (unsigned char)f16[i], x[2 * i + 1] = (unsigned char)(f16[i] >> 8);
    for (int i = 0; i < 4; i++)
        x[12 + 2 * i] = (unsigned char)bf16[i], x[13 + 2 * i] = (unsigned char)(bf16[i] >> 8);
    TfrtSafetensors *st = bind_file(", \"h\": " T("F16", "[6]", "[64, 76]")
                                    ", \"bf\": " T("BF16", "[2, 2]", "[76, 84]"), 0, x, 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    struct { const float *wte, *w, *h, *bf; } t = {0};
    TfrtWeightSpec s[4] = {specs[0], specs[1], {"h", 1, {6}, 2 * sizeof(float *), 0, 0},
                           {"bf", 2, {2, 2}, 3 * sizeof(float *), 0, 0}};
    TfrtBindings *b;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(tfrt_bind_weights(&b, st, s, 4, &name_map, &t, err, sizeof err), TFRT_OK);
    CU_ASSERT(t.h[0] == 1.0f && t.h[1] == -2.0f && t.h[2] == 0.5f && t.h[3] == 65504.0f);
    CU_ASSERT(t.h[4] == 5.9604644775390625e-8f && t.h[5] > 3e38f);
    CU_ASSERT(t.bf[0] == 1.0f && t.bf[1] == -2.0f && t.bf[2] == 3.140625f);
    CU_ASSERT(t.bf[3] == 0.0f && signbit(t.bf[3]));
    tfrt_bindings_free(b);
    tfrt_st_close(st);

    int32_t ints[2] = {1, 2};
    st = bind_file(", \"i\": " T("I32", "[2]", "[64, 72]"), 0, ints, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    TfrtWeightSpec si[3] = {specs[0], specs[1], {"i", 1, {2}, 2 * sizeof(float *), 0, 0}};
    CU_ASSERT_EQUAL(tfrt_bind_weights(&b, st, si, 3, &name_map, &t, err, sizeof err), TFRT_ERR_DTYPE);
    CU_ASSERT_STRING_EQUAL(err, "tensor 'i' has dtype I32, the model needs F32, F16 or BF16");
    tfrt_st_close(st);
}

/* F32 data at an odd address is copied, values intact. */
static void test_bind_misaligned(void)
{
    TfrtSafetensors *st = bind_file("", 1, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    const TfrtTensor *wte = tfrt_st_find(st, "transformer.wte");
    CU_ASSERT((uintptr_t)wte->data % 4 != 0);          /* the test's premise */
    Table t = {0};
    TfrtBindings *b;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(tfrt_bind_weights(&b, st, specs, 2, &name_map, &t, err, sizeof err), TFRT_OK);
    CU_ASSERT((uintptr_t)t.wte % 4 == 0 && (const void *)t.wte != wte->data);
    int ok = 1;
    for (int i = 0; i < 12; i++)
        ok &= t.wte[i] == (float)i;
    for (int i = 0; i < 4; i++)
        ok &= t.w[i] == (float)(12 + i);
    CU_ASSERT(ok);
    tfrt_bindings_free(b);
    tfrt_st_close(st);
}

static void test_glob(void)
{
    static const struct { const char *p, *s; int want; } cases[] = {
        {"", "", 1}, {"", "a", 0}, {"*", "", 1}, {"*", "abc", 1},
        {"abc", "abc", 1}, {"abc", "abcd", 0}, {"abcd", "abc", 0},
        {"a*c", "abc", 1}, {"a*c", "ac", 1}, {"a*c", "ab", 0},
        {"*.bias", "h.0.attn.bias", 1}, {"*.bias", "h.0.attn.bias.x", 0},
        {"h.*.attn.bias", "h.12.attn.bias", 1}, {"h.*.attn.bias", "h.12.mlp.bias", 0},
        {"a*b*c", "aXbYc", 1}, {"a*b*c", "aXcYb", 0}, {"**a", "a", 1},
        {"*ab", "aab", 1}, {"*aab", "aaab", 1}, {"lm_head.*", "lm_head.weight", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = tfrt_glob_match(cases[i].p, cases[i].s);
        CU_ASSERT_EQUAL(got, cases[i].want);
        if (got != cases[i].want)
            fprintf(stderr, "\n    glob '%s' on '%s' gave %d\n", cases[i].p, cases[i].s, got);
    }
}

/* ---- packing a model's weights at open ----------------------------------- */

/* The packed form as tfrt.h describes it: panel q of a part holds, for
 * each input k, TFRT_PACK_PANEL consecutive floats W(32 q + c, k), zero
 * past the last row.  W read from `orig`, the test's own copy. */
static int panels_match(const float *packed, const float *orig, const TfrtPackedPart *pt)
{
    int panels = (pt->rows + TFRT_PACK_PANEL - 1) / TFRT_PACK_PANEL;
    for (int q = 0; q < panels; q++)
        for (int k = 0; k < pt->in; k++)
            for (int c = 0; c < TFRT_PACK_PANEL; c++) {
                int o = q * TFRT_PACK_PANEL + c;
                float want = 0.0f;
                if (o < pt->rows)
                    want = pt->layout == TFRT_W_OUT_IN
                               ? orig[pt->first + (size_t)o * pt->ldw + k]
                               : orig[pt->first + (size_t)k * pt->ldw + o];
                if (packed[((size_t)q * pt->in + k) * TFRT_PACK_PANEL + c] != want)
                    return 0;
            }
    return 1;
}

/* tfrt_pack_weights (on a pool and on one thread) and tfrt_pack_when_due
 * on a file of two tensors: a (1100, 40) stored (out, in), more rows than
 * one packing run, and b (40, 96) stored (in, out) and used as three
 * column parts; part 4 repeats part 0.  Where packing pays, each copy has
 * the documented panels, the repeat shares its copy, and the released
 * weights still read back as written; TFRT_PACK=0 packs nothing. */
typedef struct { const float *a, *b; } TwoWeights;

static void test_pack_weights(void)
{
    enum { AR = 1100, IN = 40, BC = 96 };
    const char *header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1100,40],\"data_offsets\":[0,176000]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[40,96],\"data_offsets\":[176000,191360]}}";
    size_t na = (size_t)AR * IN, nb = (size_t)IN * BC, total;
    float *data = malloc(sizeof(float) * (na + nb));
    for (size_t i = 0; i < na + nb; i++)
        data[i] = (float)((i * 2654435761u) % 1000u) / 7.0f - 50.0f;
    unsigned char *bytes = build(header, 0, data, sizeof(float) * (na + nb), &total);
    TfrtSafetensors *st;
    char err[256];
    CU_ASSERT_FATAL(open_bytes(&st, bytes, total, err, sizeof err) == TFRT_OK);
    TwoWeights w = {tfrt_st_find(st, "a")->data, tfrt_st_find(st, "b")->data};
    const TfrtPackedPart parts[] = {
        {offsetof(TwoWeights, a), 0, IN, AR, IN, TFRT_W_OUT_IN},
        {offsetof(TwoWeights, b), 0, IN, 32, BC, TFRT_W_IN_OUT},
        {offsetof(TwoWeights, b), 32, IN, 32, BC, TFRT_W_IN_OUT},
        {offsetof(TwoWeights, b), 64, IN, 32, BC, TFRT_W_IN_OUT},
        {offsetof(TwoWeights, a), 0, IN, AR, IN, TFRT_W_OUT_IN},
    };
    const float *origin[] = {data, data + na, data + na, data + na, data};
    const float *packed[5];
    float *mem;
    TfrtPool *pool;
    CU_ASSERT_FATAL(tfrt_pool_create(&pool, 3) == TFRT_OK);
    /* on the pool's threads and on the caller's alone; then not at all */
    for (int off = 0; off < 3; off++) {
        if (off == 2)
            setenv("TFRT_PACK", "0", 1);
        int pays = tfrt_linear_pack_pays();
        CU_ASSERT(tfrt_pack_weights(off ? NULL : pool, st, &w, parts, 5, packed, &mem) == TFRT_OK);
        CU_ASSERT(off < 2 || !pays);
        for (int i = 0; i < 5; i++)
            CU_ASSERT(pays ? packed[i] && panels_match(packed[i], origin[i], &parts[i]) : !packed[i]);
        CU_ASSERT(pays ? mem && packed[4] == packed[0] : !mem);
        /* a as an embedding table, read through its packed copy (or not) */
        const int32_t ids[] = {0, 31, 32, 1099, 517};
        float rows[5 * IN];
        CU_ASSERT(tfrt_embed_packed(rows, w.a, packed[0], ids, 5, AR, IN) == TFRT_OK);
        for (int r = 0; r < 5; r++)
            CU_ASSERT(memcmp(rows + r * IN, data + (size_t)ids[r] * IN, sizeof(float) * IN) == 0);
        const int32_t bad[] = {3, AR};
        CU_ASSERT(tfrt_embed_packed(rows, w.a, packed[0], bad, 2, AR, IN) == TFRT_ERR_TOKEN);
        CU_ASSERT(memcmp(w.a, data, sizeof(float) * na) == 0);   /* released pages read again */
        CU_ASSERT(memcmp(w.b, data + na, sizeof(float) * nb) == 0);
        free(mem);
    }
    unsetenv("TFRT_PACK");
    /* when packing is due: not for a first pass over one token; for the
     * second pass, or a first pass over several tokens or not counted */
    static const int first[] = {1, 1, 7, 0};
    for (int t = 0; t < 4; t++) {
        TfrtPacking pk = {0, NULL};
        memset(packed, 0, sizeof packed);   /* as a model's open leaves them */
        tfrt_pack_when_due(&pk, pool, st, &w, parts, 5, packed, first[t]);
        int now = first[t] != 1;
        CU_ASSERT(now ? pk.passes == -1 : pk.passes == 1 && !packed[0] && !pk.data);
        if (t == 1)
            tfrt_pack_when_due(&pk, pool, st, &w, parts, 5, packed, 5);
        if (t == 0)
            tfrt_pack_when_due(&pk, pool, st, &w, parts, 5, packed, 1);
        int pays = tfrt_linear_pack_pays();
        CU_ASSERT(pk.passes == -1 && (pays ? pk.data && packed[0] == pk.data : !pk.data && !packed[0]));
        CU_ASSERT(!pays || panels_match(packed[1], origin[1], &parts[1]));
        const float *was = packed[0];
        tfrt_pack_when_due(&pk, pool, st, &w, parts, 5, packed, 9);   /* settled: nothing new */
        CU_ASSERT(packed[0] == was && pk.passes == -1);
        free(pk.data);
    }
    tfrt_pool_destroy(pool);
    tfrt_st_close(st);
    free(bytes);
    free(data);
}

/* ---- int8 weights at open (--quantize int8) ------------------------------------------ */

/* w (rows, in) quantized from floats directly, then dequantized: what open
 * must produce from any stored form of the same values. */
static void check_q8_part(const void *q, const float *w, int rows, int in)
{
    size_t bytes = tfrt_q8_weight_bytes(rows, in);
    void *ref = NULL;
    CU_ASSERT_FATAL(posix_memalign(&ref, 64, bytes) == 0);
    memset(ref, 0, bytes);
    tfrt_q8_quantize_rows(ref, rows, in, 0, rows, w);
    CU_ASSERT(memcmp(ref, q, bytes) == 0);     /* the same bytes, whatever the source */
    float y[64];
    for (int r = 0; r < rows; r++) {
        tfrt_q8_dequantize_row(y, q, rows, in, r);
        for (int b = 0; b < in; b += TFRT_Q8_BLOCK) {
            float m = 0;
            for (int k = b; k < b + TFRT_Q8_BLOCK; k++)
                m = fmaxf(m, fabsf(w[r * in + k]));
            /* rounding to the nearest step of m / 127 moves a value by at
             * most half a step (plus the float rounding of the scale) */
            for (int k = b; k < b + TFRT_Q8_BLOCK; k++)
                CU_ASSERT(fabsf(y[k] - w[r * in + k]) <= m / 127 * 0.5f * 1.0001f + 1e-7f);
        }
    }
    free(ref);
}

/* F16 stored (out, in) and BF16 stored (in, out) are bound as stored
 * (spec.quantized: no float copy) and quantized at open into the bytes that
 * quantizing their float values gives; a repeated part shares one copy;
 * an int8 table's lookup gives its dequantized rows. */
static void test_quantize_weights(void)
{
    enum { IN = 32, R1 = 2, R2 = 3 };
    float w1[R1 * IN], w2[R2 * IN];   /* (rows, in) of each part */
    unsigned char x[2 * R1 * IN + 2 * IN * R2];
    for (int r = 0; r < R1; r++)
        for (int k = 0; k < IN; k++) {
            w1[r * IN + k] = (float)((r * 37 + k * 11) % 64 - 32) / 8;   /* exact in f16 */
            uint16_t h = 0;
            float f = w1[r * IN + k], a = fabsf(f);
            if (a > 0) {   /* f16 of a multiple of 1/8 below 4: exponent and 10 bits */
                int e = (int)floorf(log2f(a));
                h = (uint16_t)(((e + 15) << 10) | (int)((a / ldexpf(1, e) - 1) * 1024));
            }
            h |= f < 0 ? 0x8000 : 0;
            x[2 * (r * IN + k)] = (unsigned char)h, x[2 * (r * IN + k) + 1] = (unsigned char)(h >> 8);
        }
    for (int k = 0; k < IN; k++)
        for (int c = 0; c < R2; c++) {
            float f = (float)((k * 7 + c * 13) % 50 - 25) / 4;   /* exact in bf16 */
            w2[c * IN + k] = f;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            size_t at = 2 * R1 * IN + 2 * (size_t)(k * R2 + c);
            x[at] = (unsigned char)(bits >> 16), x[at + 1] = (unsigned char)(bits >> 24);
        }
    TfrtSafetensors *st = bind_file(", \"q\": " T("F16", "[2, 32]", "[64, 192]")
                                    ", \"t\": " T("BF16", "[32, 3]", "[192, 384]"), 0, x, sizeof x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    struct { const float *wte, *w, *q, *t; } tab = {0};
    TfrtWeightSpec s[4] = {specs[0], specs[1], {"q", 2, {R1, IN}, 2 * sizeof(float *), 0, 1},
                           {"t", 2, {IN, R2}, 3 * sizeof(float *), 0, 1}};
    TfrtBindings *b;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(tfrt_bind_weights(&b, st, s, 4, &name_map, &tab, err, sizeof err), TFRT_OK);
    CU_ASSERT(tfrt_bindings_dtype(b, 2 * sizeof(float *)) == TFRT_DT_F16);
    CU_ASSERT(tfrt_bindings_dtype(b, 3 * sizeof(float *)) == TFRT_DT_BF16);
    CU_ASSERT(tfrt_bindings_dtype(b, 0) == TFRT_DT_F32);
    const TfrtPackedPart parts[3] = {
        {2 * sizeof(float *), 0, IN, R1, IN, TFRT_W_OUT_IN},
        {3 * sizeof(float *), 0, IN, R2, R2, TFRT_W_IN_OUT},
        {2 * sizeof(float *), 0, IN, R1, IN, TFRT_W_OUT_IN},   /* part 0 again: shared */
    };
    const void *q8[3];
    void *data;
    CU_ASSERT_EQUAL_FATAL(tfrt_quantize_weights(st, b, &tab, parts, 3, q8, &data), TFRT_OK);
    CU_ASSERT(q8[2] == q8[0] && q8[1] != q8[0] && (uintptr_t)q8[1] % 64 == 0);
    check_q8_part(q8[0], w1, R1, IN);
    check_q8_part(q8[1], w2, R2, IN);
    float y[2 * IN], row[IN];
    const int32_t ids[2] = {1, 0}, bad[1] = {R1};
    CU_ASSERT_EQUAL(tfrt_embed_q8(y, q8[0], ids, 2, R1, IN), TFRT_OK);
    tfrt_q8_dequantize_row(row, q8[0], R1, IN, 1);
    CU_ASSERT(memcmp(y, row, sizeof row) == 0);
    tfrt_q8_dequantize_row(row, q8[0], R1, IN, 0);
    CU_ASSERT(memcmp(y + IN, row, sizeof row) == 0);
    CU_ASSERT_EQUAL(tfrt_embed_q8(y, q8[0], bad, 1, R1, IN), TFRT_ERR_TOKEN);
    const TfrtPackedPart odd = {2 * sizeof(float *), 0, 16, R1, IN, TFRT_W_OUT_IN};
    void *none;
    CU_ASSERT_EQUAL(tfrt_quantize_weights(st, b, &tab, &odd, 1, q8, &none), TFRT_ERR_ARG);
    CU_ASSERT_PTR_NULL(none);
    free(data);
    tfrt_bindings_free(b);
    tfrt_st_close(st);
}

typedef struct {
    const char *name;
    void (*fn)(void);
} Test;

static void add_suite(const char *name, const Test *t, size_t n)
{
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    for (size_t i = 0; s && i < n; i++)
        CU_add_test(s, t[i].name, t[i].fn);
}

void register_safetensors_tests(void)
{
    static const Test json[] = {
        {"values", test_json_values},
        {"exact integers", test_json_integers},
        {"strings and escapes", test_json_strings},
        {"rejects malformed text", test_json_rejects},
        {"depth limit", test_json_depth},
    };
    static const Test st[] = {
        {"valid file round-trips", test_st_valid},
        {"empty header", test_st_empty_header},
        {"empty and truncated files", test_st_truncated},
        {"missing file", test_st_missing_file},
        {"message starts with the path", test_st_message_has_path},
        {"malformed headers", test_st_bad_headers},
        {"zero-size tensors", test_st_zero_size_no_overlap},
    };
    static const Test bind[] = {
        {"prefixes, in-place F32", test_bind_prefix},
        {"missing, shape, unexpected", test_bind_errors},
        {"a rank's slices (--tp)", test_bind_split},
        {"ignore globs", test_bind_ignore},
        {"F16, BF16, unusable dtype", test_bind_convert},
        {"misaligned F32 is copied", test_bind_misaligned},
        {"glob_match", test_glob},
        {"packed weights, and when packing is due", test_pack_weights},
        {"int8 weights at open: F16, BF16, shared, lookup", test_quantize_weights},
    };
    add_suite("json", json, sizeof json / sizeof json[0]);
    add_suite("safetensors", st, sizeof st / sizeof st[0]);
    add_suite("bind", bind, sizeof bind / sizeof bind[0]);
}
