/*
 * %{env:NAME}% and %{file:PATH}% in string values, as in Stalwart: secrets and per-host
 * values stay out of the configuration file. Expanded text is not scanned again, so a file
 * that happens to contain "%{" is used as it is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

struct buffer {
    char *data;
    size_t len, cap;
    bool failed; /* out of memory */
};

static void buffer_append(struct buffer *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *bigger = realloc(b->data, cap);
        if (!bigger) {
            b->failed = true;
            return;
        }
        b->data = bigger;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* One macro as written: %{KIND:ARG}%. */
struct macro {
    const char *kind;
    size_t kind_len;
    const char *arg;
    size_t arg_len;
    size_t total_len; /* from '%' to the closing '%' */
};

CONFIG_PRINTF(4, 5)
static void macro_why(char *why, size_t whylen, const struct macro *m, const char *fmt, ...)
{
    int n = snprintf(why, whylen, "%%{%.*s:%.*s}%%: ", (int)m->kind_len, m->kind,
                     (int)(m->arg_len > 200 ? 200 : m->arg_len), m->arg);
    if (n < 0 || (size_t)n >= whylen)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(why + n, whylen - (size_t)n, fmt, args);
    va_end(args);
}

enum scan_result { NOT_A_MACRO, MACRO, MACRO_UNTERMINATED };

/* text starts with "%{". A macro needs a lower-case kind and a ':' right after the brace;
 * anything else ("%{", "%{ x }") is ordinary text. */
static enum scan_result scan_macro(const char *text, size_t len, struct macro *m)
{
    size_t i = 2;
    while (i < len && text[i] >= 'a' && text[i] <= 'z')
        i++;
    if (i == 2 || i == len || text[i] != ':')
        return NOT_A_MACRO;
    m->kind = text + 2;
    m->kind_len = i - 2;
    m->arg = text + i + 1;
    for (size_t j = i + 1; j + 1 < len; j++) {
        if (text[j] == '}' && text[j + 1] == '%') {
            m->arg_len = j - (i + 1);
            m->total_len = j + 2;
            return MACRO;
        }
    }
    m->arg_len = len - (i + 1);
    return MACRO_UNTERMINATED;
}

static bool kind_is(const struct macro *m, const char *kind)
{
    return m->kind_len == strlen(kind) && memcmp(m->kind, kind, m->kind_len) == 0;
}

static bool expand_env(const struct macro *m, struct buffer *out, char *why, size_t whylen)
{
    char *name = strndup(m->arg, m->arg_len);
    if (!name) {
        macro_why(why, whylen, m, "out of memory");
        return false;
    }
    const char *value = getenv(name);
    if (value)
        buffer_append(out, value, strlen(value));
    else
        macro_why(why, whylen, m, "environment variable %s is not set", name);
    free(name);
    return value != NULL;
}

/* Reads at most CONFIG_MACRO_FILE_MAX bytes; one trailing line break is not part of a value. */
static bool read_macro_file(const char *path, const struct macro *m, struct buffer *out,
                            char *why, size_t whylen)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        macro_why(why, whylen, m, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    struct buffer content = {0};
    char chunk[4096];
    size_t n;
    while (!content.failed && content.len <= CONFIG_MACRO_FILE_MAX &&
           (n = fread(chunk, 1, sizeof chunk, in)) > 0)
        buffer_append(&content, chunk, n);
    int read_errno = ferror(in) ? errno : 0;
    fclose(in);
    bool ok = false;
    if (read_errno)
        macro_why(why, whylen, m, "cannot read %s: %s", path, strerror(read_errno));
    else if (content.failed)
        macro_why(why, whylen, m, "out of memory");
    else if (content.len > CONFIG_MACRO_FILE_MAX)
        macro_why(why, whylen, m, "%s is larger than %u bytes", path, CONFIG_MACRO_FILE_MAX);
    else if (content.len && memchr(content.data, '\0', content.len))
        macro_why(why, whylen, m, "%s contains a NUL byte", path);
    else
        ok = true;
    if (ok) {
        size_t len = content.len;
        if (len && content.data[len - 1] == '\n')
            len -= (len > 1 && content.data[len - 2] == '\r') ? 2 : 1;
        buffer_append(out, content.data ? content.data : "", len);
    }
    free(content.data);
    return ok;
}

static bool expand_file(const struct macro *m, struct buffer *out, char *why, size_t whylen)
{
    char *path = strndup(m->arg, m->arg_len);
    if (!path) {
        macro_why(why, whylen, m, "out of memory");
        return false;
    }
    bool ok = read_macro_file(path, m, out, why, whylen);
    free(path);
    return ok;
}

static bool expand_one(const struct macro *m, struct buffer *out, char *why, size_t whylen)
{
    if (m->arg_len == 0 || memchr(m->arg, '\0', m->arg_len)) {
        macro_why(why, whylen, m, "missing %s", kind_is(m, "file") ? "PATH" : "NAME");
        return false;
    }
    if (kind_is(m, "env"))
        return expand_env(m, out, why, whylen);
    if (kind_is(m, "file"))
        return expand_file(m, out, why, whylen);
    macro_why(why, whylen, m, "unknown macro (postern knows %%{env:NAME}%% and %%{file:PATH}%%)");
    return false;
}

char *config_expand_macros(const char *text, size_t len, size_t *out_len, char *why,
                           size_t whylen)
{
    struct buffer out = {0};
    bool ok = true;
    size_t i = 0;
    buffer_append(&out, "", 0);
    while (ok && i < len) {
        const char *start = memmem(text + i, len - i, "%{", 2);
        size_t at = start ? (size_t)(start - text) : len;
        buffer_append(&out, text + i, at - i);
        if (!start)
            break;
        struct macro m;
        enum scan_result scan = scan_macro(text + at, len - at, &m);
        if (scan == NOT_A_MACRO) {
            buffer_append(&out, "%{", 2);
            i = at + 2;
        } else if (scan == MACRO_UNTERMINATED) {
            snprintf(why, whylen, "unterminated macro \"%.*s\" (a macro ends with }%%)",
                     (int)(len - at > 200 ? 200 : len - at), text + at);
            ok = false;
        } else {
            ok = expand_one(&m, &out, why, whylen);
            i = at + m.total_len;
        }
    }
    if (ok && out.failed)
        snprintf(why, whylen, "out of memory");
    if (!ok || out.failed) {
        free(out.data);
        return NULL;
    }
    *out_len = out.len;
    return out.data;
}
