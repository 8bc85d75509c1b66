/*
 * Shared between the TOML parser's files; not part of the public API (see toml.h).
 *
 * toml_tree.c     the value tree: allocation, tables with a hash index, arrays, accessors
 * toml_parse.c    the document grammar: statements, keys, headers, arrays, inline tables
 * toml_scalar.c   strings, numbers, booleans and dates/times
 * toml_text.c     error reports, growable buffers, the UTF-8 check
 */
#ifndef POSTERN_CONFIG_TOML_INTERNAL_H
#define POSTERN_CONFIG_TOML_INTERNAL_H

#include "config/toml.h"

/* How a table came to exist; decides whether a later header or dotted key may extend it. */
enum toml_origin {
    TOML_ORIGIN_IMPLICIT, /* intermediate part of a [a.b.c] header: may still get its own header */
    TOML_ORIGIN_HEADER,   /* [a] or an element of [[a]] */
    TOML_ORIGIN_DOTTED,   /* created by a dotted key a.b = 1 */
    TOML_ORIGIN_INLINE,   /* { ... } */
};

struct toml_slot {
    char *key;
    size_t key_len;
    uint64_t hash;
    struct toml_pos key_pos;
    struct toml_value *value;
};

struct toml_table {
    struct toml_slot *slots; /* insertion order */
    size_t count, capacity;
    size_t *index;           /* open addressing, slot number + 1, 0 = empty; NULL while small */
    size_t index_capacity;   /* a power of two */
};

struct toml_array {
    struct toml_value **items;
    size_t count, capacity;
};

struct toml_value {
    enum toml_kind kind;
    struct toml_pos pos;
    unsigned depth;          /* containers only: nesting level, root = 0 */
    enum toml_origin origin; /* tables only */
    bool sealed;             /* inline tables and arrays written with '=': closed for good */
    union {
        struct {
            char *text;
            size_t len;
        } string;
        int64_t integer;
        double floating;
        bool boolean;
        struct toml_datetime datetime;
        struct toml_array array;
        struct toml_table table;
    } as;
};

/* A growable byte buffer for decoding strings and keys. */
struct toml_buf {
    char *data;
    size_t len, capacity;
};

/* One part of a (possibly dotted) key as written, decoded. */
struct toml_key {
    char *text; /* heap, NUL-terminated; NULL once handed over to a table */
    size_t len;
    struct toml_pos pos;
};

struct toml_key_path {
    struct toml_key *keys;
    size_t count, capacity;
};

struct toml_parser {
    const char *text;
    size_t len;
    size_t offset;
    struct toml_pos at; /* position of text[offset] */
    const char *filename;
    char *err;
    size_t errlen;
    struct toml_buf scratch;   /* decoded text of the string being scanned */
    struct toml_key_path path; /* the key being parsed; reused, never live across a value */
};

#define TOML_EOF (-1)

static inline int toml_peek(const struct toml_parser *p)
{
    return p->offset < p->len ? (unsigned char)p->text[p->offset] : TOML_EOF;
}

static inline int toml_peek_at(const struct toml_parser *p, size_t ahead)
{
    return p->len - p->offset > ahead ? (unsigned char)p->text[p->offset + ahead] : TOML_EOF;
}

/* Input is validated as UTF-8 before parsing, so a column is one lead byte. */
static inline void toml_advance(struct toml_parser *p)
{
    unsigned char c = (unsigned char)p->text[p->offset++];
    if (c == '\n') {
        p->at.line++;
        p->at.column = 1;
    } else if ((c & 0xC0) != 0x80) {
        p->at.column++;
    }
}

/* LF or CRLF; a lone CR is not a line break (and is rejected as a control character). */
static inline bool toml_at_newline(const struct toml_parser *p)
{
    int c = toml_peek(p);
    return c == '\n' || (c == '\r' && toml_peek_at(p, 1) == '\n');
}

static inline void toml_skip_newline(struct toml_parser *p)
{
    if (toml_peek(p) == '\r')
        toml_advance(p);
    toml_advance(p);
}

static inline bool toml_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static inline bool toml_is_bare_key_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || toml_is_digit(c) || c == '-' ||
           c == '_';
}

/* Control characters TOML forbids in strings and comments (tab is allowed everywhere). */
static inline bool toml_is_forbidden_control(int c)
{
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

/* Errors: write "file:line:column: message" and return false, so callers can
 * `return toml_fail(...)`. */
bool toml_fail(struct toml_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool toml_fail_at(struct toml_parser *p, struct toml_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool toml_fail_out_of_memory(struct toml_parser *p);
/* "'x'", "U+000B" or "end of input": the character at the cursor, for messages. */
const char *toml_describe_char(const struct toml_parser *p, char *buf, size_t size);

/* Rejects input that is not UTF-8 (overlong forms, surrogates and values past U+10FFFF too). */
bool toml_check_utf8(struct toml_parser *p);

bool toml_buf_append(struct toml_parser *p, struct toml_buf *buf, const char *bytes, size_t n);
bool toml_buf_append_codepoint(struct toml_parser *p, struct toml_buf *buf, uint32_t cp);
/* Hands the buffer's contents over as a NUL-terminated heap string and empties the buffer. */
char *toml_buf_take(struct toml_parser *p, struct toml_buf *buf, size_t *len);

/* Scalars: the cursor is on the first character; on success it is just past the value. */
bool toml_scan_string(struct toml_parser *p, bool allow_multiline, struct toml_buf *out);
bool toml_scan_bare_value(struct toml_parser *p, struct toml_value *out);

/* Tree. */
struct toml_value *toml_value_new(enum toml_kind kind, struct toml_pos pos);
struct toml_value *toml_table_lookup(struct toml_value *table, const char *key, size_t len);
/* Takes ownership of key (heap, NUL-terminated) and value, also on failure. */
bool toml_table_add(struct toml_value *table, char *key, size_t key_len, struct toml_pos key_pos,
                    struct toml_value *value);
/* Takes ownership of item, also on failure. */
bool toml_array_append(struct toml_value *array, struct toml_value *item);
struct toml_value *toml_array_last(struct toml_value *array);

#endif
