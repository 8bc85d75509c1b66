/*
 * RFC 5322 address lists (3.4, with the obsolete forms of 4.4) as RFC 3501 ENVELOPE addresses:
 * mailboxes as (name adl mailbox host), groups as a start (NIL NIL "name" NIL), their members
 * and an end (NIL NIL NIL NIL).
 *
 * The value is split into tokens first (words, quoted strings, comments, specials), then read
 * address by address. Best effort, like Dovecot: a missing local part or domain is filled with
 * "MISSING_MAILBOX" / "MISSING_DOMAIN" (a NIL host would read as a group), a mailbox without a
 * display name takes its comment ("bob@x (Bob)"), and words before an unbracketed addr-spec
 * become its name ("John Doe jdoe@x"). Display names are kept raw (RFC 2047 encoded-words are
 * not decoded: ENVELOPE carries the header text); phrase words are joined by single spaces,
 * quoted strings keep their own blanks. Quoted local parts are unquoted, as Dovecot does.
 */
#include "mime/mime_internal.h"

#include <stdlib.h>
#include <string.h>

#define ADDRESS_SPECIALS "()<>[]:;@\\,.\""

enum token_type {
    TOKEN_WORD,    /* atom or quoted string (unquoted) */
    TOKEN_LITERAL, /* [domain literal], brackets kept */
    TOKEN_COMMENT,
    TOKEN_SPECIAL, /* one byte of ADDRESS_SPECIALS */
};

struct token {
    uint8_t type, special;
    bool space_before; /* blanks or comments separate it from the previous token */
    size_t off, len;   /* into the token text buffer */
};

struct tokens {
    struct strbuf text;
    struct token *items;
    size_t count, capacity;
};

struct mailbox_parts {
    struct strbuf name, adl, local, domain;
};

struct reader {
    const struct tokens *tokens;
    size_t pos;
    struct mime_address_list *list;
    struct mailbox_parts parts; /* reused from mailbox to mailbox */
};

/* ---- Tokens ---- */

static struct token *new_token(struct tokens *tokens, uint8_t type, bool space_before)
{
    if (tokens->count == tokens->capacity) {
        size_t capacity = tokens->capacity ? tokens->capacity * 2 : 32;
        struct token *items = realloc(tokens->items, capacity * sizeof *items);
        if (!items) {
            tokens->text.failed = true; /* the list is dropped, not cut short */
            return NULL;
        }
        tokens->items = items;
        tokens->capacity = capacity;
    }
    struct token *token = &tokens->items[tokens->count++];
    *token = (struct token){.type = type, .space_before = space_before,
                            .off = tokens->text.len};
    return token;
}

static void read_domain_literal(struct mime_lex *lx, struct strbuf *out)
{
    const uint8_t *start = lx->pos;
    lx->pos++;
    while (lx->pos < lx->end && *lx->pos != ']') {
        if (*lx->pos == '\\' && lx->pos + 1 < lx->end)
            lx->pos++;
        lx->pos++;
    }
    if (lx->pos < lx->end)
        lx->pos++;
    for (const uint8_t *p = start; p < lx->pos; p++) {
        if (*p != '\r' && *p != '\n')
            strbuf_append(out, p, 1);
    }
}

/* Reads one token; false at the end or when out of memory. */
static bool read_token(struct mime_lex *lx, struct tokens *tokens, struct strbuf *comment)
{
    const uint8_t *before = lx->pos;
    strbuf_reset(comment);
    mime_lex_skip_cfws(lx, comment);
    bool space = lx->pos != before;
    if (comment->len > 0) {
        struct token *token = new_token(tokens, TOKEN_COMMENT, space);
        if (!token)
            return false;
        strbuf_append(&tokens->text, comment->data, comment->len);
        token->len = comment->len;
    }
    if (lx->pos >= lx->end)
        return false;
    uint8_t c = *lx->pos;
    uint8_t type = c == '"' ? TOKEN_WORD : c == '[' ? TOKEN_LITERAL
                 : strchr(ADDRESS_SPECIALS, c) ? TOKEN_SPECIAL : TOKEN_WORD;
    struct token *token = new_token(tokens, type, space);
    if (!token)
        return false;
    size_t start = tokens->text.len;
    if (c == '"') {
        mime_lex_quoted(lx, &tokens->text);
    } else if (type == TOKEN_LITERAL) {
        read_domain_literal(lx, &tokens->text);
    } else if (type == TOKEN_SPECIAL) {
        token->special = c;
        strbuf_append(&tokens->text, &c, 1);
        lx->pos++;
    } else {
        const uint8_t *atom = lx->pos;
        strbuf_append(&tokens->text, atom, mime_lex_atom(lx, ADDRESS_SPECIALS));
    }
    token->len = tokens->text.len - start;
    return true;
}

static void tokenize(const uint8_t *value, size_t len, struct tokens *tokens)
{
    struct mime_lex lx = {value, value + len};
    struct strbuf comment = {0};
    while (read_token(&lx, tokens, &comment))
        ;
    strbuf_free(&comment);
}

