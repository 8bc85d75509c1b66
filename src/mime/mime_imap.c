/*
 * ENVELOPE and BODYSTRUCTURE/BODY (RFC 3501 7.4.2) from the parsed tree.
 *
 * Formatting, chosen to match Dovecot where it is sound:
 *  - Types, subtypes, parameter names and values, encodings and the ENVELOPE strings are the
 *    message's own text (case kept: "TEXT" "Plain" stays so); defaults are lowercase:
 *    "text" "plain" ("charset" "us-ascii"), "7bit", and "message" "rfc822" in a digest.
 *  - A text part without a charset parameter gets "charset" "us-ascii" appended.
 *  - A field that is present gives a string, even an empty one; an absent field gives NIL.
 *    Values are unfolded (line breaks removed) and trimmed. ENVELOPE keeps RFC 2047
 *    encoded-words as they are; decoding is for SEARCH.
 *  - Strings are quoted, with '\' and '"' escaped, unless they hold CR, LF, NUL or 8-bit
 *    bytes: then they are literals. A NUL byte (no IMAP string can carry one) becomes U+FFFD,
 *    as in Dovecot.
 *  - A multipart without parsed parts (no boundary, limits) shows one empty text/plain part,
 *    and a message/rfc822 part that was not parsed shows an all-NIL envelope and that same
 *    empty part, so the output always follows the RFC 3501 grammar.
 */
#include "mime/mime_internal.h"

#include <string.h>

#define TSPECIALS "()<>@,;:\\\"/[]?="

/* ---- Strings ---- */

#define REPLACEMENT_CHARACTER "\xef\xbf\xbd" /* U+FFFD in UTF-8, for NUL bytes */

/* Copies text, escaping '"' and '\\' when quoted and replacing NUL bytes. */
static void append_string_body(struct strbuf *out, const uint8_t *text, size_t len, bool quoted)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = text[i];
        if (c != '\0' && !(quoted && (c == '"' || c == '\\')))
            continue;
        strbuf_append(out, text + run, i - run);
        if (c == '\0') {
            strbuf_append_str(out, REPLACEMENT_CHARACTER);
            run = i + 1;
        } else {
            strbuf_append(out, "\\", 1);
            run = i;
        }
    }
    strbuf_append(out, text + run, len - run);
}

void mime_imap_string(struct strbuf *out, const uint8_t *text, size_t len)
{
    bool literal = false;
    size_t nuls = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = text[i];
        nuls += c == '\0';
        literal |= c >= 0x80 || c == '\r' || c == '\n' || c == '\0';
    }
    if (literal) {
        strbuf_printf(out, "{%zu}\r\n", len + nuls * (sizeof REPLACEMENT_CHARACTER - 2));
        append_string_body(out, text, len, false);
    } else {
        strbuf_append(out, "\"", 1);
        append_string_body(out, text, len, true);
        strbuf_append(out, "\"", 1);
    }
}

void mime_imap_cstring(struct strbuf *out, const char *text)
{
    mime_imap_string(out, (const uint8_t *)text, strlen(text));
}

static void write_nil(struct strbuf *out)
{
    strbuf_append_str(out, "NIL");
}

static void write_span(struct strbuf *out, const struct mime_message *msg, struct mime_span span)
{
    mime_imap_string(out, msg->data + span.off, span.len);
}

/* The unfolded value of a field, or NIL. */
static void write_field_value(struct strbuf *out, const struct mime_field *field)
{
    if (!field) {
        write_nil(out);
        return;
    }
    struct strbuf value = {0};
    mime_unfold(field->value, field->value_len, &value);
    mime_imap_string(out, (const uint8_t *)value.data, value.len);
    strbuf_free(&value);
}

/* ---- Collecting the fields of a header in one pass ---- */

enum wanted_field {
    F_DATE, F_SUBJECT, F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC, F_BCC, F_IN_REPLY_TO,
    F_MESSAGE_ID, F_CONTENT_TYPE, F_ENCODING, F_ID, F_DESCRIPTION, F_MD5, F_DISPOSITION,
    F_LANGUAGE, F_LOCATION, F_COUNT
};

