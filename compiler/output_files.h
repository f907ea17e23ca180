/*
 * output_files.h - files written all or nothing (output_files.c).
 *
 *   Outputs out = {0};
 *   emit_header(g, &eo, outputs_open(&out, "m.h"));
 *   emit_source(g, &eo, outputs_open(&out, "m.c"));
 *   outputs_commit(&out);        // both appear, or neither changes
 *
 * Failures exit with status 3 (error_status) after removing what was
 * written.
 */
#ifndef TFC_OUTPUT_FILES_H
#define TFC_OUTPUT_FILES_H

#include "tfc.h"

#define OUTPUTS_MAX 4

typedef struct {
    int n;
    struct {
        const char *path, *tmp, *backup;
        int existed;
        FILE *f;
    } file[OUTPUTS_MAX];
} Outputs;

/* A stream for path, written to a temporary beside it until commit. */
FILE *outputs_open(Outputs *o, const char *path);
/* Closes every stream and renames each temporary over its path. */
void outputs_commit(Outputs *o);
/* Refuses, before anything is written, an output path that is a folder
 * (status 3), or the same file as an input or as another output (status
 * 2).  NULL entries and "-" (stdout) are skipped. */
void outputs_check(const char *const *outputs, int nout, const char *const *inputs, int nin);

#endif
