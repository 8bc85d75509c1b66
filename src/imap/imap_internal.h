/*
 * The IMAP service's private interface: the session ledger shared by imap_session.c (state,
 * dispatch, untagged updates), imap_input.c (framing and limits), imap_commands.c (the command table and the
 * commands valid in any state), imap_auth.c (LOGIN, AUTHENTICATE), imap_mailbox_cmds.c
 * (mailbox commands, APPEND), imap_fetch.c, imap_store.c (STORE, COPY, MOVE, EXPUNGE, CLOSE,
 * UNSELECT, CHECK), imap_search.c, imap_idle.c, and imap_write.c (response formatting).
 */
#ifndef POSTERN_IMAP_INTERNAL_H
#define POSTERN_IMAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/directory.h"
#include "config/config.h"
#include "imap/imap_parse.h"
#include "net/conn.h"
#include "store/mailbox.h"
#include "util/strbuf.h"


/* ---- fixed limits (the configurable ones are struct imap_limits in config.h) ---- */

_Static_assert(CONFIG_MAX_IMAP_MAX_DEPTH <= IMAP_DEPTH_HARD_MAX,
               "imap.request.max-depth must stay within what the parser allows");

#define IMAP_FAILURE_DELAY_MIN_MS 250         /* a failed login is answered after this ... */
#define IMAP_FAILURE_DELAY_SPREAD_MS 500      /* ... plus up to this much, at random */
#define IMAP_OUTPUT_CHUNK (64u * 1024)        /* responses are written in pieces this big */
#define IMAP_FETCH_ATTS_MAX 64                /* attributes in one FETCH */
#define IMAP_HEADER_FIELDS_MAX 256            /* names in one HEADER.FIELDS list */

/* Protocol states (RFC 3501 3). Every change goes through imap_set_state(). */
enum imap_state {
    IMAP_NOT_AUTH,
    IMAP_AUTH,
    IMAP_SELECTED,
    IMAP_LOGOUT,
    IMAP_STATE_COUNT,
};

#define IMAP_STATE_BIT(s) (1u << (s))
#define IMAP_ANY_STATE                                                                 \
    (IMAP_STATE_BIT(IMAP_NOT_AUTH) | IMAP_STATE_BIT(IMAP_AUTH) |                       \
     IMAP_STATE_BIT(IMAP_SELECTED))
#define IMAP_AUTHENTICATED (IMAP_STATE_BIT(IMAP_AUTH) | IMAP_STATE_BIT(IMAP_SELECTED))

/* What the next input bytes are. */
enum imap_input_mode {
    IMAP_INPUT_COMMAND, /* command lines (and the line after a literal) */
    IMAP_INPUT_LITERAL, /* literal octets, kept (or dropped when the command is refused) */
    IMAP_INPUT_AUTH,    /* an AUTHENTICATE response line after "+ " */
    IMAP_INPUT_IDLE,    /* IDLE: waiting for DONE */
    IMAP_INPUT_NONE,    /* STARTTLS accepted or closing: nothing more is read */
};

/* Why the session must end after the current reply (acted upon by the input loop). */
enum imap_ending {
    IMAP_END_NONE,
    IMAP_END_BANNED,   /* conn_report_failure() started a ban */
    IMAP_END_ERRORS,   /* more than errors_max BAD replies */
    IMAP_END_PREAUTH,  /* more than commands_preauth_max commands before login */
    IMAP_END_LOGOUT,   /* LOGOUT answered */
};

enum imap_status { IMAP_OK, IMAP_NO, IMAP_BAD };

