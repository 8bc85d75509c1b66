/* Line framing shared by the text protocols. */
#ifndef POSTERN_UTIL_LINE_H
#define POSTERN_UTIL_LINE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length of the first line including its LF, or 0 when no complete line is there yet. */
static inline size_t line_length(const uint8_t *data, size_t len)
{
    const uint8_t *lf = memchr(data, '\n', len);
    return lf ? (size_t)(lf - data) + 1 : 0;
}

/* Length without the trailing CRLF (or bare LF). */
static inline size_t line_content_length(const uint8_t *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return len;
}

#endif
