/*
 * IMAP command framing and the argument parser (RFC 3501 section 9, RFC 7888). Pure: it
 * reads the caller's buffer, writes only unescaped quoted strings back into it and nodes into
 * the caller's array, and takes every limit as a parameter.
 *
 * Tolerances, each because real clients need it: several spaces between arguments and spaces
 * inside parentheses ("( a )"), a trailing space, 8-bit text inside quoted strings (SEARCH
 * CHARSET UTF-8). An atom may carry a bracketed part with spaces and parentheses so that
 * BODY[HEADER.FIELDS (From To)]<0.100> is one argument, as FETCH needs.
 */
#include "imap/imap_parse.h"

#include <string.h>
#include <strings.h>

const char *imap_parse_status_text(enum imap_parse_status status)
{
    static const char *const texts[] = {
        [IMAP_PARSE_OK] = "ok",
        [IMAP_PARSE_EMPTY] = "empty command line",
        [IMAP_PARSE_BAD_TAG] = "missing or invalid tag",
        [IMAP_PARSE_BAD_COMMAND] = "missing or invalid command name",
        [IMAP_PARSE_SYNTAX] = "syntax error in arguments",
        [IMAP_PARSE_BAD_CHAR] = "invalid character in command",
        [IMAP_PARSE_TOO_MANY_ARGS] = "too many arguments",
        [IMAP_PARSE_TOO_DEEP] = "lists nested too deeply",
        [IMAP_PARSE_TOO_LARGE] = "value too large",
        [IMAP_PARSE_UNKNOWN] = "unknown keyword",
    };
    if ((size_t)status < sizeof texts / sizeof texts[0] && texts[status])
        return texts[status];
    return "invalid command";
}

/* ---- character classes ---- */

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* ATOM-CHAR, widened by list-wildcards, '\' (flags) and ']' (resp-specials in astrings):
 * everything printable and 7-bit except the characters that end or start other tokens. */
static bool is_atom_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '"' && c != '{';
}

