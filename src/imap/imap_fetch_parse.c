/*
 * FETCH attribute syntax (RFC 3501 6.4.5, 9: fetch-att, section, partial). Pure.
 * BODY[<section>]<<partial>> arrives as one atom (imap_parse.c keeps brackets together);
 * the section is split here into part numbers, a text kind and a header-name list.
 */
#include <string.h>
#include <strings.h>

#include "imap/imap_parse.h"

/* Attributes that are a bare name. BODY is special: with "[" it takes a section. */
static const struct {
    const char *name;
    enum imap_fetch_kind kind;
} simple_atts[] = {
    {"BODY", IMAP_FETCH_BODY},
    {"BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE},
    {"ENVELOPE", IMAP_FETCH_ENVELOPE},
    {"FLAGS", IMAP_FETCH_FLAGS},
    {"INTERNALDATE", IMAP_FETCH_INTERNALDATE},
    {"RFC822", IMAP_FETCH_RFC822},
    {"RFC822.HEADER", IMAP_FETCH_RFC822_HEADER},
    {"RFC822.SIZE", IMAP_FETCH_RFC822_SIZE},
    {"RFC822.TEXT", IMAP_FETCH_RFC822_TEXT},
    {"UID", IMAP_FETCH_UID},
};

/* Macros (RFC 3501 6.4.5), valid only as the whole attribute argument. */
static const struct {
    const char *name;
    enum imap_fetch_kind kinds[5];
    size_t n;
} macros[] = {
    {"ALL", {IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE,
             IMAP_FETCH_ENVELOPE}, 4},
    {"FAST", {IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE}, 3},
    {"FULL", {IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE,
              IMAP_FETCH_ENVELOPE, IMAP_FETCH_BODY}, 5},
};

/* Section text keywords after the part numbers; MIME needs a part number. */
static const struct {
    const char *name;
    enum imap_section_text text;
} section_texts[] = {
    {"HEADER", IMAP_SECTION_HEADER},
    {"HEADER.FIELDS", IMAP_SECTION_FIELDS},
    {"HEADER.FIELDS.NOT", IMAP_SECTION_FIELDS_NOT},
    {"TEXT", IMAP_SECTION_TEXT},
    {"MIME", IMAP_SECTION_MIME},
};

static bool word_is(const char *p, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(p, word, len) == 0;
}

/* A 32-bit number (leading zeros tolerated in part numbers and partials). */
static bool number(const char *s, size_t len, size_t *pos, uint32_t *out)
{
    size_t i = *pos;
    uint64_t n = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        n = n * 10 + (uint64_t)(s[i++] - '0');
        if (n > UINT32_MAX)
            return false;
    }
    if (i == *pos)
        return false;
    *out = (uint32_t)n;
    *pos = i;
    return true;
}

/* The header-name list "(name ...)" that follows HEADER.FIELDS[.NOT]: at least one name. */
static enum imap_parse_status field_list(const char *s, size_t len, struct imap_fetch_att *att)
{
    if (len < 3 || s[0] != '(' || s[len - 1] != ')')
        return IMAP_PARSE_SYNTAX;
    att->fields = s + 1;
    att->fields_len = len - 2;
    size_t pos = 0, count = 0;
    const char *name;
    size_t name_len;
    while (imap_header_names_next(att->fields, att->fields_len, &pos, &name, &name_len))
        count++;
    return count > 0 && pos == att->fields_len ? IMAP_PARSE_OK : IMAP_PARSE_SYNTAX;
}

/* The text between "[" and "]": [part *("." part)] ["." text] or text alone. */
static enum imap_parse_status section_spec(const char *s, size_t len, struct imap_fetch_att *att)
{
    size_t pos = 0;
    att->text = IMAP_SECTION_ALL;
    while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
        uint32_t part;
        if (att->nparts >= IMAP_SECTION_PARTS_MAX)
            return IMAP_PARSE_TOO_MANY_ARGS;
        if (!number(s, len, &pos, &part) || part == 0)
            return IMAP_PARSE_SYNTAX;
        att->parts[att->nparts++] = part;
        if (pos == len)
            return IMAP_PARSE_OK;
        if (s[pos++] != '.')
            return IMAP_PARSE_SYNTAX;
    }
    if (pos == len)
        return att->nparts == 0 ? IMAP_PARSE_OK : IMAP_PARSE_SYNTAX; /* "1." */
    if (!((s[pos] >= 'A' && s[pos] <= 'Z') || (s[pos] >= 'a' && s[pos] <= 'z')))
        return IMAP_PARSE_SYNTAX; /* "1..2" */
    size_t word = pos;
    while (pos < len && s[pos] != ' ')
        pos++;
    for (size_t i = 0; i < sizeof section_texts / sizeof section_texts[0]; i++) {
        if (!word_is(s + word, pos - word, section_texts[i].name))
            continue;
        att->text = section_texts[i].text;
        if (att->text == IMAP_SECTION_MIME && att->nparts == 0)
            return IMAP_PARSE_SYNTAX;
        bool fields = att->text == IMAP_SECTION_FIELDS || att->text == IMAP_SECTION_FIELDS_NOT;
        if (!fields)
            return pos == len ? IMAP_PARSE_OK : IMAP_PARSE_SYNTAX;
        if (pos == len)
            return IMAP_PARSE_SYNTAX;
        return field_list(s + pos + 1, len - pos - 1, att);
    }
    return IMAP_PARSE_UNKNOWN;
}

