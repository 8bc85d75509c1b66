/*
 * The SMTP service: session lifetime, the state machine's one transition function, reply
 * helpers that count errors, and input dispatch by state. Commands live in smtp_commands.c,
 * AUTH in smtp_auth.c, message transfer and delivery in smtp_data.c, syntax in smtp_parse.c.
 *
 * Limits are enforced where input arrives: line lengths here, message size and text line
 * length while DATA/BDAT octets arrive, recipients and commands in the command handlers.
 * A session that must end (too many errors, a ban) finishes its current reply first; the
 * goodbye is said here, after the handler returned, so no reply can follow it.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "net/conn.h"
#include "net/service.h"
#include "net/worker.h"
#include "smtp/smtp_internal.h"
#include "util/line.h"

static_assert(SMTP_LINE_WAIT_MAX < CONN_INPUT_CAPACITY,
              "a whole command line must fit the core's input buffer");
static_assert(SMTP_AUTH_LINE_MAX >= 4 * ((SMTP_AUTH_DECODED_MAX + 2) / 3) + 13,
              "AUTH PLAIN with the longest credentials must fit one AUTH line");
static_assert(SMTP_MAIL_LINE_MAX <= SMTP_LINE_WAIT_MAX, "MAIL lines must fit");

static const char *const state_names[SMTP_STATE_COUNT] = {
    [SMTP_CONNECTED] = "connected",   [SMTP_READY] = "ready",
    [SMTP_MAIL] = "mail",             [SMTP_RCPT] = "rcpt",
    [SMTP_BDAT_MORE] = "bdat_more",   [SMTP_DATA] = "data",
    [SMTP_BDAT] = "bdat",             [SMTP_AUTH_PLAIN] = "auth_plain",
    [SMTP_AUTH_LOGIN_USER] = "auth_login_user",
    [SMTP_AUTH_LOGIN_PASS] = "auth_login_pass",
    [SMTP_STARTTLS] = "starttls",     [SMTP_CLOSING] = "closing",
};

void smtp_set_state(struct smtp_session *s, const struct conn *conn, enum smtp_state next)
{
    if (s->state == next)
        return;
    if (log_enabled(LOG_DEBUG)) {
        struct log_line line;
        conn_log_begin(conn, &line, LOG_DEBUG, "smtp_state");
        log_str(&line, "from", state_names[s->state]);
        log_str(&line, "to", state_names[next]);
        log_end(&line);
    }
    s->state = next;
}

bool smtp_is_secure(const struct conn *conn)
{
    return client_is_secure(&conn->info);
}

/* ---- replies ---- */

