/*
 * safetensors_internal.h - how the checkpoint readers fill a
 * TfrtSafetensors: safetensors.c keeps the files and the tensor list;
 * ckpt_open.c picks the reader for a path (a file, a Hugging Face folder
 * with shards, a llama2.c checkpoint); ckpt_llama2c.c names the tensors
 * of a llama2.c file.  Internal to libtfrt (and read by tfc itself).
 */
#ifndef TFRT_SAFETENSORS_INTERNAL_H
#define TFRT_SAFETENSORS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tfrt.h"

TfrtSafetensors *st_new(void);
/* Maps a safetensors file and appends its validated tensors. */
int st_add_file(TfrtSafetensors *st, const char *path, char *err, size_t errlen);
/* Maps a file of at least min_size bytes that st keeps, for a reader that
 * names its tensors itself (st_add_tensor). */
int st_map_raw(TfrtSafetensors *st, const char *path, size_t min_size,
               const unsigned char **map, size_t *size, char *err, size_t errlen);
/* Appends a tensor whose data the caller checked lies in a kept mapping
 * or in memory given to st_keep. */
int st_add_tensor(TfrtSafetensors *st, const char *name, TfrtDtype dt, int ndim,
                  const int64_t *shape, const void *data, size_t nbytes);
/* st frees p at close (p is freed at once when this fails). */
int st_keep(TfrtSafetensors *st, void *p);
/* Builds the name index; fails on a name given twice. */
int st_finish(TfrtSafetensors *st, const char *path, char *err, size_t errlen);

/* ckpt_open.c: fills st from path (see tfrt_st_open). */
int ckpt_open(TfrtSafetensors *st, const char *path, char *err, size_t errlen);

/* A model folder's config.json, parsed (a JSON object), into *root; TFRT_OK
 * with *root NULL when dir is no folder or has none. */
struct JsonValue;
int ckpt_config_load(const char *dir, struct JsonValue **root, char *err, size_t errlen);
/* A config.json value as the text of a number: numbers as written, true 1,
 * false 0, an object or array its entry count (id2label: the labels).
 * Returns 0 for strings and null, which configure no size. */
int ckpt_config_text(const struct JsonValue *v, char *buf, size_t cap);

/* ckpt_llama2c.c: a llama2.c checkpoint, legacy (7 int32s, fp32) or
 * versioned ("ak42", version 1 fp32 or 2 Q8_0).  The header's numbers by
 * llama2.c's names (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len) and its layout. */
typedef struct {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared;          /* the classifier is the embedding table */
    int version;         /* 0 legacy, 1 fp32, 2 Q8_0 */
    int32_t group_size;  /* version 2 */
} Llama2cHeader;

#define LLAMA2C_KEYS 7
extern const char *const llama2c_keys[LLAMA2C_KEYS];

/* Reads and checks the header of map[0..size): 1 when it is a consistent
 * llama2.c checkpoint of exactly that size, 0 when not one, and fills h. */
int llama2c_header(const unsigned char *map, size_t size, Llama2cHeader *h);
void llama2c_values(const Llama2cHeader *h, int32_t out[LLAMA2C_KEYS]);
int llama2c_open(TfrtSafetensors *st, const char *path, const unsigned char *map,
                 size_t size, const Llama2cHeader *h, char *err, size_t errlen);

#endif