static const char *const wanted_names[F_COUNT] = {
    "Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To",
    "Message-ID", "Content-Type", "Content-Transfer-Encoding", "Content-ID",
    "Content-Description", "Content-MD5", "Content-Disposition", "Content-Language",
    "Content-Location",
};

struct fields {
    struct mime_field field[F_COUNT];
    bool found[F_COUNT];
};

/* The first occurrence of each wanted field. */
static void collect_fields(const uint8_t *header, size_t len, struct fields *fields)
{
    memset(fields->found, 0, sizeof fields->found);
    struct mime_field_iter it;
    struct mime_field field;
    mime_fields_begin(&it, header, len);
    while (mime_fields_next(&it, &field)) {
        if (!field.has_colon)
            continue;
        for (int i = 0; i < F_COUNT; i++) {
            if (!fields->found[i] && mime_equals_ci(field.name, field.name_len, wanted_names[i])) {
                fields->field[i] = field;
                fields->found[i] = true;
                break;
            }
        }
    }
}

static const struct mime_field *get_field(const struct fields *fields, enum wanted_field which)
{
    return fields->found[which] ? &fields->field[which] : NULL;
}

/* ---- ENVELOPE ---- */

static void write_text(struct strbuf *out, const struct mime_address_list *list,
                       struct mime_text text)
{
    if (text.off == MIME_NO_TEXT)
        write_nil(out);
    else
        mime_imap_string(out, (const uint8_t *)list->text.data + text.off, text.len);
}

static void write_address_list(struct strbuf *out, const struct mime_address_list *list)
{
    strbuf_append_str(out, "(");
    for (size_t i = 0; i < list->count; i++) {
        const struct mime_address *a = &list->items[i];
        strbuf_append_str(out, "(");
        write_text(out, list, a->name);
        strbuf_append_str(out, " ");
        write_text(out, list, a->adl);
        strbuf_append_str(out, " ");
        write_text(out, list, a->mailbox);
        strbuf_append_str(out, " ");
        write_text(out, list, a->host);
        strbuf_append_str(out, ")");
    }
    strbuf_append_str(out, ")");
}

/* Writes the field's addresses; false (nothing written) when absent or empty. */
static bool write_addresses(struct strbuf *out, const struct mime_field *field)
{
    if (!field)
        return false;
    struct mime_address_list list = {{0}, NULL, 0, 0};
    mime_address_parse(field->value, field->value_len, &list);
    bool any = list.count > 0;
    if (any)
        write_address_list(out, &list);
    mime_address_list_free(&list);
    return any;
}

static void write_addresses_or_nil(struct strbuf *out, const struct mime_field *field)
{
    if (!write_addresses(out, field))
        write_nil(out);
}

/* Sender and Reply-To fall back to From when absent or empty (RFC 3501 7.4.2). */
static void write_addresses_or_from(struct strbuf *out, const struct mime_field *field,
                                    const struct mime_field *from)
{
    if (!write_addresses(out, field))
        write_addresses_or_nil(out, from);
}

static void write_envelope_of(struct strbuf *out, const uint8_t *header, size_t len)
{
    struct fields f;
    collect_fields(header, len, &f);
    const struct mime_field *from = get_field(&f, F_FROM);
    strbuf_append_str(out, "(");
    write_field_value(out, get_field(&f, F_DATE));
    strbuf_append_str(out, " ");
    write_field_value(out, get_field(&f, F_SUBJECT));
    strbuf_append_str(out, " ");
    write_addresses_or_nil(out, from);
    strbuf_append_str(out, " ");
    write_addresses_or_from(out, get_field(&f, F_SENDER), from);
    strbuf_append_str(out, " ");
    write_addresses_or_from(out, get_field(&f, F_REPLY_TO), from);
    static const enum wanted_field recipients[] = {F_TO, F_CC, F_BCC};
    for (size_t i = 0; i < sizeof recipients / sizeof recipients[0]; i++) {
        strbuf_append_str(out, " ");
        write_addresses_or_nil(out, get_field(&f, recipients[i]));
    }
    strbuf_append_str(out, " ");
    write_field_value(out, get_field(&f, F_IN_REPLY_TO));
    strbuf_append_str(out, " ");
    write_field_value(out, get_field(&f, F_MESSAGE_ID));
    strbuf_append_str(out, ")");
}

