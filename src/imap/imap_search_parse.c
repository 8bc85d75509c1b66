/*
 * SEARCH key syntax (RFC 3501 6.4.4, 9: search-key) into a flat node array. Pure.
 * Recursion follows NOT/OR/parentheses and is bounded by the caller's depth limit.
 */
#include <string.h>
#include <strings.h>

#include "imap/imap_parse.h"
#include "store/mailbox.h"

/* What follows a key word. */
enum key_operand {
    OPERAND_NONE,
    OPERAND_STRING, /* astring */
    OPERAND_HEADER, /* field-name astring, then the value astring */
    OPERAND_NUMBER,
    OPERAND_DATE,
    OPERAND_ATOM,   /* a keyword flag */
    OPERAND_SET,    /* UID sequence-set */
    OPERAND_KEY,    /* NOT key */
    OPERAND_KEYS2,  /* OR key key */
};

struct search_key {
    const char *name;
    enum imap_search_kind kind;
    enum key_operand operand;
    uint32_t flag;     /* FLAG keys */
    bool set;
    const char *field; /* the header searched by FROM, TO, ... */
};

/* Sorted by name, for bsearch-like lookup and easy review. */
static const struct search_key keys[] = {
    {"ALL", IMAP_SEARCH_ALL, OPERAND_NONE, 0, false, NULL},
    {"ANSWERED", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_ANSWERED, true, NULL},
    {"BCC", IMAP_SEARCH_HEADER, OPERAND_STRING, 0, false, "Bcc"},
    {"BEFORE", IMAP_SEARCH_BEFORE, OPERAND_DATE, 0, false, NULL},
    {"BODY", IMAP_SEARCH_BODY, OPERAND_STRING, 0, false, NULL},
    {"CC", IMAP_SEARCH_HEADER, OPERAND_STRING, 0, false, "Cc"},
    {"DELETED", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_DELETED, true, NULL},
    {"DRAFT", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_DRAFT, true, NULL},
    {"FLAGGED", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_FLAGGED, true, NULL},
    {"FROM", IMAP_SEARCH_HEADER, OPERAND_STRING, 0, false, "From"},
    {"HEADER", IMAP_SEARCH_HEADER, OPERAND_HEADER, 0, false, NULL},
    {"KEYWORD", IMAP_SEARCH_KEYWORD, OPERAND_ATOM, 0, false, NULL},
    {"LARGER", IMAP_SEARCH_LARGER, OPERAND_NUMBER, 0, false, NULL},
    {"NEW", IMAP_SEARCH_NEW, OPERAND_NONE, 0, false, NULL},
    {"NOT", IMAP_SEARCH_NOT, OPERAND_KEY, 0, false, NULL},
    {"OLD", IMAP_SEARCH_OLD, OPERAND_NONE, 0, false, NULL},
    {"ON", IMAP_SEARCH_ON, OPERAND_DATE, 0, false, NULL},
    {"OR", IMAP_SEARCH_OR, OPERAND_KEYS2, 0, false, NULL},
    {"RECENT", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_RECENT, true, NULL},
    {"SEEN", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_SEEN, true, NULL},
    {"SENTBEFORE", IMAP_SEARCH_SENTBEFORE, OPERAND_DATE, 0, false, NULL},
    {"SENTON", IMAP_SEARCH_SENTON, OPERAND_DATE, 0, false, NULL},
    {"SENTSINCE", IMAP_SEARCH_SENTSINCE, OPERAND_DATE, 0, false, NULL},
    {"SINCE", IMAP_SEARCH_SINCE, OPERAND_DATE, 0, false, NULL},
    {"SMALLER", IMAP_SEARCH_SMALLER, OPERAND_NUMBER, 0, false, NULL},
    {"SUBJECT", IMAP_SEARCH_HEADER, OPERAND_STRING, 0, false, "Subject"},
    {"TEXT", IMAP_SEARCH_TEXT, OPERAND_STRING, 0, false, NULL},
    {"TO", IMAP_SEARCH_HEADER, OPERAND_STRING, 0, false, "To"},
    {"UID", IMAP_SEARCH_UIDSET, OPERAND_SET, 0, false, NULL},
    {"UNANSWERED", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_ANSWERED, false, NULL},
    {"UNDELETED", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_DELETED, false, NULL},
    {"UNDRAFT", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_DRAFT, false, NULL},
    {"UNFLAGGED", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_FLAGGED, false, NULL},
    {"UNKEYWORD", IMAP_SEARCH_UNKEYWORD, OPERAND_ATOM, 0, false, NULL},
    {"UNSEEN", IMAP_SEARCH_FLAG, OPERAND_NONE, MAILBOX_SEEN, false, NULL},
};