static void reply_va(struct conn *conn, const char *fmt, va_list ap)
{
    char text[1024];
    int n = vsnprintf(text, sizeof text - 2, fmt, ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof text - 2 ? (size_t)n : sizeof text - 3;
    text[len++] = '\r';
    text[len++] = '\n';
    conn_write(conn, text, len);
}

void smtp_reply(struct conn *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_va(conn, fmt, ap);
    va_end(ap);
}

void smtp_reply_error(struct smtp_session *s, struct conn *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_va(conn, fmt, ap);
    va_end(ap);
    s->errors++;
    uint32_t max = s->config->smtp.max_errors;
    if (max && s->errors > max && s->ending == SMTP_END_NONE)
        s->ending = SMTP_END_ERRORS;
}

void smtp_reply_error_later(struct smtp_session *s, struct conn *conn, const char *text)
{
    free(s->delayed_reply);
    s->delayed_reply = strdup(text);
    if (!s->delayed_reply) {
        smtp_reply_error(s, conn, "%s", text);
        return;
    }
    conn_hold_input(conn);
    conn_session_timer(conn, SMTP_FAILURE_DELAY_MIN_MS +
                                 arc4random_uniform(SMTP_FAILURE_DELAY_SPREAD_MS));
}

void smtp_report_abuse(struct smtp_session *s, struct conn *conn)
{
    if (conn_report_failure(conn, FAILURE_ABUSE))
        s->ending = SMTP_END_BANNED;
}

void smtp_reset_transaction(struct smtp_session *s, const struct conn *conn)
{
    smtp_txn_free(s->txn);
    s->txn = NULL;
    if (s->state == SMTP_MAIL || s->state == SMTP_RCPT || s->state == SMTP_BDAT_MORE)
        smtp_set_state(s, conn, SMTP_READY);
}

/* Says goodbye when a handler decided the session must end; true when it did. */
static bool enforce_ending(struct smtp_session *s, struct conn *conn)
{
    if (s->ending == SMTP_END_NONE)
        return false;
    struct log_line line;
    switch (s->ending) {
    case SMTP_END_ERRORS:
        conn_log_begin(conn, &line, LOG_WARN, "smtp_error_limit");
        log_uint(&line, "errors", s->errors);
        log_uint(&line, "limit", s->config->smtp.max_errors);
        log_end(&line);
        /* A client that keeps failing is abusing the service; it counts towards a ban. */
        conn_report_failure(conn, FAILURE_ABUSE);
        conn_farewell(conn, FAREWELL_TOO_MANY_ERRORS);
        break;
    case SMTP_END_COMMANDS:
        conn_log_begin(conn, &line, LOG_WARN, "smtp_command_limit");
        log_uint(&line, "limit", s->config->smtp.max_commands_before_mail);
        log_end(&line);
        smtp_reply(conn, "421 4.7.0 too many commands without a mail transaction, "
                         "closing connection");
        conn_close(conn);
        break;
    default:
        conn_farewell(conn, FAREWELL_BANNED);
        break;
    }
    smtp_set_state(s, conn, SMTP_CLOSING);
    return true;
}

/* ---- input ---- */

/* The longest line the current state accepts, CRLF included. */
static size_t line_limit(const struct smtp_session *s)
{
    if (s->state == SMTP_AUTH_PLAIN || s->state == SMTP_AUTH_LOGIN_USER ||
        s->state == SMTP_AUTH_LOGIN_PASS)
        return SMTP_AUTH_LINE_MAX;
    return SMTP_LINE_WAIT_MAX; /* the command table narrows it per command */
}

static void line_too_long(struct smtp_session *s, struct conn *conn)
{
    smtp_auth_clear(s); /* an AUTH exchange cannot continue past a broken line */
    if (s->state >= SMTP_AUTH_PLAIN && s->state <= SMTP_AUTH_LOGIN_PASS)
        smtp_set_state(s, conn, SMTP_READY);
    smtp_reply_error(s, conn, "500 5.5.2 line too long");
}

/* Command and AUTH lines. A line over every limit is skipped up to its LF, then refused. */
static size_t line_input(struct smtp_session *s, struct conn *conn, const uint8_t *data,
                         size_t len)
{
    size_t n = line_length(data, len);
    if (s->discarding) {
        if (n == 0)
            return len;
        s->discarding = false;
        line_too_long(s, conn);
        return n;
    }
    if (n == 0) {
        if (len <= SMTP_LINE_WAIT_MAX)
            return 0; /* wait for the rest of the line */
        s->discarding = true;
        return len;
    }
    size_t content = line_content_length(data, n);
    if (n > line_limit(s))
        line_too_long(s, conn);
    else if (s->state >= SMTP_AUTH_PLAIN && s->state <= SMTP_AUTH_LOGIN_PASS)
        smtp_auth_response(s, conn, (const char *)data, content);
    else
        smtp_command(s, conn, (const char *)data, content);
    return n;
}

static size_t smtp_input(void *session, struct conn *conn, const uint8_t *data, size_t len)
{
    struct smtp_session *s = session;
    size_t used;
    if (s->delayed_reply || s->awaiting_job)
        return 0; /* nothing is read until the pending reply has gone out */
    switch (s->state) {
    case SMTP_DATA:
        used = smtp_data_input(s, conn, data, len);
        break;
    case SMTP_BDAT:
        used = smtp_bdat_input(s, conn, data, len);
        break;
    case SMTP_STARTTLS:
    case SMTP_CLOSING:
        return len; /* not ours: the core discards input after STARTTLS and while closing */
    default:
        used = line_input(s, conn, data, len);
        break;
    }
    if (!s->delayed_reply) /* otherwise the goodbye follows the delayed reply */
        enforce_ending(s, conn);
    return used;
}

/* ---- lifetime ---- */

static void *smtp_open(struct conn *conn)
{
    struct smtp_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->config = conn_config(conn);
    s->state = SMTP_CONNECTED;
    smtp_reply(conn, "220 %s ESMTP postern", s->config->hostname);
    return s;
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
        [FAREWELL_BANNED] = "421 4.7.0 too many failures, try again later\r\n",
        [FAREWELL_TOO_MANY_ERRORS] = "421 4.7.0 too many errors, closing connection\r\n",
    };
    if ((size_t)reason < sizeof lines / sizeof lines[0] && lines[reason])
        conn_write(conn, lines[reason], strlen(lines[reason]));
}

/* RFC 3207 4.2: after the handshake the session starts over, as if just greeted. */
static void smtp_tls_ready(void *session, struct conn *conn)
{
    struct smtp_session *s = session;
    smtp_reset_transaction(s, conn);
    smtp_auth_clear(s);
    free(s->helo);
    s->helo = NULL;
    s->extended = false;
    s->account = NULL;
    s->discarding = false;
    smtp_set_state(s, conn, SMTP_CONNECTED);
}

static void smtp_close(void *session, struct conn *conn)
{
    (void)conn;
    struct smtp_session *s = session;
    smtp_txn_free(s->txn);
    smtp_auth_clear(s);
    free(s->helo);
    free(s->delayed_reply);
    free(s->auth_pending_login);
    free(s);
}

/* The delayed error reply is due: send it, then take up the input that waited. */
static void smtp_timer(void *session, struct conn *conn)
{
    struct smtp_session *s = session;
    if (!s->delayed_reply)
        return;
    char *text = s->delayed_reply;
    s->delayed_reply = NULL;
    smtp_reply_error(s, conn, "%s", text);
    free(text);
    if (!enforce_ending(s, conn))
        conn_resume_input(conn);
}

const struct service smtp_service = {
    .name = "smtp",
    .open = smtp_open,
    .input = smtp_input,
    .farewell = smtp_farewell,
    .close = smtp_close,
    .tls_ready = smtp_tls_ready,
    .timer = smtp_timer,
};
