/*
 * safetensors.c - maps a .safetensors file and validates it before use.
 *
 * Layout of the file:
 *
 *   [0, 8)          N, the header length, a little-endian u64
 *   [8, 8+N)        a JSON object: name -> {"dtype": "F32", "shape": [2, 3],
 *                   "data_offsets": [begin, end]}, plus an optional
 *                   "__metadata__" object of string -> string
 *   [8+N, size)     the data section; offsets are relative to its start
 *
 * The file is untrusted.  tfrt_st_open checks everything a later reader
 * could trip on (header length against the file size, JSON, key types,
 * dtypes, shapes, nbytes == product(shape) * dtype size without overflow,
 * offsets inside the data section, no overlaps, unique names) and only
 * then hands out TfrtTensor views into the mapping.  Nothing is copied.
 */
#include "tfrt.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct TfrtSafetensors {
    const unsigned char *map;   /* the whole file, read-only */
    size_t map_size;
    int fd;                     /* kept open: tfrt_st_check_file asks it */
    struct timespec mtime;      /* at open */
    JsonValue *header;          /* owns the tensor names */
    TfrtTensor *tensors;        /* in header order */
    int count;
    const TfrtTensor **by_name; /* the tensors sorted by name */
};

/* Dtype names as safetensors spells them, with element sizes.  Dtypes
 * that the enum does not name (U32, F8_E4M3, ...) are still sized, so that
 * a file carrying them validates; they read as TFRT_DT_OTHER. */
static const struct {
    const char *name;
    TfrtDtype dt;
    size_t size;
} dtypes[] = {
    {"F32", TFRT_DT_F32, 4},   {"F16", TFRT_DT_F16, 2},
    {"BF16", TFRT_DT_BF16, 2}, {"F64", TFRT_DT_F64, 8},
    {"I8", TFRT_DT_I8, 1},     {"U8", TFRT_DT_U8, 1},
    {"I16", TFRT_DT_I16, 2},   {"I32", TFRT_DT_I32, 4},
    {"I64", TFRT_DT_I64, 8},   {"BOOL", TFRT_DT_BOOL, 1},
    {"U16", TFRT_DT_OTHER, 2}, {"U32", TFRT_DT_OTHER, 4},
    {"U64", TFRT_DT_OTHER, 8}, {"F8_E4M3", TFRT_DT_OTHER, 1},
    {"F8_E5M2", TFRT_DT_OTHER, 1},
};

const char *tfrt_dtype_name(TfrtDtype dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dt == dt && dt != TFRT_DT_OTHER)
            return dtypes[i].name;
    return "other";
}

/* Element size of the dtype named s, or 0 if unknown. */
static size_t dtype_lookup(const char *s, TfrtDtype *dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, s) == 0) {
            *dt = dtypes[i].dt;
            return dtypes[i].size;
        }
    return 0;
}

/* ---- error reporting ---------------------------------------------------- */

/* Where open is and what it has found so far. */
typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    size_t data_size;
} Ctx;

/* Writes "path: message" and returns status. */
static int errf(const Ctx *c, int status, const char *fmt, ...)
{
    if (c->err && c->errlen > 0) {
        int n = snprintf(c->err, c->errlen, "%s: ", c->path);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return status;
}

/* ---- validating one header entry ----------------------------------------- */

static int check_dtype(const Ctx *c, const char *name, const JsonValue *e,
                       TfrtTensor *t, size_t *elem)
{
    const JsonValue *dt = json_get(e, "dtype");
    if (!dt)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': no \"dtype\"", name);
    if (dt->type != JSON_STRING)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': \"dtype\" is not a string", name);
    *elem = dtype_lookup(dt->u.string.chars, &t->dtype);
    if (*elem == 0 || strlen(dt->u.string.chars) != dt->u.string.len)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': unknown dtype \"%.32s\"",
                    name, dt->u.string.chars);
    return TFRT_OK;
}

