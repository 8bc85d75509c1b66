/*
 * SEARCH and UID SEARCH (RFC 3501 6.4.4): the parsed key tree (imap_search_parse.c) is
 * evaluated per message. Flags, sizes, dates and sets need no message bytes; header, body and
 * sent-date keys read and parse the message once, on first need. String matches are
 * case-insensitive for ASCII over decoded UTF-8 text (RFC 2047 words, base64, QP).
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_internal.h"
#include "mime/mime.h"

#define DAY_SECONDS 86400

/* The message under test; bytes and structure loaded lazily. */
struct search_msg {
    struct imap_session *s;
    size_t index;
    const struct mailbox_message *m;
    char *data;
    size_t len;
    struct mime_message *mime;
    bool tried;                 /* reading was attempted */
    struct strbuf body_text;    /* decoded text parts, kept for repeated BODY/TEXT keys */
    bool have_body;
};

/* Sets of SEQSET/UIDSET nodes, parsed once per command: ranges[node index]. */
struct search_sets {
    struct imap_range **ranges;
    size_t *counts;
};

static struct mime_message *msg_mime(struct search_msg *f)
{
    if (!f->tried) {
        char err[MAILBOX_ERROR_MAX];
        f->tried = true;
        if (mailbox_read(f->s->mailbox, f->index, &f->data, &f->len, err, sizeof err) == 0)
            f->mime = mime_parse((const uint8_t *)f->data, f->len);
    }
    return f->mime;
}

/* ASCII-case-insensitive substring search, linear time (lower-cased copies, memmem). */
static bool contains(const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
    if (needle_len == 0)
        return true;
    if (needle_len > hay_len)
        return false;
    char *h = malloc(hay_len), *n = malloc(needle_len);
    bool found = false;
    if (h && n) {
        for (size_t i = 0; i < hay_len; i++)
            h[i] = (char)(hay[i] >= 'A' && hay[i] <= 'Z' ? hay[i] + 32 : hay[i]);
        for (size_t i = 0; i < needle_len; i++)
            n[i] = (char)(needle[i] >= 'A' && needle[i] <= 'Z' ? needle[i] + 32 : needle[i]);
        found = memmem(h, hay_len, n, needle_len) != NULL;
    }
    free(h);
    free(n);
    return found;
}

static bool match_header(struct search_msg *f, const struct imap_search_node *node)
{
    struct mime_message *mime = msg_mime(f);
    if (!mime)
        return false;
    char name[256];
    size_t len = node->field_len < sizeof name - 1 ? node->field_len : sizeof name - 1;
    memcpy(name, node->field, len);
    name[len] = '\0';
    struct strbuf value = {0};
    bool present = mime_header_value(mime, name, &value);
    bool found = present && contains(value.data ? value.data : "", value.len, node->value,
                                     node->value_len);
    strbuf_free(&value);
    return found;
}

static const struct strbuf *body_text(struct search_msg *f)
{
    if (!f->have_body && msg_mime(f))
        mime_body_text(f->mime, &f->body_text);
    f->have_body = true;
    return &f->body_text;
}

static bool match_text(struct search_msg *f, const struct imap_search_node *node)
{
    const struct strbuf *body = body_text(f);
    if (body->len && contains(body->data, body->len, node->value, node->value_len))
        return true;
    if (node->kind == IMAP_SEARCH_BODY || !f->mime)
        return false;
    const uint8_t *header;
    size_t len;
    return mime_section(f->mime, NULL, 0, MIME_SECTION_HEADER, &header, &len) &&
           contains((const char *)header, len, node->value, node->value_len);
}

static int64_t day_of(int64_t epoch)
{
    return epoch >= 0 ? epoch / DAY_SECONDS : -((-epoch + DAY_SECONDS - 1) / DAY_SECONDS);
}

/* BEFORE/ON/SINCE by internal date, SENT* by the Date: header (no match without one).
 * Days are UTC days: RFC 3501 says to disregard time and timezone. */
static bool match_date(struct search_msg *f, const struct imap_search_node *node)
{
    int64_t epoch = f->m->internal_date;
    bool sent = node->kind == IMAP_SEARCH_SENTBEFORE || node->kind == IMAP_SEARCH_SENTON ||
                node->kind == IMAP_SEARCH_SENTSINCE;
    if (sent && (!msg_mime(f) || !mime_date(f->mime, &epoch)))
        return false;
    int64_t day = day_of(epoch);
    switch (node->kind) {
    case IMAP_SEARCH_BEFORE:
    case IMAP_SEARCH_SENTBEFORE:
        return day < node->day;
    case IMAP_SEARCH_ON:
    case IMAP_SEARCH_SENTON:
        return day == node->day;
    default:
        return day >= node->day;
    }
}

static bool match(struct search_msg *f, const struct imap_search_node *nodes, size_t at,
                  const struct search_sets *sets);

static bool match_children(struct search_msg *f, const struct imap_search_node *nodes,
                           size_t at, const struct search_sets *sets)
{
    const struct imap_search_node *node = &nodes[at];
    size_t child = at + 1;
    for (uint32_t i = 0; i < node->count; i++) {
        if (!match(f, nodes, child, sets))
            return false;
        child += 1 + nodes[child].span;
    }
    return true;
}

