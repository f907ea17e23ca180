/*
 * ckpt_open.c - what tfrt_st_open reads behind one path:
 *
 *   a safetensors file;
 *   a Hugging Face model folder: model.safetensors, or the shards that
 *     model.safetensors.index.json's weight_map names (every tensor it
 *     lists must be in the shard it names; shard names must be plain file
 *     names inside the folder);
 *   a llama2.c checkpoint (ckpt_llama2c.c).
 *
 * PyTorch's pickled checkpoints (pytorch_model.bin, *.pt, *.pth) are
 * refused with the one command that converts them: unpickling runs code,
 * and a C runtime should not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "safetensors_internal.h"

#define MAX_SHARDS 4096
#define MAX_INDEX_BYTES ((size_t)64 << 20)

static int fail(char *err, size_t errlen, int status, const char *path, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s: ", path);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return status;
}

static const char convert_hint[] =
    "a PyTorch pickle, which tfc does not read (loading one runs code); convert it once: "
    "python3 -c \"import torch; from safetensors.torch import save_file; "
    "sd = torch.load('pytorch_model.bin', map_location='cpu', weights_only=True); "
    "save_file({k: v.contiguous().clone() for k, v in sd.items()}, 'model.safetensors')\"";

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    char *p = malloc(n + strlen(name) + 2);
    if (p)
        sprintf(p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
    return p;
}

static int is_file(const char *dir, const char *name)
{
    char *p = join(dir, name);
    struct stat st;
    int yes = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return yes;
}

/* Reads a whole small regular file without blocking on a FIFO. */
static int slurp(const char *path, size_t limit, char **data, size_t *len,
                 char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    size_t n = 0;
    char *buf;

    if (fd < 0)
        return fail(err, errlen, TFRT_ERR_IO, path, "%s", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > limit) {
        close(fd);
        return fail(err, errlen, TFRT_ERR_IO, path, S_ISREG(st.st_mode) ? "larger than %zu bytes"
                    : "not a regular file", limit);
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        close(fd);
        return fail(err, errlen, TFRT_ERR_NOMEM, path, "out of memory");
    }
    while (n < (size_t)st.st_size) {
        ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    *data = buf;
    *len = n;
    return TFRT_OK;
}

/* A shard name from the index: a plain file name, no path. */
static int plain_name(const char *s, size_t len)
{
    return len > 0 && len < 256 && strlen(s) == len && !strchr(s, '/') &&
           strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int open_shards(TfrtSafetensors *st, const char *dir, const char *ipath,
                       const JsonValue *map, char *err, size_t errlen)
{
    const char **names = NULL;
    int n = 0, rc = TFRT_OK;

    if (!map || map->type != JSON_OBJECT || map->u.object.count == 0)
        return fail(err, errlen, TFRT_ERR_FORMAT, ipath, "no \"weight_map\" object of "
                    "tensor name: shard file");
    if (!(names = malloc(MAX_SHARDS * sizeof *names)))
        return fail(err, errlen, TFRT_ERR_NOMEM, ipath, "out of memory");
    for (size_t i = 0; i < map->u.object.count && rc == TFRT_OK; i++) {
        const JsonValue *v = &map->u.object.members[i].value;
        int seen = 0;
        if (v->type != JSON_STRING || !plain_name(v->u.string.chars, v->u.string.len)) {
            rc = fail(err, errlen, TFRT_ERR_FORMAT, ipath, "weight_map[\"%.80s\"] is not a "
                      "file name in the folder", map->u.object.members[i].key);
            break;
        }
        for (int k = 0; k < n && !seen; k++)
            seen = strcmp(names[k], v->u.string.chars) == 0;
        if (seen)
            continue;
        if (n == MAX_SHARDS) {
            rc = fail(err, errlen, TFRT_ERR_FORMAT, ipath, "more than %d shards", MAX_SHARDS);
            break;
        }
        names[n++] = v->u.string.chars;
        char *p = join(dir, v->u.string.chars);
        rc = p ? st_add_file(st, p, err, errlen)
               : fail(err, errlen, TFRT_ERR_NOMEM, ipath, "out of memory");
        free(p);
    }
    free(names);
    return rc;
}

/* Every tensor the index lists is in the shard it names. */
static int check_index(TfrtSafetensors *st, const char *ipath, const JsonValue *map,
                       char *err, size_t errlen)
{
    int rc = st_finish(st, ipath, err, errlen);
    for (size_t i = 0; rc == TFRT_OK && i < map->u.object.count; i++) {
        const JsonMember *m = &map->u.object.members[i];
        if (!tfrt_st_find(st, m->key))
            rc = fail(err, errlen, TFRT_ERR_FORMAT, ipath, "tensor '%.80s' is not in its "
                      "shard %s", m->key, m->value.u.string.chars);
    }
    return rc;
}

static int open_index(TfrtSafetensors *st, const char *dir, char *err, size_t errlen)
{
    char *ipath = join(dir, "model.safetensors.index.json"), *text = NULL, jerr[128];
    JsonValue *root = NULL;
    size_t len = 0;
    int rc;

    if (!ipath)
        return fail(err, errlen, TFRT_ERR_NOMEM, dir, "out of memory");
    rc = slurp(ipath, MAX_INDEX_BYTES, &text, &len, err, errlen);
    if (rc == TFRT_OK && !(root = json_parse(text, len, jerr, sizeof jerr)))
        rc = fail(err, errlen, TFRT_ERR_FORMAT, ipath, "%s", jerr);
    if (rc == TFRT_OK)
        rc = open_shards(st, dir, ipath, json_get(root, "weight_map"), err, errlen);
    if (rc == TFRT_OK)
        rc = check_index(st, ipath, json_get(root, "weight_map"), err, errlen);
    json_free(root);
    free(text);
    free(ipath);
    return rc;
}

static int open_dir(TfrtSafetensors *st, const char *dir, char *err, size_t errlen)
{
    static const char *const pickles[] = {"pytorch_model.bin", "pytorch_model.bin.index.json",
                                          "consolidated.00.pth", "model.pt"};
    if (is_file(dir, "model.safetensors")) {
        char *p = join(dir, "model.safetensors");
        int rc = p ? st_add_file(st, p, err, errlen)
                   : fail(err, errlen, TFRT_ERR_NOMEM, dir, "out of memory");
        free(p);
        return rc;
    }
    if (is_file(dir, "model.safetensors.index.json"))
        return open_index(st, dir, err, errlen);
    for (size_t i = 0; i < sizeof pickles / sizeof *pickles; i++)
        if (is_file(dir, pickles[i]))
            return fail(err, errlen, TFRT_ERR_FORMAT, dir, "%s is %s", pickles[i], convert_hint);
    return fail(err, errlen, TFRT_ERR_IO, dir, "no model.safetensors or "
                "model.safetensors.index.json in this folder");
}

/* ---- one file ---------------------------------------------------------------- */

/* The first bytes of a regular file, read without blocking on a FIFO. */
static int peek(const char *path, unsigned char *head, size_t *n, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    ssize_t got;

    if (fd < 0)
        return fail(err, errlen, TFRT_ERR_IO, path, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, TFRT_ERR_IO, path, "not a regular file");
    }
    got = read(fd, head, 32);
    close(fd);
    *n = got > 0 ? (size_t)got : 0;
    return TFRT_OK;
}

static int is_pickle(const unsigned char *h, size_t n)
{
    return (n >= 4 && memcmp(h, "PK\3\4", 4) == 0) || (n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5);
}

/* A safetensors file starts with its header length, then '{'. */
static int looks_safetensors(const unsigned char *h, size_t n)
{
    return n >= 9 && h[8] == '{';
}

static int open_file(TfrtSafetensors *st, const char *path, char *err, size_t errlen)
{
    unsigned char head[32];
    const unsigned char *map;
    size_t n = 0, size;
    Llama2cHeader h;
    int rc = peek(path, head, &n, err, errlen);

    if (rc)
        return rc;
    if (looks_safetensors(head, n) || n < 28)
        return st_add_file(st, path, err, errlen);
    if (is_pickle(head, n))
        return fail(err, errlen, TFRT_ERR_FORMAT, path, "%s", convert_hint);
    if ((rc = st_map_raw(st, path, 28, &map, &size, err, errlen)))
        return rc;
    if (llama2c_header(map, size, &h))
        return llama2c_open(st, path, map, size, &h, err, errlen);
    if (memcmp(map, "\x32\x34\x6b\x61", 4) == 0)
        return fail(err, errlen, TFRT_ERR_FORMAT, path, "a llama2.c checkpoint whose header "
                    "does not match its size (or a version other than 1 and 2)");
    /* neither: report it as the safetensors file it should be */
    return st_add_file(st, path, err, errlen);
}

/* ---- config.json ---------------------------------------------------------------- */

int ckpt_config_load(const char *dir, JsonValue **root, char *err, size_t errlen)
{
    char *path, *text = NULL, jerr[128];
    size_t len = 0;
    struct stat sb;
    int rc;

    *root = NULL;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || !is_file(dir, "config.json"))
        return TFRT_OK;
    if (!(path = join(dir, "config.json")))
        return fail(err, errlen, TFRT_ERR_NOMEM, dir, "out of memory");
    rc = slurp(path, MAX_INDEX_BYTES, &text, &len, err, errlen);
    if (rc == TFRT_OK && !(*root = json_parse(text, len, jerr, sizeof jerr)))
        rc = fail(err, errlen, TFRT_ERR_FORMAT, path, "%s", jerr);
    if (rc == TFRT_OK && (*root)->type != JSON_OBJECT)
        rc = fail(err, errlen, TFRT_ERR_FORMAT, path, "expected a JSON object");
    if (rc != TFRT_OK) {
        json_free(*root);
        *root = NULL;
    }
    free(text);
    free(path);
    return rc;
}

int ckpt_config_text(const JsonValue *v, char *buf, size_t cap)
{
    switch (v->type) {
    case JSON_NUMBER:
        if (v->u.number.is_integer)
            snprintf(buf, cap, "%lld", (long long)v->u.number.integer);
        else
            snprintf(buf, cap, "%.17g", v->u.number.value);
        return 1;
    case JSON_BOOL:   snprintf(buf, cap, "%d", v->u.boolean ? 1 : 0); return 1;
    case JSON_ARRAY:  snprintf(buf, cap, "%zu", v->u.array.count); return 1;
    case JSON_OBJECT: snprintf(buf, cap, "%zu", v->u.object.count); return 1;
    default:          return 0;
    }
}

int ckpt_open(TfrtSafetensors *st, const char *path, char *err, size_t errlen)
{
    struct stat sb;

    if (stat(path, &sb) != 0)
        return fail(err, errlen, TFRT_ERR_IO, path, "cannot open: %s", strerror(errno));
    return S_ISDIR(sb.st_mode) ? open_dir(st, path, err, errlen)
                               : open_file(st, path, err, errlen);
}
