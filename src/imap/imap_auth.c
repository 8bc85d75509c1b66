/*
 * LOGIN and AUTHENTICATE PLAIN (RFC 3501 6.2, RFC 4616, SASL-IR RFC 4959), only on a secure
 * session (own TLS, the PROXY SSL TLV, or proxy.assume-tls): elsewhere LOGINDISABLED is
 * advertised and both answer NO [PRIVACYREQUIRED]. The hash is checked on an I/O thread
 * (auth/password_check.h) while the session holds its input; a failure counts against the
 * real client address, can start a ban, and is answered after a random delay. Passwords are
 * wiped from the command buffer after use and never logged; the login name is (escaped).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/password_check.h"
#include "config/config.h"
#include "imap/imap_internal.h"
#include "smtp/smtp_parse.h"

/* Base64 of a PLAIN message with the longest identities and password we accept. */
#define IMAP_PLAIN_DECODED_MAX (2 * ACCOUNT_NAME_MAX + 2 * ADDRESS_MAX + PASSWORD_MAX + 2)

static bool require_secure(struct imap_session *s, struct imap_cmd *cmd)
{
    if (client_is_secure(&s->conn->info))
        return true;
    imap_result(s, cmd, IMAP_NO, "[PRIVACYREQUIRED] login only over TLS (use STARTTLS)");
    return false;
}

/* The account for a login name, or an address of the account. */
static const struct account *find_account(const struct imap_session *s, const char *user,
                                          size_t len)
{
    const struct directory *dir = s->config->directory;
    const struct account *account = directory_find_login(dir, user, len);
    if (!account && memchr(user, '@', len))
        account = directory_find_address(dir, user, len);
    return account;
}

static void ok_text(const struct imap_session *s, struct strbuf *text)
{
    strbuf_append_str(text, "[CAPABILITY ");
    imap_capabilities(s, text);
    strbuf_append_str(text, "] Logged in");
}

/* A failure is logged and counted now, answered after a random delay (input held meanwhile):
 * guessing costs time, and the timing says nothing about why the login failed. */
static void login_failed(struct imap_session *s, const char *mechanism, const char *user,
                         size_t user_len)
{
    imap_login_failed(s, mechanism, user, user_len);
    s->delayed_reply = strdup("NO [AUTHENTICATIONFAILED] invalid credentials");
    if (!s->delayed_reply) {
        imap_tagged_later(s, IMAP_NO, "[AUTHENTICATIONFAILED] invalid credentials");
        return;
    }
    conn_hold_input(s->conn);
    conn_session_timer(s->conn, IMAP_FAILURE_DELAY_MIN_MS +
                                    arc4random_uniform(IMAP_FAILURE_DELAY_SPREAD_MS));
}

void imap_auth_delayed_reply(struct imap_session *s)
{
    char *text = s->delayed_reply;
    s->delayed_reply = NULL;
    strbuf_printf(&s->out, "%s %s\r\n", s->tag, text);
    imap_flush(s);
    free(text);
    if (!imap_enforce_ending(s))
        conn_resume_input(s->conn);
}

/* Back from the I/O thread: OK with the new capabilities, or the delayed NO. */
static void password_checked(void *ctx, struct conn *conn, const struct account *account,
                             bool ok)
{
    struct imap_session *s = ctx;
    s->awaiting_check = false;
    const char *user = s->pending_user ? s->pending_user : "";
    if (conn->stage == STAGE_SESSION) {
        if (ok) {
            imap_login_ok(s, account, s->pending_mechanism);
            struct strbuf text = {0};
            ok_text(s, &text);
            imap_tagged_later(s, IMAP_OK, "%s", text.data ? text.data : "Logged in");
            strbuf_free(&text);
        } else {
            login_failed(s, s->pending_mechanism, user, strlen(user));
        }
    }
    free(s->pending_user);
    s->pending_user = NULL;
    /* When the pool ran the check at once, we are still inside imap_input(): the core's
     * input loop then just goes on. */
    if (!s->delayed_reply && !imap_enforce_ending(s))
        conn_resume_input(conn);
}

/* Starts the hash on an I/O thread (unknown users cost one too, so timing reveals nothing);
 * the command is answered from password_checked(). */
