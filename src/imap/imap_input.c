/*
 * IMAP input framing: the bytes of a command are collected into the session's own buffer,
 * line by line and literal by literal, with every limit checked as they arrive. The core
 * hands over at most CONN_INPUT_CAPACITY bytes at a time, so nothing here ever waits for the
 * core's buffer to hold a whole line: partial lines are taken and kept.
 *
 *  - "{n}" (synchronizing): "+" is sent only when the literal fits; otherwise the command is
 *    refused at once and the client never sends the octets.
 *  - "{n+}" (LITERAL+): the octets come anyway; an oversized one is read and dropped, and the
 *    command is refused when its last line arrives (RFC 7888 leaves no other way).
 *  - A line past the limit is skipped up to its LF and answered BAD [TOOBIG].
 *  - APPEND's message literal has its own limit; everything else counts against the line limit
 *    (smaller before login).
 * Complete commands go to imap_run_command(); AUTHENTICATE responses and IDLE's DONE are lines
 * too, routed by the input mode.
 */
#include <string.h>
#include <strings.h>

#include "imap/imap_internal.h"
#include "util/line.h"

/* The limit for the text of a command (its lines, and literals except APPEND's message). */
static size_t line_limit(const struct imap_session *s)
{
    return s->state == IMAP_NOT_AUTH ? s->limits.max_line_before_login : s->limits.max_line;
}

void imap_reset_command(struct imap_session *s)
{
    strbuf_reset(&s->cmd);
    if (s->cmd.cap > 4 * (size_t)s->limits.max_line)
        strbuf_free(&s->cmd); /* an APPEND's message buffer is not kept */
    s->line_start = 0;
    s->literal_left = 0;
    s->refusal = NULL;
    s->append_bytes = 0;
    s->discarding = false;
}

/* Answers a command that was refused while it arrived, with the tag it started with. */
static void answer_refused(struct imap_session *s, const char *reply)
{
    size_t tag_len = 0;
    while (tag_len < s->cmd.len && tag_len < IMAP_TAG_MAX && s->cmd.data[tag_len] != ' ' &&
           (unsigned char)s->cmd.data[tag_len] > 0x20 && (unsigned char)s->cmd.data[tag_len] < 0x7f)
        tag_len++;
    if (tag_len == 0 || tag_len >= s->cmd.len)
        strbuf_printf(&s->out, "* %s\r\n", reply);
    else
        strbuf_printf(&s->out, "%.*s %s\r\n", (int)tag_len, s->cmd.data, reply);
    imap_flush(s);
    if (strncmp(reply, "BAD", 3) == 0)
        imap_count_error(s);
    imap_reset_command(s);
}

/* True when this command is an APPEND that may carry a message-sized literal. */
static bool is_append(const struct imap_session *s)
{
    const char *name;
    size_t len;
    return s->state != IMAP_NOT_AUTH && imap_peek_command(s->cmd.data, s->cmd.len, &name, &len) &&
           len == 6 && strncasecmp(name, "APPEND", 6) == 0;
}

static void start_literal(struct imap_session *s, enum imap_literal_kind kind, uint64_t n)
{
    bool append = is_append(s);
    bool fits = append ? s->append_bytes + n <= s->limits.max_size
                       : s->cmd.len + 2 + n <= line_limit(s);
    if (!fits && !s->refusal)
        s->refusal = append ? "NO [TOOBIG] message too large" : "BAD [TOOBIG] literal too large";
    if (s->refusal && kind == IMAP_LITERAL_SYNC) {
        /* The client waits for "+": refusing now means the octets are never sent. */
        answer_refused(s, s->refusal);
        return;
    }
    if (append)
        s->append_bytes += n;
    strbuf_append(&s->cmd, "\r\n", 2);
    s->literal_left = n;
    if (n > 0)
        s->mode = IMAP_INPUT_LITERAL;
    s->line_start = s->cmd.len;
    if (kind == IMAP_LITERAL_SYNC) {
        strbuf_append_str(&s->out, "+ Ready for literal data\r\n");
        imap_flush(s);
    }
}

