/*
 * prompt_file.c - `-f FILE`: the prompt read from a file.
 *
 * The bytes are the prompt as they are: a trailing newline stays (it is
 * text the model continues), NUL bytes too (the tokenizer takes lengths).
 * Opened without blocking and refused unless regular, as weights are
 * (docs/limits.md), so a FIFO cannot hang tfc; the size is bounded
 * because every byte is tokenized before the prompt's length in tokens
 * is checked against the context.
 */
#include "tfc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *prompt_read_file(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        error_status(EXIT_IO, "-f %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        error_status(EXIT_IO, "-f %s: not a regular file", path);
    }
    if (st.st_size > PROMPT_FILE_MAX) {
        close(fd);
        error_status(EXIT_INPUT, "-f %s: %lld bytes; a prompt file holds at most %d", path,
                     (long long)st.st_size, PROMPT_FILE_MAX);
    }
    char *buf = tfc_alloc((size_t)st.st_size + 1);
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            error_status(EXIT_IO, "-f %s: %s", path, strerror(e));
        }
        if (got == 0)
            break;   /* the file shrank while read: what is there is the prompt */
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}