/* ---- Reading tokens ---- */

static const struct token *token_at(const struct reader *r, size_t index)
{
    return index < r->tokens->count ? &r->tokens->items[index] : NULL;
}

static bool is_special(const struct token *token, uint8_t c)
{
    return token && token->type == TOKEN_SPECIAL && token->special == c;
}

static const char *token_text(const struct reader *r, const struct token *token)
{
    return r->tokens->text.data ? r->tokens->text.data + token->off : "";
}

/* Index of the first token in [from, to) that is one of the given specials, or to. Bounded
 * by the current mailbox so that a long list is read in linear time. */
static size_t find_special(const struct reader *r, size_t from, size_t to, const char *specials)
{
    for (size_t i = from; i < to; i++) {
        const struct token *t = &r->tokens->items[i];
        if (t->type == TOKEN_SPECIAL && strchr(specials, t->special))
            return i;
    }
    return to;
}

/* ---- Building addresses ---- */

static struct mime_text text_nil(void)
{
    return (struct mime_text){MIME_NO_TEXT, 0};
}

static struct mime_text text_of(struct mime_address_list *list, const char *text, size_t len)
{
    struct mime_text result = {list->text.len, len};
    strbuf_append(&list->text, text, len);
    return result;
}

static struct mime_text text_or_nil(struct mime_address_list *list, const struct strbuf *sb)
{
    return sb->len ? text_of(list, sb->data, sb->len) : text_nil();
}

static void add_address(struct mime_address_list *list, struct mime_address address)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 8;
        struct mime_address *items = realloc(list->items, capacity * sizeof *items);
        if (!items) {
            list->text.failed = true;
            return;
        }
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = address;
}

/* Words and dots of [from, to) as a display name: words joined by one space. */
static void append_phrase(const struct reader *r, size_t from, size_t to, struct strbuf *out)
{
    for (size_t i = from; i < to; i++) {
        const struct token *t = &r->tokens->items[i];
        if (t->type != TOKEN_WORD && !is_special(t, '.'))
            continue;
        if (out->len > 0 && t->space_before)
            strbuf_append_str(out, " ");
        strbuf_append(out, token_text(r, t), t->len);
    }
}

/* Words, literals, dots (and a route's '@' and ',') of [from, to) joined without blanks:
 * RFC 5322 4.4 allows CFWS around the dots of local parts and domains. */
static void append_joined(const struct reader *r, size_t from, size_t to, struct strbuf *out)
{
    for (size_t i = from; i < to; i++) {
        const struct token *t = &r->tokens->items[i];
        if (t->type == TOKEN_WORD || t->type == TOKEN_LITERAL || is_special(t, '.') ||
            is_special(t, '@') || is_special(t, ','))
            strbuf_append(out, token_text(r, t), t->len);
    }
}

static void append_last_comment(const struct reader *r, size_t from, size_t to,
                                struct strbuf *out)
{
    for (size_t i = to; i-- > from;) {
        const struct token *t = &r->tokens->items[i];
        if (t->type == TOKEN_COMMENT) {
            strbuf_append(out, token_text(r, t), t->len);
            return;
        }
    }
}

/* Start of the local part that ends before '@' at index at: words and dots going back, but
 * not two words in a row (the earlier one belongs to a display name). */
static size_t local_part_start(const struct reader *r, size_t from, size_t at)
{
    size_t start = at;
    bool right_is_word = false;
    for (size_t i = at; i-- > from;) {
        const struct token *t = &r->tokens->items[i];
        if (t->type == TOKEN_COMMENT)
            continue;
        bool word = t->type == TOKEN_WORD;
        if ((!word && !is_special(t, '.')) || (word && right_is_word))
            break;
        start = i;
        right_is_word = word;
    }
    return start;
}

/* End of a domain starting at from: words, literals and dots, not two words in a row. */
static size_t domain_end(const struct reader *r, size_t from)
{
    bool left_is_word = false;
    size_t i = from;
    for (; i < r->tokens->count; i++) {
        const struct token *t = &r->tokens->items[i];
        if (t->type == TOKEN_COMMENT)
            continue;
        bool word = t->type == TOKEN_WORD || t->type == TOKEN_LITERAL;
        if ((!word && !is_special(t, '.')) || (word && left_is_word))
            break;
        left_is_word = word;
    }
    return i;
}

static void emit_mailbox(struct reader *r, const struct mailbox_parts *m)
{
    struct mime_address_list *list = r->list;
    struct mime_address address = {
        .name = text_or_nil(list, &m->name),
        .adl = text_or_nil(list, &m->adl),
        .mailbox = m->local.len ? text_of(list, m->local.data, m->local.len)
                                : text_of(list, "MISSING_MAILBOX", 15),
        .host = m->domain.len ? text_of(list, m->domain.data, m->domain.len)
                              : text_of(list, "MISSING_DOMAIN", 14),
    };
    add_address(list, address);
}

