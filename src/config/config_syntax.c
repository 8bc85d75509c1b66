/*
 * Hints for TOML syntax errors. The parser stops at the first error and knows only its
 * position; operators think in keys. A copied snippet such as
 *     trusted-networks = {"", "::1", ""}
 * fails with "expected '=' after key", which says nothing about trusted networks. So we look
 * at the text again, find the key whose value was being read (the last "key =" since the last
 * [table] header, up to the failing line) and name it. This is a heuristic over raw lines,
 * good enough for a hint; it never decides whether a file is valid.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

struct text_line {
    const char *start;
    size_t len;
};

static bool next_line(const char *text, size_t len, size_t *pos, struct text_line *out)
{
    if (*pos >= len)
        return false;
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    out->start = start;
    out->len = nl ? (size_t)(nl - start) : len - *pos;
    *pos += out->len + 1;
    return true;
}

static size_t skip_blanks(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* Parses a dotted key (bare, "basic" or 'literal' parts) starting at *i and appends its parts
 * to path; stops before `end` (']' or '='). Escapes in basic keys are kept as written. */
static bool parse_key(const char *s, size_t n, size_t *i, char end, struct key_path *path)
{
    for (;;) {
        size_t j = skip_blanks(s, n, *i), start = j;
        if (j < n && (s[j] == '"' || s[j] == '\'')) {
            char quote = s[j++];
            start = j;
            while (j < n && s[j] != quote)
                j += (quote == '"' && s[j] == '\\' && j + 1 < n) ? 2 : 1;
            if (j >= n)
                return false;
            key_path_push(path, s + start, j - start);
            j++;
        } else {
            while (j < n && (s[j] == '-' || s[j] == '_' || (s[j] >= '0' && s[j] <= '9') ||
                             ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z')))
                j++;
            if (j == start)
                return false;
            key_path_push(path, s + start, j - start);
        }
        j = skip_blanks(s, n, j);
        if (j < n && s[j] == end) {
            *i = j;
            return true;
        }
        if (j >= n || s[j] != '.')
            return false;
        *i = j + 1;
    }
}

/* What the scan learned: the key being defined and where its value starts. */
struct defined_key {
    struct key_path table; /* the current [header] */
    struct key_path key;   /* table + the assignment's key */
    size_t line;           /* 0: no assignment since the header */
    size_t value_column;   /* where the value starts, from 1, in characters */
    char value_first;      /* first character of the value */
    bool open;             /* the value goes on past its line */
};

/* Columns count characters, as the TOML parser's do: UTF-8 continuation bytes are skipped. */
static size_t column_of(const char *s, size_t offset)
{
    size_t column = 1;
    for (size_t i = 0; i < offset; i++)
        column += ((unsigned char)s[i] & 0xC0) != 0x80;
    return column;
}

/* True when an array value opened on this line is not closed on it. */
static bool array_left_open(const char *s, size_t n, size_t i)
{
    int depth = 0;
    char quote = 0;
    for (; i < n; i++) {
        if (quote) {
            if (quote == '"' && s[i] == '\\')
                i++;
            else if (s[i] == quote)
                quote = 0;
        } else if (s[i] == '"' || s[i] == '\'') {
            quote = s[i];
        } else if (s[i] == '#') {
            break;
        } else {
            depth += (s[i] == '[') - (s[i] == ']');
        }
    }
    return depth > 0;
}

static void scan_header(const struct text_line *l, size_t i, struct defined_key *d)
{
    d->table.len = 0;
    d->table.text[0] = '\0';
    d->line = 0;
    i += (i + 1 < l->len && l->start[i + 1] == '[') ? 2 : 1;
    if (!parse_key(l->start, l->len, &i, ']', &d->table)) {
        d->table.len = 0;
        d->table.text[0] = '\0';
    }
}

static void scan_assignment(const struct text_line *l, size_t i, size_t lineno,
                            struct defined_key *d)
{
    struct key_path key = d->table;
    if (!parse_key(l->start, l->len, &i, '=', &key))
        return;
    i = skip_blanks(l->start, l->len, i + 1);
    d->key = key;
    d->line = lineno;
    d->value_column = column_of(l->start, i);
    d->value_first = i < l->len ? l->start[i] : '\0';
    d->open = d->value_first == '[' && array_left_open(l->start, l->len, i);
}

/* Multi-line strings can hold lines that look like headers or keys. */
static void track_multiline(const struct text_line *l, bool *in_basic, bool *in_literal)
{
    for (size_t i = 0; i + 3 <= l->len; i++) {
        if (!*in_literal && memcmp(l->start + i, "\"\"\"", 3) == 0) {
            *in_basic = !*in_basic;
            i += 2;
        } else if (!*in_basic && memcmp(l->start + i, "'''", 3) == 0) {
            *in_literal = !*in_literal;
            i += 2;
        }
    }
}

/* error_column: where the parser stopped on error_line. */
static bool find_defined_key(const char *text, size_t len, size_t error_line,
                             size_t error_column, struct defined_key *d)
{
    size_t pos = 0;
    bool in_basic = false, in_literal = false;
    struct text_line l;
    for (size_t lineno = 1; lineno <= error_line && next_line(text, len, &pos, &l); lineno++) {
        if (!in_basic && !in_literal) {
            size_t i = skip_blanks(l.start, l.len, 0);
            if (i < l.len && l.start[i] == '[')
                scan_header(&l, i, d);
            else if (i < l.len && l.start[i] != '#')
                scan_assignment(&l, i, lineno, d);
        }
        track_multiline(&l, &in_basic, &in_literal);
        if (d->line == lineno)
            d->open |= in_basic || in_literal;
    }
    if (d->line == 0)
        return false;
    /* An error in the key itself (a duplicate, a space in it) is not about the value. */
    if (d->line == error_line)
        return error_column >= d->value_column;
    /* Only arrays and multi-line strings go on past their line: an error on a later line
     * after "x = 1" is about something else (a broken key, say), not about x. */
    return d->open;
}

/* "filename:line:column: message" -> line and column; false if err has another form. */
static bool error_position(const char *err, const char *filename, size_t *line, size_t *column)
{
    size_t prefix = strlen(filename);
    if (strncmp(err, filename, prefix) != 0 || err[prefix] != ':')
        return false;
    char *end;
    *line = (size_t)strtoul(err + prefix + 1, &end, 10);
    if (*end != ':')
        return false;
    *column = (size_t)strtoul(end + 1, &end, 10);
    return *line > 0 && *end == ':';
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void print_value_hint(const struct defined_key *d, size_t line, const char *filename,
                             FILE *diag)
{
    const char *example = ends_with(d->key.text, "networks") ? "[\"127.0.0.0/8\", \"::1\"]"
                                                             : "[\"a\", \"b\"]";
    if (d->value_first == '{')
        fprintf(diag, "hint: %s:%zu: %s: braces {} make an inline table of key = value pairs; "
                "a list is written in square brackets, e.g. %s\n", filename, d->line,
                d->key.text, example);
    else if (d->line == line)
        fprintf(diag, "hint: %s:%zu: %s: the value of this key is not valid TOML\n", filename,
                line, d->key.text);
    else
        fprintf(diag, "hint: %s:%zu: %s: the value of this key (from line %zu) is not valid "
                "TOML\n", filename, line, d->key.text, d->line);
}

/* A snippet pasted without its [table] header lands at the top level. */
static void print_placement_hint(const struct defined_key *d, const char *filename, FILE *diag)
{
    char suggestion[CONFIG_MESSAGE_MAX];
    if (!strchr(d->key.text, '.') &&
        config_suggest_key(d->key.text, d->key.len, suggestion, sizeof suggestion))
        fprintf(diag, "hint: %s:%zu: %s: not a postern key outside a [table]; did you mean "
                "%s?\n", filename, d->line, d->key.text, suggestion);
}

void config_report_syntax_error(const char *text, size_t len, const char *filename,
                                const char *err, FILE *diag)
{
    fprintf(diag, "error: %s\n", err);
    size_t line, column;
    struct defined_key *d = calloc(1, sizeof *d);
    if (d && error_position(err, filename, &line, &column) &&
        find_defined_key(text, len, line, column, d)) {
        print_value_hint(d, line, filename, diag);
        print_placement_hint(d, filename, diag);
    }
    free(d);
}
