/* The TOML document grammar: statements, keys, table headers, arrays and inline tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml_internal.h"

/* ---- messages ---- */

/* The first `count` parts of the current key path joined with dots, for messages: control
 * characters become '?' and a long path is cut with "...". size must be at least 4. */
static const char *describe_path(const struct toml_parser *p, size_t count, char *buf,
                                 size_t size)
{
    size_t n = 0, room = size - 4; /* space for "..." and the NUL */
    bool cut = false;
    for (size_t i = 0; i < count && !cut; i++) {
        const struct toml_key *key = &p->path.keys[i];
        if (i > 0 && !(cut = n >= room))
            buf[n++] = '.';
        for (size_t k = 0; k < key->len && !cut; k++) {
            unsigned char c = (unsigned char)key->text[k];
            if (!(cut = n >= room))
                buf[n++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
        }
    }
    if (cut) {
        /* Drop the last character, which may have lost some of its bytes. */
        while (n > 0 && ((unsigned char)buf[n - 1] & 0xC0) == 0x80)
            n--;
        if (n > 0 && (unsigned char)buf[n - 1] >= 0xC0)
            n--;
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* "an integer", "a table": the kind with its article, for messages. */
static const char *a_kind(const struct toml_value *v)
{
    switch (v->kind) {
    case TOML_NONE:
        return "a missing value";
    case TOML_STRING:
        return "a string";
    case TOML_INTEGER:
        return "an integer";
    case TOML_FLOAT:
        return "a float";
    case TOML_BOOL:
        return "a boolean";
    case TOML_OFFSET_DATETIME:
        return "an offset date-time";
    case TOML_LOCAL_DATETIME:
        return "a local date-time";
    case TOML_LOCAL_DATE:
        return "a local date";
    case TOML_LOCAL_TIME:
        return "a local time";
    case TOML_ARRAY:
        return v->sealed ? "an array" : "an array of tables";
    case TOML_TABLE:
        return v->sealed ? "an inline table" : "a table";
    }
    return "a value";
}

/* ---- whitespace, comments, line ends ---- */

static void skip_ws(struct toml_parser *p)
{
    while (toml_peek(p) == ' ' || toml_peek(p) == '\t')
        toml_advance(p);
}

static bool skip_comment(struct toml_parser *p)
{
    toml_advance(p);
    for (;;) {
        int c = toml_peek(p);
        if (c == TOML_EOF || toml_at_newline(p))
            return true;
        if (toml_is_forbidden_control(c)) {
            char what[16];
            return toml_fail(p, "control character %s is not allowed in a comment",
                             toml_describe_char(p, what, sizeof(what)));
        }
        toml_advance(p);
    }
}

/* Whitespace, comments and line breaks, as allowed between array items. */
static bool skip_blank_lines(struct toml_parser *p)
{
    for (;;) {
        skip_ws(p);
        if (toml_peek(p) == '#' && !skip_comment(p))
            return false;
        if (!toml_at_newline(p))
            return true;
        toml_skip_newline(p);
    }
}

/* After a statement: optional comment, then a line break or the end of the input. */
static bool finish_line(struct toml_parser *p, const char *after)
{
    skip_ws(p);
    if (toml_peek(p) == '#' && !skip_comment(p))
        return false;
    if (toml_peek(p) == TOML_EOF)
        return true;
    if (toml_at_newline(p)) {
        toml_skip_newline(p);
        return true;
    }
    char what[16];
    return toml_fail(p, "expected end of line after %s, found %s", after,
                     toml_describe_char(p, what, sizeof(what)));
}

/* ---- keys ---- */

static void clear_path(struct toml_key_path *path)
{
    for (size_t i = 0; i < path->count; i++)
        free(path->keys[i].text);
    path->count = 0;
}

static struct toml_key *new_key(struct toml_parser *p)
{
    struct toml_key_path *path = &p->path;
    if (path->count == TOML_MAX_DEPTH) {
        toml_fail(p, "key has more than %d parts", TOML_MAX_DEPTH);
        return NULL;
    }
    if (path->count == path->capacity) {
        size_t capacity = path->capacity ? path->capacity * 2 : 8;
        struct toml_key *keys = reallocarray(path->keys, capacity, sizeof(*keys));
        if (!keys) {
            toml_fail_out_of_memory(p);
            return NULL;
        }
        path->keys = keys;
        path->capacity = capacity;
    }
    return &path->keys[path->count];
}

static bool take_bare_key(struct toml_parser *p, struct toml_buf *out)
{
    size_t start = p->offset;
    while (toml_is_bare_key_char(toml_peek(p)))
        toml_advance(p);
    out->len = 0;
    return toml_buf_append(p, out, p->text + start, p->offset - start);
}

static bool parse_simple_key(struct toml_parser *p)
{
    struct toml_key *key = new_key(p);
    if (!key)
        return false;
    key->pos = p->at;
    int c = toml_peek(p);
    bool ok;
    if (c == '"' || c == '\'') {
        ok = toml_scan_string(p, false, &p->scratch);
    } else if (toml_is_bare_key_char(c)) {
        ok = take_bare_key(p, &p->scratch);
    } else {
        char what[16];
        return toml_fail(p, "expected a key, found %s", toml_describe_char(p, what, sizeof(what)));
    }
    if (!ok || !(key->text = toml_buf_take(p, &p->scratch, &key->len)))
        return false;
    p->path.count++;
    return true;
}

/* key, or key.key.key with optional blanks around the dots; fills p->path. */
static bool parse_key_path(struct toml_parser *p)
{
    clear_path(&p->path);
    for (;;) {
        if (!parse_simple_key(p))
            return false;
        skip_ws(p);
        if (toml_peek(p) != '.')
            return true;
        toml_advance(p);
        skip_ws(p);
    }
}

/* ---- building tables ---- */

/* Adds `child` to parent under a copy of path part `index` (the path keeps its keys so that
 * error messages can still name them). Frees child on failure. */
static bool add_child(struct toml_parser *p, struct toml_value *parent, size_t index,
                      struct toml_value *child)
{
    const struct toml_key *key = &p->path.keys[index];
    char *text = child ? malloc(key->len + 1) : NULL;
    if (!text) {
        toml_free(child);
        return toml_fail_out_of_memory(p);
    }
    memcpy(text, key->text, key->len + 1);
    return toml_table_add(parent, text, key->len, key->pos, child) || toml_fail_out_of_memory(p);
}

static bool check_table_depth(struct toml_parser *p, unsigned depth, size_t index)
{
    if (depth <= TOML_MAX_DEPTH)
        return true;
    return toml_fail_at(p, p->path.keys[index].pos, "tables nest deeper than %d levels",
                        TOML_MAX_DEPTH);
}

/* Adds an empty table under path part `index`. */
static struct toml_value *add_table(struct toml_parser *p, struct toml_value *parent,
                                    size_t index, enum toml_origin origin)
{
    if (!check_table_depth(p, parent->depth + 1, index))
        return NULL;
    struct toml_value *table = toml_value_new(TOML_TABLE, p->path.keys[index].pos);
    if (table) {
        table->depth = parent->depth + 1;
        table->origin = origin;
    }
    return add_child(p, parent, index, table) ? table : NULL;
}

static bool fail_not_table(struct toml_parser *p, size_t index, const struct toml_value *v)
{
    char name[128];
    return toml_fail_at(p, p->path.keys[index].pos, "key '%s' is already %s, not a table",
                        describe_path(p, index + 1, name, sizeof(name)), a_kind(v));
}

static bool fail_sealed(struct toml_parser *p, size_t index, const struct toml_value *v)
{
    char name[128];
    describe_path(p, index + 1, name, sizeof(name));
    if (v->kind == TOML_TABLE)
        return toml_fail_at(p, p->path.keys[index].pos, "cannot extend inline table '%s'", name);
    return toml_fail_at(p, p->path.keys[index].pos,
                        "cannot extend array '%s': only arrays of tables made with [[%s]] can be",
                        name, name);
}

/* The tables before the last part of a dotted key a.b.c = 1. They may be new, created by other
 * dotted keys, or implicit ones from a header; a table with its own [header] is off limits. */
static struct toml_value *resolve_dotted_key(struct toml_parser *p, struct toml_value *table)
{
    for (size_t i = 0; i + 1 < p->path.count; i++) {
        struct toml_key *key = &p->path.keys[i];
        struct toml_value *child = toml_table_lookup(table, key->text, key->len);
        if (!child) {
            child = add_table(p, table, i, TOML_ORIGIN_DOTTED);
            if (!child)
                return NULL;
        } else if (child->kind != TOML_TABLE) {
            fail_not_table(p, i, child);
            return NULL;
        } else if (child->sealed) {
            fail_sealed(p, i, child);
            return NULL;
        } else if (child->origin == TOML_ORIGIN_HEADER) {
            char name[128];
            toml_fail_at(p, key->pos, "table '%s' has a [header]; add its keys there, not with "
                                      "dotted keys", describe_path(p, i + 1, name, sizeof(name)));
            return NULL;
        }
        child->origin = TOML_ORIGIN_DOTTED;
        table = child;
    }
    return table;
}

/* The tables before the last part of a [a.b.c] or [[a.b.c]] header. Any table that is not
 * closed may be entered; an array of tables means its last element. */
static struct toml_value *resolve_header_parents(struct toml_parser *p, struct toml_value *table)
{
    for (size_t i = 0; i + 1 < p->path.count; i++) {
        struct toml_key *key = &p->path.keys[i];
        struct toml_value *child = toml_table_lookup(table, key->text, key->len);
        if (!child) {
            child = add_table(p, table, i, TOML_ORIGIN_IMPLICIT);
            if (!child)
                return NULL;
        } else if ((child->kind == TOML_TABLE || child->kind == TOML_ARRAY) && child->sealed) {
            fail_sealed(p, i, child);
            return NULL;
        } else if (child->kind == TOML_ARRAY) {
            child = toml_array_last(child);
        } else if (child->kind != TOML_TABLE) {
            fail_not_table(p, i, child);
            return NULL;
        }
        table = child;
    }
    return table;
}

static bool fail_redefined(struct toml_parser *p, const struct toml_value *existing, bool array)
{
    size_t last = p->path.count - 1;
    char name[128];
    describe_path(p, p->path.count, name, sizeof(name));
    struct toml_pos pos = p->path.keys[last].pos;
    if (existing->kind == TOML_TABLE && !existing->sealed && !array) {
        if (existing->origin == TOML_ORIGIN_DOTTED)
            return toml_fail_at(p, pos, "table [%s] was already created by dotted keys", name);
        return toml_fail_at(p, pos, "table [%s] is defined twice (first at line %zu)", name,
                            existing->pos.line);
    }
    return toml_fail_at(p, pos, "cannot define %s%s%s: '%s' is already %s", array ? "[[" : "[",
                        name, array ? "]]" : "]", name, a_kind(existing));
}

/* [a.b.c]: the table may exist only as an implicit one, created by an earlier [a.b.c.d]. */
static struct toml_value *open_table(struct toml_parser *p, struct toml_value *parent)
{
    size_t last = p->path.count - 1;
    struct toml_key *key = &p->path.keys[last];
    struct toml_value *table = toml_table_lookup(parent, key->text, key->len);
    if (!table)
        return add_table(p, parent, last, TOML_ORIGIN_HEADER);
    if (table->kind != TOML_TABLE || table->sealed || table->origin != TOML_ORIGIN_IMPLICIT) {
        fail_redefined(p, table, false);
        return NULL;
    }
    table->origin = TOML_ORIGIN_HEADER;
    table->pos = key->pos;
    return table;
}

static struct toml_value *add_array_of_tables(struct toml_parser *p, struct toml_value *parent,
                                              size_t index)
{
    struct toml_value *array = toml_value_new(TOML_ARRAY, p->path.keys[index].pos);
    if (array)
        array->depth = parent->depth + 1;
    return add_child(p, parent, index, array) ? array : NULL;
}

/* [[a.b.c]]: appends a new table to the array, creating the array the first time. */
static struct toml_value *open_array_table(struct toml_parser *p, struct toml_value *parent)
{
    size_t last = p->path.count - 1;
    struct toml_key *key = &p->path.keys[last];
    struct toml_value *array = toml_table_lookup(parent, key->text, key->len);
    if (array && (array->kind != TOML_ARRAY || array->sealed)) {
        fail_redefined(p, array, true);
        return NULL;
    }
    if (!check_table_depth(p, parent->depth + 2, last))
        return NULL;
    if (!array && !(array = add_array_of_tables(p, parent, last)))
        return NULL;
    struct toml_value *table = toml_value_new(TOML_TABLE, key->pos);
    if (!table || !toml_array_append(array, table)) {
        toml_fail_out_of_memory(p);
        return NULL;
    }
    table->depth = array->depth + 1;
    table->origin = TOML_ORIGIN_HEADER;
    return table;
}

/* [a.b] or [[a.b]]; on success *current is the table that the following keys go into. */
static bool parse_header(struct toml_parser *p, struct toml_value *root,
                         struct toml_value **current)
{
    toml_advance(p);
    bool array = toml_peek(p) == '[';
    if (array)
        toml_advance(p);
    skip_ws(p);
    if (!parse_key_path(p))
        return false;
    char what[16];
    if (toml_peek(p) != ']' || (array && toml_peek_at(p, 1) != ']'))
        return toml_fail(p, "expected '%s' to close the table header, found %s",
                         array ? "]]" : "]", toml_describe_char(p, what, sizeof(what)));
    toml_advance(p);
    if (array)
        toml_advance(p);
    struct toml_value *parent = resolve_header_parents(p, root);
    struct toml_value *table = !parent ? NULL
                               : array ? open_array_table(p, parent)
                                       : open_table(p, parent);
    if (!table)
        return false;
    *current = table;
    return true;
}

/* ---- values ---- */

static struct toml_value *parse_value(struct toml_parser *p, unsigned depth);

static bool check_depth(struct toml_parser *p, unsigned depth)
{
    if (depth <= TOML_MAX_DEPTH)
        return true;
    return toml_fail(p, "arrays and tables nest deeper than %d levels", TOML_MAX_DEPTH);
}

static bool parse_array(struct toml_parser *p, struct toml_value *array, unsigned depth)
{
    if (!check_depth(p, depth))
        return false;
    array->kind = TOML_ARRAY;
    array->depth = depth;
    array->sealed = true;
    toml_advance(p);
    for (;;) {
        if (!skip_blank_lines(p))
            return false;
        if (toml_peek(p) == ']')
            break;
        struct toml_value *item = parse_value(p, depth + 1);
        if (!item)
            return false;
        if (!toml_array_append(array, item))
            return toml_fail_out_of_memory(p);
        if (!skip_blank_lines(p))
            return false;
        if (toml_peek(p) == ']')
            break;
        char what[16];
        if (toml_peek(p) != ',')
            return toml_fail(p, "expected ',' or ']' in array, found %s",
                             toml_describe_char(p, what, sizeof(what)));
        toml_advance(p);
    }
    toml_advance(p);
    return true;
}

static bool parse_keyval(struct toml_parser *p, struct toml_value *table);

/* { a = 1, b.c = 2 }: on one line, no trailing comma (TOML 1.0). */
static bool parse_inline_table(struct toml_parser *p, struct toml_value *table, unsigned depth)
{
    if (!check_depth(p, depth))
        return false;
    table->kind = TOML_TABLE;
    table->depth = depth;
    table->origin = TOML_ORIGIN_INLINE;
    toml_advance(p);
    skip_ws(p);
    char what[16];
    while (toml_peek(p) != '}') {
        if (!parse_keyval(p, table))
            return false;
        skip_ws(p);
        if (toml_peek(p) == '}')
            break;
        if (toml_at_newline(p))
            return toml_fail(p, "an inline table must be on one line");
        if (toml_peek(p) != ',')
            return toml_fail(p, "expected ',' or '}' in inline table, found %s",
                             toml_describe_char(p, what, sizeof(what)));
        toml_advance(p);
        skip_ws(p);
        if (toml_peek(p) == '}')
            return toml_fail(p, "trailing comma in inline table");
    }
    toml_advance(p);
    table->sealed = true;
    return true;
}

static bool parse_string_value(struct toml_parser *p, struct toml_value *v)
{
    if (!toml_scan_string(p, true, &p->scratch))
        return false;
    char *text = toml_buf_take(p, &p->scratch, &v->as.string.len);
    if (!text)
        return false;
    v->kind = TOML_STRING;
    v->as.string.text = text;
    return true;
}

/* depth: the nesting level the value gets if it is an array or inline table. */
static struct toml_value *parse_value(struct toml_parser *p, unsigned depth)
{
    struct toml_value *v = toml_value_new(TOML_NONE, p->at);
    if (!v) {
        toml_fail_out_of_memory(p);
        return NULL;
    }
    bool ok;
    switch (toml_peek(p)) {
    case '"':
    case '\'':
        ok = parse_string_value(p, v);
        break;
    case '[':
        ok = parse_array(p, v, depth);
        break;
    case '{':
        ok = parse_inline_table(p, v, depth);
        break;
    default:
        ok = toml_scan_bare_value(p, v);
        break;
    }
    if (!ok) {
        toml_free(v);
        return NULL;
    }
    return v;
}

/* key = value, into table (the current section or the inline table being read). */
static bool parse_keyval(struct toml_parser *p, struct toml_value *table)
{
    if (!parse_key_path(p))
        return false;
    if (toml_peek(p) != '=') {
        char what[16];
        return toml_fail(p, "expected '=' after key, found %s",
                         toml_describe_char(p, what, sizeof(what)));
    }
    toml_advance(p);
    skip_ws(p);
    struct toml_value *target = resolve_dotted_key(p, table);
    if (!target)
        return false;
    struct toml_key key = p->path.keys[p->path.count - 1];
    if (toml_table_lookup(target, key.text, key.len)) {
        char name[128];
        return toml_fail_at(p, key.pos, "duplicate key '%s'",
                            describe_path(p, p->path.count, name, sizeof(name)));
    }
    p->path.count--; /* the key is ours now; the path is reused by nested inline tables */
    struct toml_value *value = parse_value(p, target->depth + 1);
    if (!value) {
        free(key.text);
        return false;
    }
    if (!toml_table_add(target, key.text, key.len, key.pos, value))
        return toml_fail_out_of_memory(p);
    return true;
}

/* ---- document ---- */

static void skip_bom(struct toml_parser *p)
{
    if (p->len >= 3 && memcmp(p->text, "\xEF\xBB\xBF", 3) == 0) {
        p->offset = 3;
        p->at.column = 1;
    }
}

static bool parse_statement(struct toml_parser *p, struct toml_value *root,
                            struct toml_value **current)
{
    skip_ws(p);
    int c = toml_peek(p);
    if (c == '[')
        return parse_header(p, root, current) && finish_line(p, "the table header");
    if (c != '#' && c != TOML_EOF && !toml_at_newline(p))
        return parse_keyval(p, *current) && finish_line(p, "the value");
    return finish_line(p, "a blank line");
}

static bool parse_document(struct toml_parser *p, struct toml_value *root)
{
    skip_bom(p);
    struct toml_value *current = root;
    while (toml_peek(p) != TOML_EOF)
        if (!parse_statement(p, root, &current))
            return false;
    return true;
}

struct toml_value *toml_parse(const char *text, size_t len, const char *filename, char *err,
                              size_t errlen)
{
    struct toml_parser p = {
        .text = text ? text : "", .len = text ? len : 0, .at = {1, 1},
        .filename = filename ? filename : "<input>", .err = err, .errlen = errlen,
    };
    if (err && errlen)
        err[0] = '\0';
    struct toml_value *root = toml_value_new(TOML_TABLE, p.at);
    bool ok = root ? toml_check_utf8(&p) && parse_document(&p, root)
                   : toml_fail_out_of_memory(&p);
    clear_path(&p.path);
    free(p.path.keys);
    free(p.scratch.data);
    if (!ok) {
        toml_free(root);
        return NULL;
    }
    root->origin = TOML_ORIGIN_HEADER;
    return root;
}
