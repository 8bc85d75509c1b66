/*
 * The SMTP command table. Each command has the states it is valid in, its longest line, a
 * check step that replies with the error itself (and returns false), and a proceed step that
 * does the work. Arguments are parsed once, by the check, into the request both steps share.
 *
 * Policy lives in the checks: submission listeners need AUTH before MAIL; unauthenticated
 * mail goes only to local accounts (else 554 5.7.1, counted as abuse); authenticated users
 * may address anyone, but with no outbound queue yet remote recipients are refused.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "smtp/smtp_internal.h"
#include "util/array.h"

/* What the check step parsed, for the proceed step. */
struct smtp_request {
    struct smtp_slice arg;
    union {
        struct smtp_mail_args mail;
        struct {
            struct smtp_path path;
            const struct account *account;
        } rcpt;
        struct {
            uint64_t size;
            bool last;
        } bdat;
    } u;
};

typedef bool smtp_check_fn(struct smtp_session *s, struct conn *conn, struct smtp_request *req);
typedef void smtp_proceed_fn(struct smtp_session *s, struct conn *conn,
                             struct smtp_request *req);

struct smtp_command {
    const char *name;
    unsigned states;          /* SMTP_STATE_BIT()s where it may run */
    size_t line_max;          /* longest line, CRLF included */
    smtp_check_fn *check;     /* NULL: the state is all it needs */
    smtp_proceed_fn *proceed;
};

/* The reply for a command sent in a state it is not valid in. */
static const char *const out_of_sequence[SMTP_STATE_COUNT] = {
    [SMTP_CONNECTED] = "503 5.5.1 send EHLO or HELO first",
    [SMTP_READY] = "503 5.5.1 send MAIL first",
    [SMTP_MAIL] = "503 5.5.1 a mail transaction is in progress",
    [SMTP_RCPT] = "503 5.5.1 a mail transaction is in progress",
    [SMTP_BDAT_MORE] = "503 5.5.1 BDAT transfer in progress: only BDAT, RSET, NOOP, QUIT",
};

/* ---- small checks shared by several commands ---- */

static bool check_no_arg(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    if (req->arg.len == 0)
        return true;
    smtp_reply_error(s, conn, "501 5.5.4 no parameters allowed");
    return false;
}

static bool check_has_arg(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    if (req->arg.len > 0)
        return true;
    smtp_reply_error(s, conn, "501 5.5.4 parameter required");
    return false;
}

/* ---- HELO / EHLO ---- */

static bool check_helo(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    if (req->arg.len == 0) {
        smtp_reply_error(s, conn, "501 5.5.4 syntax: EHLO hostname");
        return false;
    }
    if (smtp_parse_helo_name(req->arg.ptr, req->arg.len) != SMTP_PARSE_OK) {
        smtp_reply_error(s, conn, "501 5.5.4 invalid host name");
        return false;
    }
    return true;
}

static void reply_ehlo(struct smtp_session *s, struct conn *conn)
{
    char first[SMTP_DOMAIN_MAX * 2 + PROXY_IP_TEXT_MAX + 16], size[32];
    const char *lines[12];
    size_t n = 0;
    snprintf(first, sizeof first, "%s Hello %s [%s]", s->config->hostname, s->helo,
             conn->info.client_ip);
    if (s->config->smtp.max_message_size)
        snprintf(size, sizeof size, "SIZE %llu",
                 (unsigned long long)s->config->smtp.max_message_size);
    else
        snprintf(size, sizeof size, "SIZE");
    lines[n++] = first;
    lines[n++] = "PIPELINING";
    lines[n++] = size;
    lines[n++] = "8BITMIME";
    lines[n++] = "BINARYMIME";
    lines[n++] = "ENHANCEDSTATUSCODES";
    lines[n++] = "SMTPUTF8";
    lines[n++] = "CHUNKING";
    if (conn_tls_available(conn) && !smtp_is_secure(conn))
        lines[n++] = "STARTTLS";
    if (smtp_is_secure(conn))
        lines[n++] = "AUTH PLAIN LOGIN"; /* never over plain text (RFC 4954 4) */
    for (size_t i = 0; i < n; i++)
        smtp_reply(conn, "250%c%s", i + 1 < n ? '-' : ' ', lines[i]);
}

