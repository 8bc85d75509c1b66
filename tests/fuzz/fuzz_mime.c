/*
 * Fuzzes the MIME module (src/mime): the input is a message. Properties checked (any violation
 * traps):
 *  - ENVELOPE, BODYSTRUCTURE and BODY follow the RFC 3501 grammar: balanced lists, quoted
 *    strings closed, literal lengths exact, an envelope of 10 fields with 4-field addresses and
 *    balanced groups, bodies shaped by their type (text lines, message/rfc822 envelope + body +
 *    lines, extension data only when extended), nothing after the closing parenthesis.
 *  - Every part BODYSTRUCTURE shows exists as a section whose length is the part's size and
 *    whose '\n' count is its line count; BODY and BODYSTRUCTURE describe the same parts.
 *  - Sections for every part path up to three levels (numbers 0..4) and every kind lie inside
 *    the message; the top-level HEADER and TEXT split the message exactly.
 *  - HEADER.FIELDS output ends with a blank line; the SEARCH helpers run without faults;
 *    mime_date and mime_date_zone agree.
 * The message is parsed from an exact-size heap copy, so ASan sees any read past its end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/mime.h"
#include "fuzz_util.h"

#define MAX_PATH 128

/* ---- Reading IMAP output ---- */

struct cursor {
    const char *pos, *end;
};

static bool at(const struct cursor *c, char ch)
{
    return c->pos < c->end && *c->pos == ch;
}

static void expect(struct cursor *c, char ch)
{
    CHECK(at(c, ch));
    c->pos++;
}

static bool take_nil(struct cursor *c)
{
    if ((size_t)(c->end - c->pos) >= 3 && memcmp(c->pos, "NIL", 3) == 0) {
        c->pos += 3;
        return true;
    }
    return false;
}

struct string {
    char text[64]; /* the start, unescaped: enough to compare types */
    size_t len;
};

static void keep(struct string *s, char ch)
{
    if (s->len < sizeof s->text - 1)
        s->text[s->len] = ch;
    s->len++;
}

static void read_quoted(struct cursor *c, struct string *s)
{
    expect(c, '"');
    while (!at(c, '"')) {
        CHECK(c->pos < c->end);
        char ch = *c->pos++;
        CHECK(ch != '\r' && ch != '\n' && ch != '\0' && (unsigned char)ch < 0x80);
        if (ch == '\\') {
            CHECK(at(c, '"') || at(c, '\\'));
            ch = *c->pos++;
        }
        keep(s, ch);
    }
    c->pos++;
}

static void read_literal(struct cursor *c, struct string *s)
{
    expect(c, '{');
    size_t n = 0;
    CHECK(c->pos < c->end && *c->pos >= '0' && *c->pos <= '9');
    while (c->pos < c->end && *c->pos >= '0' && *c->pos <= '9')
        n = n * 10 + (size_t)(*c->pos++ - '0');
    expect(c, '}');
    expect(c, '\r');
    expect(c, '\n');
    CHECK((size_t)(c->end - c->pos) >= n);
    for (size_t i = 0; i < n; i++) {
        CHECK(c->pos[i] != '\0');
        keep(s, c->pos[i]);
    }
    c->pos += n;
}

static bool read_string(struct cursor *c, struct string *s)
{
    s->len = 0;
    if (at(c, '"'))
        read_quoted(c, s);
    else if (at(c, '{'))
        read_literal(c, s);
    else
        return false;
    s->text[s->len < sizeof s->text ? s->len : sizeof s->text - 1] = '\0';
    return true;
}

static void need_string(struct cursor *c, struct string *s)
{
    CHECK(read_string(c, s));
}

/* nstring; true when it was NIL. */
static bool read_nstring(struct cursor *c)
{
    struct string s;
    if (take_nil(c))
        return true;
    need_string(c, &s);
    return false;
}

static size_t read_number(struct cursor *c)
{
    size_t n = 0;
    CHECK(c->pos < c->end && *c->pos >= '0' && *c->pos <= '9');
    while (c->pos < c->end && *c->pos >= '0' && *c->pos <= '9')
        n = n * 10 + (size_t)(*c->pos++ - '0');
    return n;
}

static bool same_ci(const struct string *s, const char *want)
{
    return s->len == strlen(want) && strcasecmp(s->text, want) == 0;
}

/* ---- ENVELOPE ---- */

