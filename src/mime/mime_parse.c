/*
 * Builds the MIME tree of a message in one forward pass over its lines (RFC 2045/2046).
 *
 * A cursor moves line by line and counts '\n' bytes, so every node's line count comes from two
 * line numbers instead of a recount. Open multiparts keep their boundaries on a stack; each
 * line starting with "--" is compared with them innermost first (RFC 2046 5.1.1: the boundary
 * must start the line, what follows it is not checked), and a delimiter of an outer multipart
 * also ends every part inside it, so a missing close delimiter costs nothing. The line break
 * before a delimiter belongs to the delimiter. Every byte is looked at once (plus one compare
 * per enclosing boundary for "--" lines), so time is linear in the message size.
 *
 * Limits: a multipart or message/rfc822 deeper than MIME_MAX_DEPTH, or met when
 * MIME_MAX_PARTS nodes exist, is left unparsed (its bytes stay in its body); a multipart
 * without a usable boundary has no children. The IMAP writers show such parts the way
 * Dovecot does (an empty text/plain child).
 */
#include "mime/mime_internal.h"

#include <stdlib.h>
#include <string.h>

#define NO_LEVEL SIZE_MAX

struct boundary {
    char *text;
    size_t len;
};

struct parser {
    struct mime_message *msg;
    const uint8_t *data;
    size_t len;
    size_t pos;     /* start of the current line */
    size_t line_no; /* '\n' bytes before pos */
    struct boundary stack[MIME_MAX_DEPTH + 1];
    size_t levels; /* boundaries on the stack */
    bool failed;   /* out of memory */
};

/* Where a part ended: at a delimiter line of an enclosing multipart, or at the end. */
struct stop {
    size_t level; /* index into the stack; NO_LEVEL at the end of the data */
    bool close;   /* "--boundary--" */
    size_t line, line_no;
};

static struct mime_node *node_at(struct parser *p, uint32_t index)
{
    return &p->msg->nodes[index];
}

/* ---- The line cursor ---- */

static void advance_line(struct parser *p)
{
    const uint8_t *lf = memchr(p->data + p->pos, '\n', p->len - p->pos);
    if (lf) {
        p->pos = (size_t)(lf - p->data) + 1;
        p->line_no++;
    } else {
        p->pos = p->len;
    }
}

static bool delimiter_at_cursor(const struct parser *p, struct stop *stop)
{
    size_t avail = p->len - p->pos;
    const uint8_t *line = p->data + p->pos;
    if (p->levels == 0 || avail < 3 || line[0] != '-' || line[1] != '-')
        return false;
    for (size_t level = p->levels; level-- > 0;) {
        const struct boundary *b = &p->stack[level];
        if (avail - 2 < b->len || memcmp(line + 2, b->text, b->len) != 0)
            continue;
        size_t after = 2 + b->len;
        stop->level = level;
        stop->close = avail - after >= 2 && line[after] == '-' && line[after + 1] == '-';
        stop->line = p->pos;
        stop->line_no = p->line_no;
        return true;
    }
    return false;
}

static struct stop end_of_data(const struct parser *p)
{
    return (struct stop){.level = NO_LEVEL, .line = p->len, .line_no = p->line_no};
}

/* Moves to the next delimiter line of any open multipart (not consumed) or to the end. */
static struct stop scan_to_delimiter(struct parser *p)
{
    struct stop stop;
    while (p->pos < p->len) {
        if (delimiter_at_cursor(p, &stop))
            return stop;
        advance_line(p);
    }
    return end_of_data(p);
}

/* Consumes header lines through the blank line. True when a delimiter line or the end came
 * first (then the part has no body and *stop says where it ended). */
static bool read_header(struct parser *p, struct stop *stop)
{
    while (p->pos < p->len) {
        if (delimiter_at_cursor(p, stop))
            return true;
        const uint8_t *line = p->data + p->pos;
        bool blank = line[0] == '\n' || (line[0] == '\r' && p->pos + 1 < p->len && line[1] == '\n');
        advance_line(p);
        if (blank)
            return false;
    }
    *stop = end_of_data(p);
    return true;
}

/* ---- Nodes ---- */