/* RFC 5321 4.1.4: HELO/EHLO also reset any transaction; AUTH survives (RFC 4954 4). */
static void proceed_helo(struct smtp_session *s, struct conn *conn, struct smtp_request *req,
                         bool extended)
{
    char *name = strndup(req->arg.ptr, req->arg.len);
    if (!name) {
        smtp_reply(conn, "451 4.3.0 out of memory");
        return;
    }
    smtp_reset_transaction(s, conn);
    free(s->helo);
    s->helo = name;
    s->extended = extended;
    smtp_set_state(s, conn, SMTP_READY);
    if (extended)
        reply_ehlo(s, conn);
    else
        smtp_reply(conn, "250 %s Hello %s [%s]", s->config->hostname, s->helo,
                   conn->info.client_ip);
}

static void proceed_ehlo(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    proceed_helo(s, conn, req, true);
}

static void proceed_helo_plain(struct smtp_session *s, struct conn *conn,
                               struct smtp_request *req)
{
    proceed_helo(s, conn, req, false);
}

/* ---- MAIL ---- */

/* The reply for a path that did not parse; who is "5.1.7" (sender) or "5.1.3" (recipient). */
static void reply_path_error(struct smtp_session *s, struct conn *conn,
                             enum smtp_parse_status st, const char *who, const char *syntax)
{
    const char *why = smtp_parse_status_text(st);
    switch (st) {
    case SMTP_PARSE_SYNTAX:
        smtp_reply_error(s, conn, "501 5.5.4 syntax: %s", syntax);
        break;
    case SMTP_PARSE_PARAM_UNKNOWN:
        smtp_reply_error(s, conn, "555 5.5.4 %s", why);
        break;
    case SMTP_PARSE_PARAM_SYNTAX:
    case SMTP_PARSE_PARAM_DUPLICATE:
    case SMTP_PARSE_PARAM_VALUE:
        smtp_reply_error(s, conn, "501 5.5.4 %s", why);
        break;
    default:
        smtp_reply_error(s, conn, "501 %s %s", who, why);
        break;
    }
}

static bool check_mail(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    struct smtp_mail_args *m = &req->u.mail;
    if (conn->info.listener->submission && !s->account) {
        smtp_reply_error(s, conn, "530 5.7.0 authentication required");
        return false;
    }
    enum smtp_parse_status st = smtp_parse_mail(req->arg.ptr, req->arg.len, m);
    if (st != SMTP_PARSE_OK) {
        reply_path_error(s, conn, st, "5.1.7", "MAIL FROM:<address> [parameters]");
        return false;
    }
    if (!s->extended && (m->has_size || m->body || m->smtputf8 || m->has_auth)) {
        smtp_reply_error(s, conn, "555 5.5.4 parameters need EHLO");
        return false;
    }
    if (m->path.utf8 && !m->smtputf8) {
        smtp_reply_error(s, conn, "553 5.6.7 non-ASCII address needs SMTPUTF8");
        return false;
    }
    uint64_t max = s->config->smtp.max_message_size;
    if (m->has_size && max && m->size > max) {
        smtp_reply_error(s, conn, "552 5.3.4 message size exceeds fixed maximum message size");
        return false;
    }
    return true;
}

static void proceed_mail(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    const struct smtp_mail_args *m = &req->u.mail;
    struct smtp_txn *txn = calloc(1, sizeof *txn);
    if (txn)
        txn->from = strndup(m->path.address.ptr, m->path.address.len);
    if (!txn || !txn->from) {
        smtp_txn_free(txn);
        smtp_reply(conn, "451 4.3.0 out of memory, try again later");
        return;
    }
    txn->body = m->body;
    txn->smtputf8 = m->smtputf8;
    s->txn = txn;
    s->commands_without_mail = 0;
    smtp_set_state(s, conn, SMTP_MAIL);
    smtp_reply(conn, "250 2.1.0 sender ok");
}