/* The session ledger. */
struct imap_session {
    const struct config *config;
    struct conn *conn;
    struct imap_limits limits;
    enum imap_state state;
    enum imap_input_mode mode;
    enum imap_ending ending;
    struct strbuf cmd;          /* the command being collected: lines (CRLF) and literals */
    size_t line_start;          /* where the current line starts in cmd */
    size_t cmd_limit;           /* bytes this command may collect (cmd.len + literal) */
    uint64_t literal_left;      /* octets of the current literal still to come */
    bool discarding;            /* an over-long line is skipped up to its LF */
    const char *refusal;        /* the command is being dropped; the tagged reply at its end */
    uint32_t errors;            /* BAD replies so far */
    uint32_t commands_preauth;  /* commands before login */
    const struct account *account;
    struct mailbox *mailbox;    /* the selected mailbox (SELECTED state) */
    char selected[MAILBOX_NAME_MAX + 1]; /* its name, to tell a deleted folder from an error */
    bool read_only;             /* EXAMINE */
    char tag[IMAP_TAG_MAX + 1]; /* of the command waiting for input (AUTHENTICATE, IDLE) */
    bool awaiting_check;        /* a password check or an APPEND runs off the loop: input is
                                   held */
    bool in_input;              /* inside imap_input(): the core must not be asked to resume */
    char *delayed_reply;        /* a failed login's tagged reply, due when the timer fires */
    char *pending_user;         /* the login name being checked, for the log */
    const char *pending_mechanism;
    uint64_t append_bytes;      /* APPEND: message literal octets, outside the line limit */
    struct strbuf out;          /* responses being built, flushed in chunks */
};

/* One command being run, as the handlers see it. */
struct imap_cmd {
    const struct imap_command *parsed;
    const struct imap_arg *args; /* arguments after the name (after "UID name" for UID ...) */
    size_t nargs;
    bool uid;                    /* a UID variant */
    bool allow_expunge;          /* untagged EXPUNGE may follow this command */
    bool pending;                /* the handler finishes later (AUTHENTICATE, IDLE) */
    enum imap_status status;
    struct strbuf text;          /* the tagged reply's text, after the status */
};

typedef void imap_handler(struct imap_session *s, struct imap_cmd *cmd);

/* The i-th argument of a command (lists before it are skipped whole); i < cmd->nargs. */
static inline const struct imap_arg *imap_cmd_arg(const struct imap_cmd *cmd, size_t i)
{
    const struct imap_arg *a = cmd->args;
    while (i--)
        a = imap_arg_next(a);
    return a;
}

/* ---- imap_session.c ---- */
void imap_set_state(struct imap_session *s, enum imap_state next);
/* The tagged result of a command; text is printf-style, e.g. "[READ-WRITE] SELECT completed".
 * BAD counts towards the error limit. */
