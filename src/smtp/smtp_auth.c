/*
 * SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms, offered only on secure
 * sessions (the command's check enforces it). Credentials live on the stack and are wiped
 * after use; neither the password nor the base64 payload is ever logged, the login name is
 * (escaped by the log module). A failure counts against the real client address and can
 * start a ban (conn_report_failure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/password_check.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "smtp/smtp_internal.h"

typedef void auth_step_fn(struct smtp_session *s, struct conn *conn, const struct smtp_slice *b64);

struct mechanism {
    const char *name;
    enum smtp_state first_state; /* waiting for the first response, when none came inline */
    const char *first_challenge; /* the 334 text for it */
    auth_step_fn *first_step;    /* handles the first response */
};

void smtp_auth_clear(struct smtp_session *s)
{
    if (s->auth_login) {
        explicit_bzero(s->auth_login, strlen(s->auth_login));
        free(s->auth_login);
        s->auth_login = NULL;
    }
}

static void log_auth(const struct conn *conn, const char *mechanism, const char *result,
                     const char *login, size_t login_len)
{
    struct log_line line;
    conn_log_begin(conn, &line, result[0] == 'o' ? LOG_INFO : LOG_WARN, "smtp_auth");
    log_str(&line, "result", result);
    log_str(&line, "mechanism", mechanism);
    log_strn(&line, "login", login, login_len);
    log_end(&line);
}

/* 535, counted against the real client: enough of them start a ban. */
static void auth_failed(struct smtp_session *s, struct conn *conn, const char *mechanism,
                        const char *login, size_t login_len, const char *why)
{
    smtp_set_state(s, conn, SMTP_READY);
    log_auth(conn, mechanism, "failed", login, login_len);
    metrics_count(METRIC_AUTH_FAILURES, "smtp");
    char reply[160];
    snprintf(reply, sizeof reply, "535 5.7.8 %s", why);
    smtp_reply_error_later(s, conn, reply);
    if (conn_report_failure(conn, FAILURE_AUTH))
        s->ending = SMTP_END_BANNED;
}

/* The hash was checked on an I/O thread: 235, or the delayed 535. */
static void password_checked(void *ctx, struct conn *conn, const struct account *account,
                             bool ok)
{
    struct smtp_session *s = ctx;
    s->awaiting_job = false; /* input was held during the check, as during a delivery */
    const char *login = s->auth_pending_login ? s->auth_pending_login : "";
    if (conn->stage == STAGE_SESSION) {
        if (ok) {
            smtp_set_state(s, conn, SMTP_READY);
            log_auth(conn, s->auth_pending_mechanism, "ok", login, strlen(login));
            metrics_count(METRIC_AUTH_SUCCESSES, "smtp");
            s->account = account;
            smtp_reply(conn, "235 2.7.0 authentication successful");
        } else {
            auth_failed(s, conn, s->auth_pending_mechanism, login, strlen(login),
                        "authentication credentials invalid");
        }
    }
    free(s->auth_pending_login);
    s->auth_pending_login = NULL;
    if (!s->delayed_reply)
        conn_resume_input(conn);
}

/* Checks a login and answers 235 or 535 once the hash is computed off the event loop. The
 * account may be named by login or address; unknown logins cost a hash too. */
static void verify(struct smtp_session *s, struct conn *conn, const char *mechanism,
                   const char *login, size_t login_len, const char *password, size_t pw_len)
{
    const struct directory *dir = s->config->directory;
    const struct account *account = directory_find_login(dir, login, login_len);
    if (!account && memchr(login, '@', login_len))
        account = directory_find_address(dir, login, login_len);
    s->auth_pending_login = strndup(login, login_len);
    s->auth_pending_mechanism = mechanism;
    s->awaiting_job = true;
    conn_hold_input(conn);
    if (!s->auth_pending_login ||
        !password_check_start(conn, account, password, pw_len, password_checked, s)) {
        s->awaiting_job = false;
        free(s->auth_pending_login);
        s->auth_pending_login = NULL;
        auth_failed(s, conn, mechanism, login, login_len, "authentication credentials invalid");
    }
}

/* A response that is not base64 or not a valid message: 501 and the exchange ends. */
static void malformed(struct smtp_session *s, struct conn *conn, enum smtp_parse_status st)
{
    smtp_auth_clear(s);
    smtp_set_state(s, conn, SMTP_READY);
    smtp_reply_error(s, conn, "501 5.5.2 %s", smtp_parse_status_text(st));
}

