/*
 * The IMAP service: session lifetime, the state machine's one transition function, command
 * dispatch through the table in imap_commands.c, tagged results and untagged updates. Input
 * framing (lines, literals, limits) is in imap_input.c.
 *
 * A session that must end (LOGOUT, too many errors, a ban) finishes its current reply first;
 * the goodbye is said here, after the handler returned, so no reply can follow it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "imap/imap_internal.h"
#include "metrics/metrics.h"
#include "net/service.h"

static const char *const state_names[IMAP_STATE_COUNT] = {
    [IMAP_NOT_AUTH] = "not_authenticated",
    [IMAP_AUTH] = "authenticated",
    [IMAP_SELECTED] = "selected",
    [IMAP_LOGOUT] = "logout",
};

void imap_set_state(struct imap_session *s, enum imap_state next)
{
    if (s->state == next)
        return;
    if (log_enabled(LOG_DEBUG)) {
        struct log_line line;
        conn_log_begin(s->conn, &line, LOG_DEBUG, "imap_state");
        log_str(&line, "from", state_names[s->state]);
        log_str(&line, "to", state_names[next]);
        log_end(&line);
    }
    s->state = next;
}

const char *imap_data_dir(const struct imap_session *s)
{
    return s->config->data_dir;
}

/* ---- output ---- */

void imap_flush(struct imap_session *s)
{
    if (s->out.failed) {
        /* Half a response would desynchronise the client: better to end the session. */
        strbuf_reset(&s->out);
        conn_write(s->conn, "* BYE out of memory\r\n", 21);
        conn_close(s->conn);
        s->mode = IMAP_INPUT_NONE;
        return;
    }
    if (s->out.len)
        conn_write(s->conn, s->out.data, s->out.len);
    strbuf_reset(&s->out);
    if (s->out.cap > 4 * IMAP_OUTPUT_CHUNK)
        strbuf_free(&s->out); /* one large FETCH should not pin its memory for the session */
}

void imap_flush_if_large(struct imap_session *s)
{
    if (s->out.len >= IMAP_OUTPUT_CHUNK)
        imap_flush(s);
}

void imap_count_error(struct imap_session *s)
{
    s->errors++;
    if (s->limits.max_errors && s->errors > s->limits.max_errors && s->ending == IMAP_END_NONE)
        s->ending = IMAP_END_ERRORS;
}

/* The text may be long (COPYUID with many ranges), so it is measured, never cut. */
void imap_result(struct imap_session *s, struct imap_cmd *cmd, enum imap_status status,
                 const char *fmt, ...)
{
    cmd->status = status;
    strbuf_reset(&cmd->text);
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text) {
        vsnprintf(text, (size_t)n + 1, fmt, again);
        strbuf_append(&cmd->text, text, (size_t)n);
        free(text);
    }
    va_end(again);
    va_end(ap);
    if (status == IMAP_BAD)
        imap_count_error(s);
}

static const char *status_word(enum imap_status status)
{
    return status == IMAP_OK ? "OK" : status == IMAP_NO ? "NO" : "BAD";
}

void imap_tagged_later(struct imap_session *s, enum imap_status status, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    strbuf_printf(&s->out, "%s %s %s\r\n", s->tag, status_word(status), text);
    imap_flush(s);
    if (status == IMAP_BAD)
        imap_count_error(s);
}

/* An untagged BAD (no usable tag). */
static void untagged_bad(struct imap_session *s, const char *text)
{
    strbuf_printf(&s->out, "* BAD %s\r\n", text);
    imap_flush(s);
    imap_count_error(s);
}

/* ---- untagged updates ---- */

/* The selected folder cannot be read: gone (another session deleted or renamed it) ends the
 * session, as nothing it says could be trusted any more; otherwise logged and retried. */
