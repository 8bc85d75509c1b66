/* Text handling shared by the TOML parser's files: error reports, growable buffers and the
 * UTF-8 check of the whole input. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml_internal.h"

/* ---- errors ---- */

static bool fail_vat(struct toml_parser *p, struct toml_pos pos, const char *fmt, va_list ap)
{
    /* The first error is the cause; anything reported while unwinding would only confuse. */
    if (!p->err || p->errlen == 0 || p->err[0] != '\0')
        return false;
    int n = snprintf(p->err, p->errlen, "%s:%zu:%zu: ", p->filename, pos.line, pos.column);
    if (n >= 0 && (size_t)n < p->errlen)
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    return false;
}

bool toml_fail_at(struct toml_parser *p, struct toml_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_vat(p, pos, fmt, ap);
    va_end(ap);
    return false;
}

bool toml_fail(struct toml_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_vat(p, p->at, fmt, ap);
    va_end(ap);
    return false;
}

bool toml_fail_out_of_memory(struct toml_parser *p)
{
    return toml_fail(p, "out of memory");
}

/* Decodes the (already validated) UTF-8 sequence at the cursor. */
static uint32_t codepoint_at(const struct toml_parser *p)
{
    const unsigned char *s = (const unsigned char *)p->text + p->offset;
    size_t avail = p->len - p->offset;
    int extra = s[0] >= 0xF0 ? 3 : s[0] >= 0xE0 ? 2 : s[0] >= 0xC0 ? 1 : 0;
    uint32_t cp = extra ? s[0] & (0x3F >> extra) : s[0];
    for (int i = 1; i <= extra && (size_t)i < avail; i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    return cp;
}

const char *toml_describe_char(const struct toml_parser *p, char *buf, size_t size)
{
    int c = toml_peek(p);
    if (c == TOML_EOF)
        snprintf(buf, size, "end of input");
    else if (c == '\n' || (c == '\r' && toml_peek_at(p, 1) == '\n'))
        snprintf(buf, size, "end of line");
    else if (c >= 0x20 && c < 0x7F)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "U+%04X", (unsigned)codepoint_at(p));
    return buf;
}

/* ---- buffers ---- */

bool toml_buf_append(struct toml_parser *p, struct toml_buf *buf, const char *bytes, size_t n)
{
    if (n > SIZE_MAX / 2 - buf->len)
        return toml_fail_out_of_memory(p);
    if (buf->len + n > buf->capacity) {
        size_t capacity = buf->capacity ? buf->capacity : 64;
        while (capacity < buf->len + n)
            capacity *= 2;
        char *data = realloc(buf->data, capacity);
        if (!data)
            return toml_fail_out_of_memory(p);
        buf->data = data;
        buf->capacity = capacity;
    }
    if (n)
        memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return true;
}

bool toml_buf_append_codepoint(struct toml_parser *p, struct toml_buf *buf, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return toml_buf_append(p, buf, u, n);
}

char *toml_buf_take(struct toml_parser *p, struct toml_buf *buf, size_t *len)
{
    char *text = malloc(buf->len + 1);
    if (!text) {
        toml_fail_out_of_memory(p);
        return NULL;
    }
    if (buf->len)
        memcpy(text, buf->data, buf->len);
    text[buf->len] = '\0';
    *len = buf->len;
    buf->len = 0;
    return text;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (shortest form, no surrogates, at most U+10FFFF),
 * or 0. */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

bool toml_check_utf8(struct toml_parser *p)
{
    const unsigned char *s = (const unsigned char *)p->text;
    size_t i = 0;
    while (i < p->len) {
        size_t n = utf8_sequence_length(s + i, p->len - i);
        if (n == 0) {
            /* Rare path: walk up to the bad byte so the position is right. */
            while (p->offset < i)
                toml_advance(p);
            return toml_fail(p, "invalid UTF-8 (byte 0x%02X)", s[i]);
        }
        i += n;
    }
    return true;
}
