/*
 * status.c - status code descriptions.
 */
#include "tfrt.h"
#include "status_internal.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const messages[] = {
    [TFRT_OK]             = "success",
    [TFRT_ERR_IO]         = "file cannot be opened, read or mapped",
    [TFRT_ERR_FORMAT]     = "weights file is malformed",
    [TFRT_ERR_MISSING]    = "tensor missing from the weights file",
    [TFRT_ERR_SHAPE]      = "tensor has the wrong shape",
    [TFRT_ERR_DTYPE]      = "tensor has an unusable dtype",
    [TFRT_ERR_UNEXPECTED] = "weights file has a tensor the model does not use",
    [TFRT_ERR_TOKEN]      = "token id out of range",
    [TFRT_ERR_LENGTH]     = "sequence empty or too long",
    [TFRT_ERR_NOMEM]      = "out of memory",
    [TFRT_ERR_ARG]        = "invalid argument",
    [TFRT_ERR_NAN]        = "output is NaN or infinite",
};

/* One message per status code, no more, no less. */
typedef char messages_match_codes[
    sizeof messages / sizeof messages[0] == TFRT_ERR_COUNT_ ? 1 : -1];

const char *tfrt_strerror(int status)
{
    if (status < 0 || status >= TFRT_ERR_COUNT_)
        return "unknown status";
    return messages[status];
}

int tfrt_errf(char *err, size_t errlen, int status, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}
