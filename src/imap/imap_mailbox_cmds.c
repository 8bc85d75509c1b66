/*
 * Mailbox commands (RFC 3501 6.3): SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, STATUS, APPEND (LIST and LSUB are in imap_list.c). Names are passed to the store as the client sent
 * them (modified UTF-7, '.' as the hierarchy separator); the store validates them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "imap/imap_internal.h"
#include "net/offload.h"

static const char *account_name(const struct imap_session *s)
{
    return s->account->name;
}

/* A store error as reply text: one line, printable. */
static void store_failed(struct imap_session *s, struct imap_cmd *cmd, const char *code,
                         char *err)
{
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = ' ';
    imap_result(s, cmd, IMAP_NO, "%s%s%s", code, *code ? " " : "", err[0] ? err : "failed");
}

/* The single mailbox-name argument of many commands; NULL after a BAD reply. */
static char *name_arg(struct imap_session *s, struct imap_cmd *cmd, const struct imap_arg *arg,
                      const char *syntax)
{
    char *name = arg ? imap_arg_strdup(arg) : NULL;
    if (!name)
        imap_result(s, cmd, IMAP_BAD, "syntax: %s", syntax);
    return name;
}

static bool is_inbox(const char *name)
{
    return strcasecmp(name, "INBOX") == 0;
}

static bool mailbox_exists(const struct imap_session *s, const char *name)
{
    return mailbox_folder_exists(imap_data_dir(s), account_name(s), name);
}

/* ---- SELECT / EXAMINE ---- */

static void write_selected(struct imap_session *s)
{
    static const uint32_t permanent = MAILBOX_ANSWERED | MAILBOX_FLAGGED | MAILBOX_DELETED |
                                      MAILBOX_SEEN | MAILBOX_DRAFT;
    struct mailbox *mb = s->mailbox;
    size_t count = mailbox_count(mb), unseen = 0;
    for (size_t i = count; i-- > 0;)
        if (!(mailbox_message(mb, i)->flags & MAILBOX_SEEN))
            unseen = i + 1;
    strbuf_append_str(&s->out, "* FLAGS ");
    imap_write_flags(&s->out, permanent);
    strbuf_append_str(&s->out, "\r\n* OK [PERMANENTFLAGS ");
    imap_write_flags(&s->out, s->read_only ? 0 : permanent);
    strbuf_printf(&s->out, "] Limited\r\n* %zu EXISTS\r\n* %u RECENT\r\n", count,
                  mailbox_recent_count(mb));
    if (unseen)
        strbuf_printf(&s->out, "* OK [UNSEEN %zu] First unseen\r\n", unseen);
    strbuf_printf(&s->out, "* OK [UIDVALIDITY %u] UIDs valid\r\n* OK [UIDNEXT %u] Predicted next UID\r\n",
                  mailbox_uidvalidity(mb), mailbox_uidnext(mb));
}

void imap_cmd_select(struct imap_session *s, struct imap_cmd *cmd)
{
    bool examine = cmd->parsed->name_len == 7 &&
                   strncasecmp(cmd->parsed->name, "EXAMINE", 7) == 0;
    char *name = name_arg(s, cmd, cmd->nargs == 1 ? cmd->args : NULL, "SELECT mailbox");
    if (!name)
        return;
    /* RFC 3501 6.3.1: a SELECT, even one that fails, first deselects. */
    imap_unselect(s);
    char err[MAILBOX_ERROR_MAX] = "";
    s->mailbox = mailbox_open(imap_data_dir(s), account_name(s), name, examine, err, sizeof err);
    if (!s->mailbox) {
        store_failed(s, cmd, "[NONEXISTENT]", err);
    } else {
        s->read_only = examine;
        snprintf(s->selected, sizeof s->selected, "%s", name);
        imap_set_state(s, IMAP_SELECTED);
        write_selected(s);
        imap_result(s, cmd, IMAP_OK, "[%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE",
                    examine ? "EXAMINE" : "SELECT");
    }
    free(name);
}

/* ---- CREATE / DELETE / RENAME / SUBSCRIBE ---- */

void imap_cmd_create(struct imap_session *s, struct imap_cmd *cmd)
{
    char *name = name_arg(s, cmd, cmd->nargs == 1 ? cmd->args : NULL, "CREATE mailbox");
    if (!name)
        return;
    size_t len = strlen(name);
    if (len > 1 && name[len - 1] == '.')
        name[len - 1] = '\0'; /* RFC 3501 6.3.3: "foo." announces a hierarchy: create foo */
    char err[MAILBOX_ERROR_MAX] = "";
    if (is_inbox(name))
        imap_result(s, cmd, IMAP_NO, "[ALREADYEXISTS] INBOX always exists");
    else if (mailbox_exists(s, name))
        imap_result(s, cmd, IMAP_NO, "[ALREADYEXISTS] mailbox exists");
    else if (mailbox_create(imap_data_dir(s), account_name(s), name, err, sizeof err) < 0)
        store_failed(s, cmd, "[CANNOT]", err);
    else
        imap_result(s, cmd, IMAP_OK, "CREATE completed");
    free(name);
}