static void plain_response(struct smtp_session *s, struct conn *conn,
                           const struct smtp_slice *b64)
{
    uint8_t msg[SMTP_AUTH_DECODED_MAX];
    size_t len = 0;
    struct smtp_plain plain;
    enum smtp_parse_status st = smtp_base64_decode(b64->ptr, b64->len, msg, sizeof msg, &len);
    if (st == SMTP_PARSE_OK)
        st = smtp_parse_plain(msg, len, &plain);
    if (st != SMTP_PARSE_OK) {
        malformed(s, conn, st);
    } else if (plain.authzid.len &&
               (plain.authzid.len != plain.authcid.len ||
                memcmp(plain.authzid.ptr, plain.authcid.ptr, plain.authcid.len) != 0)) {
        /* Acting as another user (an authorization identity) is not offered. */
        auth_failed(s, conn, "PLAIN", plain.authcid.ptr, plain.authcid.len,
                    "authorization identity not permitted");
    } else {
        verify(s, conn, "PLAIN", plain.authcid.ptr, plain.authcid.len, plain.password.ptr,
               plain.password.len);
    }
    explicit_bzero(msg, sizeof msg);
}

static void login_user_response(struct smtp_session *s, struct conn *conn,
                                const struct smtp_slice *b64)
{
    uint8_t name[SMTP_ADDRESS_MAX];
    size_t len = 0;
    enum smtp_parse_status st = smtp_base64_decode(b64->ptr, b64->len, name, sizeof name, &len);
    if (st == SMTP_PARSE_OK && (len == 0 || memchr(name, '\0', len)))
        st = SMTP_PARSE_AUTH_FORMAT;
    if (st != SMTP_PARSE_OK) {
        malformed(s, conn, st);
        return;
    }
    smtp_auth_clear(s);
    s->auth_login = strndup((const char *)name, len);
    if (!s->auth_login) {
        smtp_set_state(s, conn, SMTP_READY);
        smtp_reply(conn, "454 4.3.0 out of memory, try again later");
        return;
    }
    smtp_set_state(s, conn, SMTP_AUTH_LOGIN_PASS);
    smtp_reply(conn, "334 UGFzc3dvcmQ6"); /* "Password:" */
}

static void login_pass_response(struct smtp_session *s, struct conn *conn,
                                const struct smtp_slice *b64)
{
    uint8_t pw[SMTP_PASSWORD_MAX];
    size_t len = 0;
    enum smtp_parse_status st = smtp_base64_decode(b64->ptr, b64->len, pw, sizeof pw, &len);
    if (st == SMTP_PARSE_OK && len == 0)
        st = SMTP_PARSE_AUTH_FORMAT;
    if (st != SMTP_PARSE_OK || !s->auth_login) {
        malformed(s, conn, st != SMTP_PARSE_OK ? st : SMTP_PARSE_AUTH_FORMAT);
    } else {
        verify(s, conn, "LOGIN", s->auth_login, strlen(s->auth_login), (const char *)pw, len);
        smtp_auth_clear(s);
    }
    explicit_bzero(pw, sizeof pw);
}

static const struct mechanism mechanisms[] = {
    {"PLAIN", SMTP_AUTH_PLAIN, "334 ", plain_response},
    {"LOGIN", SMTP_AUTH_LOGIN_USER, "334 VXNlcm5hbWU6", login_user_response}, /* "Username:" */
};

void smtp_auth_start(struct smtp_session *s, struct conn *conn, const struct smtp_slice *arg)
{
    const char *space = memchr(arg->ptr, ' ', arg->len);
    size_t name_len = space ? (size_t)(space - arg->ptr) : arg->len;
    const struct mechanism *mech = NULL;
    for (size_t i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++) {
        if (strlen(mechanisms[i].name) == name_len &&
            strncasecmp(mechanisms[i].name, arg->ptr, name_len) == 0)
            mech = &mechanisms[i];
    }
    if (!mech) {
        smtp_reply_error(s, conn, "504 5.5.4 unrecognized authentication mechanism");
        return;
    }
    if (space) { /* an initial response (RFC 4954 4) */
        struct smtp_slice initial = {space + 1, arg->len - name_len - 1};
        mech->first_step(s, conn, &initial);
        return;
    }
    smtp_set_state(s, conn, mech->first_state);
    smtp_reply(conn, "%s", mech->first_challenge);
}

void smtp_auth_response(struct smtp_session *s, struct conn *conn, const char *line, size_t len)
{
    if (len == 1 && line[0] == '*') { /* the client cancels (RFC 4954 4) */
        smtp_auth_clear(s);
        smtp_set_state(s, conn, SMTP_READY);
        smtp_reply_error(s, conn, "501 5.7.0 authentication cancelled");
        return;
    }
    struct smtp_slice b64 = {line, len};
    if (s->state == SMTP_AUTH_PLAIN)
        plain_response(s, conn, &b64);
    else if (s->state == SMTP_AUTH_LOGIN_USER)
        login_user_response(s, conn, &b64);
    else
        login_pass_response(s, conn, &b64);
}