/* Fills t->ndim and t->shape and sets *nbytes = product(shape) * elem,
 * failing if that would overflow a 64-bit byte count. */
static int check_shape(const Ctx *c, const char *name, const JsonValue *e,
                       TfrtTensor *t, size_t elem, uint64_t *nbytes)
{
    const JsonValue *sh = json_get(e, "shape");
    if (!sh)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': no \"shape\"", name);
    if (sh->type != JSON_ARRAY)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': \"shape\" is not an array", name);
    if (sh->u.array.count > TFRT_MAX_DIMS)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': %zu dimensions, at most %d are supported",
                    name, sh->u.array.count, TFRT_MAX_DIMS);
    t->ndim = (int)sh->u.array.count;
    int has_zero = 0;
    for (int i = 0; i < t->ndim; i++) {
        const JsonValue *d = &sh->u.array.items[i];
        if (d->type != JSON_NUMBER || !d->u.number.is_integer || d->u.number.integer < 0)
            return errf(c, TFRT_ERR_FORMAT,
                        "tensor '%s': shape dimension %d is not a non-negative integer", name, i);
        t->shape[i] = d->u.number.integer;
        has_zero |= t->shape[i] == 0;
    }
    /* With a zero dim the product is 0 however large the others are. */
    uint64_t bytes = has_zero ? 0 : elem;
    for (int i = 0; i < t->ndim && bytes != 0; i++) {
        uint64_t dim = (uint64_t)t->shape[i];
        if (bytes > UINT64_MAX / dim)
            return errf(c, TFRT_ERR_FORMAT,
                        "tensor '%s': shape is too large (its byte count overflows)", name);
        bytes *= dim;
    }
    *nbytes = bytes;
    return TFRT_OK;
}

/* [begin, end]: two non-negative integers, begin <= end <= data size, and
 * end - begin == nbytes.  Sets t->data and t->nbytes. */
static int check_offsets(const Ctx *c, const char *name, const JsonValue *e,
                         TfrtTensor *t, uint64_t nbytes, const unsigned char *data)
{
    const JsonValue *o = json_get(e, "data_offsets");
    if (!o)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': no \"data_offsets\"", name);
    if (o->type != JSON_ARRAY || o->u.array.count != 2)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': \"data_offsets\" is not [begin, end]", name);
    const JsonValue *b = &o->u.array.items[0], *en = &o->u.array.items[1];
    if (b->type != JSON_NUMBER || !b->u.number.is_integer || b->u.number.integer < 0 ||
        en->type != JSON_NUMBER || !en->u.number.is_integer || en->u.number.integer < 0)
        return errf(c, TFRT_ERR_FORMAT,
                    "tensor '%s': \"data_offsets\" are not non-negative integers", name);
    uint64_t begin = (uint64_t)b->u.number.integer, end = (uint64_t)en->u.number.integer;
    if (begin > end)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] begin after they end",
                    name, (unsigned long long)begin, (unsigned long long)end);
    if (end > c->data_size)
        return errf(c, TFRT_ERR_FORMAT,
                    "tensor '%s': data_offsets [%llu, %llu] lie beyond the end of the data section (%zu bytes)",
                    name, (unsigned long long)begin, (unsigned long long)end, c->data_size);
    if (end - begin != nbytes)
        return errf(c, TFRT_ERR_FORMAT,
                    "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but dtype %s and the shape need %llu",
                    name, (unsigned long long)begin, (unsigned long long)end,
                    (unsigned long long)(end - begin), tfrt_dtype_name(t->dtype),
                    (unsigned long long)nbytes);
    t->data = data + begin;
    t->nbytes = (size_t)nbytes;
    return TFRT_OK;
}