/* ---- RCPT ---- */

/* "local@domain" for directory lookups: a quoted local part loses its quoting. */
static size_t lookup_key(const struct smtp_path *path, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = path->local.ptr;
    size_t len = path->local.len;
    if (path->quoted_local) {
        p++;
        len -= 2;
    }
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        if (path->quoted_local && p[i] == '\\' && i + 1 < len)
            i++;
        out[o++] = p[i];
    }
    if (o + 1 + path->domain.len >= cap)
        return 0;
    out[o++] = '@';
    memcpy(out + o, path->domain.ptr, path->domain.len);
    o += path->domain.len;
    out[o] = '\0';
    return o;
}

static void relay_denied(struct smtp_session *s, struct conn *conn, const struct smtp_path *p)
{
    struct log_line line;
    conn_log_begin(conn, &line, LOG_WARN, "relay_denied");
    log_str(&line, "from", s->txn->from);
    log_strn(&line, "rcpt", p->address.ptr, p->address.len);
    log_end(&line);
    smtp_reply_error(s, conn, "554 5.7.1 relay access denied");
    smtp_report_abuse(s, conn);
}

/* Finds the local account for a recipient, or replies why there is none. */
static const struct account *rcpt_account(struct smtp_session *s, struct conn *conn,
                                          const struct smtp_path *p)
{
    const struct directory *dir = s->config->directory;
    char key[SMTP_ADDRESS_MAX + SMTP_DOMAIN_MAX + 2];
    size_t len;
    bool local;
    if (p->postmaster) { /* RFC 5321 4.5.1: <Postmaster> is this host's postmaster */
        len = (size_t)snprintf(key, sizeof key, "postmaster@%s", s->config->hostname);
        local = true;
    } else {
        len = lookup_key(p, key, sizeof key);
        local = !p->domain_literal &&
                directory_is_local_domain(dir, p->domain.ptr, p->domain.len);
    }
    if (!local) {
        if (s->account)
            smtp_reply_error(s, conn,
                             "550 5.7.1 relaying to remote domains is not supported yet");
        else
            relay_denied(s, conn, p);
        return NULL;
    }
    const struct account *account = len ? directory_find_address(dir, key, len) : NULL;
    if (!account)
        smtp_reply_error(s, conn, "550 5.1.1 recipient address rejected: user unknown");
    return account;
}

static bool check_rcpt(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    struct smtp_path *p = &req->u.rcpt.path;
    uint32_t max = s->config->smtp.max_recipients;
    enum smtp_parse_status st = smtp_parse_rcpt(req->arg.ptr, req->arg.len, p);
    if (st != SMTP_PARSE_OK) {
        reply_path_error(s, conn, st, "5.1.3", "RCPT TO:<address>");
        return false;
    }
    if (max && s->txn->nrcpt >= max) {
        /* Not an error: the client sends the rest in another transaction (RFC 5321 4.5.3.1.10). */
        smtp_reply(conn, "452 4.5.3 too many recipients");
        return false;
    }
    if (p->utf8 && !s->txn->smtputf8) {
        smtp_reply_error(s, conn, "553 5.6.7 non-ASCII address needs SMTPUTF8");
        return false;
    }
    req->u.rcpt.account = rcpt_account(s, conn, p);
    return req->u.rcpt.account != NULL;
}

/* Adds the account once: several addresses of one account get one copy. */
static bool add_account(struct smtp_txn *txn, const struct account *account)
{
    for (uint32_t i = 0; i < txn->naccounts; i++) {
        if (txn->accounts[i] == account)
            return true;
    }
    const struct account **room = array_make_room(txn->accounts, txn->naccounts,
                                                   &txn->accounts_cap, sizeof *room, 4);
    if (!room)
        return false;
    txn->accounts = room;
    txn->accounts[txn->naccounts++] = account;
    return true;
}