static uint32_t add_node(struct parser *p, uint8_t depth, bool digest_child)
{
    struct mime_message *msg = p->msg;
    if (msg->count == msg->capacity) {
        uint32_t capacity = msg->capacity ? msg->capacity * 2 : 8;
        struct mime_node *nodes = realloc(msg->nodes, capacity * sizeof *nodes);
        if (!nodes) {
            p->failed = true;
            return MIME_NO_NODE;
        }
        msg->nodes = nodes;
        msg->capacity = capacity;
    }
    uint32_t index = msg->count++;
    msg->nodes[index] = (struct mime_node){
        .first_child = MIME_NO_NODE,
        .next_sibling = MIME_NO_NODE,
        .depth = depth,
        .digest_child = digest_child,
    };
    return index;
}

static bool can_nest(const struct parser *p, uint32_t index)
{
    return p->msg->nodes[index].depth < MIME_MAX_DEPTH && p->msg->count < MIME_MAX_PARTS;
}

/* The part ends before the line break that precedes the delimiter (RFC 2046 5.1.1: it
 * belongs to the delimiter), or at the end of the data. That may cut into the header when
 * the delimiter follows it directly ("Content-Type: text/plain" CRLF "--b"). */
static void set_part_end(struct parser *p, uint32_t index, const struct stop *stop,
                         size_t body_line_no)
{
    struct mime_node *node = node_at(p, index);
    size_t end = stop->line;
    size_t lines = stop->line_no - body_line_no;
    if (stop->level != NO_LEVEL && end > node->header.off) {
        end--; /* the '\n' */
        lines--;
        if (end > node->header.off && p->data[end - 1] == '\r')
            end--;
    }
    if (end < node->body.off) {
        node->header.len = end - node->header.off;
        node->body.off = end;
    }
    node->body.len = end - node->body.off;
    node->lines = node->body.len > 0 ? lines : 0;
}

/* ---- Content-Type ---- */

static bool usable_boundary(const struct mime_param *param, const char *value)
{
    return param && param->value_len > 0 && !memchr(value, '\r', param->value_len) &&
           !memchr(value, '\n', param->value_len);
}

/* A copy of the boundary parameter, or NULL (none, unusable, or out of memory). */
static char *find_boundary(const uint8_t *value, size_t len, size_t *boundary_len)
{
    struct mime_params params;
    mime_params_init(&params);
    const uint8_t *type, *subtype;
    size_t type_len, subtype_len;
    char *copy = NULL;
    mime_parse_content_type(value, len, &type, &type_len, &subtype, &subtype_len, &params);
    const struct mime_param *param = mime_params_find(&params, "boundary");
    if (usable_boundary(param, param ? mime_param_value(&params, param) : NULL)) {
        copy = malloc(param->value_len);
        if (copy) {
            memcpy(copy, mime_param_value(&params, param), param->value_len);
            *boundary_len = param->value_len;
        }
    }
    mime_params_free(&params);
    return copy;
}

/* Sets type, subtype and kind from the header; a multipart's boundary is returned (malloc'd)
 * for the caller to push. */
static char *read_content_type(struct parser *p, uint32_t index, size_t *boundary_len)
{
    struct mime_node *node = node_at(p, index);
    struct mime_field field;
    const uint8_t *type, *subtype;
    size_t type_len, subtype_len;
    node->kind = node->digest_child ? MIME_KIND_MESSAGE : MIME_KIND_LEAF;
    if (!mime_field_find(p->data + node->header.off, node->header.len, "Content-Type",
                         &field) ||
        !mime_parse_content_type(field.value, field.value_len, &type, &type_len, &subtype,
                                 &subtype_len, NULL))
        return NULL; /* RFC 2045 5.2: absent or invalid means the default */
    node->has_type = true;
    node->type = (struct mime_span){(size_t)(type - p->data), type_len};
    node->subtype = (struct mime_span){(size_t)(subtype - p->data), subtype_len};
    if (mime_equals_ci(type, type_len, "multipart")) {
        node->kind = MIME_KIND_MULTIPART;
        return find_boundary(field.value, field.value_len, boundary_len);
    }
    bool rfc822 = mime_equals_ci(type, type_len, "message") &&
                  mime_equals_ci(subtype, subtype_len, "rfc822");
    node->kind = rfc822 ? MIME_KIND_MESSAGE : MIME_KIND_LEAF;
    return NULL;
}