static int check_entry(const Ctx *c, const JsonMember *m, TfrtTensor *t,
                       const unsigned char *data)
{
    const char *name = m->key;
    size_t elem = 0;
    uint64_t nbytes = 0;
    int r;
    if (strlen(name) != m->key_len)
        return errf(c, TFRT_ERR_FORMAT, "a tensor name contains a NUL byte");
    if (m->value.type != JSON_OBJECT)
        return errf(c, TFRT_ERR_FORMAT, "tensor '%s': entry is not an object", name);
    t->name = name;
    if ((r = check_dtype(c, name, &m->value, t, &elem)) ||
        (r = check_shape(c, name, &m->value, t, elem, &nbytes)) ||
        (r = check_offsets(c, name, &m->value, t, nbytes, data)))
        return r;
    return TFRT_OK;
}

/* __metadata__ must be an object of string -> string; it is not used. */
static int check_metadata(const Ctx *c, const JsonValue *v)
{
    if (v->type != JSON_OBJECT)
        return errf(c, TFRT_ERR_FORMAT, "\"__metadata__\" is not an object");
    for (size_t i = 0; i < v->u.object.count; i++)
        if (v->u.object.members[i].value.type != JSON_STRING)
            return errf(c, TFRT_ERR_FORMAT, "\"__metadata__\" value of '%s' is not a string",
                        v->u.object.members[i].key);
    return TFRT_OK;
}

/* ---- whole-file checks --------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    const TfrtTensor *x = *(const TfrtTensor *const *)a, *y = *(const TfrtTensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_offset(const void *a, const void *b)
{
    const TfrtTensor *x = *(const TfrtTensor *const *)a, *y = *(const TfrtTensor *const *)b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

/* Sorts st->by_name and rejects duplicate names. */
static int check_names(const Ctx *c, TfrtSafetensors *st)
{
    for (int i = 0; i < st->count; i++)
        st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, (size_t)st->count, sizeof(st->by_name[0]), cmp_name);
    for (int i = 1; i < st->count; i++) {
        const char *a = st->by_name[i - 1]->name;
        if (strcmp(a, st->by_name[i]->name) == 0)
            return errf(c, TFRT_ERR_FORMAT, "tensor '%s' appears twice in the header", a);
    }
    return TFRT_OK;
}

/* No two non-empty tensors share a byte: sorted by start, each must begin
 * at or after the end of the previous non-empty one. */
static int check_overlaps(const Ctx *c, TfrtSafetensors *st)
{
    const TfrtTensor **order = malloc(sizeof(*order) * (size_t)(st->count ? st->count : 1));
    const TfrtTensor *prev = NULL;
    int r = TFRT_OK;
    if (!order)
        return errf(c, TFRT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < st->count; i++)
        order[i] = &st->tensors[i];
    qsort(order, (size_t)st->count, sizeof(*order), cmp_offset);
    for (int i = 0; i < st->count && r == TFRT_OK; i++) {
        const TfrtTensor *t = order[i];
        if (t->nbytes == 0)
            continue;
        if (prev && (const char *)prev->data + prev->nbytes > (const char *)t->data)
            r = errf(c, TFRT_ERR_FORMAT, "tensors '%s' and '%s' overlap in the data section",
                     prev->name, t->name);
        prev = t;
    }
    free(order);
    return r;
}

/* Parses the header and fills st->tensors. */
static int read_header(Ctx *c, TfrtSafetensors *st, size_t hlen)
{
    char jerr[128];
    const unsigned char *data = st->map + 8 + hlen;
    st->header = json_parse((const char *)st->map + 8, hlen, jerr, sizeof jerr);
    if (!st->header)
        return errf(c, TFRT_ERR_FORMAT, "header is not valid JSON (%s)", jerr);
    if (st->header->type != JSON_OBJECT)
        return errf(c, TFRT_ERR_FORMAT, "header is not a JSON object");
    size_t n = st->header->u.object.count;
    if (n > (size_t)INT32_MAX / 2)
        return errf(c, TFRT_ERR_FORMAT, "header lists too many tensors");
    st->tensors = calloc(n ? n : 1, sizeof(TfrtTensor));
    st->by_name = malloc((n ? n : 1) * sizeof(st->by_name[0]));
    if (!st->tensors || !st->by_name)
        return errf(c, TFRT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const JsonMember *m = &st->header->u.object.members[i];
        int r;
        if (strcmp(m->key, "__metadata__") == 0 && m->key_len == 12)
            r = check_metadata(c, &m->value);
        else
            r = check_entry(c, m, &st->tensors[st->count++], data);
        if (r)
            return r;
    }
    int r = check_names(c, st);
    return r ? r : check_overlaps(c, st);
}