void mime_write_envelope(const struct mime_message *msg, struct strbuf *out)
{
    const struct mime_node *root = &msg->nodes[0];
    write_envelope_of(out, mime_node_header(msg, root), root->header.len);
}

/* ---- Body fields ---- */

static void write_param_list(struct strbuf *out, const struct mime_params *params,
                             bool add_charset)
{
    if (params->count == 0 && !add_charset) {
        write_nil(out);
        return;
    }
    strbuf_append_str(out, "(");
    for (size_t i = 0; i < params->count; i++) {
        const struct mime_param *p = &params->items[i];
        if (i > 0)
            strbuf_append_str(out, " ");
        mime_imap_string(out, (const uint8_t *)mime_param_name(params, p), p->name_len);
        strbuf_append_str(out, " ");
        mime_imap_string(out, (const uint8_t *)mime_param_value(params, p), p->value_len);
    }
    if (add_charset)
        strbuf_append_str(out, params->count ? " \"charset\" \"us-ascii\"" :
                                               "\"charset\" \"us-ascii\"");
    strbuf_append_str(out, ")");
}

/* body-fld-param: the Content-Type parameters, or the default's. */
static void write_type_params(struct strbuf *out, const struct mime_message *msg,
                              const struct mime_node *node, const struct mime_field *ct)
{
    struct mime_params params;
    mime_params_init(&params);
    if (node->has_type && ct) {
        const uint8_t *type, *subtype;
        size_t type_len, subtype_len;
        mime_parse_content_type(ct->value, ct->value_len, &type, &type_len, &subtype,
                                &subtype_len, &params);
    }
    bool is_text = mime_node_is_text(msg, node);
    write_param_list(out, &params, is_text && !mime_params_find(&params, "charset"));
    mime_params_free(&params);
}

/* body-fld-dsp: ("token" (params)) or NIL. */
static void write_disposition(struct strbuf *out, const struct mime_field *field)
{
    if (!field) {
        write_nil(out);
        return;
    }
    struct mime_params params;
    mime_params_init(&params);
    const uint8_t *token;
    size_t token_len;
    mime_parse_disposition(field->value, field->value_len, &token, &token_len, &params);
    strbuf_append_str(out, "(");
    mime_imap_string(out, token, token_len);
    strbuf_append_str(out, " ");
    write_param_list(out, &params, false);
    strbuf_append_str(out, ")");
    mime_params_free(&params);
}

/* body-fld-lang: the comma-separated language tags as a list, or NIL. */
static void write_languages(struct strbuf *out, const struct mime_field *field)
{
    if (!field) {
        write_nil(out);
        return;
    }
    size_t count = 0;
    struct mime_lex lx = {field->value, field->value + field->value_len};
    while (lx.pos < lx.end) {
        mime_lex_skip_cfws(&lx, NULL);
        const uint8_t *tag = lx.pos;
        size_t len = mime_lex_atom(&lx, TSPECIALS);
        if (len > 0) {
            strbuf_append_str(out, count++ ? " " : "(");
            mime_imap_string(out, tag, len);
        } else if (lx.pos < lx.end) {
            lx.pos++; /* ',' or a stray special */
        }
    }
    strbuf_append_str(out, count ? ")" : "NIL");
}

static void write_encoding(struct strbuf *out, const struct mime_field *field)
{
    size_t len = 0;
    const uint8_t *token = NULL;
    if (field) {
        struct mime_lex lx = {field->value, field->value + field->value_len};
        mime_lex_skip_cfws(&lx, NULL);
        token = lx.pos;
        len = mime_lex_atom(&lx, TSPECIALS);
    }
    if (len > 0)
        mime_imap_string(out, token, len);
    else
        strbuf_append_str(out, "\"7bit\"");
}

/* ---- BODYSTRUCTURE ---- */

static void write_body(struct strbuf *out, const struct mime_message *msg, uint32_t index,
                       bool extended);

