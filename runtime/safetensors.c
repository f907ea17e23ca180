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
#include "safetensors_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* One mapped file: a safetensors file (with its parsed header, which owns
 * the tensor names) or a llama2.c checkpoint (no header). */
typedef struct {
    const unsigned char *map;   /* the whole file, read-only */
    size_t map_size;
    int fd;                     /* kept open: tfrt_st_check_file asks it */
    struct timespec mtime;      /* at open */
    JsonValue *header;
} StFile;

struct TfrtSafetensors {
    StFile *files;              /* a folder's shards, or one file */
    int n_files;
    TfrtTensor *tensors;        /* in file and header order */
    int count, cap;
    const TfrtTensor **by_name; /* the tensors sorted by name */
    void **owned;               /* names and data made at open (llama2.c) */
    int n_owned;
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

/* __metadata__ must be an object of string -> string (tfrt_st_metadata
 * reads it). */
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
            return errf(c, TFRT_ERR_FORMAT, "tensor '%s' appears twice (in one header, or in two shards)", a);
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

/* Room for one more tensor; NULL when out of memory. */
static TfrtTensor *new_tensor(TfrtSafetensors *st)
{
    if (st->count == st->cap) {
        int cap = st->cap ? 2 * st->cap : 64;
        TfrtTensor *t;
        if (cap > INT32_MAX / 2 || !(t = realloc(st->tensors, (size_t)cap * sizeof *t)))
            return NULL;
        st->tensors = t;
        st->cap = cap;
    }
    memset(&st->tensors[st->count], 0, sizeof st->tensors[0]);
    return &st->tensors[st->count++];
}

/* No two non-empty tensors of tensors[first, count) share a byte. */
static int check_file_overlaps(const Ctx *c, TfrtSafetensors *st, int first)
{
    TfrtSafetensors view = *st;
    if (st->count == first)
        return TFRT_OK; /* a file with no tensors; st->tensors may still be NULL */
    view.tensors = st->tensors + first;
    view.count = st->count - first;
    return check_overlaps(c, &view);
}

/* Parses file f's header and appends its tensors. */
static int read_header(Ctx *c, TfrtSafetensors *st, StFile *f, size_t hlen)
{
    char jerr[128];
    const unsigned char *data = f->map + 8 + hlen;
    int first = st->count;
    f->header = json_parse((const char *)f->map + 8, hlen, jerr, sizeof jerr);
    if (!f->header)
        return errf(c, TFRT_ERR_FORMAT, "header is not valid JSON (%s)", jerr);
    if (f->header->type != JSON_OBJECT)
        return errf(c, TFRT_ERR_FORMAT, "header is not a JSON object");
    size_t n = f->header->u.object.count;
    if (n > (size_t)INT32_MAX / 4 - (size_t)st->count)
        return errf(c, TFRT_ERR_FORMAT, "header lists too many tensors");
    for (size_t i = 0; i < n; i++) {
        const JsonMember *m = &f->header->u.object.members[i];
        TfrtTensor *t;
        int r;
        if (strcmp(m->key, "__metadata__") == 0 && m->key_len == 12)
            r = check_metadata(c, &m->value);
        else if (!(t = new_tensor(st)))
            r = errf(c, TFRT_ERR_NOMEM, "out of memory");
        else
            r = check_entry(c, m, t, data);
        if (r)
            return r;
    }
    return check_file_overlaps(c, st, first);
}

/* Maps the file at path into f and keeps its descriptor.  The open does
 * not block: a FIFO or device is refused by fstat before any read. */
static int map_file(Ctx *c, StFile *f, size_t min_size)
{
    struct stat sb;
    int fd = open(c->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errf(c, TFRT_ERR_IO, "cannot open: %s", strerror(errno));
    f->fd = fd;   /* closed by tfrt_st_close, on success or not */
    if (fstat(fd, &sb) != 0)
        return errf(c, TFRT_ERR_IO, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return errf(c, TFRT_ERR_IO, "not a regular file");
    if ((uint64_t)sb.st_size < min_size)
        return errf(c, TFRT_ERR_FORMAT,
                    "file is %lld bytes, too short for the %zu-byte header",
                    (long long)sb.st_size, min_size);
    if ((uint64_t)sb.st_size > SIZE_MAX)
        return errf(c, TFRT_ERR_IO, "file is too large to map");
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return errf(c, TFRT_ERR_IO, "cannot map: %s", strerror(errno));
    f->map = m;
    f->map_size = (size_t)sb.st_size;
    f->mtime = sb.st_mtim;
    return TFRT_OK;
}

int tfrt_st_check_file(const TfrtSafetensors *st)
{
    if (!st)
        return TFRT_ERR_ARG;
    for (int i = 0; i < st->n_files; i++) {
        const StFile *f = &st->files[i];
        struct stat sb;
        if (fstat(f->fd, &sb) != 0 || (uint64_t)sb.st_size != (uint64_t)f->map_size
            || sb.st_mtim.tv_sec != f->mtime.tv_sec || sb.st_mtim.tv_nsec != f->mtime.tv_nsec)
            return TFRT_ERR_IO;
    }
    return TFRT_OK;
}

/* Pages of the mapped files are clean copies of the file: dropping them
 * costs nothing but a re-read if they are touched again. */
int tfrt_st_release(const TfrtSafetensors *st, const void *data, size_t bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    if (!st || !data || page <= 0)
        return 0;
    for (int i = 0; i < st->n_files; i++) {
        const StFile *f = &st->files[i];
        uintptr_t lo = (uintptr_t)f->map, p = (uintptr_t)data;
        if (!f->map || p < lo || p - lo > f->map_size || bytes > f->map_size - (p - lo))
            continue;
        uintptr_t first = (p + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
        uintptr_t end = (p + bytes) / (uintptr_t)page * (uintptr_t)page;
        if (end > first)
            madvise((void *)first, end - first, MADV_DONTNEED);
        return end > first;
    }
    return 0;
}

/* A new file slot; NULL when out of memory. */
static StFile *new_file(TfrtSafetensors *st)
{
    StFile *f = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *f);
    if (!f)
        return NULL;
    st->files = f;
    memset(&f[st->n_files], 0, sizeof *f);
    f[st->n_files].fd = -1;
    return &f[st->n_files++];
}

static uint64_t read_u64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int st_add_file(TfrtSafetensors *st, const char *path, char *err, size_t errlen)
{
    Ctx c = { path, err, errlen, 0 };
    StFile *f = new_file(st);
    if (!f)
        return errf(&c, TFRT_ERR_NOMEM, "out of memory");
    int r = map_file(&c, f, 8);
    if (r != TFRT_OK)
        return r;
    uint64_t hlen = read_u64_le(f->map);
    if (hlen > f->map_size - 8)
        return errf(&c, TFRT_ERR_FORMAT,
                    "header length %llu runs past the end of the file (%zu bytes)",
                    (unsigned long long)hlen, f->map_size);
    c.data_size = f->map_size - 8 - (size_t)hlen;
    return read_header(&c, st, f, (size_t)hlen);
}

int st_map_raw(TfrtSafetensors *st, const char *path, size_t min_size,
               const unsigned char **map, size_t *size, char *err, size_t errlen)
{
    Ctx c = { path, err, errlen, 0 };
    StFile *f = new_file(st);
    if (!f)
        return errf(&c, TFRT_ERR_NOMEM, "out of memory");
    int r = map_file(&c, f, min_size);
    if (r == TFRT_OK) {
        *map = f->map;
        *size = f->map_size;
    }
    return r;
}

int st_keep(TfrtSafetensors *st, void *p)
{
    void **o = realloc(st->owned, (size_t)(st->n_owned + 1) * sizeof *o);
    if (!o) {
        free(p);
        return TFRT_ERR_NOMEM;
    }
    st->owned = o;
    o[st->n_owned++] = p;
    return TFRT_OK;
}

int st_add_tensor(TfrtSafetensors *st, const char *name, TfrtDtype dt, int ndim,
                  const int64_t *shape, const void *data, size_t nbytes)
{
    size_t len = strlen(name);
    char *copy = malloc(len + 1);
    TfrtTensor *t;
    if (!copy || st_keep(st, copy) || !(t = new_tensor(st)))
        return TFRT_ERR_NOMEM;
    memcpy(copy, name, len + 1);
    t->name = copy;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    return TFRT_OK;
}

int st_finish(TfrtSafetensors *st, const char *path, char *err, size_t errlen)
{
    Ctx c = { path, err, errlen, 0 };
    free(st->by_name);
    st->by_name = malloc((size_t)(st->count ? st->count : 1) * sizeof(st->by_name[0]));
    if (!st->by_name)
        return errf(&c, TFRT_ERR_NOMEM, "out of memory");
    return check_names(&c, st);
}

TfrtSafetensors *st_new(void)
{
    return calloc(1, sizeof(TfrtSafetensors));
}

int tfrt_st_open(TfrtSafetensors **out, const char *path, char *err, size_t errlen)
{
    Ctx c = { path ? path : "(null)", err, errlen, 0 };
    if (err && errlen > 0)
        err[0] = '\0';
    if (!out || !path)
        return errf(&c, TFRT_ERR_ARG, "no output pointer or path");
    *out = NULL;
    TfrtSafetensors *st = st_new();
    if (!st)
        return errf(&c, TFRT_ERR_NOMEM, "out of memory");
    int r = ckpt_open(st, path, err, errlen);
    if (r == TFRT_OK)
        r = st_finish(st, path, err, errlen);
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
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].map)
            munmap((void *)st->files[i].map, st->files[i].map_size);
        if (st->files[i].fd >= 0)
            close(st->files[i].fd);
        json_free(st->files[i].header);
    }
    for (int i = 0; i < st->n_owned; i++)
        free(st->owned[i]);
    free(st->owned);
    free(st->files);
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

const char *tfrt_st_metadata(const TfrtSafetensors *st, const char *key)
{
    for (int i = 0; st && key && i < st->n_files; i++) {
        const JsonValue *h = st->files[i].header;
        const JsonValue *m = h ? json_get(h, "__metadata__") : NULL;
        const JsonValue *v = m ? json_get(m, key) : NULL;
        if (v && v->type == JSON_STRING && strlen(v->u.string.chars) == v->u.string.len)
            return v->u.string.chars;
    }
    return NULL;
}

int tfrt_st_holds(const TfrtSafetensors *st, const char *path)
{
    struct stat a, b;
    if (!st || !path || stat(path, &a) != 0)
        return 0;
    for (int i = 0; i < st->n_files; i++)
        if (st->files[i].fd >= 0 && fstat(st->files[i].fd, &b) == 0 && a.st_dev == b.st_dev
            && a.st_ino == b.st_ino)
            return 1;
    return 0;
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