void imap_cmd_delete(struct imap_session *s, struct imap_cmd *cmd)
{
    char *name = name_arg(s, cmd, cmd->nargs == 1 ? cmd->args : NULL, "DELETE mailbox");
    if (!name)
        return;
    char err[MAILBOX_ERROR_MAX] = "";
    if (is_inbox(name))
        imap_result(s, cmd, IMAP_NO, "[CANNOT] INBOX cannot be deleted");
    else if (!mailbox_exists(s, name))
        imap_result(s, cmd, IMAP_NO, "[NONEXISTENT] no such mailbox");
    else if (mailbox_delete(imap_data_dir(s), account_name(s), name, err, sizeof err) < 0)
        store_failed(s, cmd, "[CANNOT]", err);
    else
        imap_result(s, cmd, IMAP_OK, "DELETE completed");
    free(name);
}

void imap_cmd_rename(struct imap_session *s, struct imap_cmd *cmd)
{
    const struct imap_arg *from_arg = cmd->nargs == 2 ? cmd->args : NULL;
    char *from = name_arg(s, cmd, from_arg, "RENAME from to");
    char *to = from ? name_arg(s, cmd, imap_arg_next(from_arg), "RENAME from to") : NULL;
    char err[MAILBOX_ERROR_MAX] = "";
    if (!from || !to) {
        /* answered by name_arg */
    } else if (is_inbox(from) || is_inbox(to)) {
        imap_result(s, cmd, IMAP_NO, "[CANNOT] INBOX cannot be renamed");
    } else if (!mailbox_exists(s, from)) {
        imap_result(s, cmd, IMAP_NO, "[NONEXISTENT] no such mailbox");
    } else if (mailbox_exists(s, to)) {
        imap_result(s, cmd, IMAP_NO, "[ALREADYEXISTS] target mailbox exists");
    } else if (mailbox_rename(imap_data_dir(s), account_name(s), from, to, err, sizeof err) < 0) {
        store_failed(s, cmd, "[CANNOT]", err);
    } else {
        imap_result(s, cmd, IMAP_OK, "RENAME completed");
    }
    free(from);
    free(to);
}

static void subscribe(struct imap_session *s, struct imap_cmd *cmd, bool on)
{
    char *name = name_arg(s, cmd, cmd->nargs == 1 ? cmd->args : NULL,
                          on ? "SUBSCRIBE mailbox" : "UNSUBSCRIBE mailbox");
    if (!name)
        return;
    char err[MAILBOX_ERROR_MAX] = "";
    if (mailbox_subscribe(imap_data_dir(s), account_name(s), name, on, err, sizeof err) < 0)
        store_failed(s, cmd, "", err);
    else
        imap_result(s, cmd, IMAP_OK, "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
    free(name);
}

void imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *cmd)
{
    subscribe(s, cmd, true);
}

void imap_cmd_unsubscribe(struct imap_session *s, struct imap_cmd *cmd)
{
    subscribe(s, cmd, false);
}

/* ---- STATUS ---- */

static const struct {
    const char *name;
    size_t offset;
} status_items[] = {
    {"MESSAGES", offsetof(struct mailbox_status, messages)},
    {"RECENT", offsetof(struct mailbox_status, recent)},
    {"UIDNEXT", offsetof(struct mailbox_status, uidnext)},
    {"UIDVALIDITY", offsetof(struct mailbox_status, uidvalidity)},
    {"UNSEEN", offsetof(struct mailbox_status, unseen)},
};

static int status_item(const struct imap_arg *arg)
{
    for (size_t i = 0; i < sizeof status_items / sizeof status_items[0]; i++)
        if (imap_arg_atom_is(arg, status_items[i].name))
            return (int)i;
    return -1;
}

static void write_status(struct imap_session *s, const char *name, const struct imap_arg *list,
                         const struct mailbox_status *st)
{
    strbuf_append_str(&s->out, "* STATUS ");
    imap_write_astring(&s->out, name, strlen(name));
    strbuf_append_str(&s->out, " (");
    const struct imap_arg *end = imap_arg_next(list);
    for (const struct imap_arg *a = list + 1; a < end; a = imap_arg_next(a)) {
        int i = status_item(a);
        uint32_t value;
        memcpy(&value, (const char *)st + status_items[i].offset, sizeof value);
        strbuf_printf(&s->out, "%s%s %u", a == list + 1 ? "" : " ", status_items[i].name, value);
    }
    strbuf_append_str(&s->out, ")\r\n");
}