static void refresh_failed(struct imap_session *s, const char *err)
{
    struct log_line line;
    conn_log_begin(s->conn, &line, LOG_WARN, "imap_refresh_failed");
    log_str(&line, "error", err);
    log_end(&line);
    if (mailbox_folder_exists(s->config->data_dir, s->account->name, s->selected))
        return;
    strbuf_append_str(&s->out, "* BYE the selected mailbox was deleted\r\n");
    imap_flush(s);
    s->ending = IMAP_END_LOGOUT;
}

void imap_send_updates(struct imap_session *s)
{
    if (s->state != IMAP_SELECTED || !s->mailbox)
        return;
    struct mailbox_changes ch = {0};
    char err[MAILBOX_ERROR_MAX];
    if (mailbox_refresh(s->mailbox, &ch, err, sizeof err) < 0) {
        mailbox_changes_free(&ch);
        refresh_failed(s, err);
        return;
    }
    if (ch.uidvalidity_changed) {
        /* RFC 3501 2.3.1.1: UIDVALIDITY must not change during a session. */
        mailbox_changes_free(&ch);
        strbuf_append_str(&s->out, "* BYE mailbox UIDVALIDITY changed, please reconnect\r\n");
        imap_flush(s);
        s->ending = IMAP_END_LOGOUT;
        return;
    }
    /* Highest first, as the store orders them: every later number stays valid. */
    for (size_t i = 0; i < ch.nexpunged; i++)
        strbuf_printf(&s->out, "* %u EXPUNGE\r\n", ch.expunged[i]);
    if (ch.exists_changed)
        strbuf_printf(&s->out, "* %u EXISTS\r\n* %u RECENT\r\n", ch.exists, ch.recent);
    for (size_t i = 0; i < ch.nflags_changed; i++) {
        uint32_t seq = ch.flags_changed[i];
        if (seq == 0 || seq > mailbox_count(s->mailbox))
            continue;
        const struct mailbox_message *m = mailbox_message(s->mailbox, seq - 1);
        strbuf_printf(&s->out, "* %u FETCH (UID %u FLAGS ", seq, m->uid);
        imap_write_flags(&s->out, m->flags);
        strbuf_append_str(&s->out, ")\r\n");
        imap_flush_if_large(s);
    }
    mailbox_changes_free(&ch);
}

void imap_unselect(struct imap_session *s)
{
    if (s->mailbox)
        mailbox_close(s->mailbox);
    s->mailbox = NULL;
    s->read_only = false;
    if (s->state == IMAP_SELECTED)
        imap_set_state(s, IMAP_AUTH);
}

/* ---- running one command ---- */

/* "UID FETCH ...": the sub-command is the first argument. */
static const struct imap_command_def *lookup(const struct imap_command *parsed,
                                            struct imap_cmd *cmd)
{
    cmd->args = parsed->args;
    cmd->nargs = parsed->nargs;
    if (parsed->name_len == 3 && strncasecmp(parsed->name, "UID", 3) == 0) {
        if (parsed->nargs == 0 || parsed->args[0].type != IMAP_ARG_ATOM)
            return NULL;
        const struct imap_arg *sub = &parsed->args[0];
        cmd->uid = true;
        cmd->args = imap_arg_next(sub);
        cmd->nargs--;
        return imap_find_command("UID", 3, sub->ptr, sub->len);
    }
    return imap_find_command(parsed->name, parsed->name_len, NULL, 0);
}

static void write_tagged(struct imap_session *s, const struct imap_command *parsed,
                         const struct imap_cmd *cmd)
{
    strbuf_append(&s->out, parsed->tag, parsed->tag_len);
    strbuf_printf(&s->out, " %s %s\r\n", status_word(cmd->status),
                  cmd->text.len ? cmd->text.data : "completed");
}

/* Remembers the tag of a command that finishes later. */
static void keep_tag(struct imap_session *s, const struct imap_command *parsed)
{
    memcpy(s->tag, parsed->tag, parsed->tag_len);
    s->tag[parsed->tag_len] = '\0';
}

