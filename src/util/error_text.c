#include "util/error_text.h"

#include <stdarg.h>
#include <stdio.h>

int error_text(char *err, size_t errlen, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, args);
    va_end(args);
    return -1;
}
