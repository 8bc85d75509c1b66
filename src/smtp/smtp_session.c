/*
 * SMTP session, first cut: greeting, EHLO/HELO naming the real client, NOOP, RSET, QUIT.
 * Mail transactions arrive with the SMTP service issue.
 */
#include <stdlib.h>
#include <strings.h>

#include "config/config.h"
#include "net/conn.h"
#include "net/service.h"
#include "net/worker.h"
#include "util/line.h"


struct smtp_session {
    const char *hostname;
};

static void *smtp_open(struct conn *conn)
{
    struct smtp_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->hostname = conn->worker->shared->config->hostname;
    conn_printf(conn, "220 %s ESMTP postern\r\n", s->hostname);
    return s;
}

static bool verb_is(const uint8_t *line, size_t len, const char *verb)
{
    size_t n = strlen(verb);
    return len >= n && strncasecmp((const char *)line, verb, n) == 0 &&
           (len == n || line[n] == ' ');
}

static void reply_hello(struct smtp_session *s, struct conn *conn, const uint8_t *line,
                        size_t len, bool extended)
{
    const char *name = len > 5 ? (const char *)line + 5 : "";
    int name_len = len > 5 ? (int)(len - 5) : 0;
    if (name_len > 255)
        name_len = 255;
    conn_printf(conn, "250%c%s Hello %.*s [%s]\r\n", extended ? '-' : ' ', s->hostname, name_len,
                name, conn->info.client_ip);
    if (extended)
        conn_printf(conn, "250 8BITMIME\r\n");
}

static size_t smtp_input(void *session, struct conn *conn, const uint8_t *data, size_t len)
{
    struct smtp_session *s = session;
    size_t n = line_length(data, len);
    if (n == 0)
        return 0; /* the core refuses input that fills its buffer without a line */
    size_t content = line_content_length(data, n);
    if (verb_is(data, content, "EHLO") || verb_is(data, content, "HELO"))
        reply_hello(s, conn, data, content, (data[0] | 0x20) == 'e');
    else if (verb_is(data, content, "NOOP") || verb_is(data, content, "RSET"))
        conn_printf(conn, "250 2.0.0 OK\r\n");
    else if (verb_is(data, content, "QUIT")) {
        conn_printf(conn, "221 2.0.0 %s closing connection\r\n", s->hostname);
        conn_close(conn);
    } else
        conn_printf(conn, "502 5.5.1 command not implemented\r\n");
    return n;
}

static void smtp_farewell(struct conn *conn, enum farewell reason)
{
    static const char *const lines[] = {
        [FAREWELL_BLOCKED] = "554 5.7.1 access denied\r\n",
        [FAREWELL_BUSY] = "421 4.3.2 too many connections, try again later\r\n",
        [FAREWELL_IDLE] = "421 4.4.2 idle timeout, closing connection\r\n",
        [FAREWELL_SHUTDOWN] = "421 4.3.2 server shutting down\r\n",
        [FAREWELL_UNTRUSTED_PROXY] = "554 5.7.0 PROXY header from an untrusted peer\r\n",
        [FAREWELL_LINE_TOO_LONG] = "500 5.5.2 line too long\r\n",
    };
    conn_write(conn, lines[reason], strlen(lines[reason]));
}

static void smtp_close(void *session, struct conn *conn)
{
    (void)conn;
    free(session);
}

const struct service smtp_service = {
    .name = "smtp",
    .open = smtp_open,
    .input = smtp_input,
    .farewell = smtp_farewell,
    .close = smtp_close,
};