static void verify(struct imap_session *s, const char *mechanism, const char *user,
                   size_t user_len, const char *password, size_t pw_len)
{
    const struct account *account = NULL;
    if (!memchr(user, '\0', user_len) && !memchr(password, '\0', pw_len))
        account = find_account(s, user, user_len);
    s->pending_user = strndup(user, user_len);
    s->pending_mechanism = mechanism;
    s->awaiting_check = true;
    conn_hold_input(s->conn);
    if (!s->pending_user ||
        !password_check_start(s->conn, account, password, pw_len, password_checked, s)) {
        s->awaiting_check = false;
        free(s->pending_user);
        s->pending_user = NULL;
        login_failed(s, mechanism, user, user_len);
    }
}

void imap_auth_free(struct imap_session *s)
{
    free(s->delayed_reply);
    s->delayed_reply = NULL;
    free(s->pending_user);
    s->pending_user = NULL;
}

void imap_cmd_login(struct imap_session *s, struct imap_cmd *cmd)
{
    const struct imap_arg *user = cmd->args, *pass = cmd->nargs == 2 ? imap_arg_next(user) : NULL;
    if (!pass || !imap_arg_is_astring(user) || !imap_arg_is_astring(pass)) {
        imap_result(s, cmd, IMAP_BAD, "syntax: LOGIN user password");
        return;
    }
    if (!require_secure(s, cmd))
        return;
    cmd->pending = true; /* answered when the check is done */
    verify(s, "LOGIN", user->ptr, user->len, pass->ptr, pass->len);
    explicit_bzero((char *)pass->ptr, pass->len); /* it lives in the session's command buffer */
}

/* A PLAIN response (base64); the tagged reply follows the check (s->tag). */
static void plain_response(struct imap_session *s, const char *b64, size_t len)
{
    uint8_t msg[IMAP_PLAIN_DECODED_MAX];
    size_t msg_len = 0;
    struct smtp_plain plain;
    enum smtp_parse_status st = smtp_base64_decode(b64, len, msg, sizeof msg, &msg_len);
    if (st != SMTP_PARSE_OK) {
        imap_tagged_later(s, IMAP_BAD, "invalid base64 in AUTHENTICATE response");
        return;
    }
    if (smtp_parse_plain(msg, msg_len, &plain) != SMTP_PARSE_OK) {
        login_failed(s, "PLAIN", "", 0);
    } else if (plain.authzid.len && (plain.authzid.len != plain.authcid.len ||
                                     memcmp(plain.authzid.ptr, plain.authcid.ptr,
                                            plain.authcid.len) != 0)) {
        /* Acting as another user (an authorization identity) is not offered. */
        login_failed(s, "PLAIN", plain.authcid.ptr, plain.authcid.len);
    } else {
        verify(s, "PLAIN", plain.authcid.ptr, plain.authcid.len, plain.password.ptr,
               plain.password.len);
    }
    explicit_bzero(msg, sizeof msg);
}

void imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *cmd)
{
    const struct imap_arg *mech = cmd->args;
    if (cmd->nargs < 1 || cmd->nargs > 2 || mech->type != IMAP_ARG_ATOM) {
        imap_result(s, cmd, IMAP_BAD, "syntax: AUTHENTICATE mechanism [initial-response]");
        return;
    }
    if (!imap_arg_atom_is(mech, "PLAIN")) {
        imap_result(s, cmd, IMAP_NO, "[CANNOT] unsupported authentication mechanism");
        return;
    }
    if (!require_secure(s, cmd))
        return;
    cmd->pending = true; /* answered by plain_response(), now or after "+" */
    if (cmd->nargs == 2) {
        const struct imap_arg *ir = imap_arg_next(mech);
        if (ir->type != IMAP_ARG_ATOM) {
            cmd->pending = false;
            imap_result(s, cmd, IMAP_BAD, "invalid initial response");
            return;
        }
        plain_response(s, ir->ptr, ir->len);
        explicit_bzero((char *)ir->ptr, ir->len);
        return;
    }
    strbuf_append_str(&s->out, "+ \r\n");
    imap_flush(s);
    s->mode = IMAP_INPUT_AUTH;
}

void imap_auth_response(struct imap_session *s, const char *line, size_t len)
{
    if (len == 1 && line[0] == '*') {
        imap_tagged_later(s, IMAP_BAD, "AUTHENTICATE cancelled");
        return;
    }
    plain_response(s, line, len);
    explicit_bzero((char *)line, len);
}
