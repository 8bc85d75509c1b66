/*
 * Content decoding for SEARCH: base64 and quoted-printable (RFC 2045 6.7/6.8, leniently:
 * invalid characters skipped, bad escapes kept), charsets to UTF-8, and the decoded text of a
 * message's text parts (mime_body_text).
 */
#include "mime/mime_internal.h"
#include "util/base64.h"

#include <string.h>

/* ---- base64 ---- */

void mime_base64_decode(const uint8_t *in, size_t len, struct strbuf *out)
{
    uint8_t chunk[1024];
    size_t used = 0;
    uint32_t bits = 0;
    int nbits = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '=') { /* padding: the leftover bits are not data */
            nbits = 0;
            continue;
        }
        int value = base64_value(in[i]);
        if (value < 0)
            continue;
        bits = bits << 6 | (uint32_t)value;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            chunk[used++] = (uint8_t)(bits >> nbits);
            if (used == sizeof chunk) {
                strbuf_append(out, chunk, used);
                used = 0;
            }
        }
    }
    strbuf_append(out, chunk, used);
}

/* ---- quoted-printable ---- */

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = mime_lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* After '=' at i: the index of the last byte of a soft line break ("=", blanks, line break
 * or the end), or 0 when there is none. */
static size_t soft_break_end(const uint8_t *in, size_t len, size_t i)
{
    size_t j = i + 1;
    while (j < len && mime_is_wsp(in[j]))
        j++;
    if (j == len)
        return len - 1;
    if (in[j] == '\n')
        return j;
    if (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n')
        return j + 1;
    return 0;
}

void mime_qp_decode(const uint8_t *in, size_t len, bool header_q, struct strbuf *out)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (c != '=' && !(header_q && c == '_'))
            continue;
        strbuf_append(out, in + run, i - run);
        run = i + 1;
        if (c == '_') {
            strbuf_append(out, " ", 1);
            continue;
        }
        int high = i + 2 < len ? hex_value(in[i + 1]) : -1;
        int low = i + 2 < len ? hex_value(in[i + 2]) : -1;
        size_t soft_end;
        if (high >= 0 && low >= 0) {
            uint8_t byte = (uint8_t)(high << 4 | low);
            strbuf_append(out, &byte, 1);
            i += 2;
        } else if ((soft_end = soft_break_end(in, len, i)) != 0) {
            i = soft_end;
        } else {
            strbuf_append(out, "=", 1); /* not an escape: kept */
        }
        run = i + 1;
    }
    strbuf_append(out, in + run, len - run);
}

/* ---- charsets ---- */

enum charset {
    CHARSET_UNKNOWN,
    CHARSET_UTF8,     /* and US-ASCII: copied */
    CHARSET_WIN1252,  /* and ISO-8859-1 */
};

static const char *const utf8_names[] = {"utf-8", "utf8", "us-ascii", "ascii", "us",
                                         "ansi_x3.4-1968", "iso646-us"};
static const char *const win1252_names[] = {"iso-8859-1", "iso8859-1", "iso_8859-1",
                                            "latin1", "l1", "cp819", "iso-ir-100",
                                            "windows-1252", "cp1252", "x-cp1252"};

static bool name_in(const char *name, size_t len, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (mime_equals_ci((const uint8_t *)name, len, names[i]))
            return true;
    }
    return false;
}

static enum charset charset_lookup(const char *name, size_t len)
{
    if (name_in(name, len, utf8_names, sizeof utf8_names / sizeof utf8_names[0]))
        return CHARSET_UTF8;
    if (name_in(name, len, win1252_names, sizeof win1252_names / sizeof win1252_names[0]))
        return CHARSET_WIN1252;
    return CHARSET_UNKNOWN;
}

/* Windows-1252 0x80..0x9F; the five unassigned bytes map to the C1 controls, as in the
 * WHATWG Encoding Standard. */
static const uint16_t win1252_high[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static void win1252_to_utf8(const uint8_t *in, size_t len, struct strbuf *out)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] < 0x80)
            continue;
        strbuf_append(out, in + run, i - run);
        run = i + 1;
        uint32_t cp = in[i] < 0xa0 ? win1252_high[in[i] - 0x80] : in[i];
        uint8_t utf8[3];
        size_t n;
        if (cp < 0x800) {
            utf8[0] = (uint8_t)(0xc0 | cp >> 6);
            utf8[1] = (uint8_t)(0x80 | (cp & 0x3f));
            n = 2;
        } else {
            utf8[0] = (uint8_t)(0xe0 | cp >> 12);
            utf8[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
            utf8[2] = (uint8_t)(0x80 | (cp & 0x3f));
            n = 3;
        }
        strbuf_append(out, utf8, n);
    }
    strbuf_append(out, in + run, len - run);
}