static bool match(struct search_msg *f, const struct imap_search_node *nodes, size_t at,
                  const struct search_sets *sets)
{
    const struct imap_search_node *node = &nodes[at];
    uint32_t flags = f->m->flags;
    switch (node->kind) {
    case IMAP_SEARCH_ALL:
    case IMAP_SEARCH_UNKEYWORD:
        return true;
    case IMAP_SEARCH_KEYWORD:
        return false;
    case IMAP_SEARCH_AND:
        return match_children(f, nodes, at, sets);
    case IMAP_SEARCH_OR:
        return match(f, nodes, at + 1, sets) ||
               match(f, nodes, at + 2 + nodes[at + 1].span, sets);
    case IMAP_SEARCH_NOT:
        return !match(f, nodes, at + 1, sets);
    case IMAP_SEARCH_FLAG:
        return ((flags & node->flag) != 0) == node->set;
    case IMAP_SEARCH_NEW:
        return (flags & MAILBOX_RECENT) && !(flags & MAILBOX_SEEN);
    case IMAP_SEARCH_OLD:
        return !(flags & MAILBOX_RECENT);
    case IMAP_SEARCH_HEADER:
        return match_header(f, node);
    case IMAP_SEARCH_BODY:
    case IMAP_SEARCH_TEXT:
        return match_text(f, node);
    case IMAP_SEARCH_LARGER:
        return f->m->size > node->number;
    case IMAP_SEARCH_SMALLER:
        return f->m->size < node->number;
    case IMAP_SEARCH_SEQSET:
        return imap_seqset_contains(sets->ranges[at], sets->counts[at], (uint32_t)f->index + 1);
    case IMAP_SEARCH_UIDSET:
        return imap_seqset_contains(sets->ranges[at], sets->counts[at], f->m->uid);
    default:
        return match_date(f, node);
    }
}

/* ---- the command ---- */

static bool prepare_sets(struct imap_session *s, const struct imap_search *q,
                         struct search_sets *sets)
{
    size_t count = mailbox_count(s->mailbox);
    uint32_t max_uid = count ? mailbox_message(s->mailbox, count - 1)->uid : 0;
    sets->ranges = calloc(q->nnodes, sizeof *sets->ranges);
    sets->counts = calloc(q->nnodes, sizeof *sets->counts);
    if (!sets->ranges || !sets->counts)
        return false;
    for (size_t i = 0; i < q->nnodes; i++) {
        const struct imap_search_node *node = &q->nodes[i];
        if (node->kind != IMAP_SEARCH_SEQSET && node->kind != IMAP_SEARCH_UIDSET)
            continue;
        size_t n;
        imap_seqset_parse(node->value, node->value_len, NULL, 0, &n);
        sets->ranges[i] = malloc((n + 1) * sizeof **sets->ranges);
        if (!sets->ranges[i] ||
            imap_seqset_parse(node->value, node->value_len, sets->ranges[i], n, &n) !=
                IMAP_PARSE_OK)
            return false;
        sets->counts[i] = n;
        imap_seqset_resolve(sets->ranges[i], n,
                            node->kind == IMAP_SEARCH_UIDSET ? max_uid : (uint32_t)count);
    }
    return true;
}

static void free_sets(struct search_sets *sets, size_t nnodes)
{
    for (size_t i = 0; sets->ranges && i < nnodes; i++)
        free(sets->ranges[i]);
    free(sets->ranges);
    free(sets->counts);
}

static void run_search(struct imap_session *s, struct imap_cmd *cmd, const struct imap_search *q,
                       const struct search_sets *sets)
{
    strbuf_append_str(&s->out, "* SEARCH");
    size_t count = mailbox_count(s->mailbox);
    for (size_t i = 0; i < count; i++) {
        struct search_msg f = {.s = s, .index = i, .m = mailbox_message(s->mailbox, i)};
        if (match(&f, q->nodes, 0, sets))
            strbuf_printf(&s->out, " %u", cmd->uid ? f.m->uid : (uint32_t)(i + 1));
        mime_free(f.mime);
        free(f.data);
        strbuf_free(&f.body_text);
    }
    strbuf_append_str(&s->out, "\r\n");
    imap_result(s, cmd, IMAP_OK, "%sSEARCH completed", cmd->uid ? "UID " : "");
}

void imap_cmd_search(struct imap_session *s, struct imap_cmd *cmd)
{
    size_t cap = cmd->parsed->nnodes + 1;
    struct imap_search_node *nodes = malloc(cap * sizeof *nodes);
    struct imap_search q = {0};
    struct search_sets sets = {0};
    enum imap_parse_status st = nodes ? imap_parse_search(cmd->args, cmd->nargs,
                                                          s->limits.max_depth, nodes, cap, &q)
                                      : IMAP_PARSE_TOO_MANY_ARGS;
    if (st == IMAP_PARSE_UNKNOWN && q.charset && q.nnodes == 0)
        imap_result(s, cmd, IMAP_NO, "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
    else if (st != IMAP_PARSE_OK)
        imap_result(s, cmd, IMAP_BAD, "%s", imap_parse_status_text(st));
    else if (!prepare_sets(s, &q, &sets))
        imap_result(s, cmd, IMAP_NO, "[SERVERBUG] out of memory");
    else
        run_search(s, cmd, &q, &sets);
    free_sets(&sets, q.nnodes);
    free(nodes);
}
