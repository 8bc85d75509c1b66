#include "util/json.h"

static void separate(struct json_writer *w, const char *key)
{
    if (w->depth > 0) {
        if (w->need_comma[w->depth - 1])
            fputc(',', w->out);
        w->need_comma[w->depth - 1] = true;
    }
    if (key) {
        fputc('"', w->out);
        fputs(key, w->out);
        fputs("\":", w->out);
    }
}

static void open_scope(struct json_writer *w, const char *key, char bracket)
{
    separate(w, key);
    fputc(bracket, w->out);
    if (w->depth < JSON_MAX_DEPTH)
        w->need_comma[w->depth] = false;
    w->depth++;
}

static void close_scope(struct json_writer *w, char bracket)
{
    w->depth--;
    fputc(bracket, w->out);
}

void json_begin_object(struct json_writer *w, const char *key) { open_scope(w, key, '{'); }
void json_end_object(struct json_writer *w) { close_scope(w, '}'); }
void json_begin_array(struct json_writer *w, const char *key) { open_scope(w, key, '['); }
void json_end_array(struct json_writer *w) { close_scope(w, ']'); }

size_t utf8_sequence_length(const uint8_t *p, size_t avail)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void json_string(struct json_writer *w, const char *key, const void *data, size_t len)
{
    const uint8_t *p = data;
    separate(w, key);
    fputc('"', w->out);
    for (size_t i = 0; i < len;) {
        uint8_t c = p[i];
        size_t n = utf8_sequence_length(p + i, len - i);
        if (c == '"' || c == '\\') {
            fputc('\\', w->out);
            fputc(c, w->out);
        } else if (n == 1 && c >= 0x20 && c != 0x7F) {
            fputc(c, w->out);
        } else if (n > 1) {
            fwrite(p + i, 1, n, w->out);
            i += n;
            continue;
        } else {
            fprintf(w->out, "\\u%04x", c);
        }
        i++;
    }
    fputc('"', w->out);
}

void json_cstring(struct json_writer *w, const char *key, const char *text)
{
    size_t len = 0;
    while (text[len])
        len++;
    json_string(w, key, text, len);
}

void json_uint(struct json_writer *w, const char *key, uint64_t value)
{
    separate(w, key);
    fprintf(w->out, "%llu", (unsigned long long)value);
}

void json_hex(struct json_writer *w, const char *key, const void *data, size_t len)
{
    const uint8_t *p = data;
    separate(w, key);
    fputc('"', w->out);
    for (size_t i = 0; i < len; i++)
        fprintf(w->out, "%02x", p[i]);
    fputc('"', w->out);
}
