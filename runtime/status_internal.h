/*
 * status_internal.h - one way for libtfrt's readers to return a status
 * with its message.  Internal to libtfrt.
 */
#ifndef TFRT_STATUS_INTERNAL_H
#define TFRT_STATUS_INTERNAL_H

#include <stddef.h>

/* Writes the printf-style message into err (when err and errlen allow)
 * and returns status. */
int tfrt_errf(char *err, size_t errlen, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