static void check_address_list(struct cursor *c)
{
    if (take_nil(c))
        return;
    expect(c, '(');
    int open_groups = 0;
    do {
        expect(c, '(');
        bool name_nil = read_nstring(c);
        expect(c, ' ');
        bool adl_nil = read_nstring(c);
        expect(c, ' ');
        bool mailbox_nil = read_nstring(c);
        expect(c, ' ');
        bool host_nil = read_nstring(c);
        expect(c, ')');
        if (host_nil && mailbox_nil) { /* group end */
            CHECK(name_nil && adl_nil && open_groups == 1);
            open_groups--;
        } else if (host_nil) { /* group start */
            CHECK(name_nil && adl_nil && open_groups == 0);
            open_groups++;
        }
    } while (at(c, '('));
    CHECK(open_groups == 0);
    expect(c, ')');
}

static void check_envelope(struct cursor *c)
{
    expect(c, '(');
    for (int field = 0; field < 10; field++) {
        if (field > 0)
            expect(c, ' ');
        if (field >= 2 && field <= 7)
            check_address_list(c);
        else
            read_nstring(c);
    }
    expect(c, ')');
}

/* ---- BODYSTRUCTURE / BODY ---- */

struct walk {
    const struct mime_message *msg;
    bool extended;
    uint32_t path[MAX_PATH];
    size_t depth;
    size_t parts, total_size; /* compared between BODY and BODYSTRUCTURE */
};

static void check_params(struct cursor *c)
{
    struct string s;
    if (take_nil(c))
        return;
    expect(c, '(');
    for (bool first = true; first || at(c, ' '); first = false) {
        if (!first)
            c->pos++;
        need_string(c, &s); /* name */
        expect(c, ' ');
        need_string(c, &s); /* value */
    }
    expect(c, ')');
}

static void check_extension_tail(struct cursor *c)
{
    struct string s;
    expect(c, ' ');
    if (!take_nil(c)) { /* disposition */
        expect(c, '(');
        need_string(c, &s);
        expect(c, ' ');
        check_params(c);
        expect(c, ')');
    }
    expect(c, ' ');
    if (!take_nil(c) && !read_string(c, &s)) { /* language */
        expect(c, '(');
        need_string(c, &s);
        while (at(c, ' ')) {
            c->pos++;
            need_string(c, &s);
        }
        expect(c, ')');
    }
    expect(c, ' ');
    read_nstring(c); /* location */
}

static size_t count_lines(const uint8_t *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += p[i] == '\n';
    return n;
}

/* The section at the current path must exist with this size (and line count, when given). */
static void check_part_bytes(struct walk *w, size_t size, const size_t *lines)
{
    const uint8_t *ptr;
    size_t len;
    CHECK(mime_section(w->msg, w->path, w->depth, MIME_SECTION_ALL, &ptr, &len));
    CHECK(len == size);
    if (lines)
        CHECK(count_lines(ptr, len) == *lines);
}

static void push(struct walk *w, uint32_t number)
{
    CHECK(w->depth < MAX_PATH);
    w->path[w->depth++] = number;
}

static void check_body(struct cursor *c, struct walk *w, bool message_body);

static void check_multipart(struct cursor *c, struct walk *w)
{
    struct string subtype;
    uint32_t number = 0;
    while (at(c, '(')) {
        push(w, ++number);
        check_body(c, w, false);
        w->depth--;
    }
    CHECK(number > 0);
    expect(c, ' ');
    need_string(c, &subtype);
    if (w->extended) {
        expect(c, ' ');
        check_params(c);
        check_extension_tail(c);
    }
}

static void check_single(struct cursor *c, struct walk *w)
{
    struct string type, subtype, encoding;
    need_string(c, &type);
    expect(c, ' ');
    need_string(c, &subtype);
    expect(c, ' ');
    check_params(c);
    expect(c, ' ');
    read_nstring(c); /* id */
    expect(c, ' ');
    read_nstring(c); /* description */
    expect(c, ' ');
    need_string(c, &encoding);
    expect(c, ' ');
    size_t size = read_number(c);
    bool has_lines = false;
    size_t lines = 0;
    if (same_ci(&type, "message") && same_ci(&subtype, "rfc822")) {
        expect(c, ' ');
        check_envelope(c);
        expect(c, ' ');
        check_body(c, w, true);
        expect(c, ' ');
        lines = read_number(c);
        has_lines = true;
    } else if (same_ci(&type, "text")) {
        expect(c, ' ');
        lines = read_number(c);
        has_lines = true;
    }
    if (w->extended) {
        expect(c, ' ');
        read_nstring(c); /* md5 */
        check_extension_tail(c);
    }
    check_part_bytes(w, size, has_lines ? &lines : NULL);
    w->parts++;
    w->total_size += size;
}

/* A body at the current path; a message's body (top level or inside message/rfc822) that is
 * not multipart is that message's part 1. */