static const struct search_key *find_key(const struct imap_arg *arg)
{
    size_t lo = 0, hi = sizeof keys / sizeof keys[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        size_t n = strlen(keys[mid].name);
        int cmp = strncasecmp(arg->ptr, keys[mid].name, arg->len < n ? arg->len : n);
        if (cmp == 0)
            cmp = arg->len < n ? -1 : arg->len > n ? 1 : 0;
        if (cmp == 0)
            return &keys[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

struct search_parser {
    struct imap_search_node *nodes;
    size_t cap, n;
    unsigned depth, max_depth;
};

static enum imap_parse_status parse_key(struct search_parser *p, const struct imap_arg **cur,
                                        const struct imap_arg *end);

static enum imap_parse_status new_node(struct search_parser *p, enum imap_search_kind kind,
                                       size_t *index)
{
    if (p->n >= p->cap)
        return IMAP_PARSE_TOO_MANY_ARGS;
    *index = p->n;
    p->nodes[p->n++] = (struct imap_search_node){.kind = kind};
    return IMAP_PARSE_OK;
}

/* Keys until end, as the children of an AND node. */
static enum imap_parse_status parse_group(struct search_parser *p, const struct imap_arg *cur,
                                          const struct imap_arg *end)
{
    size_t index;
    enum imap_parse_status st = new_node(p, IMAP_SEARCH_AND, &index);
    if (st != IMAP_PARSE_OK)
        return st;
    if (cur >= end)
        return IMAP_PARSE_SYNTAX; /* "()" or no key at all */
    while (cur < end) {
        st = parse_key(p, &cur, end);
        if (st != IMAP_PARSE_OK)
            return st;
        p->nodes[index].count++;
    }
    p->nodes[index].span = (uint32_t)(p->n - index - 1);
    return IMAP_PARSE_OK;
}

static const struct imap_arg *take(const struct imap_arg **cur, const struct imap_arg *end)
{
    if (*cur >= end)
        return NULL;
    const struct imap_arg *a = *cur;
    *cur = imap_arg_next(a);
    return a;
}

/* The operand of a key word; node is already filled with the key's kind. */
static enum imap_parse_status operand(struct search_parser *p, const struct search_key *key,
                                      size_t index, const struct imap_arg **cur,
                                      const struct imap_arg *end)
{
    struct imap_search_node *node = &p->nodes[index];
    const struct imap_arg *a = NULL;
    if (key->operand != OPERAND_NONE && key->operand != OPERAND_KEY &&
        key->operand != OPERAND_KEYS2) {
        a = take(cur, end);
        if (!a || !imap_arg_is_astring(a))
            return IMAP_PARSE_SYNTAX;
    }
    size_t n;
    switch (key->operand) {
    case OPERAND_NONE:
        return IMAP_PARSE_OK;
    case OPERAND_STRING:
        node->field = key->field;
        node->field_len = key->field ? strlen(key->field) : 0;
        node->value = a->ptr;
        node->value_len = a->len;
        return IMAP_PARSE_OK;
    case OPERAND_HEADER: {
        const struct imap_arg *v = take(cur, end);
        if (!v || !imap_arg_is_astring(v) || a->len == 0)
            return IMAP_PARSE_SYNTAX;
        node->field = a->ptr;
        node->field_len = a->len;
        node->value = v->ptr;
        node->value_len = v->len;
        return IMAP_PARSE_OK;
    }
    case OPERAND_NUMBER: {
        if (a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 20)
            return IMAP_PARSE_SYNTAX;
        uint64_t v = 0;
        for (size_t i = 0; i < a->len; i++) {
            if (a->ptr[i] < '0' || a->ptr[i] > '9')
                return IMAP_PARSE_SYNTAX;
            uint64_t next = v * 10 + (uint64_t)(a->ptr[i] - '0');
            if (next / 10 != v)
                return IMAP_PARSE_TOO_LARGE;
            v = next;
        }
        node->number = v;
        return IMAP_PARSE_OK;
    }
    case OPERAND_DATE:
        return imap_parse_date(a->ptr, a->len, &node->day);
    case OPERAND_ATOM:
        return a->type == IMAP_ARG_ATOM ? IMAP_PARSE_OK : IMAP_PARSE_SYNTAX;
    case OPERAND_SET:
        node->value = a->ptr;
        node->value_len = a->len;
        return a->type == IMAP_ARG_ATOM ? imap_seqset_parse(a->ptr, a->len, NULL, 0, &n)
                                         : IMAP_PARSE_SYNTAX;
    case OPERAND_KEY:
    case OPERAND_KEYS2: {
        enum imap_parse_status st = parse_key(p, cur, end);
        if (st == IMAP_PARSE_OK && key->operand == OPERAND_KEYS2)
            st = parse_key(p, cur, end);
        p->nodes[index].span = (uint32_t)(p->n - index - 1);
        return st;
    }
    }
    return IMAP_PARSE_SYNTAX;
}

static enum imap_parse_status parse_key(struct search_parser *p, const struct imap_arg **cur,
                                        const struct imap_arg *end)
{
    const struct imap_arg *a = take(cur, end);
    if (!a)
        return IMAP_PARSE_SYNTAX;
    if (p->depth >= p->max_depth)
        return IMAP_PARSE_TOO_DEEP;
    p->depth++;
    enum imap_parse_status st;
    size_t index;
    if (a->type == IMAP_ARG_LIST) {
        st = parse_group(p, a + 1, imap_arg_next(a));
    } else if (a->type != IMAP_ARG_ATOM) {
        st = IMAP_PARSE_SYNTAX;
    } else if ((a->ptr[0] >= '0' && a->ptr[0] <= '9') || a->ptr[0] == '*') {
        size_t n;
        st = imap_seqset_parse(a->ptr, a->len, NULL, 0, &n);
        if (st == IMAP_PARSE_OK)
            st = new_node(p, IMAP_SEARCH_SEQSET, &index);
        if (st == IMAP_PARSE_OK) {
            p->nodes[index].value = a->ptr;
            p->nodes[index].value_len = a->len;
        }
    } else {
        const struct search_key *key = find_key(a);
        st = key ? new_node(p, key->kind, &index) : IMAP_PARSE_UNKNOWN;
        if (st == IMAP_PARSE_OK) {
            p->nodes[index].flag = key->flag;
            p->nodes[index].set = key->set;
            st = operand(p, key, index, cur, end);
        }
    }
    p->depth--;
    return st;
}

static bool charset_ok(const struct imap_arg *arg)
{
    return imap_arg_atom_is(arg, "UTF-8") || imap_arg_atom_is(arg, "US-ASCII") ||
           (arg->type == IMAP_ARG_QUOTED &&
            ((arg->len == 5 && strncasecmp(arg->ptr, "UTF-8", 5) == 0) ||
             (arg->len == 8 && strncasecmp(arg->ptr, "US-ASCII", 8) == 0)));
}

enum imap_parse_status imap_parse_search(const struct imap_arg *args, size_t nargs,
                                         unsigned max_depth, struct imap_search_node *nodes,
                                         size_t cap, struct imap_search *out)
{
    *out = (struct imap_search){.nodes = nodes};
    const struct imap_arg *cur = args, *end = args;
    for (size_t i = 0; i < nargs; i++)
        end = imap_arg_next(end);
    if (cur < end && imap_arg_atom_is(cur, "CHARSET")) {
        const struct imap_arg *cs = imap_arg_next(cur);
        if (cs >= end || !imap_arg_is_string(cs))
            return IMAP_PARSE_SYNTAX;
        out->charset = cs->ptr;
        out->charset_len = cs->len;
        if (!charset_ok(cs))
            return IMAP_PARSE_UNKNOWN;
        cur = imap_arg_next(cs);
    }
    struct search_parser p = {.nodes = nodes, .cap = cap, .max_depth = max_depth};
    enum imap_parse_status st = parse_group(&p, cur, end);
    out->nnodes = p.n;
    return st;
}