/* Tags: ASTRING-CHAR except '+', and no wildcards or backslash. */
static bool is_tag_char(unsigned char c)
{
    return is_atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* ---- framing ---- */

enum imap_literal_kind imap_line_literal(const char *line, size_t len, uint64_t *size)
{
    if (len < 3 || line[len - 1] != '}')
        return IMAP_LITERAL_NONE;
    size_t end = len - 1;
    bool nonsync = line[end - 1] == '+';
    if (nonsync)
        end--;
    size_t start = end;
    while (start > 0 && is_digit((unsigned char)line[start - 1]))
        start--;
    if (start == 0 || line[start - 1] != '{')
        return IMAP_LITERAL_NONE;
    size_t digits = end - start;
    if (digits == 0 || digits > IMAP_LITERAL_DIGITS_MAX)
        return IMAP_LITERAL_BAD;
    uint64_t n = 0;
    for (size_t i = start; i < end; i++)
        n = n * 10 + (uint64_t)(line[i] - '0');
    if (n > UINT32_MAX)
        return IMAP_LITERAL_BAD;
    *size = n;
    return nonsync ? IMAP_LITERAL_NONSYNC : IMAP_LITERAL_SYNC;
}

bool imap_peek_command(const char *line, size_t len, const char **name, size_t *name_len)
{
    const char *sp = memchr(line, ' ', len);
    if (!sp)
        return false;
    const char *start = sp + 1, *end = line + len, *p = start;
    while (p < end && is_atom_char((unsigned char)*p))
        p++;
    if (p == start)
        return false;
    *name = start;
    *name_len = (size_t)(p - start);
    return true;
}

/* ---- the argument parser ---- */

struct parser {
    char *buf;
    size_t len, pos;
    const struct imap_parse_limits *limits;
    struct imap_arg *args;
    size_t nnodes;
    size_t top_count;                     /* top-level arguments */
    uint32_t open[IMAP_DEPTH_HARD_MAX];   /* indexes of the lists being filled */
    unsigned depth;
};

static enum imap_parse_status add_node(struct parser *p, enum imap_arg_type type,
                                       const char *ptr, size_t len)
{
    if (p->nnodes >= p->limits->max_args)
        return IMAP_PARSE_TOO_MANY_ARGS;
    struct imap_arg *a = &p->args[p->nnodes++];
    *a = (struct imap_arg){.type = type, .ptr = ptr, .len = len};
    if (p->depth > 0)
        p->args[p->open[p->depth - 1]].count++;
    else
        p->top_count++;
    return IMAP_PARSE_OK;
}

static enum imap_parse_status open_list(struct parser *p)
{
    unsigned max = p->limits->max_depth < IMAP_DEPTH_HARD_MAX ? p->limits->max_depth
                                                              : IMAP_DEPTH_HARD_MAX;
    if (p->depth >= max)
        return IMAP_PARSE_TOO_DEEP;
    enum imap_parse_status st = add_node(p, IMAP_ARG_LIST, NULL, 0);
    if (st != IMAP_PARSE_OK)
        return st;
    p->open[p->depth++] = (uint32_t)(p->nnodes - 1);
    p->pos++;
    return IMAP_PARSE_OK;
}

static enum imap_parse_status close_list(struct parser *p)
{
    if (p->depth == 0)
        return IMAP_PARSE_SYNTAX;
    uint32_t index = p->open[--p->depth];
    p->args[index].span = (uint32_t)(p->nnodes - index - 1);
    p->pos++;
    return IMAP_PARSE_OK;
}

/* "..." with \" and \\ escapes; the unescaped text is written over the escaped one. */
static enum imap_parse_status parse_quoted(struct parser *p)
{
    size_t r = p->pos + 1, w = r;
    char *b = p->buf;
    for (;;) {
        if (r >= p->len)
            return IMAP_PARSE_SYNTAX;
        unsigned char c = (unsigned char)b[r];
        if (c == '"')
            break;
        if (c == '\\') {
            if (r + 1 >= p->len || (b[r + 1] != '"' && b[r + 1] != '\\'))
                return IMAP_PARSE_SYNTAX;
            c = (unsigned char)b[++r];
        } else if (c == '\0' || c == '\r' || c == '\n') {
            return IMAP_PARSE_BAD_CHAR;
        }
        b[w++] = (char)c;
        r++;
    }
    size_t start = p->pos + 1;
    p->pos = r + 1;
    return add_node(p, IMAP_ARG_QUOTED, b + start, w - start);
}

/* "{n}" or "{n+}", CRLF, n octets. */
static enum imap_parse_status parse_literal(struct parser *p)
{
    size_t i = p->pos + 1;
    uint64_t n = 0;
    size_t digits = 0;
    while (i < p->len && is_digit((unsigned char)p->buf[i])) {
        if (++digits > IMAP_LITERAL_DIGITS_MAX)
            return IMAP_PARSE_TOO_LARGE;
        n = n * 10 + (uint64_t)(p->buf[i++] - '0');
    }
    if (digits == 0)
        return IMAP_PARSE_SYNTAX;
    if (i < p->len && p->buf[i] == '+')
        i++;
    if (i + 3 > p->len || p->buf[i] != '}' || p->buf[i + 1] != '\r' || p->buf[i + 2] != '\n')
        return IMAP_PARSE_SYNTAX;
    if (n > p->limits->max_literal)
        return IMAP_PARSE_TOO_LARGE;
    i += 3;
    if (n > p->len - i)
        return IMAP_PARSE_SYNTAX;
    p->pos = i + (size_t)n;
    return add_node(p, IMAP_ARG_LITERAL, p->buf + i, (size_t)n);
}

/* The end of a bracketed part starting at '[': the index of its ']', or 0 when there is none
 * on this line. Quoted strings inside are skipped so a quoted "]" does not end it. */
static size_t bracket_end(const struct parser *p, size_t i)
{
    bool quoted = false;
    for (i++; i < p->len; i++) {
        unsigned char c = (unsigned char)p->buf[i];
        if (c == '\r' || c == '\n' || c == '\0')
            return 0;
        if (quoted && c == '\\' && i + 1 < p->len)
            i++;
        else if (c == '"')
            quoted = !quoted;
        else if (c == ']' && !quoted)
            return i;
    }
    return 0;
}

static enum imap_parse_status parse_atom(struct parser *p)
{
    size_t start = p->pos, i = start;
    while (i < p->len) {
        unsigned char c = (unsigned char)p->buf[i];
        if (c == '[') {
            size_t end = bracket_end(p, i);
            if (end) {
                for (size_t k = i; k < end; k++)
                    if (is_ctl((unsigned char)p->buf[k]) || (unsigned char)p->buf[k] >= 0x80)
                        return IMAP_PARSE_BAD_CHAR;
                i = end + 1;
                continue;
            }
        }
        if (!is_atom_char(c))
            break;
        i++;
    }
    if (i == start) {
        unsigned char c = (unsigned char)p->buf[i];
        return is_ctl(c) || c >= 0x80 ? IMAP_PARSE_BAD_CHAR : IMAP_PARSE_SYNTAX;
    }
    p->pos = i;
    size_t len = i - start;
    bool nil = len == 3 && strncasecmp(p->buf + start, "NIL", 3) == 0;
    return add_node(p, nil ? IMAP_ARG_NIL : IMAP_ARG_ATOM, p->buf + start, len);
}

static enum imap_parse_status parse_token(struct parser *p)
{
    switch (p->buf[p->pos]) {
    case '(':
        return open_list(p);
    case '"':
        return parse_quoted(p);
    case '{':
        return parse_literal(p);
    default:
        return parse_atom(p);
    }
}

/* Arguments after the command name: tokens separated by spaces, lists in parentheses. */
static enum imap_parse_status parse_arguments(struct parser *p)
{
    bool token_allowed = false; /* only after a space or '(' */
    while (p->pos < p->len) {
        char c = p->buf[p->pos];
        enum imap_parse_status st = IMAP_PARSE_OK;
        if (c == ' ') {
            p->pos++;
            token_allowed = true;
            continue;
        }
        if (c == ')') {
            st = close_list(p);
            token_allowed = false;
        } else if (!token_allowed) {
            unsigned char u = (unsigned char)c;
            return is_ctl(u) || u >= 0x80 ? IMAP_PARSE_BAD_CHAR : IMAP_PARSE_SYNTAX;
        } else {
            st = parse_token(p);
            token_allowed = c == '(';
        }
        if (st != IMAP_PARSE_OK)
            return st;
    }
    return p->depth == 0 ? IMAP_PARSE_OK : IMAP_PARSE_SYNTAX;
}

/* "tag SP name": both are checked here so a bad tag is told apart from a bad command. */
static enum imap_parse_status parse_head(struct parser *p, struct imap_command *out)
{
    size_t i = 0;
    while (i < p->len && is_tag_char((unsigned char)p->buf[i]))
        i++;
    if (i == 0 || i > IMAP_TAG_MAX || i == p->len || p->buf[i] != ' ')
        return IMAP_PARSE_BAD_TAG;
    out->tag = p->buf;
    out->tag_len = i;
    size_t start = ++i;
    while (i < p->len && (is_alpha((unsigned char)p->buf[i]) ||
                          (i > start && (is_digit((unsigned char)p->buf[i]) ||
                                         p->buf[i] == '-'))))
        i++;
    if (i == start || i - start > IMAP_COMMAND_NAME_MAX || (i < p->len && p->buf[i] != ' '))
        return IMAP_PARSE_BAD_COMMAND;
    out->name = p->buf + start;
    out->name_len = i - start;
    p->pos = i;
    return IMAP_PARSE_OK;
}

enum imap_parse_status imap_parse_command(char *buf, size_t len,
                                          const struct imap_parse_limits *limits,
                                          struct imap_arg *args, struct imap_command *out)
{
    *out = (struct imap_command){.args = args};
    size_t blank = 0;
    while (blank < len && buf[blank] == ' ')
        blank++;
    if (blank == len)
        return IMAP_PARSE_EMPTY;
    struct parser p = {.buf = buf, .len = len, .limits = limits, .args = args};
    enum imap_parse_status st = parse_head(&p, out);
    if (st == IMAP_PARSE_OK)
        st = parse_arguments(&p);
    out->nargs = p.top_count;
    out->nnodes = p.nnodes;
    return st;
}

bool imap_arg_atom_is(const struct imap_arg *arg, const char *word)
{
    size_t n = strlen(word);
    return (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) && arg->len == n &&
           strncasecmp(arg->ptr, word, n) == 0;
}
