/*
 * IMAP session, first cut: greeting, CAPABILITY, NOOP, LOGOUT. Mailbox access arrives with
 * the IMAP service issue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "net/conn.h"
#include "net/service.h"
#include "util/line.h"

#define IMAP_TAG_MAX 64

/* STARTTLS while TLS is possible; LOGINDISABLED until the session is secure (RFC 3501 6.2.3). */
static void capability_list(struct conn *conn, char *out, size_t cap)
{
    snprintf(out, cap, "IMAP4rev1%s%s", conn_tls_available(conn) ? " STARTTLS" : "",
             client_is_secure(&conn->info) ? "" : " LOGINDISABLED");
}

static void *imap_open(struct conn *conn)
{
    static int session_marker;
    char caps[128];
    capability_list(conn, caps, sizeof caps);
    conn_printf(conn, "* OK [CAPABILITY %s] postern ready\r\n", caps);
    return &session_marker;
}

/* Splits "tag command ..." and returns the command's length. */
static size_t imap_split(const uint8_t *line, size_t len, size_t *tag_len,
                         const uint8_t **command)
{
    const uint8_t *space = memchr(line, ' ', len);
    if (!space || space == line || (size_t)(space - line) > IMAP_TAG_MAX)
        return 0;
    *tag_len = (size_t)(space - line);
    *command = space + 1;
    size_t rest = len - *tag_len - 1;
    const uint8_t *end = memchr(*command, ' ', rest);
    return end ? (size_t)(end - *command) : rest;
}

static bool command_is(const uint8_t *cmd, size_t len, const char *name)
{
    return len == strlen(name) && strncasecmp((const char *)cmd, name, len) == 0;
}

static size_t imap_input(void *session, struct conn *conn, const uint8_t *data, size_t len)
{
    (void)session;
    size_t n = line_length(data, len);
    if (n == 0)
        return 0;
    size_t content = line_content_length(data, n), tag_len = 0;
    const uint8_t *cmd = NULL;
    size_t cmd_len = imap_split(data, content, &tag_len, &cmd);
    if (cmd_len == 0)
        conn_printf(conn, "* BAD missing tag or command\r\n");
    else if (command_is(cmd, cmd_len, "CAPABILITY")) {
        char caps[128];
        capability_list(conn, caps, sizeof caps);
        conn_printf(conn, "* CAPABILITY %s\r\n%.*s OK CAPABILITY completed\r\n", caps,
                    (int)tag_len, data);
    } else if (command_is(cmd, cmd_len, "STARTTLS")) {
        if (!conn_tls_available(conn)) {
            conn_printf(conn, "%.*s BAD STARTTLS not available\r\n", (int)tag_len, data);
        } else {
            conn_printf(conn, "%.*s OK Begin TLS negotiation now\r\n", (int)tag_len, data);
            conn_start_tls(conn);
        }
    }
    else if (command_is(cmd, cmd_len, "NOOP"))
        conn_printf(conn, "%.*s OK NOOP completed\r\n", (int)tag_len, data);
    else if (command_is(cmd, cmd_len, "LOGOUT")) {
        conn_printf(conn, "* BYE postern logging out\r\n%.*s OK LOGOUT completed\r\n",
                    (int)tag_len, data);
        conn_close(conn);
    } else
        conn_printf(conn, "%.*s BAD command not implemented\r\n", (int)tag_len, data);
    return n;
}

static void imap_farewell(struct conn *conn, enum farewell reason)
{
    static const char *const lines[] = {
        [FAREWELL_BLOCKED] = "* BYE access denied\r\n",
        [FAREWELL_BUSY] = "* BYE too many connections, try again later\r\n",
        [FAREWELL_IDLE] = "* BYE idle timeout\r\n",
        [FAREWELL_SHUTDOWN] = "* BYE server shutting down\r\n",
        [FAREWELL_UNTRUSTED_PROXY] = "* BYE PROXY header from an untrusted peer\r\n",
        [FAREWELL_LINE_TOO_LONG] = "* BYE line too long\r\n",
        [FAREWELL_BANNED] = "* BYE too many failures, try again later\r\n",
        [FAREWELL_TOO_MANY_ERRORS] = "* BYE too many errors\r\n",
    };
    conn_write(conn, lines[reason], strlen(lines[reason]));
}

static void imap_close(void *session, struct conn *conn)
{
    (void)session;
    (void)conn;
}

const struct service imap_service = {
    .name = "imap",
    .open = imap_open,
    .input = imap_input,
    .farewell = imap_farewell,
    .close = imap_close,
};
