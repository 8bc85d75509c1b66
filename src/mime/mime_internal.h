/*
 * Shared between the files of src/mime: the parsed tree, header-field iteration, the lexer for
 * structured field values, parameters, addresses and the IMAP string writer. Nothing here is
 * part of the module's interface (mime.h).
 */
#ifndef POSTERN_MIME_MIME_INTERNAL_H
#define POSTERN_MIME_MIME_INTERNAL_H

#include "mime/mime.h"

#define MIME_NO_NODE UINT32_MAX
#define MIME_MAX_PARAMS 256 /* parameters read from one field; the rest are ignored */

/* ---- The tree (mime_parse.c) ---- */

struct mime_span {
    size_t off, len; /* into the message buffer */
};

enum mime_kind {
    MIME_KIND_LEAF,
    MIME_KIND_MULTIPART, /* children: its body parts */
    MIME_KIND_MESSAGE,   /* message/rfc822; child: the embedded message */
};

/* One node per entity: the top-level message, each body part, and each embedded message (the
 * only child of its message/rfc822 part, spanning that part's body). Nodes are stored in
 * document order (pre-order), so iterating the array visits parts as they appear. */
struct mime_node {
    struct mime_span header; /* the header block, including its blank line when present */
    struct mime_span body;   /* the content, without the line break before a delimiter */
    size_t lines;            /* '\n' bytes in body */
    struct mime_span type, subtype; /* raw tokens; meaningful when has_type */
    uint32_t first_child, next_sibling, child_count;
    uint8_t kind;      /* enum mime_kind */
    uint8_t depth;     /* 0 for the top-level message */
    bool has_type;     /* a valid Content-Type was found; otherwise the default applies */
    bool digest_child; /* in multipart/digest: the default is message/rfc822 */
};

struct mime_message {
    const uint8_t *data;
    size_t len;
    struct mime_node *nodes;
    uint32_t count, capacity;
};

static inline const uint8_t *mime_node_header(const struct mime_message *msg,
                                              const struct mime_node *node)
{
    return msg->data + node->header.off;
}

/* text/... (explicit, or the default of a part without a valid Content-Type). */
bool mime_node_is_text(const struct mime_message *msg, const struct mime_node *node);

/* ---- Bytes and characters ---- */

static inline bool mime_is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static inline uint8_t mime_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Case-insensitive comparison of bytes with a NUL-terminated ASCII name. */
bool mime_equals_ci(const uint8_t *bytes, size_t len, const char *name);

/* ---- Header fields (mime_header.c) ---- */

struct mime_field {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value; /* raw: after the colon, folds kept, final line break excluded */
    size_t value_len;
    const uint8_t *start; /* the whole field, final line break included */
    size_t len;
    bool has_colon; /* false for a line that is not a field (kept so nothing is lost) */
};

struct mime_field_iter {
    const uint8_t *pos, *end;
};

/* Iterates the fields of a header block, stopping at its blank line. */
void mime_fields_begin(struct mime_field_iter *it, const uint8_t *header, size_t len);
bool mime_fields_next(struct mime_field_iter *it, struct mime_field *field);
/* The first field called name (case-insensitive). */
bool mime_field_find(const uint8_t *header, size_t len, const char *name,
                     struct mime_field *field);
/* Appends the value with line breaks removed and surrounding blanks trimmed. */
void mime_unfold(const uint8_t *value, size_t len, struct strbuf *out);

/* ---- Structured field values (mime_lex.c) ---- */

struct mime_lex {
    const uint8_t *pos, *end;
};

/* Skips blanks, line breaks and (nested) comments; the last comment's text goes to comment
 * when given. */
void mime_lex_skip_cfws(struct mime_lex *lx, struct strbuf *comment);
/* At '"': appends the content without quotes and escapes (unless out is NULL) and moves past
 * the closing quote (or to the end when it is missing). */
void mime_lex_quoted(struct mime_lex *lx, struct strbuf *out);
/* A run of bytes that are not blanks, controls or one of the given specials; 0 when none. */
size_t mime_lex_atom(struct mime_lex *lx, const char *specials);

static inline bool mime_lex_at(const struct mime_lex *lx, uint8_t c)
{
    return lx->pos < lx->end && *lx->pos == c;
}

/* ---- Parameters: Content-Type, Content-Disposition (mime_params.c) ---- */

struct mime_param {
    size_t name_off, name_len, value_off, value_len; /* into mime_params.text */
};

struct mime_params {
    struct strbuf text;
    struct mime_param items[MIME_MAX_PARAMS];
    size_t count;
};

/* "type/subtype; params": the tokens as spans of value (false when either is missing) and,
 * when params is given, the parameters after RFC 2231 continuations are joined. */
bool mime_parse_content_type(const uint8_t *value, size_t len, const uint8_t **type,
                             size_t *type_len, const uint8_t **subtype, size_t *subtype_len,
                             struct mime_params *params);
/* "token; params" (Content-Disposition): the token may be empty. */
void mime_parse_disposition(const uint8_t *value, size_t len, const uint8_t **token,
                            size_t *token_len, struct mime_params *params);
const struct mime_param *mime_params_find(const struct mime_params *params, const char *name);
static inline const char *mime_param_name(const struct mime_params *params,
                                          const struct mime_param *param)
{
    return params->text.data + param->name_off;
}
static inline const char *mime_param_value(const struct mime_params *params,
                                           const struct mime_param *param)
{
    return params->text.data + param->value_off;
}
void mime_params_init(struct mime_params *params);
void mime_params_free(struct mime_params *params);

/* ---- Addresses (mime_address.c) ---- */

#define MIME_NO_TEXT SIZE_MAX

struct mime_text {
    size_t off, len; /* into mime_address_list.text; off == MIME_NO_TEXT for NIL */
};

/* RFC 3501 address: a mailbox, a group start (mailbox = group name, host NIL) or a group end
 * (all NIL). */
struct mime_address {
    struct mime_text name, adl, mailbox, host;
};

struct mime_address_list {
    struct strbuf text;
    struct mime_address *items;
    size_t count, capacity;
};

void mime_address_parse(const uint8_t *value, size_t len, struct mime_address_list *list);
void mime_address_list_free(struct mime_address_list *list);

/* ---- IMAP output (mime_imap.c) ---- */

/* A string as an IMAP quoted string, or a literal when it holds CR, LF, NUL or 8-bit bytes;
 * a NUL byte is written as U+FFFD (IMAP strings cannot carry NUL). */
void mime_imap_string(struct strbuf *out, const uint8_t *text, size_t len);
void mime_imap_cstring(struct strbuf *out, const char *text);

/* ---- Decoding (mime_decode.c, mime_encword.c) ---- */

void mime_base64_decode(const uint8_t *in, size_t len, struct strbuf *out);
void mime_qp_decode(const uint8_t *in, size_t len, bool header_q, struct strbuf *out);
/* Unfolds, trims and decodes RFC 2047 encoded-words to UTF-8. */
void mime_decode_header_text(const uint8_t *value, size_t len, struct strbuf *out);

#endif