static void proceed_rcpt(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    if (!add_account(s->txn, req->u.rcpt.account)) {
        smtp_reply(conn, "452 4.3.0 out of memory, try again later");
        return;
    }
    s->txn->nrcpt++;
    smtp_set_state(s, conn, SMTP_RCPT);
    smtp_reply(conn, "250 2.1.5 recipient ok");
}

/* ---- DATA, BDAT ---- */

static bool check_data(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    if (!check_no_arg(s, conn, req))
        return false;
    if (s->state == SMTP_MAIL) {
        smtp_reply_error(s, conn, "554 5.5.1 no valid recipients");
        return false;
    }
    if (s->txn->body == SMTP_BODY_BINARYMIME) {
        smtp_reply_error(s, conn, "503 5.5.1 BODY=BINARYMIME requires BDAT");
        return false;
    }
    return true;
}

static void proceed_data(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    (void)req;
    smtp_data_start(s, conn);
}

static bool check_bdat(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    if (smtp_parse_bdat(req->arg.ptr, req->arg.len, &req->u.bdat.size, &req->u.bdat.last) ==
        SMTP_PARSE_OK)
        return true;
    /* Without a size the chunk cannot be skipped: what follows is read as commands. */
    smtp_reply_error(s, conn, "501 5.5.4 syntax: BDAT size [LAST]");
    return false;
}

/* A chunk is always read to its end (RFC 3030 2); a refused one is answered afterwards. */
static void proceed_bdat(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    const char *error = NULL;
    if (s->state == SMTP_CONNECTED || !s->extended)
        error = "503 5.5.1 send EHLO first";
    else if (s->state == SMTP_READY)
        error = "503 5.5.1 send MAIL first";
    else if (s->state == SMTP_MAIL)
        error = "554 5.5.1 no valid recipients";
    smtp_bdat_start(s, conn, req->u.bdat.size, req->u.bdat.last, error);
}

/* ---- the others ---- */

static void proceed_rset(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    (void)req;
    smtp_reset_transaction(s, conn);
    smtp_reply(conn, "250 2.0.0 ok");
}

static void proceed_noop(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    (void)s;
    (void)req;
    smtp_reply(conn, "250 2.0.0 ok");
}

static void proceed_vrfy(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    (void)s;
    (void)req;
    /* RFC 5321 3.5.3: never confirm addresses (harvesting); say we would try. */
    smtp_reply(conn, "252 2.5.0 cannot VRFY user, but will accept message and attempt delivery");
}

static void proceed_help(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    (void)s;
    (void)req;
    smtp_reply(conn, "214-2.0.0 postern ESMTP; commands: HELO EHLO MAIL RCPT DATA BDAT");
    smtp_reply(conn, "214 2.0.0 RSET NOOP VRFY HELP QUIT STARTTLS AUTH (RFC 5321)");
}

static void proceed_quit(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    (void)req;
    smtp_reply(conn, "221 2.0.0 %s closing connection", s->config->hostname);
    smtp_set_state(s, conn, SMTP_CLOSING);
    conn_close(conn);
}

static bool check_starttls(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    if (!check_no_arg(s, conn, req))
        return false;
    if (conn->info.tls.origin == TLS_OWN) {
        smtp_reply_error(s, conn, "503 5.5.1 TLS already active");
        return false;
    }
    if (!conn_tls_available(conn) || smtp_is_secure(conn)) {
        smtp_reply_error(s, conn, "502 5.5.1 STARTTLS not available");
        return false;
    }
    return true;
}

/* The core discards whatever was pipelined after this line (CVE-2011-0411). */
static void proceed_starttls(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    (void)req;
    smtp_reply(conn, "220 2.0.0 ready to start TLS");
    smtp_set_state(s, conn, SMTP_STARTTLS);
    if (conn_start_tls(conn))
        return;
    struct log_line line;
    conn_log_begin(conn, &line, LOG_ERROR, "starttls_failed");
    log_str(&line, "msg", "the TLS stage could not start after the 220 reply");
    log_end(&line);
    smtp_set_state(s, conn, SMTP_CLOSING);
    conn_close(conn);
}