void imap_cmd_status(struct imap_session *s, struct imap_cmd *cmd)
{
    const struct imap_arg *list = cmd->nargs == 2 ? imap_arg_next(cmd->args) : NULL;
    bool ok = list && list->type == IMAP_ARG_LIST && list->count > 0;
    for (const struct imap_arg *a = list + 1; ok && a < imap_arg_next(list); a = imap_arg_next(a))
        ok = status_item(a) >= 0;
    char *name = ok ? name_arg(s, cmd, cmd->args, "STATUS mailbox (items)") : NULL;
    if (!ok) {
        imap_result(s, cmd, IMAP_BAD, "syntax: STATUS mailbox (MESSAGES RECENT UIDNEXT "
                                      "UIDVALIDITY UNSEEN)");
        return;
    }
    if (!name)
        return;
    struct mailbox_status st;
    char err[MAILBOX_ERROR_MAX] = "";
    if (mailbox_status(imap_data_dir(s), account_name(s), name, &st, err, sizeof err) < 0) {
        store_failed(s, cmd, "[NONEXISTENT]", err);
    } else {
        write_status(s, is_inbox(name) ? "INBOX" : name, list, &st);
        imap_result(s, cmd, IMAP_OK, "STATUS completed");
    }
    free(name);
}

/* ---- APPEND ---- */

struct append_args {
    char *name;
    struct imap_flags flags;
    int64_t date;                /* 0: now */
    const struct imap_arg *message;
};

/* mailbox [flag-list] [date-time] literal */
static bool parse_append(struct imap_cmd *cmd, struct append_args *out)
{
    *out = (struct append_args){0};
    if (cmd->nargs < 2 || cmd->nargs > 4)
        return false;
    const struct imap_arg *a = imap_arg_next(cmd->args);
    size_t left = cmd->nargs - 1;
    if (left > 1 && a->type == IMAP_ARG_LIST) {
        if (imap_parse_flags(a, &out->flags) != IMAP_PARSE_OK)
            return false;
        a = imap_arg_next(a);
        left--;
    }
    if (left > 1) {
        if (a->type != IMAP_ARG_QUOTED ||
            imap_parse_date_time(a->ptr, a->len, &out->date) != IMAP_PARSE_OK)
            return false;
        a = imap_arg_next(a);
        left--;
    }
    if (left != 1 || a->type != IMAP_ARG_LITERAL)
        return false;
    out->message = a;
    out->name = imap_arg_strdup(cmd->args);
    return out->name != NULL;
}

/* An APPEND on its way to disk: the copy of the message is the job's. */
struct append_job {
    struct offload_job job;
    struct imap_session *session;
    const char *data_dir, *account;
    char *name;
    char *data;
    size_t len;
    uint32_t flags;
    time_t date;
    uint32_t uid, uidvalidity;
    int rc;
    char err[MAILBOX_ERROR_MAX];
};

/* On an I/O thread: the fsyncs of a durable append. */
static void append_work(struct offload_job *job)
{
    struct append_job *a = (struct append_job *)job;
    a->rc = mailbox_append(a->data_dir, a->account, a->name, a->data, a->len, a->flags, a->date,
                           &a->uid, &a->uidvalidity, a->err, sizeof a->err);
}

static void append_done(struct offload_job *job, struct conn *conn)
{
    struct append_job *a = (struct append_job *)job;
    struct imap_session *s = a->session;
    s->awaiting_check = false;
    if (conn->stage == STAGE_SESSION) {
        if (a->rc < 0) {
            for (char *p = a->err; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                    *p = ' ';
            imap_tagged_later(s, IMAP_NO, "[SERVERBUG] %s", a->err[0] ? a->err : "failed");
        } else {
            imap_tagged_later(s, IMAP_OK, "[APPENDUID %u %u] APPEND completed", a->uidvalidity,
                              a->uid);
        }
    }
    free(a->name);
    free(a->data);
    free(a);
    if (!imap_enforce_ending(s))
        conn_resume_input(conn);
}

/* The message is copied and stored on an I/O thread, input held until the tagged reply, so
 * a client pipelining APPENDs (mbsync) never stalls the worker's other sessions. */
void imap_cmd_append(struct imap_session *s, struct imap_cmd *cmd)
{
    struct append_args req;
    if (!parse_append(cmd, &req)) {
        free(req.name);
        imap_result(s, cmd, IMAP_BAD, "syntax: APPEND mailbox [(flags)] [\"date-time\"] {size}");
        return;
    }
    if (!mailbox_exists(s, req.name)) {
        imap_result(s, cmd, IMAP_NO, "[TRYCREATE] no such mailbox");
        free(req.name);
        return;
    }
    struct append_job *a = calloc(1, sizeof *a);
    char *data = a ? malloc(req.message->len ? req.message->len : 1) : NULL;
    if (!data) {
        free(a);
        free(req.name);
        imap_result(s, cmd, IMAP_NO, "[SERVERBUG] out of memory");
        return;
    }
    memcpy(data, req.message->ptr, req.message->len);
    *a = (struct append_job){.session = s, .data_dir = imap_data_dir(s),
                             .account = account_name(s), .name = req.name, .data = data,
                             .len = req.message->len, .flags = req.flags.bits,
                             .date = (time_t)req.date};
    a->job.work = append_work;
    a->job.done = append_done;
    cmd->pending = true; /* answered by append_done() */
    s->awaiting_check = true;
    conn_hold_input(s->conn);
    conn_offload(s->conn, &a->job);
}
