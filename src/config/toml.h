/*
 * TOML 1.0 parser: turns a whole document into a tree of values.
 *
 * Every value remembers where it came from (line and column, both counted from 1, columns in
 * Unicode characters) so a configuration loader can report "file:line: key x.y: expected a
 * string". Tables keep their keys in insertion order. Strings and keys are UTF-8 with an explicit
 * length (a \u0000 escape can put a NUL inside them); they are also NUL-terminated for
 * convenience.
 *
 * All accessors accept NULL and then return NULL, 0 or false, so lookups can be chained:
 *     toml_as_string(toml_get_path(root, "server.hostname"), NULL)
 *
 * Parsing is reentrant and independent of the process locale; a finished tree is read-only and
 * may be shared between threads.
 */
#ifndef POSTERN_CONFIG_TOML_H
#define POSTERN_CONFIG_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Deepest nesting of tables and arrays (the root table is depth 0). Deeper input is rejected,
 * which keeps the recursive parser, the tree walk in toml_free() and any caller's recursion
 * within a fixed stack budget whatever the input. */
#define TOML_MAX_DEPTH 128

/* A good size for toml_parse()'s error buffer: it fits every message with any sane filename
 * (key names in messages are cut at about 120 bytes); longer text is truncated, never overrun. */
#define TOML_ERROR_MAX 512

/* Longest text toml_datetime_format() writes, NUL included:
 * "9999-12-31T23:59:60.999999999+23:59". */
#define TOML_DATETIME_TEXT_MAX 40

enum toml_kind {
    TOML_NONE,            /* only from toml_kind_of(NULL): the value is missing */
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_OFFSET_DATETIME, /* 1979-05-27T07:32:00-08:00 */
    TOML_LOCAL_DATETIME,  /* 1979-05-27T07:32:00 */
    TOML_LOCAL_DATE,      /* 1979-05-27 */
    TOML_LOCAL_TIME,      /* 07:32:00 */
    TOML_ARRAY,
    TOML_TABLE,
};

struct toml_pos {
    size_t line;   /* from 1 */
    size_t column; /* from 1, in Unicode characters */
};

/* The date fields are 0 for a local time; the time fields are 0 for a local date. */
struct toml_datetime {
    int year, month, day;
    int hour, minute, second;   /* second may be 60 (leap second) */
    int nanosecond;             /* fractional digits beyond 9 are truncated */
    int fraction_digits;        /* how many fractional digits the input had, at most 9 */
    int offset_minutes;         /* east of UTC; only for TOML_OFFSET_DATETIME */
};

struct toml_value;

/* One key of a table, as returned by toml_table_entry(). */
struct toml_entry {
    const char *key;            /* UTF-8, NUL-terminated, may also contain NUL */
    size_t key_len;
    struct toml_pos key_pos;    /* where the key was written (its last part, if dotted) */
    const struct toml_value *value;
};

/* Parses a whole document. Returns the root table, or NULL with err set to
 * "filename:line:column: message" (filename NULL means "<input>"). err may be NULL. */
struct toml_value *toml_parse(const char *text, size_t len, const char *filename,
                              char *err, size_t errlen);
void toml_free(struct toml_value *root);

enum toml_kind toml_kind_of(const struct toml_value *value);
/* "nothing", "string", "integer", "float", "boolean", "offset date-time", "local date-time",
 * "local date", "local time", "array", "table": ready for "expected a X" messages. */
const char *toml_kind_name(enum toml_kind kind);
/* {0, 0} for NULL. Tables report the header or key that first defined them. */
struct toml_pos toml_position(const struct toml_value *value);

/* Scalars: NULL or false when the value is missing or of another kind (no conversions). */
const char *toml_as_string(const struct toml_value *value, size_t *len);
bool toml_as_integer(const struct toml_value *value, int64_t *out);
bool toml_as_float(const struct toml_value *value, double *out);
bool toml_as_bool(const struct toml_value *value, bool *out);
/* Any of the four date/time kinds; toml_kind_of() tells which fields are meaningful. */
const struct toml_datetime *toml_as_datetime(const struct toml_value *value);
/* RFC 3339 text of a date/time value ("Z" for a zero offset). Returns the length written, or 0
 * when value is not a date/time or the buffer is smaller than TOML_DATETIME_TEXT_MAX. */
size_t toml_datetime_format(const struct toml_value *value, char *buf, size_t size);

/* Tables. */
size_t toml_table_size(const struct toml_value *table);
const struct toml_value *toml_table_get(const struct toml_value *table, const char *key);
const struct toml_value *toml_table_getn(const struct toml_value *table, const char *key,
                                         size_t key_len);
/* Fills *out with the index-th key in insertion order; false past the end. */
bool toml_table_entry(const struct toml_value *table, size_t index, struct toml_entry *out);
/* Follows a dotted path of bare keys ("server.proxy.trusted-networks") through nested tables.
 * No quoting: for keys containing '.', chain toml_table_get(). */
const struct toml_value *toml_get_path(const struct toml_value *root, const char *path);

/* Arrays. */
size_t toml_array_size(const struct toml_value *array);
const struct toml_value *toml_array_get(const struct toml_value *array, size_t index);

/* for (...) loops over a table's entries or an array's items, in order:
 *     struct toml_entry e;
 *     TOML_TABLE_FOREACH(e, table) printf("%s\n", e.key);
 *     const struct toml_value *item;
 *     TOML_ARRAY_FOREACH(item, array) use(item);
 * A NULL or wrongly-kinded container gives an empty loop. */
#define TOML_TABLE_FOREACH(entry, table)                                                      \
    for (size_t toml_index_##entry = 0; toml_table_entry((table), toml_index_##entry, &(entry)); \
         toml_index_##entry++)
#define TOML_ARRAY_FOREACH(item, array)                                                       \
    for (size_t toml_index_##item = 0;                                                        \
         ((item) = toml_array_get((array), toml_index_##item)) != NULL; toml_index_##item++)

#ifdef __cplusplus
}
#endif

#endif