/* "[@route,@route:]local@domain" after '<', up to '>' or the end of the mailbox. */
static void read_angle_addr(const struct reader *r, size_t from, size_t end,
                            struct mailbox_parts *m)
{
    size_t i = from;
    if (is_special(token_at(r, i), '@')) {
        size_t colon = find_special(r, i, end, ":>");
        if (colon < end && is_special(token_at(r, colon), ':')) {
            append_joined(r, i, colon, &m->adl);
            i = colon + 1;
        }
    }
    size_t stop = find_special(r, i, end, ">,;<");
    size_t at = find_special(r, i, stop, "@");
    if (at < stop) {
        append_joined(r, i, at, &m->local);
        append_joined(r, at + 1, domain_end(r, at + 1), &m->domain);
    } else {
        append_joined(r, i, stop, &m->local);
    }
}

/* One mailbox in [from, end): "name <addr>", "local@domain (comment)" or a bare word. */
static void read_mailbox(struct reader *r, size_t from, size_t end)
{
    struct mailbox_parts m = r->parts;
    strbuf_reset(&m.name);
    strbuf_reset(&m.adl);
    strbuf_reset(&m.local);
    strbuf_reset(&m.domain);
    size_t angle = find_special(r, from, end, "<");
    size_t at = find_special(r, from, end, "@");
    if (angle < end) {
        append_phrase(r, from, angle, &m.name);
        read_angle_addr(r, angle + 1, end, &m);
    } else if (at < end) {
        size_t local = local_part_start(r, from, at);
        append_phrase(r, from, local, &m.name);
        append_joined(r, local, at, &m.local);
        append_joined(r, at + 1, domain_end(r, at + 1), &m.domain);
    } else {
        append_joined(r, from, end, &m.local);
    }
    if (m.name.len == 0)
        append_last_comment(r, from, end, &m.name);
    if (m.local.len > 0 || angle < end || at < end) /* not just blanks and comments */
        emit_mailbox(r, &m);
    r->parts = m;
}

/* End of the mailbox starting at from: the next ',' or ';', or ':' ending a group name (not
 * after '@' or '<': that is a route). Inside angle brackets a ',' before '@' belongs to a
 * route. */
static size_t mailbox_end(const struct reader *r, size_t from, bool in_group)
{
    bool in_angle = false, address_seen = false;
    for (size_t i = from; i < r->tokens->count; i++) {
        const struct token *t = &r->tokens->items[i];
        if (t->type != TOKEN_SPECIAL)
            continue;
        switch (t->special) {
        case '@':
            address_seen = true;
            break;
        case '<':
            in_angle = address_seen = true;
            break;
        case '>':
            in_angle = false;
            break;
        case ',':
            if (!in_angle || !is_special(token_at(r, i + 1), '@'))
                return i;
            break;
        case ';':
            return i;
        case ':':
            if (!address_seen && !in_group)
                return i;
            break;
        default:
            break;
        }
    }
    return r->tokens->count;
}

static void read_group(struct reader *r, size_t colon)
{
    struct strbuf name = {0};
    append_phrase(r, r->pos, colon, &name);
    struct mime_address start = {text_nil(), text_nil(), text_of(r->list, name.data, name.len),
                                 text_nil()};
    add_address(r->list, start);
    strbuf_free(&name);
    r->pos = colon + 1;
    while (r->pos < r->tokens->count && !is_special(token_at(r, r->pos), ';')) {
        size_t end = mailbox_end(r, r->pos, true);
        read_mailbox(r, r->pos, end);
        r->pos = end < r->tokens->count && !is_special(token_at(r, end), ';') ? end + 1 : end;
    }
    if (r->pos < r->tokens->count)
        r->pos++; /* ';' */
    add_address(r->list, (struct mime_address){text_nil(), text_nil(), text_nil(), text_nil()});
}

static void read_list(struct reader *r)
{
    while (r->pos < r->tokens->count) {
        size_t end = mailbox_end(r, r->pos, false);
        if (is_special(token_at(r, end), ':')) {
            read_group(r, end);
            continue;
        }
        read_mailbox(r, r->pos, end);
        r->pos = end < r->tokens->count ? end + 1 : end; /* past ',' or a stray ';' */
    }
}

void mime_address_parse(const uint8_t *value, size_t len, struct mime_address_list *list)
{
    struct tokens tokens = {{0}, NULL, 0, 0};
    tokenize(value, len, &tokens);
    if (!tokens.text.failed) {
        struct reader r = {.tokens = &tokens, .list = list};
        read_list(&r);
        strbuf_free(&r.parts.name);
        strbuf_free(&r.parts.adl);
        strbuf_free(&r.parts.local);
        strbuf_free(&r.parts.domain);
    }
    strbuf_free(&tokens.text);
    free(tokens.items);
    if (list->text.failed)
        list->count = 0;
}

void mime_address_list_free(struct mime_address_list *list)
{
    strbuf_free(&list->text);
    free(list->items);
    *list = (struct mime_address_list){{0}, NULL, 0, 0};
}