void imap_result(struct imap_session *s, struct imap_cmd *cmd, enum imap_status status,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Writes a tagged line for a command finishing later (AUTHENTICATE, IDLE): s->tag. */
void imap_tagged_later(struct imap_session *s, enum imap_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Untagged updates of the selected mailbox: refresh, then EXPUNGE, EXISTS, RECENT and FETCH
 * FLAGS. Never called after FETCH, STORE, SEARCH (RFC 3501 7.4.1): a refresh there could
 * renumber messages without the EXPUNGE that must tell the client. */
void imap_send_updates(struct imap_session *s);
/* Parses and runs one complete command (buf is modified: quoted strings are unescaped). */
void imap_run_command(struct imap_session *s, char *buf, size_t len);
/* A BAD reply was sent: counts towards the error limit. */
void imap_count_error(struct imap_session *s);
/* Says goodbye when a handler decided the session must end (s->ending); true when it did. */
bool imap_enforce_ending(struct imap_session *s);
/* Sends what s->out holds (also called once it grows past IMAP_OUTPUT_CHUNK). */
void imap_flush(struct imap_session *s);
void imap_flush_if_large(struct imap_session *s);
/* Closes the selected mailbox (no expunge) and goes back to AUTH. */
void imap_unselect(struct imap_session *s);
/* The capabilities for this session's state ("IMAP4rev1 LITERAL+ ..."). */
void imap_capabilities(const struct imap_session *s, struct strbuf *out);
/* A failed login: logs, counts towards a ban (the caller answers). */
void imap_login_failed(struct imap_session *s, const char *mechanism, const char *user,
                       size_t user_len);
/* A login that succeeded: logs, AUTH state. */
void imap_login_ok(struct imap_session *s, const struct account *account,
                   const char *mechanism);
const char *imap_data_dir(const struct imap_session *s);

/* ---- imap_commands.c ---- */
struct imap_command_def {
    const char *name;     /* upper case; UID variants are "UID FETCH" etc. */
    unsigned states;      /* IMAP_STATE_BIT()s where it may run */
    bool no_expunge;      /* RFC 3501 7.4.1: no EXPUNGE (and so no refresh) after it */
    imap_handler *handler;
};
/* The command named name (and, for UID, sub), or NULL. */
const struct imap_command_def *imap_find_command(const char *name, size_t len, const char *sub,
                                                 size_t sub_len);
/* For tests: the table is sorted and unique. */
bool imap_command_table_sorted(void);

/* ---- handlers, by file ---- */
imap_handler imap_cmd_authenticate, imap_cmd_login;                        /* imap_auth.c */
imap_handler imap_cmd_capability, imap_cmd_noop, imap_cmd_logout, imap_cmd_starttls,
    imap_cmd_id, imap_cmd_enable, imap_cmd_namespace;                      /* imap_commands.c */
imap_handler imap_cmd_select, imap_cmd_create, imap_cmd_delete, imap_cmd_rename,
    imap_cmd_subscribe, imap_cmd_unsubscribe, imap_cmd_list, imap_cmd_lsub, imap_cmd_status,
    imap_cmd_append;                                                       /* imap_mailbox_cmds.c */
imap_handler imap_cmd_fetch;                                               /* imap_fetch.c */
imap_handler imap_cmd_store, imap_cmd_copy, imap_cmd_move, imap_cmd_expunge, imap_cmd_close,
    imap_cmd_unselect, imap_cmd_check;                                     /* imap_store.c */
imap_handler imap_cmd_search;                                              /* imap_search.c */
imap_handler imap_cmd_idle;                                                /* imap_idle.c */

/* ---- imap_input.c ---- */
/* Command lines, literals, AUTHENTICATE and IDLE lines: returns the bytes consumed. */
size_t imap_input_bytes(struct imap_session *s, const uint8_t *data, size_t len);
/* Forgets a half-collected command (after a command, and after STARTTLS). */
void imap_reset_command(struct imap_session *s);

/* ---- imap_auth.c ---- */
/* A response line in IMAP_INPUT_AUTH. */
void imap_auth_response(struct imap_session *s, const char *line, size_t len);
/* The session timer fired with a delayed failure reply due: sends it, then reads on. */
void imap_auth_delayed_reply(struct imap_session *s);
void imap_auth_free(struct imap_session *s);

/* ---- imap_idle.c ---- */
/* A line while idling ("DONE"). */
void imap_idle_line(struct imap_session *s, const char *line, size_t len);
/* The session timer fired while idling: looks for changes and re-arms. */
void imap_idle_poll(struct imap_session *s);
void imap_idle_stop_timer(struct imap_session *s);

/* ---- imap_write.c: response formatting ---- */
/* A string as a quoted string when it can be one, else as a literal. */
void imap_write_string(struct strbuf *out, const char *text, size_t len);
/* astring: a bare atom when safe (mailbox names), else imap_write_string. */
void imap_write_astring(struct strbuf *out, const char *text, size_t len);
void imap_write_literal(struct strbuf *out, const void *data, size_t len);
/* "(\Seen \Deleted)" */
void imap_write_flags(struct strbuf *out, uint32_t flags);
/* "17-Jul-1996 02:44:25 +0000" in quotes. */
void imap_write_date_time(struct strbuf *out, time_t when);
/* A sequence set of sorted numbers, ranges compressed: "1:3,7". */
void imap_write_set(struct strbuf *out, const uint32_t *numbers, size_t n);
/* The arguments of a command as an astring: NULL when not one. The text is NUL-terminated
 * in a copy (names must not contain NUL). */
char *imap_arg_strdup(const struct imap_arg *arg);

/* Resolves a sequence set argument against the selected mailbox: the indexes (0-based) of
 * the messages it names, ascending; for UID sets, UIDs not present are skipped. NULL with
 * *n = 0 when empty; *bad set when the argument is not a valid set. Caller frees. */
size_t *imap_resolve_set(struct imap_session *s, const struct imap_arg *arg, bool uid,
                         size_t *n, bool *bad);

#endif