static void dispatch(struct imap_session *s, const struct imap_command *parsed)
{
    struct imap_cmd cmd = {.parsed = parsed};
    const struct imap_command_def *def = lookup(parsed, &cmd);
    if (!def)
        imap_result(s, &cmd, IMAP_BAD, "unknown command");
    else if (!(def->states & IMAP_STATE_BIT(s->state)))
        imap_result(s, &cmd, IMAP_BAD, "%s not allowed %s", def->name,
                    s->state == IMAP_NOT_AUTH ? "before login" : "in this state");
    else {
        cmd.allow_expunge = !def->no_expunge;
        keep_tag(s, parsed);
        def->handler(s, &cmd);
    }
    if (!cmd.pending) {
        if (def && cmd.allow_expunge && s->ending == IMAP_END_NONE)
            imap_send_updates(s);
        write_tagged(s, parsed, &cmd);
        imap_flush(s);
    }
    strbuf_free(&cmd.text);
}

void imap_run_command(struct imap_session *s, char *buf, size_t len)
{
    size_t cap = len + 1 < s->limits.max_arguments ? len + 1 : s->limits.max_arguments;
    struct imap_arg *args = malloc(cap * sizeof *args);
    if (!args) {
        untagged_bad(s, "out of memory");
        return;
    }
    struct imap_parse_limits lim = {.max_args = cap, .max_depth = s->limits.max_depth,
                                    .max_literal = s->limits.max_size};
    struct imap_command parsed;
    enum imap_parse_status st = imap_parse_command(buf, len, &lim, args, &parsed);
    /* Empty lines count too: they cost the client nothing and must not be free to repeat. */
    if (s->state == IMAP_NOT_AUTH && ++s->commands_preauth > s->limits.max_commands_before_login) {
        s->ending = IMAP_END_PREAUTH;
    } else if (st == IMAP_PARSE_BAD_TAG) {
        untagged_bad(s, imap_parse_status_text(st));
    } else if (st != IMAP_PARSE_OK && st != IMAP_PARSE_EMPTY) {
        strbuf_append(&s->out, parsed.tag, parsed.tag_len);
        strbuf_printf(&s->out, " BAD %s\r\n", imap_parse_status_text(st));
        imap_flush(s);
        imap_count_error(s);
    } else if (st == IMAP_PARSE_OK) {
        dispatch(s, &parsed);
    }
    free(args);
}

bool imap_enforce_ending(struct imap_session *s)
{
    if (s->ending == IMAP_END_NONE)
        return false;
    if (s->state == IMAP_LOGOUT)
        return true; /* already said goodbye */
    struct log_line line;
    switch (s->ending) {
    case IMAP_END_ERRORS:
        conn_log_begin(s->conn, &line, LOG_WARN, "imap_error_limit");
        log_uint(&line, "errors", s->errors);
        log_end(&line);
        /* A client that keeps failing is abusing the service; it counts towards a ban. */
        conn_report_failure(s->conn, FAILURE_ABUSE);
        conn_farewell(s->conn, FAREWELL_TOO_MANY_ERRORS);
        break;
    case IMAP_END_PREAUTH:
        conn_log_begin(s->conn, &line, LOG_WARN, "imap_command_limit");
        log_uint(&line, "limit", s->limits.max_commands_before_login);
        log_end(&line);
        conn_printf(s->conn, "* BYE too many commands before login\r\n");
        conn_close(s->conn);
        break;
    case IMAP_END_BANNED:
        conn_farewell(s->conn, FAREWELL_BANNED);
        break;
    default:
        conn_close(s->conn);
        break;
    }
    imap_idle_stop_timer(s);
    s->mode = IMAP_INPUT_NONE;
    imap_set_state(s, IMAP_LOGOUT);
    return true;
}

static size_t imap_input(void *session, struct conn *conn, const uint8_t *data, size_t len)
{
    (void)conn;
    struct imap_session *s = session;
    if (s->mode == IMAP_INPUT_NONE)
        return len; /* after STARTTLS the core drops it; after LOGOUT nothing is read */
    if (s->awaiting_check || s->delayed_reply)
        return 0; /* held until the login is answered; conn_resume_input() offers it again */
    s->in_input = true;
    size_t used = imap_input_bytes(s, data, len);
    s->in_input = false;
    imap_enforce_ending(s);
    return used;
}