static bool check_auth(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    if (!s->extended) {
        smtp_reply_error(s, conn, "503 5.5.1 send EHLO first");
        return false;
    }
    if (s->account) {
        smtp_reply_error(s, conn, "503 5.5.1 already authenticated");
        return false;
    }
    if (!smtp_is_secure(conn)) {
        smtp_reply_error(s, conn, "538 5.7.11 encryption required for authentication");
        return false;
    }
    return check_has_arg(s, conn, req);
}

static void proceed_auth(struct smtp_session *s, struct conn *conn, struct smtp_request *req)
{
    smtp_auth_start(s, conn, &req->arg);
}

/* ---- the table and the dispatcher ---- */

#define ANY SMTP_COMMAND_STATES
#define BIT SMTP_STATE_BIT
#define LINE SMTP_COMMAND_LINE_MAX

static const struct smtp_command commands[] = {
    {"EHLO", ANY, LINE, check_helo, proceed_ehlo},
    {"HELO", ANY, LINE, check_helo, proceed_helo_plain},
    {"MAIL", BIT(SMTP_READY), SMTP_MAIL_LINE_MAX, check_mail, proceed_mail},
    {"RCPT", BIT(SMTP_MAIL) | BIT(SMTP_RCPT), LINE, check_rcpt, proceed_rcpt},
    {"DATA", BIT(SMTP_MAIL) | BIT(SMTP_RCPT), LINE, check_data, proceed_data},
    {"BDAT", ANY, LINE, check_bdat, proceed_bdat},
    {"RSET", ANY, LINE, check_no_arg, proceed_rset},
    {"NOOP", ANY, LINE, NULL, proceed_noop},
    {"VRFY", ANY, LINE, check_has_arg, proceed_vrfy},
    {"HELP", ANY, LINE, NULL, proceed_help},
    {"QUIT", ANY, LINE, check_no_arg, proceed_quit},
    {"STARTTLS", BIT(SMTP_CONNECTED) | BIT(SMTP_READY), LINE, check_starttls, proceed_starttls},
    {"AUTH", BIT(SMTP_CONNECTED) | BIT(SMTP_READY), SMTP_AUTH_LINE_MAX, check_auth,
     proceed_auth},
};

static const struct smtp_command *find_command(const struct smtp_slice *verb)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const char *name = commands[i].name;
        if (strlen(name) == verb->len && strncasecmp(name, verb->ptr, verb->len) == 0)
            return &commands[i];
    }
    return NULL;
}

/* session.max-commands-before-mail: a client that talks without sending mail is cut off. */
static bool command_budget_spent(struct smtp_session *s)
{
    uint32_t max = s->config->smtp.max_commands_before_mail;
    if (s->state != SMTP_CONNECTED && s->state != SMTP_READY)
        return false;
    if (++s->commands_without_mail <= max || max == 0)
        return false;
    s->ending = SMTP_END_COMMANDS;
    return true;
}

void smtp_command(struct smtp_session *s, struct conn *conn, const char *line, size_t len)
{
    struct smtp_command_line parsed;
    if (command_budget_spent(s))
        return;
    enum smtp_parse_status st = smtp_parse_command(line, len, &parsed);
    if (st == SMTP_PARSE_CONTROL_CHAR || st == SMTP_PARSE_EMPTY) {
        smtp_reply_error(s, conn, "500 5.5.2 %s", smtp_parse_status_text(st));
        return;
    }
    const struct smtp_command *cmd = st == SMTP_PARSE_OK ? find_command(&parsed.verb) : NULL;
    if (!cmd) {
        smtp_reply_error(s, conn, "500 5.5.1 command unrecognized");
        return;
    }
    if (len + 2 > cmd->line_max) {
        smtp_reply_error(s, conn, "500 5.5.2 line too long");
        return;
    }
    if (!(cmd->states & SMTP_STATE_BIT(s->state))) {
        smtp_reply_error(s, conn, "%s", out_of_sequence[s->state]);
        return;
    }
    struct smtp_request req = {.arg = parsed.arg};
    if (cmd->check && !cmd->check(s, conn, &req))
        return;
    cmd->proceed(s, conn, &req);
}
