/*
 * strmap.c - string -> int, open addressing with linear probing (FNV-1a
 * hashes).  Removal leaves a tombstone, which a later insertion on the
 * same probe path reuses; the table grows (and drops its tombstones) when
 * live keys and tombstones fill three quarters of it.
 * Memory comes from the compiler's arena, like every other front-end
 * structure.
 */
#include "strmap.h"
#include "tfc.h"

#include <stdint.h>
#include <string.h>

static const char removed[] = "";

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* The slot holding key, or -1 (as SIZE_MAX) when it is absent. */
static size_t find(const StrMap *m, const char *key)
{
    if (!m->cap)
        return SIZE_MAX;
    for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return SIZE_MAX;
        if (m->keys[i] != removed && strcmp(m->keys[i], key) == 0)
            return i;
    }
}

int strmap_get(const StrMap *m, const char *key, int dflt)
{
    size_t i = find(m, key);
    return i == SIZE_MAX ? dflt : m->values[i];
}

/* Inserts a key known to be absent, reusing no tombstone. */
static void insert_new(StrMap *m, const char *key, int value)
{
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->values[i] = value;
    m->used++;
}

static void grow(StrMap *m)
{
    StrMap old = *m;
    size_t live = 0;
    for (size_t i = 0; i < old.cap; i++)
        live += old.keys[i] && old.keys[i] != removed;
    m->cap = old.cap ? old.cap : 64;
    while (m->cap * 3 / 4 <= 2 * live + 1)
        m->cap *= 2;
    m->keys = tfc_alloc(m->cap * sizeof *m->keys);
    m->values = tfc_alloc(m->cap * sizeof *m->values);
    m->used = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i] && old.keys[i] != removed)
            insert_new(m, old.keys[i], old.values[i]);
}

/* A key put back after its removal takes the first tombstone on its probe
 * path, so that removing and adding one name over and over (a node name
 * released and taken again) does not grow a run of tombstones. */
void strmap_put(StrMap *m, const char *key, int value)
{
    if ((m->used + 1) * 4 > m->cap * 3)
        grow(m);
    size_t tomb = SIZE_MAX, i = hash(key) & (m->cap - 1);
    for (; m->keys[i]; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == removed) {
            if (tomb == SIZE_MAX)
                tomb = i;
        } else if (strcmp(m->keys[i], key) == 0) {
            m->values[i] = value;
            return;
        }
    }
    if (tomb == SIZE_MAX)
        m->used++;
    else
        i = tomb;
    m->keys[i] = key;
    m->values[i] = value;
}

void strmap_remove(StrMap *m, const char *key)
{
    size_t i = find(m, key);
    if (i != SIZE_MAX)
        m->keys[i] = removed;
}
