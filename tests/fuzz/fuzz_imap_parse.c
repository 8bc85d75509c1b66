/*
 * Fuzzes the IMAP syntax layer (src/imap/imap_parse.h). The input is framed into commands the
 * way the session does it (lines, "{n}"/"{n+}" literals carrying their octets), and every
 * command goes through the argument parser; every argument then goes through the sequence-set,
 * flag, date and FETCH attribute parsers, and the whole argument list through SEARCH.
 * Properties (violations trap):
 *  - accepted commands: tag and name lie inside the buffer, every node's text lies inside it,
 *    list spans and child counts agree with a walk of the tree, depth and node limits hold;
 *  - written back (atoms as they were, quoted strings re-escaped, literals as {n}), an
 *    accepted command parses again to the same tree (round trip);
 *  - sequence sets: counting and parsing agree; after resolving, every range is ordered and
 *    contains its own ends;
 *  - FETCH: section text lies inside the argument, part count within its bound;
 *  - SEARCH: node spans nest inside the node array.
 * Every parse runs on an exact-size heap copy, so ASan sees any read past the given length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parse.h"
#include "util/strbuf.h"
#include "fuzz_util.h"

#define MAX_ARGS 256
#define MAX_DEPTH 8
#define MAX_LITERAL 4096

static const struct imap_parse_limits limits = {
    .max_args = MAX_ARGS, .max_depth = MAX_DEPTH, .max_literal = MAX_LITERAL};

static bool inside(const char *p, size_t len, const char *base, size_t base_len)
{
    return p >= base && len <= base_len && p + len <= base + base_len;
}

/* Walks a node range; returns the nodes visited and checks spans, counts and depth. */
static size_t walk(const struct imap_arg *a, const struct imap_arg *end, const char *buf,
                   size_t len, unsigned depth)
{
    size_t nodes = 0;
    CHECK(depth <= MAX_DEPTH);
    while (a < end) {
        nodes++;
        if (a->type == IMAP_ARG_LIST) {
            const struct imap_arg *child = a + 1, *stop = imap_arg_next(a);
            CHECK(stop <= end);
            uint32_t count = 0;
            for (const struct imap_arg *c = child; c < stop; c = imap_arg_next(c))
                count++;
            CHECK(count == a->count);
            CHECK(walk(child, stop, buf, len, depth + 1) == a->span);
            nodes += a->span;
        } else {
            CHECK(inside(a->ptr, a->len, buf, len));
        }
        a = imap_arg_next(a);
    }
    return nodes;
}

/* Writes the arguments back as IMAP text. */
static void unparse(const struct imap_arg *a, const struct imap_arg *end, struct strbuf *out)
{
    for (bool first = true; a < end; a = imap_arg_next(a), first = false) {
        if (!first)
            strbuf_append(out, " ", 1);
        switch (a->type) {
        case IMAP_ARG_ATOM:
        case IMAP_ARG_NIL:
            strbuf_append(out, a->ptr, a->len);
            break;
        case IMAP_ARG_QUOTED:
            strbuf_append(out, "\"", 1);
            for (size_t i = 0; i < a->len; i++) {
                if (a->ptr[i] == '"' || a->ptr[i] == '\\')
                    strbuf_append(out, "\\", 1);
                strbuf_append(out, a->ptr + i, 1);
            }
            strbuf_append(out, "\"", 1);
            break;
        case IMAP_ARG_LITERAL:
            strbuf_printf(out, "{%zu}\r\n", a->len);
            strbuf_append(out, a->ptr, a->len);
            break;
        case IMAP_ARG_LIST:
            strbuf_append(out, "(", 1);
            unparse(a + 1, imap_arg_next(a), out);
            strbuf_append(out, ")", 1);
            break;
        }
    }
}

static bool same_tree(const struct imap_arg *a, const struct imap_arg *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].type != b[i].type || a[i].span != b[i].span || a[i].count != b[i].count)
            return false;
        if (a[i].type != IMAP_ARG_LIST &&
            (a[i].len != b[i].len || (a[i].len && memcmp(a[i].ptr, b[i].ptr, a[i].len) != 0)))
            return false;
    }
    return true;
}

static void check_seqset(const struct imap_arg *a)
{
    size_t counted, n;
    struct imap_range ranges[16];
    enum imap_parse_status st = imap_seqset_parse(a->ptr, a->len, NULL, 0, &counted);
    enum imap_parse_status st2 = imap_seqset_parse(a->ptr, a->len, ranges, 16, &n);
    if (st != IMAP_PARSE_OK) {
        CHECK(st2 == st);
        return;
    }
    CHECK(st2 == (counted > 16 ? IMAP_PARSE_TOO_MANY_ARGS : IMAP_PARSE_OK));
    if (st2 != IMAP_PARSE_OK)
        return;
    CHECK(n == counted);
    imap_seqset_resolve(ranges, n, 1000);
    for (size_t i = 0; i < n; i++) {
        CHECK(ranges[i].lo <= ranges[i].hi && ranges[i].lo > 0);
        CHECK(imap_seqset_contains(ranges, n, ranges[i].lo));
        CHECK(imap_seqset_contains(ranges, n, ranges[i].hi));
    }
}