bool mime_charset_to_utf8(const char *charset, size_t charset_len, const uint8_t *text,
                          size_t len, struct strbuf *out)
{
    switch (charset_lookup(charset, charset_len)) {
    case CHARSET_WIN1252:
        win1252_to_utf8(text, len, out);
        return true;
    case CHARSET_UTF8:
        strbuf_append(out, text, len);
        return true;
    case CHARSET_UNKNOWN:
        break;
    }
    strbuf_append(out, text, len);
    return false;
}

/* ---- Text of the message for SEARCH BODY/TEXT ---- */

static void decode_transfer_encoding(const uint8_t *header, size_t header_len,
                                     const uint8_t *body, size_t len, struct strbuf *out)
{
    struct mime_field field;
    if (mime_field_find(header, header_len, "Content-Transfer-Encoding", &field)) {
        struct mime_lex lx = {field.value, field.value + field.value_len};
        mime_lex_skip_cfws(&lx, NULL);
        const uint8_t *token = lx.pos;
        size_t token_len = mime_lex_atom(&lx, "()<>@,;:\\\"/[]?=");
        if (mime_equals_ci(token, token_len, "base64")) {
            mime_base64_decode(body, len, out);
            return;
        }
        if (mime_equals_ci(token, token_len, "quoted-printable")) {
            mime_qp_decode(body, len, false, out);
            return;
        }
    }
    strbuf_append(out, body, len);
}

/* Converts from the part's charset parameter (US-ASCII when there is none). */
static void append_in_utf8(const struct mime_message *msg, const struct mime_node *node,
                           const struct strbuf *decoded, struct strbuf *out)
{
    struct mime_params params;
    mime_params_init(&params);
    struct mime_field field;
    const uint8_t *type, *subtype;
    size_t type_len, subtype_len;
    if (node->has_type &&
        mime_field_find(mime_node_header(msg, node), node->header.len, "Content-Type", &field))
        mime_parse_content_type(field.value, field.value_len, &type, &type_len, &subtype,
                                &subtype_len, &params);
    const struct mime_param *charset = mime_params_find(&params, "charset");
    const uint8_t *text = decoded->data ? (const uint8_t *)decoded->data : (const uint8_t *)"";
    if (charset)
        mime_charset_to_utf8(mime_param_value(&params, charset), charset->value_len, text,
                             decoded->len, out);
    else
        strbuf_append(out, text, decoded->len);
    mime_params_free(&params);
}

static void append_separator(struct strbuf *out)
{
    if (out->len > 0 && out->data[out->len - 1] != '\n')
        strbuf_append_str(out, "\n");
}

static void append_text_part(const struct mime_message *msg, const struct mime_node *node,
                             struct strbuf *out)
{
    struct strbuf decoded = {0};
    decode_transfer_encoding(mime_node_header(msg, node), node->header.len,
                             msg->data + node->body.off, node->body.len, &decoded);
    append_separator(out);
    append_in_utf8(msg, node, &decoded, out);
    strbuf_free(&decoded);
}

/* An attached message's header is part of the outer message's body text. */
static void append_header_text(const struct mime_message *msg, const struct mime_node *node,
                               struct strbuf *out)
{
    struct mime_field_iter it;
    struct mime_field field;
    mime_fields_begin(&it, mime_node_header(msg, node), node->header.len);
    while (mime_fields_next(&it, &field)) {
        append_separator(out);
        strbuf_append(out, field.name, field.name_len);
        strbuf_append_str(out, ": ");
        mime_decode_header_text(field.value, field.value_len, out);
    }
}

void mime_body_text(const struct mime_message *msg, struct strbuf *out)
{
    for (uint32_t i = 0; i < msg->count; i++) { /* document order */
        const struct mime_node *node = &msg->nodes[i];
        if (node->kind == MIME_KIND_MESSAGE && node->first_child != MIME_NO_NODE)
            append_header_text(msg, &msg->nodes[node->first_child], out);
        else if (node->kind == MIME_KIND_LEAF && mime_node_is_text(msg, node))
            append_text_part(msg, node, out);
    }
}
