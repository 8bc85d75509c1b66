/*
 * Header blocks: iterating fields (RFC 5322 2.2, with folded continuation lines), finding a
 * field by name, unfolding values, and the two public helpers built on them:
 * mime_header_fields (BODY[HEADER.FIELDS ...]) and mime_header_value (SEARCH HEADER etc.).
 * Line breaks are CRLF or bare LF, whichever the message uses.
 */
#include "mime/mime_internal.h"

#include <string.h>

bool mime_equals_ci(const uint8_t *bytes, size_t len, const char *name)
{
    size_t i = 0;
    for (; i < len; i++) {
        if (name[i] == '\0' || mime_lower(bytes[i]) != mime_lower((uint8_t)name[i]))
            return false;
    }
    return name[i] == '\0';
}

void mime_fields_begin(struct mime_field_iter *it, const uint8_t *header, size_t len)
{
    it->pos = header;
    it->end = header + len;
}

/* End of the line starting at p: just past its '\n', or the end of the block. */
static const uint8_t *line_end(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
    return lf ? lf + 1 : end;
}

static bool is_blank_line(const uint8_t *p, const uint8_t *end)
{
    return *p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n');
}

/* Length without a trailing "\n" or "\r\n". */
static size_t without_line_break(const uint8_t *start, const uint8_t *stop)
{
    size_t len = (size_t)(stop - start);
    if (len > 0 && start[len - 1] == '\n') {
        len--;
        if (len > 0 && start[len - 1] == '\r')
            len--;
    }
    return len;
}

static void split_name(struct mime_field *field, const uint8_t *first_line_end)
{
    const uint8_t *start = field->start;
    const uint8_t *colon = memchr(start, ':', (size_t)(first_line_end - start));
    size_t field_len = without_line_break(start, start + field->len);
    field->has_colon = colon != NULL;
    if (!colon) {
        field->name = start;
        field->name_len = without_line_break(start, first_line_end);
        field->value = start + field_len;
        field->value_len = 0;
        return;
    }
    size_t name_len = (size_t)(colon - start);
    while (name_len > 0 && mime_is_wsp(start[name_len - 1])) /* obsolete "Name :" */
        name_len--;
    field->name = start;
    field->name_len = name_len;
    field->value = colon + 1;
    field->value_len = field_len - (size_t)(colon + 1 - start);
}

bool mime_fields_next(struct mime_field_iter *it, struct mime_field *field)
{
    if (it->pos >= it->end || is_blank_line(it->pos, it->end))
        return false;
    const uint8_t *first_end = line_end(it->pos, it->end);
    const uint8_t *stop = first_end;
    while (stop < it->end && mime_is_wsp(*stop)) /* continuation lines */
        stop = line_end(stop, it->end);
    field->start = it->pos;
    field->len = (size_t)(stop - it->pos);
    split_name(field, first_end);
    it->pos = stop;
    return true;
}

bool mime_field_find(const uint8_t *header, size_t len, const char *name,
                     struct mime_field *field)
{
    struct mime_field_iter it;
    mime_fields_begin(&it, header, len);
    while (mime_fields_next(&it, field)) {
        if (field->has_colon && mime_equals_ci(field->name, field->name_len, name))
            return true;
    }
    return false;
}

void mime_unfold(const uint8_t *value, size_t len, struct strbuf *out)
{
    size_t start = 0, stop = len;
    while (start < stop && (mime_is_wsp(value[start]) || value[start] == '\r' ||
                            value[start] == '\n'))
        start++;
    while (stop > start && (mime_is_wsp(value[stop - 1]) || value[stop - 1] == '\r' ||
                            value[stop - 1] == '\n'))
        stop--;
    size_t run = start; /* copy runs between line breaks */
    for (size_t i = start; i < stop; i++) {
        if (value[i] != '\n')
            continue;
        size_t run_end = i > run && value[i - 1] == '\r' ? i - 1 : i;
        strbuf_append(out, value + run, run_end - run);
        run = i + 1;
    }
    strbuf_append(out, value + run, stop - run);
}

/* The header's own line break, so the added lines match it: that of its first line. */
static const char *header_line_break(const uint8_t *header, size_t len)
{
    const uint8_t *lf = memchr(header, '\n', len);
    return lf && lf > header && lf[-1] != '\r' ? "\n" : "\r\n";
}

static bool name_listed(const struct mime_field *field, const char *const *names,
                        size_t nnames)
{
    for (size_t i = 0; i < nnames; i++) {
        if (mime_equals_ci(field->name, field->name_len, names[i]))
            return true;
    }
    return false;
}

void mime_header_fields(const uint8_t *header, size_t len, const char *const *names,
                        size_t nnames, bool exclude, struct strbuf *out)
{
    const char *line_break = header_line_break(header, len);
    struct mime_field_iter it;
    struct mime_field field;
    mime_fields_begin(&it, header, len);
    while (mime_fields_next(&it, &field)) {
        if (!field.has_colon || name_listed(&field, names, nnames) == exclude)
            continue;
        strbuf_append(out, field.start, field.len);
        if (field.start[field.len - 1] != '\n') /* last field of an unterminated header */
            strbuf_append_str(out, line_break);
    }
    strbuf_append_str(out, line_break);
}

bool mime_header_value(const struct mime_message *msg, const char *name, struct strbuf *out)
{
    const struct mime_node *root = &msg->nodes[0];
    struct mime_field field;
    if (!mime_field_find(mime_node_header(msg, root), root->header.len, name, &field))
        return false;
    mime_decode_header_text(field.value, field.value_len, out);
    return true;
}