/* What a multipart without parsed parts, or an unparsed message/rfc822, contains. */
static void write_empty_part(struct strbuf *out, bool extended)
{
    strbuf_append_str(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0");
    strbuf_append_str(out, extended ? " NIL NIL NIL NIL)" : ")");
}

static void write_type(struct strbuf *out, const struct mime_message *msg,
                       const struct mime_node *node)
{
    if (node->has_type) {
        write_span(out, msg, node->type);
        strbuf_append_str(out, " ");
        write_span(out, msg, node->subtype);
    } else {
        strbuf_append_str(out, node->digest_child ? "\"message\" \"rfc822\"" :
                                                    "\"text\" \"plain\"");
    }
}

/* body-ext-mpart after the parameters, and body-ext-1part after the MD5. */
static void write_extension_tail(struct strbuf *out, const struct fields *f)
{
    strbuf_append_str(out, " ");
    write_disposition(out, get_field(f, F_DISPOSITION));
    strbuf_append_str(out, " ");
    write_languages(out, get_field(f, F_LANGUAGE));
    strbuf_append_str(out, " ");
    write_field_value(out, get_field(f, F_LOCATION));
}

static void write_multipart(struct strbuf *out, const struct mime_message *msg,
                            const struct mime_node *node, bool extended)
{
    strbuf_append_str(out, "(");
    if (node->child_count == 0)
        write_empty_part(out, extended);
    for (uint32_t i = node->first_child; i != MIME_NO_NODE; i = msg->nodes[i].next_sibling)
        write_body(out, msg, i, extended);
    strbuf_append_str(out, " ");
    write_span(out, msg, node->subtype);
    if (extended) {
        struct fields f;
        collect_fields(mime_node_header(msg, node), node->header.len, &f);
        strbuf_append_str(out, " ");
        write_type_params(out, msg, node, get_field(&f, F_CONTENT_TYPE));
        write_extension_tail(out, &f);
    }
    strbuf_append_str(out, ")");
}

/* body-fields: params, id, description, encoding, size. */
static void write_body_fields(struct strbuf *out, const struct mime_message *msg,
                              const struct mime_node *node, const struct fields *f)
{
    write_type_params(out, msg, node, get_field(f, F_CONTENT_TYPE));
    strbuf_append_str(out, " ");
    write_field_value(out, get_field(f, F_ID));
    strbuf_append_str(out, " ");
    write_field_value(out, get_field(f, F_DESCRIPTION));
    strbuf_append_str(out, " ");
    write_encoding(out, get_field(f, F_ENCODING));
    strbuf_printf(out, " %zu", node->body.len);
}

/* message/rfc822: the envelope and body of the message inside, then its line count. */
static void write_embedded_message(struct strbuf *out, const struct mime_message *msg,
                                   const struct mime_node *node, bool extended)
{
    strbuf_append_str(out, " ");
    if (node->first_child == MIME_NO_NODE) {
        strbuf_append_str(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ");
        write_empty_part(out, extended);
    } else {
        const struct mime_node *inner = &msg->nodes[node->first_child];
        write_envelope_of(out, mime_node_header(msg, inner), inner->header.len);
        strbuf_append_str(out, " ");
        write_body(out, msg, node->first_child, extended);
    }
    strbuf_printf(out, " %zu", node->lines);
}

static void write_single_part(struct strbuf *out, const struct mime_message *msg,
                              const struct mime_node *node, bool extended)
{
    struct fields f;
    collect_fields(mime_node_header(msg, node), node->header.len, &f);
    strbuf_append_str(out, "(");
    write_type(out, msg, node);
    strbuf_append_str(out, " ");
    write_body_fields(out, msg, node, &f);
    if (node->kind == MIME_KIND_MESSAGE)
        write_embedded_message(out, msg, node, extended);
    else if (mime_node_is_text(msg, node))
        strbuf_printf(out, " %zu", node->lines);
    if (extended) {
        strbuf_append_str(out, " ");
        write_field_value(out, get_field(&f, F_MD5));
        write_extension_tail(out, &f);
    }
    strbuf_append_str(out, ")");
}

static void write_body(struct strbuf *out, const struct mime_message *msg, uint32_t index,
                       bool extended)
{
    const struct mime_node *node = &msg->nodes[index];
    if (node->kind == MIME_KIND_MULTIPART)
        write_multipart(out, msg, node, extended);
    else
        write_single_part(out, msg, node, extended);
}

void mime_write_bodystructure(const struct mime_message *msg, bool extended,
                              struct strbuf *out)
{
    write_body(out, msg, 0, extended);
}
