/*
 * strmap.h - a map from strings to ints for the front end's name lookups
 * (bindings, node names, checkpoint names), so that lowering stays linear
 * in the size of the unrolled model.  Keys are not copied: they must live
 * as long as the map (the compiler's arena strings do).
 */
#ifndef TFC_STRMAP_H
#define TFC_STRMAP_H

#include <stddef.h>

typedef struct {
    const char **keys;     /* NULL: never used; strmap_removed: a tombstone */
    int *values;
    size_t cap;            /* a power of two, or 0 */
    size_t used;           /* live keys and tombstones */
} StrMap;

/* The value of key, or dflt when it is absent. */
int strmap_get(const StrMap *m, const char *key, int dflt);
/* Sets key's value, adding it when absent. */
void strmap_put(StrMap *m, const char *key, int value);
/* Removes key if present. */
void strmap_remove(StrMap *m, const char *key);

#endif
