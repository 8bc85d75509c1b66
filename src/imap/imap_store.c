/*
 * Commands that change the selected mailbox (RFC 3501 6.4, UIDPLUS RFC 4315, MOVE RFC 6851,
 * UNSELECT RFC 3691): STORE, COPY, MOVE, EXPUNGE, their UID variants, CLOSE, UNSELECT, CHECK.
 * Keywords cannot be kept in a Maildir without a keyword file, so PERMANENTFLAGS lists only
 * the system flags and keywords in STORE are accepted and ignored.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_internal.h"

static bool writable(struct imap_session *s, struct imap_cmd *cmd)
{
    if (!s->read_only)
        return true;
    imap_result(s, cmd, IMAP_NO, "[READ-ONLY] mailbox is read-only");
    return false;
}

static void write_expunged(struct imap_session *s, const struct mailbox_changes *ch)
{
    for (size_t i = 0; i < ch->nexpunged; i++)
        strbuf_printf(&s->out, "* %u EXPUNGE\r\n", ch->expunged[i]);
}

/* ---- STORE ---- */

enum store_op { STORE_REPLACE, STORE_ADD, STORE_REMOVE };

struct store_request {
    enum store_op op;
    bool silent;
    struct imap_flags flags;
};

/* "[+|-]FLAGS[.SILENT]" then a flag list or flags separated by spaces. */
static bool parse_store(const struct imap_cmd *cmd, struct store_request *req)
{
    *req = (struct store_request){0};
    if (cmd->nargs < 3)
        return false;
    const struct imap_arg *item = imap_arg_next(cmd->args);
    if (item->type != IMAP_ARG_ATOM)
        return false;
    const char *p = item->ptr;
    size_t len = item->len;
    if (len > 0 && (p[0] == '+' || p[0] == '-')) {
        req->op = p[0] == '+' ? STORE_ADD : STORE_REMOVE;
        p++;
        len--;
    }
    req->silent = len == 12 && strncasecmp(p, "FLAGS.SILENT", 12) == 0;
    if (!req->silent && !(len == 5 && strncasecmp(p, "FLAGS", 5) == 0))
        return false;
    const struct imap_arg *a = imap_arg_next(item);
    for (size_t i = 2; i < cmd->nargs; i++, a = imap_arg_next(a)) {
        struct imap_flags one;
        if ((a->type == IMAP_ARG_LIST && cmd->nargs != 3) ||
            imap_parse_flags(a, &one) != IMAP_PARSE_OK)
            return false;
        req->flags.bits |= one.bits;
        req->flags.keywords |= one.keywords;
    }
    return true;
}

static uint32_t apply(const struct store_request *req, uint32_t old)
{
    uint32_t keep = old & MAILBOX_RECENT; /* session-level: never changed by STORE */
    switch (req->op) {
    case STORE_ADD:
        return old | req->flags.bits;
    case STORE_REMOVE:
        return old & ~req->flags.bits;
    default:
        return keep | req->flags.bits;
    }
}

void imap_cmd_store(struct imap_session *s, struct imap_cmd *cmd)
{
    struct store_request req;
    size_t n = 0;
    bool bad = true;
    size_t *idx = parse_store(cmd, &req) ? imap_resolve_set(s, cmd->args, cmd->uid, &n, &bad)
                                         : NULL;
    if (bad) {
        imap_result(s, cmd, IMAP_BAD, "syntax: STORE set [+|-]FLAGS[.SILENT] (flags)");
        return;
    }
    if (!writable(s, cmd)) {
        free(idx);
        return;
    }
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        const struct mailbox_message *m = mailbox_message(s->mailbox, idx[i]);
        uint32_t next = apply(&req, m->flags);
        char err[MAILBOX_ERROR_MAX];
        if (next != m->flags &&
            mailbox_set_flags(s->mailbox, idx[i], next, err, sizeof err) < 0) {
            failed = true;
            continue;
        }
        m = mailbox_message(s->mailbox, idx[i]);
        if (req.silent)
            continue;
        strbuf_printf(&s->out, "* %zu FETCH (", idx[i] + 1);
        if (cmd->uid)
            strbuf_printf(&s->out, "UID %u ", m->uid);
        strbuf_append_str(&s->out, "FLAGS ");
        imap_write_flags(&s->out, m->flags);
        strbuf_append_str(&s->out, ")\r\n");
        imap_flush_if_large(s);
    }
    free(idx);
    if (failed)
        imap_result(s, cmd, IMAP_NO, "[EXPUNGEISSUED] some flags could not be stored");
    else
        imap_result(s, cmd, IMAP_OK, "%sSTORE completed", cmd->uid ? "UID " : "");
}