/* A command line is complete: either a literal follows, or the command is. */
static void command_line(struct imap_session *s)
{
    const char *line = s->cmd.data ? s->cmd.data + s->line_start : "";
    size_t len = s->cmd.len - s->line_start;
    uint64_t n = 0;
    enum imap_literal_kind kind = imap_line_literal(line, len, &n);
    if (kind == IMAP_LITERAL_BAD) {
        answer_refused(s, "BAD invalid literal size");
    } else if (kind != IMAP_LITERAL_NONE) {
        start_literal(s, kind, n);
    } else if (s->refusal) {
        answer_refused(s, s->refusal);
    } else if (s->cmd.failed) {
        answer_refused(s, "NO [LIMIT] out of memory");
    } else {
        char empty[1] = ""; /* an empty line: counted, never answered */
        imap_run_command(s, s->cmd.data ? s->cmd.data : empty, s->cmd.len);
        imap_reset_command(s);
    }
}

/* A complete line in a line mode (LF and CR removed from s->cmd). */
static void line_complete(struct imap_session *s, bool too_long)
{
    const char *line = s->cmd.data ? s->cmd.data + s->line_start : "";
    size_t len = too_long ? 0 : s->cmd.len - s->line_start;
    switch (s->mode) {
    case IMAP_INPUT_COMMAND:
        if (too_long)
            answer_refused(s, "BAD [TOOBIG] command line too long");
        else
            command_line(s);
        return;
    case IMAP_INPUT_AUTH:
        s->mode = IMAP_INPUT_COMMAND;
        if (too_long)
            imap_tagged_later(s, IMAP_BAD, "AUTHENTICATE response too long");
        else
            imap_auth_response(s, line, len);
        break;
    case IMAP_INPUT_IDLE:
        imap_idle_line(s, line, len); /* an over-long line is no DONE: it ends IDLE with BAD */
        break;
    default:
        break;
    }
    imap_reset_command(s);
}

/* Collects a line into s->cmd; a line past the limit is skipped up to its LF. */
static size_t line_input(struct imap_session *s, const uint8_t *data, size_t len)
{
    size_t n = line_length(data, len);
    size_t take = n ? n : len;
    size_t content = n ? take - 1 : take; /* the LF is never kept */
    size_t limit = s->mode == IMAP_INPUT_COMMAND ? line_limit(s) + s->append_bytes
                                                 : s->limits.max_line_before_login;
    if (!s->discarding && s->cmd.len + content > limit) {
        /* Keep what fits: the refusal must carry the command's tag, or the client waits. */
        if (s->cmd.len < limit)
            strbuf_append(&s->cmd, data, limit - s->cmd.len);
        s->discarding = true;
    }
    if (!s->discarding)
        strbuf_append(&s->cmd, data, content);
    if (n == 0)
        return take;
    bool too_long = s->discarding;
    s->discarding = false;
    if (!too_long && s->cmd.len > s->line_start && s->cmd.data[s->cmd.len - 1] == '\r')
        s->cmd.data[--s->cmd.len] = '\0';
    line_complete(s, too_long);
    return take;
}

static size_t literal_input(struct imap_session *s, const uint8_t *data, size_t len)
{
    size_t take = len < s->literal_left ? len : (size_t)s->literal_left;
    if (!s->refusal)
        strbuf_append(&s->cmd, data, take);
    s->literal_left -= take;
    if (s->literal_left == 0) {
        s->mode = IMAP_INPUT_COMMAND;
        s->line_start = s->cmd.len;
    }
    return take;
}

size_t imap_input_bytes(struct imap_session *s, const uint8_t *data, size_t len)
{
    if (s->mode == IMAP_INPUT_LITERAL)
        return literal_input(s, data, len);
    return line_input(s, data, len);
}