/* Maps the file at path into st->map.  The open does not block: a FIFO
 * or a device is refused by fstat, not waited on. */
static int map_file(Ctx *c, TfrtSafetensors *st)
{
    struct stat sb;
    int fd = open(c->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errf(c, TFRT_ERR_IO, "cannot open: %s", strerror(errno));
    st->fd = fd;
    if (fstat(fd, &sb) != 0)
        return errf(c, TFRT_ERR_IO, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return errf(c, TFRT_ERR_IO, "not a regular file");
    if (sb.st_size < 8)
        return errf(c, TFRT_ERR_FORMAT,
                    "file is %lld bytes, too short for the 8-byte header length",
                    (long long)sb.st_size);
    if ((uint64_t)sb.st_size > SIZE_MAX)
        return errf(c, TFRT_ERR_IO, "file is too large to map");
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return errf(c, TFRT_ERR_IO, "cannot map: %s", strerror(errno));
    st->map = m;
    st->map_size = (size_t)sb.st_size;
    st->mtime = sb.st_mtim;
    return TFRT_OK;
}

int tfrt_st_check_file(const TfrtSafetensors *st)
{
    struct stat sb;
    if (!st)
        return TFRT_ERR_ARG;
    if (fstat(st->fd, &sb) != 0 || (uint64_t)sb.st_size != (uint64_t)st->map_size
        || sb.st_mtim.tv_sec != st->mtime.tv_sec || sb.st_mtim.tv_nsec != st->mtime.tv_nsec)
        return TFRT_ERR_IO;
    return TFRT_OK;
}

static uint64_t read_u64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int tfrt_st_open(TfrtSafetensors **out, const char *path, char *err, size_t errlen)
{
    Ctx c = { path ? path : "(null)", err, errlen, 0 };
    if (err && errlen > 0)
        err[0] = '\0';
    if (!out || !path)
        return errf(&c, TFRT_ERR_ARG, "no output pointer or path");
    *out = NULL;
    TfrtSafetensors *st = calloc(1, sizeof *st);
    if (!st)
        return errf(&c, TFRT_ERR_NOMEM, "out of memory");
    st->fd = -1;
    int r = map_file(&c, st);
    if (r == TFRT_OK) {
        uint64_t hlen = read_u64_le(st->map);
        if (hlen > st->map_size - 8) {
            r = errf(&c, TFRT_ERR_FORMAT,
                     "header length %llu runs past the end of the file (%zu bytes)",
                     (unsigned long long)hlen, st->map_size);
        } else {
            c.data_size = st->map_size - 8 - (size_t)hlen;
            r = read_header(&c, st, (size_t)hlen);
        }
    }
    if (r != TFRT_OK) {
        tfrt_st_close(st);
        return r;
    }
    *out = st;
    return TFRT_OK;
}

void tfrt_st_close(TfrtSafetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap((void *)st->map, st->map_size);
    if (st->fd >= 0)
        close(st->fd);
    json_free(st->header);
    free(st->tensors);
    free(st->by_name);
    free(st);
}

int tfrt_st_count(const TfrtSafetensors *st)
{
    return st ? st->count : 0;
}

const TfrtTensor *tfrt_st_tensor(const TfrtSafetensors *st, int i)
{
    if (!st || i < 0 || i >= st->count)
        return NULL;
    return &st->tensors[i];
}

/* Binary search over the name index built at open. */
const TfrtTensor *tfrt_st_find(const TfrtSafetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    int lo = 0, hi = st->count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const TfrtTensor *t = st->by_name[mid];
        int c = strcmp(t->name, name);
        if (c == 0)
            return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
