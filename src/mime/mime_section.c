/*
 * Section numbers (RFC 3501 6.4.5): which bytes BODY[1.2.MIME] and friends name.
 *
 * Numbering inside a message (the top level, or one embedded in a message/rfc822 part): when
 * its body is a multipart, its parts are 1..n; otherwise the body is the only part, number 1
 * ("every message has at least one part number"). A multipart part numbers its children; a
 * message/rfc822 part numbers the parts of the message it carries. A multipart that has no
 * parsed children (no boundary, limits) and a message/rfc822 part that was not parsed (no
 * body, limits) contain one empty part, as BODYSTRUCTURE shows them.
 */
#include "mime/mime_internal.h"

static const struct mime_node *child_number(const struct mime_message *msg,
                                            const struct mime_node *node, uint32_t number)
{
    if (number == 0)
        return NULL;
    uint32_t index = node->first_child;
    while (index != MIME_NO_NODE && --number > 0)
        index = msg->nodes[index].next_sibling;
    return index == MIME_NO_NODE ? NULL : &msg->nodes[index];
}

/* Where a part path leads: a node, or the empty part standing in for the content of a
 * childless multipart or an unparsed message/rfc822 part (*empty_part set, the node is that
 * part). NULL when there is no such part. */
static const struct mime_node *find_part(const struct mime_message *msg, const uint32_t *parts,
                                         size_t nparts, bool *empty_part)
{
    const struct mime_node *node = &msg->nodes[0];
    bool at_message = true; /* node is a message whose parts are numbered next */
    *empty_part = false;
    for (size_t i = 0; i < nparts; i++) {
        if (*empty_part)
            return NULL;
        if (!at_message && node->kind == MIME_KIND_MESSAGE) {
            if (node->first_child == MIME_NO_NODE) { /* unparsed: shown with an empty part */
                *empty_part = parts[i] == 1;
                if (!*empty_part)
                    return NULL;
                continue;
            }
            node = &msg->nodes[node->first_child];
            at_message = true;
        }
        if (node->kind == MIME_KIND_MULTIPART && node->child_count == 0) {
            *empty_part = parts[i] == 1;
            if (!*empty_part)
                return NULL;
        } else if (node->kind == MIME_KIND_MULTIPART) {
            node = child_number(msg, node, parts[i]);
            if (!node)
                return NULL;
        } else if (!at_message || parts[i] != 1) {
            return NULL; /* a single part has no sub-parts; a message has only part 1 */
        }
        at_message = false;
    }
    return node;
}

static bool span_result(const struct mime_message *msg, struct mime_span span,
                        const uint8_t **ptr, size_t *len)
{
    *ptr = msg->data + span.off;
    *len = span.len;
    return true;
}

static bool top_level_section(const struct mime_message *msg, enum mime_section_kind kind,
                              const uint8_t **ptr, size_t *len)
{
    switch (kind) {
    case MIME_SECTION_ALL:
        return span_result(msg, (struct mime_span){0, msg->len}, ptr, len);
    case MIME_SECTION_HEADER:
        return span_result(msg, msg->nodes[0].header, ptr, len);
    case MIME_SECTION_TEXT:
        return span_result(msg, msg->nodes[0].body, ptr, len);
    case MIME_SECTION_MIME:
        break;
    }
    return false; /* MIME needs a part number */
}

bool mime_section(const struct mime_message *msg, const uint32_t *parts, size_t nparts,
                  enum mime_section_kind kind, const uint8_t **ptr, size_t *len)
{
    if (nparts == 0)
        return top_level_section(msg, kind, ptr, len);
    bool empty_part;
    const struct mime_node *node = find_part(msg, parts, nparts, &empty_part);
    if (!node)
        return false;
    if (empty_part) {
        struct mime_span at_end = {node->body.off + node->body.len, 0};
        return kind != MIME_SECTION_HEADER && kind != MIME_SECTION_TEXT &&
               span_result(msg, at_end, ptr, len);
    }
    if (kind == MIME_SECTION_ALL)
        return span_result(msg, node->body, ptr, len);
    if (kind == MIME_SECTION_MIME)
        return span_result(msg, node->header, ptr, len);
    /* HEADER and TEXT exist only for message/rfc822 parts: those of the message inside */
    if (node->kind != MIME_KIND_MESSAGE || node->first_child == MIME_NO_NODE)
        return false;
    const struct mime_node *inner = &msg->nodes[node->first_child];
    return span_result(msg, kind == MIME_SECTION_HEADER ? inner->header : inner->body, ptr,
                       len);
}
