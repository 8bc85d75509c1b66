/* A minimal streaming JSON writer for CLI output and JSON logs. */
#ifndef POSTERN_UTIL_JSON_H
#define POSTERN_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json_writer {
    FILE *out;
    int depth;
    bool need_comma[JSON_MAX_DEPTH];
};

void json_begin_object(struct json_writer *w, const char *key);
void json_end_object(struct json_writer *w);
void json_begin_array(struct json_writer *w, const char *key);
void json_end_array(struct json_writer *w);
/* Bytes that are not valid UTF-8 are written as \u00XX so the output stays valid JSON. */
void json_string(struct json_writer *w, const char *key, const void *data, size_t len);
void json_cstring(struct json_writer *w, const char *key, const char *text);
void json_uint(struct json_writer *w, const char *key, uint64_t value);
void json_hex(struct json_writer *w, const char *key, const void *data, size_t len);
/* key may be NULL inside arrays. */

/* Length of the valid UTF-8 sequence starting at p (1-4), or 0 if it is not valid UTF-8. */
size_t utf8_sequence_length(const uint8_t *p, size_t avail);

#endif