/* ---- Parts ---- */

static struct stop parse_node(struct parser *p, uint32_t index);

static struct stop parse_multipart_body(struct parser *p, uint32_t index, char *boundary,
                                        size_t boundary_len)
{
    size_t level = p->levels++;
    p->stack[level] = (struct boundary){boundary, boundary_len};
    const struct mime_node *node = node_at(p, index);
    bool digest = mime_equals_ci(p->data + node->subtype.off, node->subtype.len, "digest");
    uint8_t child_depth = (uint8_t)(node->depth + 1);
    uint32_t previous = MIME_NO_NODE;
    struct stop stop = scan_to_delimiter(p); /* the preamble */
    while (stop.level == level && !stop.close && !p->failed) {
        advance_line(p); /* the delimiter */
        if (p->msg->count >= MIME_MAX_PARTS) {
            stop = scan_to_delimiter(p); /* over the limit: stays in this body, unparsed */
            continue;
        }
        uint32_t child = add_node(p, child_depth, digest);
        if (child == MIME_NO_NODE)
            break;
        if (previous == MIME_NO_NODE)
            node_at(p, index)->first_child = child;
        else
            node_at(p, previous)->next_sibling = child;
        node_at(p, index)->child_count++;
        previous = child;
        stop = parse_node(p, child);
    }
    free(boundary);
    p->levels--;
    if (stop.level == level && !p->failed) { /* the close delimiter, then the epilogue */
        advance_line(p);
        stop = scan_to_delimiter(p);
    }
    return stop;
}

static struct stop parse_message_body(struct parser *p, uint32_t index)
{
    uint32_t child = add_node(p, (uint8_t)(node_at(p, index)->depth + 1), false);
    if (child == MIME_NO_NODE)
        return end_of_data(p);
    node_at(p, index)->first_child = child;
    node_at(p, index)->child_count = 1;
    return parse_node(p, child);
}

static struct stop parse_content(struct parser *p, uint32_t index, char *boundary,
                                 size_t boundary_len)
{
    struct mime_node *node = node_at(p, index);
    bool nest = can_nest(p, index);
    if (node->kind == MIME_KIND_MULTIPART && boundary && nest)
        return parse_multipart_body(p, index, boundary, boundary_len);
    free(boundary);
    if (node->kind == MIME_KIND_MESSAGE && nest)
        return parse_message_body(p, index);
    return scan_to_delimiter(p); /* a leaf, or a container left unparsed */
}

static struct stop parse_node(struct parser *p, uint32_t index)
{
    struct stop stop;
    node_at(p, index)->header.off = p->pos;
    bool ended = read_header(p, &stop);
    struct mime_node *node = node_at(p, index);
    node->header.len = p->pos - node->header.off;
    node->body.off = p->pos;
    size_t body_line_no = p->line_no;
    size_t boundary_len = 0;
    char *boundary = read_content_type(p, index, &boundary_len);
    if (ended) /* no body: nothing to nest */
        free(boundary);
    else
        stop = parse_content(p, index, boundary, boundary_len);
    set_part_end(p, index, &stop, body_line_no);
    return stop;
}

/* ---- Interface ---- */

struct mime_message *mime_parse(const uint8_t *data, size_t len)
{
    static const uint8_t empty[1];
    struct mime_message *msg = calloc(1, sizeof *msg);
    if (!msg)
        return NULL;
    msg->data = data ? data : empty;
    msg->len = data ? len : 0;
    struct parser p = {.msg = msg, .data = msg->data, .len = msg->len};
    if (add_node(&p, 0, false) != MIME_NO_NODE)
        parse_node(&p, 0);
    if (p.failed) {
        mime_free(msg);
        return NULL;
    }
    return msg;
}

void mime_free(struct mime_message *msg)
{
    if (!msg)
        return;
    free(msg->nodes);
    free(msg);
}

bool mime_node_is_text(const struct mime_message *msg, const struct mime_node *node)
{
    if (!node->has_type)
        return !node->digest_child;
    return mime_equals_ci(msg->data + node->type.off, node->type.len, "text");
}
