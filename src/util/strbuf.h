/* A growable byte buffer for building replies. On allocation failure it stays valid and
 * remembers the failure (sb->failed), so callers check once at the end. */
#ifndef POSTERN_UTIL_STRBUF_H
#define POSTERN_UTIL_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
    char *data; /* NUL-terminated when len > 0 */
    size_t len, cap;
    bool failed;
};

void strbuf_append(struct strbuf *sb, const void *data, size_t len);
void strbuf_append_str(struct strbuf *sb, const char *text);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_reset(struct strbuf *sb); /* keeps the memory */
void strbuf_free(struct strbuf *sb);

#endif