/* ---- capabilities, logins ---- */

void imap_capabilities(const struct imap_session *s, struct strbuf *out)
{
    strbuf_append_str(out, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE "
                           "UNSELECT CHILDREN");
    if (s->state != IMAP_NOT_AUTH)
        return;
    if (conn_tls_available(s->conn))
        strbuf_append_str(out, " STARTTLS");
    /* RFC 3501 6.2.3: no plain-text passwords on a session that is not secure. */
    strbuf_append_str(out, client_is_secure(&s->conn->info) ? " AUTH=PLAIN" : " LOGINDISABLED");
}

static void log_login(const struct imap_session *s, const char *result, const char *mechanism,
                      const char *user, size_t user_len)
{
    struct log_line line;
    conn_log_begin(s->conn, &line, result[0] == 'o' ? LOG_INFO : LOG_WARN, "imap_login");
    log_str(&line, "result", result);
    log_str(&line, "mechanism", mechanism);
    log_strn(&line, "user", user, user_len);
    log_end(&line);
}

void imap_login_failed(struct imap_session *s, const char *mechanism, const char *user,
                       size_t user_len)
{
    log_login(s, "failed", mechanism, user, user_len);
    metrics_count(METRIC_AUTH_FAILURES, "imap");
    if (conn_report_failure(s->conn, FAILURE_AUTH))
        s->ending = IMAP_END_BANNED;
}

void imap_login_ok(struct imap_session *s, const struct account *account,
                   const char *mechanism)
{
    log_login(s, "ok", mechanism, account->name, strlen(account->name));
    metrics_count(METRIC_AUTH_SUCCESSES, "imap");
    s->account = account;
    imap_set_state(s, IMAP_AUTH);
}

/* ---- lifetime ---- */

static void *imap_open(struct conn *conn)
{
    struct imap_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->config = conn_config(conn);
    s->conn = conn;
    s->limits = s->config->imap;
    s->state = IMAP_NOT_AUTH;
    s->mode = IMAP_INPUT_COMMAND;
    strbuf_append_str(&s->out, "* OK [CAPABILITY ");
    imap_capabilities(s, &s->out);
    strbuf_append_str(&s->out, "] postern ready\r\n");
    imap_flush(s);
    return s;
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
    if ((size_t)reason < sizeof lines / sizeof lines[0] && lines[reason])
        conn_write(conn, lines[reason], strlen(lines[reason]));
}

/* RFC 3501 6.2.1: after the handshake the client must ask for capabilities again; nothing
 * from before the handshake survives. */
static void imap_tls_ready(void *session, struct conn *conn)
{
    (void)conn;
    struct imap_session *s = session;
    imap_reset_command(s);
    s->mode = IMAP_INPUT_COMMAND;
    imap_set_state(s, IMAP_NOT_AUTH);
}

static void imap_close(void *session, struct conn *conn)
{
    (void)conn;
    struct imap_session *s = session;
    if (s->mailbox)
        mailbox_close(s->mailbox);
    imap_auth_free(s);
    strbuf_free(&s->cmd);
    strbuf_free(&s->out);
    free(s);
}

/* One timer, two uses that never overlap: a failed login's delayed reply (before login) and
 * IDLE's polling (after). */
static void imap_timer(void *session, struct conn *conn)
{
    (void)conn;
    struct imap_session *s = session;
    if (s->delayed_reply)
        imap_auth_delayed_reply(s);
    else if (s->mode == IMAP_INPUT_IDLE)
        imap_idle_poll(s);
}

const struct service imap_service = {
    .name = "imap",
    .open = imap_open,
    .input = imap_input,
    .farewell = imap_farewell,
    .close = imap_close,
    .tls_ready = imap_tls_ready,
    .timer = imap_timer,
};
