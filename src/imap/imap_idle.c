/*
 * IDLE (RFC 2177). While idling, the session looks for changes every limits.idle_poll_ms on
 * the core's session timer, and once more when DONE arrives. Clients re-issue IDLE every 29
 * minutes, so an idling session's idle timeout is imap.timeout.idle (30 minutes by default, RFC
 * 3501 5.4's autologout minimum) instead of server.idle-timeout.
 */
#include <strings.h>

#include "imap/imap_internal.h"

void imap_idle_poll(struct imap_session *s)
{
    imap_send_updates(s);
    imap_flush(s);
    if (!imap_enforce_ending(s))
        conn_session_timer(s->conn, s->limits.idle_poll_ms);
}

void imap_idle_stop_timer(struct imap_session *s)
{
    conn_session_timer(s->conn, 0);
}

void imap_cmd_idle(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        imap_result(s, cmd, IMAP_BAD, "syntax: IDLE");
        return;
    }
    cmd->pending = true; /* answered when DONE arrives */
    strbuf_append_str(&s->out, "+ idling\r\n");
    imap_send_updates(s);
    imap_flush(s);
    s->mode = IMAP_INPUT_IDLE;
    conn_set_idle_timeout(s->conn, s->limits.idle_timeout_ms);
    if (s->state == IMAP_SELECTED)
        conn_session_timer(s->conn, s->limits.idle_poll_ms); /* no mailbox: nothing to watch */
}

void imap_idle_line(struct imap_session *s, const char *line, size_t len)
{
    imap_idle_stop_timer(s);
    conn_set_idle_timeout(s->conn, 0);
    s->mode = IMAP_INPUT_COMMAND;
    if (len == 4 && strncasecmp(line, "DONE", 4) == 0) {
        imap_send_updates(s);
        imap_tagged_later(s, IMAP_OK, "IDLE terminated");
    } else {
        imap_tagged_later(s, IMAP_BAD, "expected DONE");
    }
}
