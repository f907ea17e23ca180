/*
 * output_files.c - files tfc writes, all or nothing.
 *
 * Each output is written to a temporary file beside it (same folder, so
 * that rename is atomic) and renamed over its name only when every
 * output of the set is complete.  When a rename fails part way, the
 * outputs renamed so far get back what they held (a hard link kept it),
 * so an error leaves the folder as it was: no partial file, no stray
 * temporary, no half-updated pair of .c and .h.  Temporaries also go when
 * tfc exits on an error in between (atexit).
 *
 * Before anything is written, outputs_check refuses an output that is a
 * folder, that names one of tfc's inputs (tfc m.h -o m.c would overwrite
 * the model file), or that names another output.
 */
#include "output_files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static Outputs *pending;     /* the set being written, for exit_cleanup */

static void remove_temps(Outputs *o)
{
    for (int i = 0; i < o->n; i++) {
        if (o->file[i].f)
            fclose(o->file[i].f);
        o->file[i].f = NULL;
        if (o->file[i].tmp)
            unlink(o->file[i].tmp);
        o->file[i].tmp = NULL;
    }
}

static void exit_cleanup(void)
{
    if (pending)
        remove_temps(pending);
    pending = NULL;
}

static _Noreturn void fail(Outputs *o, const char *path, int err)
{
    remove_temps(o);
    pending = NULL;
    error_status(EXIT_IO, "cannot write '%s': %s", path, strerror(err));
}

/* The permissions a file created the ordinary way would get. */
static mode_t default_mode(void)
{
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

FILE *outputs_open(Outputs *o, const char *path)
{
    static int registered;
    if (!registered++)
        atexit(exit_cleanup);
    pending = o;
    if (o->n == OUTPUTS_MAX)
        tfc_bug("more than %d outputs in one set", OUTPUTS_MAX);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        fail(o, path, EISDIR);
    char *tmp = tfc_format("%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        fail(o, path, errno);
    int i = o->n++;
    o->file[i].path = path;
    o->file[i].tmp = tmp;
    if (fchmod(fd, default_mode()) != 0 || !(o->file[i].f = fdopen(fd, "w"))) {
        int err = errno;
        if (!o->file[i].f)
            close(fd);
        fail(o, path, err);
    }
    return o->file[i].f;
}

/* Puts back what outputs [0, done) held before they were renamed over
 * (an output that held something that could not be linked stays new). */
static void restore(Outputs *o, int done)
{
    for (int i = 0; i < done; i++) {
        if (o->file[i].backup)
            rename(o->file[i].backup, o->file[i].path);
        else if (!o->file[i].existed)
            unlink(o->file[i].path);
        o->file[i].backup = NULL;
    }
}

/* A second name for what path holds now, or NULL when it holds nothing
 * (or the file system cannot link: then it cannot be put back). */
static const char *keep_old(const char *path)
{
    for (int k = 0; k < 100; k++) {
        const char *name = tfc_format("%s.old-%ld-%d", path, (long)getpid(), k);
        if (link(path, name) == 0)
            return name;
        if (errno != EEXIST)
            return NULL;
    }
    return NULL;
}

void outputs_commit(Outputs *o)
{
    for (int i = 0; i < o->n; i++) {
        FILE *f = o->file[i].f;
        o->file[i].f = NULL;
        int bad = ferror(f);
        if ((fclose(f) != 0) | bad)
            fail(o, o->file[i].path, bad ? EIO : errno);
    }
    for (int i = 0; i < o->n; i++) {
        o->file[i].existed = access(o->file[i].path, F_OK) == 0;
        o->file[i].backup = o->file[i].existed ? keep_old(o->file[i].path) : NULL;
        if (rename(o->file[i].tmp, o->file[i].path) != 0) {
            int err = errno;
            if (o->file[i].backup)
                unlink(o->file[i].backup);
            o->file[i].backup = NULL;
            restore(o, i);
            fail(o, o->file[i].path, err);
        }
        o->file[i].tmp = NULL;
    }
    for (int i = 0; i < o->n; i++)
        if (o->file[i].backup)
            unlink(o->file[i].backup);
    o->n = 0;
    pending = NULL;
}

/* The same file: both exist and are one inode. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void outputs_check(const char *const *outputs, int nout, const char *const *inputs, int nin)
{
    for (int i = 0; i < nout; i++) {
        if (!outputs[i] || strcmp(outputs[i], "-") == 0)
            continue;
        struct stat sb;
        if (stat(outputs[i], &sb) == 0 && S_ISDIR(sb.st_mode))
            error_status(EXIT_IO, "cannot write '%s': it is a folder", outputs[i]);
        for (int j = 0; j < nin; j++)
            if (inputs[j] && (strcmp(outputs[i], inputs[j]) == 0 || same_file(outputs[i], inputs[j])))
                error_status(EXIT_USAGE, "'%s' would be overwritten: it is an input and an output",
                             outputs[i]);
        for (int j = 0; j < i; j++)
            if (outputs[j] && (strcmp(outputs[i], outputs[j]) == 0 || same_file(outputs[i], outputs[j])))
                error_status(EXIT_USAGE, "'%s' is given as two outputs", outputs[i]);
    }
}