/* "<origin.count>" after the section. */
static enum imap_parse_status partial_spec(const char *s, size_t len, struct imap_fetch_att *att)
{
    size_t pos = 1;
    if (len < 5 || s[0] != '<' || s[len - 1] != '>' || !number(s, len, &pos, &att->origin) ||
        pos >= len || s[pos++] != '.' || !number(s, len, &pos, &att->count) || pos != len - 1 ||
        att->count == 0)
        return IMAP_PARSE_SYNTAX;
    att->partial = true;
    return IMAP_PARSE_OK;
}

/* BODY[...], BODY.PEEK[...] with an optional partial. */
static enum imap_parse_status section_att(const char *s, size_t len, size_t bracket,
                                          struct imap_fetch_att *att)
{
    if (word_is(s, bracket, "BODY.PEEK"))
        att->peek = true;
    else if (!word_is(s, bracket, "BODY"))
        return IMAP_PARSE_UNKNOWN;
    att->kind = IMAP_FETCH_SECTION;
    const char *close = memchr(s + bracket, ']', len - bracket);
    /* The last ']' ends the section: a quoted header name could contain one. */
    for (const char *p = close; p; p = memchr(p + 1, ']', (size_t)(s + len - p - 1)))
        close = p;
    if (!close)
        return IMAP_PARSE_SYNTAX;
    att->section = s + bracket + 1;
    att->section_len = (size_t)(close - att->section);
    enum imap_parse_status st = section_spec(att->section, att->section_len, att);
    size_t rest = (size_t)(s + len - close - 1);
    if (st == IMAP_PARSE_OK && rest > 0)
        st = partial_spec(close + 1, rest, att);
    return st;
}

static enum imap_parse_status one_att(const struct imap_arg *arg, struct imap_fetch_att *att)
{
    *att = (struct imap_fetch_att){0};
    if (arg->type != IMAP_ARG_ATOM)
        return IMAP_PARSE_SYNTAX;
    const char *bracket = memchr(arg->ptr, '[', arg->len);
    if (bracket)
        return section_att(arg->ptr, arg->len, (size_t)(bracket - arg->ptr), att);
    for (size_t i = 0; i < sizeof simple_atts / sizeof simple_atts[0]; i++) {
        if (imap_arg_atom_is(arg, simple_atts[i].name)) {
            att->kind = simple_atts[i].kind;
            return IMAP_PARSE_OK;
        }
    }
    return IMAP_PARSE_UNKNOWN;
}

static enum imap_parse_status add_att(const struct imap_arg *arg, struct imap_fetch_att *out,
                                      size_t cap, size_t *n)
{
    if (*n >= cap)
        return IMAP_PARSE_TOO_MANY_ARGS;
    enum imap_parse_status st = one_att(arg, &out[*n]);
    if (st == IMAP_PARSE_OK)
        (*n)++;
    return st;
}

enum imap_parse_status imap_parse_fetch_atts(const struct imap_arg *arg,
                                             struct imap_fetch_att *out, size_t cap, size_t *n)
{
    *n = 0;
    if (arg->type == IMAP_ARG_LIST) {
        if (arg->count == 0)
            return IMAP_PARSE_SYNTAX;
        const struct imap_arg *end = imap_arg_next(arg);
        for (const struct imap_arg *a = arg + 1; a < end; a = imap_arg_next(a)) {
            enum imap_parse_status st = add_att(a, out, cap, n);
            if (st != IMAP_PARSE_OK)
                return st;
        }
        return IMAP_PARSE_OK;
    }
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if (!imap_arg_atom_is(arg, macros[i].name))
            continue;
        if (cap < macros[i].n)
            return IMAP_PARSE_TOO_MANY_ARGS;
        for (size_t k = 0; k < macros[i].n; k++)
            out[k] = (struct imap_fetch_att){.kind = macros[i].kinds[k]};
        *n = macros[i].n;
        return IMAP_PARSE_OK;
    }
    return add_att(arg, out, cap, n);
}

/* Names are atoms or quoted strings without escapes, separated by spaces. */
bool imap_header_names_next(const char *text, size_t len, size_t *pos, const char **name,
                            size_t *name_len)
{
    size_t i = *pos;
    while (i < len && text[i] == ' ')
        i++;
    if (i == len) {
        *pos = i;
        return false;
    }
    size_t start = i;
    if (text[i] == '"') {
        const char *q = memchr(text + i + 1, '"', len - i - 1);
        if (!q || q == text + i + 1 || memchr(text + i + 1, '\\', (size_t)(q - text) - i - 1))
            return false;
        *name = text + i + 1;
        *name_len = (size_t)(q - *name);
        *pos = (size_t)(q - text) + 1;
        return *pos == len || text[*pos] == ' ';
    }
    /* RFC 5322 field names: printable ASCII except ':'. */
    while (i < len && text[i] > 0x20 && text[i] < 0x7f && text[i] != ':' && text[i] != '(' &&
           text[i] != ')' && text[i] != '"')
        i++;
    if (i == start || (i < len && text[i] != ' '))
        return false;
    *name = text + start;
    *name_len = i - start;
    *pos = i;
    return true;
}
