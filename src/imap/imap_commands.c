/*
 * The IMAP command table, and the commands that need no mailbox: CAPABILITY, NOOP, LOGOUT,
 * STARTTLS, ID (RFC 2971), ENABLE (RFC 5161), NAMESPACE (RFC 2342).
 *
 * The table is sorted by name and searched by bisection; each entry says, as data, the
 * states the command is valid in and whether untagged EXPUNGEs may follow it.
 */
#include <string.h>
#include <strings.h>

#include "imap/imap_internal.h"

#define ANY IMAP_ANY_STATE
#define NOT_AUTH IMAP_STATE_BIT(IMAP_NOT_AUTH)
#define AUTHED IMAP_AUTHENTICATED
#define AUTH_ONLY IMAP_STATE_BIT(IMAP_AUTH)
#define SELECTED IMAP_STATE_BIT(IMAP_SELECTED)

/* Sorted by name (strcmp order); imap_command_table_sorted() checks it in the unit tests. */
static const struct imap_command_def commands[] = {
    {"APPEND", AUTHED, false, imap_cmd_append},
    {"AUTHENTICATE", NOT_AUTH, false, imap_cmd_authenticate},
    {"CAPABILITY", ANY, false, imap_cmd_capability},
    {"CHECK", SELECTED, false, imap_cmd_check},
    {"CLOSE", SELECTED, false, imap_cmd_close},
    {"COPY", SELECTED, false, imap_cmd_copy},
    {"CREATE", AUTHED, false, imap_cmd_create},
    {"DELETE", AUTHED, false, imap_cmd_delete},
    {"ENABLE", AUTH_ONLY, false, imap_cmd_enable},
    {"EXAMINE", AUTHED, false, imap_cmd_select},
    {"EXPUNGE", SELECTED, false, imap_cmd_expunge},
    {"FETCH", SELECTED, true, imap_cmd_fetch},
    {"ID", ANY, false, imap_cmd_id},
    {"IDLE", AUTHED, false, imap_cmd_idle},
    {"LIST", AUTHED, false, imap_cmd_list},
    {"LOGIN", NOT_AUTH, false, imap_cmd_login},
    {"LOGOUT", ANY, false, imap_cmd_logout},
    {"LSUB", AUTHED, false, imap_cmd_lsub},
    {"MOVE", SELECTED, false, imap_cmd_move},
    {"NAMESPACE", AUTHED, false, imap_cmd_namespace},
    {"NOOP", ANY, false, imap_cmd_noop},
    {"RENAME", AUTHED, false, imap_cmd_rename},
    {"SEARCH", SELECTED, true, imap_cmd_search},
    {"SELECT", AUTHED, false, imap_cmd_select},
    {"STARTTLS", NOT_AUTH, false, imap_cmd_starttls},
    {"STATUS", AUTHED, false, imap_cmd_status},
    {"STORE", SELECTED, true, imap_cmd_store},
    {"SUBSCRIBE", AUTHED, false, imap_cmd_subscribe},
    /* RFC 3501 7.4.1: the UID variants may be followed by EXPUNGE. */
    {"UID COPY", SELECTED, false, imap_cmd_copy},
    {"UID EXPUNGE", SELECTED, false, imap_cmd_expunge},
    {"UID FETCH", SELECTED, false, imap_cmd_fetch},
    {"UID MOVE", SELECTED, false, imap_cmd_move},
    {"UID SEARCH", SELECTED, false, imap_cmd_search},
    {"UID STORE", SELECTED, false, imap_cmd_store},
    {"UNSELECT", SELECTED, false, imap_cmd_unselect},
    {"UNSUBSCRIBE", AUTHED, false, imap_cmd_unsubscribe},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

bool imap_command_table_sorted(void)
{
    for (size_t i = 1; i < NCOMMANDS; i++)
        if (strcmp(commands[i - 1].name, commands[i].name) >= 0)
            return false;
    return true;
}

const struct imap_command_def *imap_find_command(const char *name, size_t len, const char *sub,
                                                 size_t sub_len)
{
    char key[2 * IMAP_COMMAND_NAME_MAX + 2];
    if (len > IMAP_COMMAND_NAME_MAX || sub_len > IMAP_COMMAND_NAME_MAX)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        key[n++] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    if (sub) {
        key[n++] = ' ';
        for (size_t i = 0; i < sub_len; i++)
            key[n++] = (char)(sub[i] >= 'a' && sub[i] <= 'z' ? sub[i] - 32 : sub[i]);
    }
    key[n] = '\0';
    size_t lo = 0, hi = NCOMMANDS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(key, commands[mid].name);
        if (cmp == 0)
            return &commands[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- commands valid in any state ---- */

static bool no_args(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs == 0)
        return true;
    imap_result(s, cmd, IMAP_BAD, "no arguments expected");
    return false;
}

void imap_cmd_capability(struct imap_session *s, struct imap_cmd *cmd)
{
    if (!no_args(s, cmd))
        return;
    strbuf_append_str(&s->out, "* CAPABILITY ");
    imap_capabilities(s, &s->out);
    strbuf_append_str(&s->out, "\r\n");
    imap_result(s, cmd, IMAP_OK, "CAPABILITY completed");
}

/* The untagged updates NOOP exists for are sent by the dispatcher after every command. */
void imap_cmd_noop(struct imap_session *s, struct imap_cmd *cmd)
{
    if (no_args(s, cmd))
        imap_result(s, cmd, IMAP_OK, "NOOP completed");
}

void imap_cmd_logout(struct imap_session *s, struct imap_cmd *cmd)
{
    if (!no_args(s, cmd))
        return;
    strbuf_append_str(&s->out, "* BYE postern logging out\r\n");
    imap_result(s, cmd, IMAP_OK, "LOGOUT completed");
    s->ending = IMAP_END_LOGOUT;
}

/*
 * The OK must be the last plain-text byte: it is flushed, then the core runs the handshake and
 * drops anything the client pipelined after the command (the session stops reading here).
 */
void imap_cmd_starttls(struct imap_session *s, struct imap_cmd *cmd)
{
    if (!no_args(s, cmd))
        return;
    if (!conn_tls_available(s->conn)) {
        imap_result(s, cmd, IMAP_BAD, "STARTTLS not available");
        return;
    }
    cmd->pending = true;
    imap_tagged_later(s, IMAP_OK, "Begin TLS negotiation now");
    conn_start_tls(s->conn);
    s->mode = IMAP_INPUT_NONE;
}

/* RFC 2971: the client's parameters are a list of string pairs or NIL; only logged at debug. */
void imap_cmd_id(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 1 || (cmd->args[0].type != IMAP_ARG_NIL &&
                            cmd->args[0].type != IMAP_ARG_LIST)) {
        imap_result(s, cmd, IMAP_BAD, "syntax: ID (\"name\" \"value\" ...) or ID NIL");
        return;
    }
    strbuf_append_str(&s->out, "* ID (\"name\" \"postern\")\r\n");
    imap_result(s, cmd, IMAP_OK, "ID completed");
}

/* RFC 5161: nothing here changes behaviour when enabled (UTF8=ACCEPT is not offered), so the
 * ENABLED response lists nothing. */
void imap_cmd_enable(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs == 0) {
        imap_result(s, cmd, IMAP_BAD, "syntax: ENABLE capability ...");
        return;
    }
    for (size_t i = 0; i < cmd->nargs; i++) {
        if (imap_cmd_arg(cmd, i)->type != IMAP_ARG_ATOM) {
            imap_result(s, cmd, IMAP_BAD, "syntax: ENABLE capability ...");
            return;
        }
    }
    strbuf_append_str(&s->out, "* ENABLED\r\n");
    imap_result(s, cmd, IMAP_OK, "ENABLE completed");
}

void imap_cmd_namespace(struct imap_session *s, struct imap_cmd *cmd)
{
    if (!no_args(s, cmd))
        return;
    strbuf_append_str(&s->out, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
    imap_result(s, cmd, IMAP_OK, "NAMESPACE completed");
}