/* ---- COPY / MOVE ---- */

struct copy_result {
    uint32_t *src, *dst; /* UIDs, in the same order */
    size_t n;
    uint32_t uidvalidity;
};

/* Copies the messages; false (with a reply) when the destination is missing or a copy fails. */
static bool copy_messages(struct imap_session *s, struct imap_cmd *cmd, const size_t *idx,
                          size_t n, const char *dest, struct copy_result *r)
{
    char err[MAILBOX_ERROR_MAX] = "";
    if (!mailbox_folder_exists(imap_data_dir(s), s->account->name, dest)) {
        imap_result(s, cmd, IMAP_NO, "[TRYCREATE] no such mailbox");
        return false;
    }
    r->src = malloc((n + 1) * sizeof *r->src);
    r->dst = malloc((n + 1) * sizeof *r->dst);
    if (!r->src || !r->dst) {
        imap_result(s, cmd, IMAP_NO, "[SERVERBUG] out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t uid = 0;
        if (mailbox_copy(s->mailbox, idx[i], dest, &uid, &r->uidvalidity, err, sizeof err) < 0) {
            imap_result(s, cmd, IMAP_NO, "[SERVERBUG] copy failed");
            return false;
        }
        r->src[r->n] = mailbox_message(s->mailbox, idx[i])->uid;
        r->dst[r->n++] = uid;
    }
    return true;
}

static void copyuid_text(struct strbuf *out, const struct copy_result *r)
{
    strbuf_printf(out, "[COPYUID %u ", r->uidvalidity);
    imap_write_set(out, r->src, r->n);
    strbuf_append_str(out, " ");
    imap_write_set(out, r->dst, r->n);
    strbuf_append_str(out, "]");
}

/* MOVE's second half: \Deleted on exactly the moved messages, then expunge only them. */
static bool expunge_moved(struct imap_session *s, const size_t *idx, const struct copy_result *r)
{
    char err[MAILBOX_ERROR_MAX];
    for (size_t i = 0; i < r->n; i++) {
        uint32_t flags = mailbox_message(s->mailbox, idx[i])->flags;
        if (mailbox_set_flags(s->mailbox, idx[i], flags | MAILBOX_DELETED, err, sizeof err) < 0)
            return false;
    }
    struct mailbox_changes ch = {0};
    int rc = mailbox_expunge(s->mailbox, r->src, r->n, &ch, err, sizeof err);
    write_expunged(s, &ch);
    mailbox_changes_free(&ch);
    return rc == 0;
}

static void copy_or_move(struct imap_session *s, struct imap_cmd *cmd, bool move)
{
    size_t n = 0;
    bool bad = true;
    char *dest = cmd->nargs == 2 ? imap_arg_strdup(imap_arg_next(cmd->args)) : NULL;
    size_t *idx = dest ? imap_resolve_set(s, cmd->args, cmd->uid, &n, &bad) : NULL;
    struct copy_result r = {0};
    const char *name = move ? "MOVE" : "COPY";
    if (bad) {
        imap_result(s, cmd, IMAP_BAD, "syntax: %s set mailbox", name);
    } else if ((!move || writable(s, cmd)) && copy_messages(s, cmd, idx, n, dest, &r)) {
        struct strbuf code = {0};
        if (r.n > 0)
            copyuid_text(&code, &r);
        if (!move) {
            imap_result(s, cmd, IMAP_OK, "%s%sCOPY completed", code.data ? code.data : "",
                        code.data ? " " : "");
        } else {
            /* RFC 6851 4.3: COPYUID goes in an untagged OK before the EXPUNGEs. */
            if (r.n > 0)
                strbuf_printf(&s->out, "* OK %s Moved\r\n", code.data ? code.data : "");
            if (expunge_moved(s, idx, &r))
                imap_result(s, cmd, IMAP_OK, "MOVE completed");
            else
                imap_result(s, cmd, IMAP_NO, "[SERVERBUG] messages copied but not removed");
        }
        strbuf_free(&code);
    }
    free(r.src);
    free(r.dst);
    free(idx);
    free(dest);
}

void imap_cmd_copy(struct imap_session *s, struct imap_cmd *cmd)
{
    copy_or_move(s, cmd, false);
}

void imap_cmd_move(struct imap_session *s, struct imap_cmd *cmd)
{
    copy_or_move(s, cmd, true);
}

/* ---- EXPUNGE / CLOSE / UNSELECT / CHECK ---- */

/* UID EXPUNGE set (UIDPLUS): the UIDs of the set that exist. */
static uint32_t *uid_list(struct imap_session *s, const struct imap_arg *arg, size_t *n,
                          bool *bad)
{
    size_t *idx = imap_resolve_set(s, arg, true, n, bad);
    uint32_t *uids = *bad ? NULL : malloc((*n + 1) * sizeof *uids);
    for (size_t i = 0; uids && i < *n; i++)
        uids[i] = mailbox_message(s->mailbox, idx[i])->uid;
    free(idx);
    return uids;
}

void imap_cmd_expunge(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != (cmd->uid ? 1u : 0u)) {
        imap_result(s, cmd, IMAP_BAD, "syntax: %s", cmd->uid ? "UID EXPUNGE set" : "EXPUNGE");
        return;
    }
    if (!writable(s, cmd))
        return;
    size_t n = 0;
    bool bad = false;
    uint32_t *uids = cmd->uid ? uid_list(s, cmd->args, &n, &bad) : NULL;
    if (bad || (cmd->uid && !uids)) {
        imap_result(s, cmd, IMAP_BAD, "invalid sequence set");
        return;
    }
    struct mailbox_changes ch = {0};
    char err[MAILBOX_ERROR_MAX];
    int rc = mailbox_expunge(s->mailbox, uids, cmd->uid ? n : 0, &ch, err, sizeof err);
    write_expunged(s, &ch);
    mailbox_changes_free(&ch);
    free(uids);
    if (rc < 0)
        imap_result(s, cmd, IMAP_NO, "[SERVERBUG] expunge failed");
    else
        imap_result(s, cmd, IMAP_OK, "%sEXPUNGE completed", cmd->uid ? "UID " : "");
}

/* RFC 3501 6.4.2: expunges silently (no EXPUNGE responses), then deselects. */
void imap_cmd_close(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        imap_result(s, cmd, IMAP_BAD, "syntax: CLOSE");
        return;
    }
    if (!s->read_only) {
        struct mailbox_changes ch = {0};
        char err[MAILBOX_ERROR_MAX];
        mailbox_expunge(s->mailbox, NULL, 0, &ch, err, sizeof err);
        mailbox_changes_free(&ch);
    }
    imap_unselect(s);
    imap_result(s, cmd, IMAP_OK, "CLOSE completed");
}

void imap_cmd_unselect(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        imap_result(s, cmd, IMAP_BAD, "syntax: UNSELECT");
        return;
    }
    imap_unselect(s);
    imap_result(s, cmd, IMAP_OK, "UNSELECT completed");
}

/* Nothing is buffered: every change is already in the Maildir. The dispatcher's refresh
 * after the command is what a client asking for a checkpoint wants. */
void imap_cmd_check(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0)
        imap_result(s, cmd, IMAP_BAD, "syntax: CHECK");
    else
        imap_result(s, cmd, IMAP_OK, "CHECK completed");
}
