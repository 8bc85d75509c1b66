/* The "0, or -1 with err" convention: functions that can fail take a caller's buffer for why. */
#ifndef POSTERN_UTIL_ERROR_TEXT_H
#define POSTERN_UTIL_ERROR_TEXT_H

#include <stddef.h>

/* Writes the message into err (when err is not NULL and errlen > 0) and returns -1. */
int error_text(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
