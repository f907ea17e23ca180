/*
 * json.h - a small JSON reader for the runtime's own files (safetensors
 * headers, tokenizer.json, vocab.json).  Internal to libtfrt.
 *
 * We parse JSON ourselves rather than depend on a library: the runtime
 * reads untrusted files, so the parser must be small enough to read in one
 * sitting and is fuzzed (tests/fuzz).  It builds a tree from one buffer;
 * every string is decoded (escapes, \u surrogate pairs) into UTF-8 with an
 * explicit length, since JSON strings may contain NUL.
 */
#ifndef TFRT_JSON_H
#define TFRT_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
} JsonType;

typedef struct JsonValue JsonValue;
typedef struct JsonMember JsonMember;

struct JsonValue {
    JsonType type;
    size_t offset;            /* byte offset in the source, for messages */
    union {
        int boolean;
        struct {
            double value;
            int is_integer;   /* written without fraction or exponent and */
            int64_t integer;  /* fits int64: then `integer` is exact */
        } number;
        struct { char *chars; size_t len; } string;   /* NUL-terminated too */
        struct { JsonValue *items; size_t count; } array;
        struct { JsonMember *members; size_t count; } object;
    } u;
};

struct JsonMember {
    char *key;                /* decoded, NUL-terminated */
    size_t key_len;
    JsonValue value;
};

/* Parses text[0..len).  Returns NULL on error with "offset N: what was
 * expected" in err.  Nesting deeper than 256 levels is an error. */
JsonValue *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(JsonValue *v);

/* The member of object obj named key, or NULL (also when obj is not an
 * object).  Linear search: objects in our files are small or walked once. */
const JsonValue *json_get(const JsonValue *obj, const char *key);

#endif