static void check_fetch(const struct imap_arg *a)
{
    struct imap_fetch_att atts[16];
    size_t n = 0;
    if (imap_parse_fetch_atts(a, atts, 16, &n) != IMAP_PARSE_OK)
        return;
    CHECK(n >= 1 && n <= 16);
    for (size_t i = 0; i < n; i++) {
        CHECK(atts[i].nparts <= IMAP_SECTION_PARTS_MAX);
        if (atts[i].kind != IMAP_FETCH_SECTION)
            continue;
        CHECK(atts[i].section_len < a->len || a->type == IMAP_ARG_LIST);
        size_t pos = 0, len;
        const char *name;
        while (imap_header_names_next(atts[i].fields, atts[i].fields_len, &pos, &name, &len))
            CHECK(inside(name, len, atts[i].fields, atts[i].fields_len));
    }
}

/* Every argument through the small parsers (they must never misbehave on any node). */
static void check_args(const struct imap_command *cmd)
{
    const struct imap_arg *end = cmd->args + cmd->nnodes;
    for (const struct imap_arg *a = cmd->args; a < end; a++) {
        struct imap_flags flags;
        int64_t when;
        imap_parse_flags(a, &flags);
        check_fetch(a);
        if (a->type == IMAP_ARG_LIST)
            continue;
        check_seqset(a);
        imap_parse_date(a->ptr, a->len, &when);
        imap_parse_date_time(a->ptr, a->len, &when);
    }
    struct imap_search_node nodes[MAX_ARGS + 1];
    struct imap_search q;
    if (imap_parse_search(cmd->args, cmd->nargs, MAX_DEPTH, nodes, cmd->nnodes + 1, &q) ==
        IMAP_PARSE_OK) {
        CHECK(q.nnodes >= 1 && q.nnodes <= cmd->nnodes + 1);
        CHECK(nodes[0].kind == IMAP_SEARCH_AND && nodes[0].span + 1 == q.nnodes);
        for (size_t i = 0; i < q.nnodes; i++)
            CHECK(i + 1 + nodes[i].span <= q.nnodes);
    }
}

static void round_trip(const struct imap_command *cmd)
{
    struct strbuf text = {0};
    strbuf_append(&text, cmd->tag, cmd->tag_len);
    strbuf_append(&text, " ", 1);
    strbuf_append(&text, cmd->name, cmd->name_len);
    if (cmd->nargs) {
        strbuf_append(&text, " ", 1);
        unparse(cmd->args, cmd->args + cmd->nnodes, &text);
    }
    CHECK(!text.failed);
    char *copy = malloc(text.len ? text.len : 1);
    CHECK(copy != NULL);
    memcpy(copy, text.data, text.len);
    struct imap_arg args[MAX_ARGS];
    struct imap_command again;
    CHECK(imap_parse_command(copy, text.len, &limits, args, &again) == IMAP_PARSE_OK);
    CHECK(again.nnodes == cmd->nnodes && again.nargs == cmd->nargs);
    CHECK(same_tree(cmd->args, args, cmd->nnodes));
    free(copy);
    strbuf_free(&text);
}

static void check_command(const char *cmd_text, size_t len)
{
    char *buf = malloc(len ? len : 1);
    CHECK(buf != NULL);
    memcpy(buf, cmd_text, len);
    struct imap_arg args[MAX_ARGS];
    struct imap_command cmd;
    enum imap_parse_status st = imap_parse_command(buf, len, &limits, args, &cmd);
    if (st == IMAP_PARSE_OK) {
        CHECK(inside(cmd.tag, cmd.tag_len, buf, len) && cmd.tag_len <= IMAP_TAG_MAX);
        CHECK(inside(cmd.name, cmd.name_len, buf, len) && cmd.name_len >= 1);
        CHECK(cmd.nnodes <= MAX_ARGS);
        CHECK(walk(cmd.args, cmd.args + cmd.nnodes, buf, len, 0) == cmd.nnodes);
        check_args(&cmd);
        round_trip(&cmd);
    }
    free(buf);
}

/* Frames the input like the session: lines end at LF (a CR before it is dropped); a line
 * ending in a literal marker is followed by CRLF and the literal's octets. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strbuf cmd = {0};
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *lf = memchr(data + pos, '\n', size - pos);
        size_t end = lf ? (size_t)(lf - data) : size;
        size_t line_start = cmd.len;
        size_t content = end - pos;
        if (content > 0 && data[pos + content - 1] == '\r')
            content--;
        strbuf_append(&cmd, data + pos, content);
        pos = lf ? end + 1 : size;
        uint64_t n = 0;
        enum imap_literal_kind kind = imap_line_literal(cmd.data ? cmd.data + line_start : "",
                                                        cmd.len - line_start, &n);
        if ((kind == IMAP_LITERAL_SYNC || kind == IMAP_LITERAL_NONSYNC) && n <= size - pos) {
            strbuf_append(&cmd, "\r\n", 2);
            strbuf_append(&cmd, data + pos, (size_t)n);
            pos += (size_t)n;
            continue;
        }
        check_command(cmd.data ? cmd.data : "", cmd.len);
        strbuf_reset(&cmd);
    }
    if (cmd.len)
        check_command(cmd.data, cmd.len);
    strbuf_free(&cmd);
    return 0;
}