static void check_body(struct cursor *c, struct walk *w, bool message_body)
{
    expect(c, '(');
    if (at(c, '(')) {
        check_multipart(c, w);
    } else {
        if (message_body)
            push(w, 1);
        check_single(c, w);
        if (message_body)
            w->depth--;
    }
    expect(c, ')');
}

static struct walk check_bodystructure(const struct mime_message *msg, bool extended)
{
    struct strbuf out = {0};
    mime_write_bodystructure(msg, extended, &out);
    CHECK(!out.failed && out.len > 0);
    struct cursor c = {out.data, out.data + out.len};
    struct walk w = {.msg = msg, .extended = extended};
    check_body(&c, &w, true);
    CHECK(c.pos == c.end);
    strbuf_free(&out);
    return w;
}

/* ---- Sections ---- */

static void check_inside(const uint8_t *msg, size_t size, const uint8_t *ptr, size_t len)
{
    CHECK(ptr >= msg && len <= size && (size_t)(ptr - msg) <= size - len);
}

static void check_sections(const struct mime_message *msg, const uint8_t *copy, size_t size)
{
    static const enum mime_section_kind kinds[] = {MIME_SECTION_ALL, MIME_SECTION_HEADER,
                                                   MIME_SECTION_TEXT, MIME_SECTION_MIME};
    uint32_t path[3];
    for (size_t depth = 0; depth <= 3; depth++) {
        size_t combos = depth == 0 ? 1 : depth == 1 ? 5 : depth == 2 ? 25 : 125;
        for (size_t combo = 0; combo < combos; combo++) {
            for (size_t i = 0, rest = combo; i < depth; i++, rest /= 5)
                path[i] = (uint32_t)(rest % 5);
            for (size_t k = 0; k < 4; k++) {
                const uint8_t *ptr;
                size_t len;
                if (mime_section(msg, path, depth, kinds[k], &ptr, &len))
                    check_inside(copy, size, ptr, len);
            }
        }
    }
    const uint8_t *header, *text, *all;
    size_t header_len, text_len, all_len;
    CHECK(mime_section(msg, NULL, 0, MIME_SECTION_ALL, &all, &all_len));
    CHECK(mime_section(msg, NULL, 0, MIME_SECTION_HEADER, &header, &header_len));
    CHECK(mime_section(msg, NULL, 0, MIME_SECTION_TEXT, &text, &text_len));
    CHECK(all_len == size && header_len + text_len == size);
    CHECK((size == 0 || header == copy) && text == header + header_len);
}

/* ---- Header fields and SEARCH helpers ---- */

static void check_header_fields(const struct mime_message *msg, const uint8_t *copy,
                                size_t size)
{
    static const char *const names[] = {"Subject", "from", "X-Fuzz", "content-type"};
    const uint8_t *header;
    size_t len;
    CHECK(mime_section(msg, NULL, 0, MIME_SECTION_HEADER, &header, &len));
    check_inside(copy, size, header, len);
    for (int exclude = 0; exclude <= 1; exclude++) {
        struct strbuf out = {0};
        mime_header_fields(header, len, names, 4, exclude, &out);
        CHECK(!out.failed && out.len >= 1 && out.data[out.len - 1] == '\n');
        CHECK(out.len <= len + 4); /* whole fields, at most two line breaks added */
        strbuf_free(&out);
    }
}

static void run_search_helpers(const struct mime_message *msg)
{
    struct strbuf out = {0};
    mime_header_value(msg, "Subject", &out);
    mime_header_value(msg, "From", &out);
    mime_body_text(msg, &out);
    CHECK(!out.failed);
    strbuf_free(&out);
    int64_t epoch = 0, zoned_epoch = 0;
    int offset = 0;
    bool valid = mime_date(msg, &epoch);
    CHECK(mime_date_zone(msg, &zoned_epoch, &offset) == valid);
    CHECK(!valid || (epoch == zoned_epoch && offset > -100 * 60 && offset < 100 * 60));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    if (size)
        memcpy(copy, data, size);
    struct mime_message *msg = mime_parse(copy, size);
    CHECK(msg != NULL);

    struct strbuf envelope = {0};
    mime_write_envelope(msg, &envelope);
    struct cursor c = {envelope.data, envelope.data + envelope.len};
    check_envelope(&c);
    CHECK(c.pos == c.end);
    strbuf_free(&envelope);

    struct walk extended = check_bodystructure(msg, true);
    struct walk basic = check_bodystructure(msg, false);
    CHECK(extended.parts == basic.parts && extended.total_size == basic.total_size);

    check_sections(msg, copy, size);
    check_header_fields(msg, copy, size);
    run_search_helpers(msg);
    mime_free(msg);
    free(copy);
    return 0;
}
